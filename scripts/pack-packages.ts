/**
 * `pnpm pack:packages DIR`: packs every publishable package of the workspace (those with a publishConfig)
 * into DIR with `pnpm pack`, each built by its prepack (scripts/build-package.ts), its `workspace:*`
 * dependencies written as versions: the tarballs a game's project installs (`overworld new DIR
 * --overworld-from DIR`) as it would the registry's packages. Prints the tarballs' paths.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

const REPO = resolve(import.meta.dirname, "..");

/** The workspace's packages that are published, as directories. */
export function publishedPackages(): string[] {
  return ["libs", "services"].flatMap((group) =>
    readdirSync(resolve(REPO, group))
      .map((name) => resolve(REPO, group, name))
      .filter((dir) => {
        const manifest = resolve(dir, "package.json");
        return existsSync(manifest) && JSON.parse(readFileSync(manifest, "utf8")).publishConfig !== undefined;
      }),
  );
}

export function packPackages(destination: string): string[] {
  mkdirSync(destination, { recursive: true });
  return publishedPackages().map((dir) => {
    const out = execFileSync("pnpm", ["pack", "--pack-destination", destination], {
      cwd: dir,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "inherit"],
    });
    const tarball = out.trim().split("\n").at(-1) ?? "";
    if (!tarball.endsWith(".tgz")) throw new Error(`pnpm pack in ${dir} printed no tarball:\n${out}`);
    return tarball;
  });
}

if (process.argv[1] === import.meta.filename) {
  const destination = process.argv[2];
  if (destination === undefined) {
    process.stderr.write("usage: pnpm pack:packages DIR\n");
    process.exit(2);
  }
  for (const tarball of packPackages(resolve(destination))) console.log(tarball);
}

/**
 * `pnpm pack:packages DIR`: packs every publishable package of the workspace (those with a publishConfig)
 * into DIR with `pnpm pack`, each built by its prepack (scripts/build-package.ts), its `workspace:*`
 * dependencies written as versions: the tarballs a game's project installs (`overworld new DIR
 * --overworld-from DIR`) as it would the registry's packages. Prints the tarballs' paths.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";

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

/** Packs every published package into `destination`, several at a time; resolves with the tarballs' paths. */
export async function packPackages(destination: string, concurrency = 4): Promise<string[]> {
  mkdirSync(destination, { recursive: true });
  // the declarations first, once, from scratch (tsc -b goes by modification times, which a checkout or a
  // merge can leave older than the last build): each prepack then finds them up to date
  await run(resolve(REPO, "node_modules/.bin/tsc"), ["-b", "--force", "tsconfig.types.json"], REPO);
  const queue = publishedPackages();
  const tarballs: string[] = [];
  const worker = async () => {
    for (let dir = queue.shift(); dir !== undefined; dir = queue.shift()) {
      const out = await run("pnpm", ["pack", "--pack-destination", destination], dir);
      const tarball = out.trim().split("\n").at(-1) ?? "";
      if (!tarball.endsWith(".tgz")) throw new Error(`pnpm pack in ${dir} printed no tarball:\n${out}`);
      tarballs.push(tarball);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return tarballs.sort();
}

/** Runs a command to its end; its stdout, or an error with its output when it fails. */
async function run(command: string, args: readonly string[], cwd: string): Promise<string> {
  try {
    return (await promisify(execFile)(command, [...args], { cwd, maxBuffer: 16 << 20 })).stdout;
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(" ")} failed in ${cwd}:\n${stdout ?? ""}${stderr ?? ""}`);
  }
}

if (process.argv[1] === import.meta.filename) {
  const destination = process.argv[2];
  if (destination === undefined) {
    process.stderr.write("usage: pnpm pack:packages DIR\n");
    process.exit(2);
  }
  for (const tarball of await packPackages(resolve(destination))) console.log(tarball);
}

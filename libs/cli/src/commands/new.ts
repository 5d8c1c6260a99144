/**
 * `overworld new DIR`: a new game's project, from the template beside this package (libs/cli/template): a
 * schema (schema.dc and schema.ts, the same classes), a zone plugin (players walk and pick up coins), a
 * client, a test that runs the game on a real cluster (startLocalCluster), a compose file, and a
 * package.json depending on Overworld's packages: from the npm registry (this command's own version, or
 * --overworld-version), or from the tarballs `pnpm pack` made (--overworld-from DIR), as a team trying a
 * build of Overworld that is not published would.
 */
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { CLI_ENTRY } from "../cluster-processes.ts";
import { parseCommand } from "../command-args.ts";

/** This command's package: libs/cli in the repository, the installed package's folder otherwise. */
const CLI_ROOT = packageRoot(CLI_ENTRY);
const TEMPLATE = resolve(CLI_ROOT, "template");
/** Its version is the default version of the game's Overworld dependencies. */
const CLI_PACKAGE = JSON.parse(readFileSync(resolve(CLI_ROOT, "package.json"), "utf8")) as {
  readonly version: string;
};
/** What the game's code imports. */
const GAME_DEPENDENCIES = [
  "@overworld/cli",
  "@overworld/client",
  "@overworld/protocol",
  "@overworld/zone-ai",
];
/** The game's tools (the versions Overworld itself is built and tested with). */
const DEV_DEPENDENCIES = {
  "@types/node": "^20.19.0",
  tsx: "^4.23.15",
  typescript: "~5.9.3",
  vitest: "^4.1.12",
};
/** A tarball pnpm pack names `overworld-<name>-<version>.tgz` for `@overworld/<name>`. */
const TARBALL = /^overworld-(.+)-(\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?)\.tgz$/;

const NEW_USAGE = `usage: overworld new DIR [--name NAME] [--overworld-from TARBALLS | --overworld-version RANGE]

Makes a new game's project in DIR (which must not exist, or be empty):
  schema.dc, schema.ts   the game's classes, in DC and in TypeScript (the same schema hash)
  plugin.ts              its zone logic: players walk, pick up coins, and new coins appear
  client.ts              a player: node --import tsx client.ts --uberdog http://127.0.0.1:8000
  test/                  vitest: the game on a real cluster (its services as local processes), a player
                         sees its avatar and a coin and picks it up; and the two schemas agree
  docker-compose.yml     the cluster with the game's plugin in containers (and its Dockerfile)
Then: cd DIR && npm install && npm test (needs nats-server on the PATH, Redis and PostgreSQL), and
npm start runs the cluster with the game (overworld start --dc schema.dc --plugin plugin.ts).

  --name NAME               the package's name (default: DIR's name)
  --overworld-from DIR      depend on the Overworld packages in DIR, tarballs made by pnpm pack
                            (overworld-<name>-<version>.tgz), instead of the npm registry's
  --overworld-version RANGE the registry's versions to depend on (default ^${CLI_PACKAGE.version})
`;

const OPTIONS = {
  name: { type: "string" },
  "overworld-from": { type: "string" },
  "overworld-version": { type: "string" },
} as const;

export async function runNewCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS, NEW_USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  try {
    const target = positionals[0];
    if (target === undefined || positionals.length > 1)
      throw new Error("name one directory: overworld new DIR");
    const dir = resolve(target);
    if (existsSync(dir) && (!statSync(dir).isDirectory() || readdirSync(dir).length > 0))
      throw new Error(`${dir} exists and is not an empty directory: name a new one`);
    const name = values.name ?? packageName(basename(dir));
    const dependencies = overworldDependencies(values["overworld-from"], values["overworld-version"]);
    cpSync(TEMPLATE, dir, { recursive: true });
    // kept under other names in the package: npm leaves .gitignore out of tarballs
    for (const file of ["gitignore", "dockerignore"]) renameSync(join(dir, file), join(dir, `.${file}`));
    for (const file of ["plugin.ts", "README.md", "docker-compose.yml"]) {
      const path = join(dir, file);
      writeFileSync(path, readFileSync(path, "utf8").replaceAll("__NAME__", name));
    }
    writeFileSync(join(dir, "package.json"), `${JSON.stringify(gamePackage(name, dependencies), null, 2)}\n`);
    process.stdout.write(
      `made ${name} in ${dir}\n\nnext:\n  cd ${target}\n  npm install\n  npm test      # the game on a real cluster\n  npm start     # the cluster with the game, for players: npm run play\n`,
    );
    return 0;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

/** The folder of the package.json nearest above `file`. */
function packageRoot(file: string): string {
  let dir = dirname(file);
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** A valid npm package name from a directory's name. */
function packageName(dir: string): string {
  const name = dir
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, "-")
    .replace(/^[._-]+/, "");
  return name || "game";
}

/**
 * Every Overworld package the game may install, by name, and what to install it from: the tarballs in
 * `from` (all of them: the packages depend on each other by version, which the tarballs must satisfy), or
 * the registry's `version` range for what the game imports.
 */
function overworldDependencies(from: string | undefined, version: string | undefined): Map<string, string> {
  if (from !== undefined && version !== undefined)
    throw new Error("--overworld-from and --overworld-version exclude each other: name one");
  if (from === undefined) {
    const range = version ?? `^${CLI_PACKAGE.version}`;
    return new Map(GAME_DEPENDENCIES.map((name) => [name, range]));
  }
  const dir = resolve(from);
  if (!existsSync(dir)) throw new Error(`--overworld-from: ${dir} does not exist`);
  const found = new Map<string, string>();
  for (const file of readdirSync(dir)) {
    const match = TARBALL.exec(file);
    if (match === null) continue;
    const name = `@overworld/${match[1]}`;
    if (found.has(name)) throw new Error(`--overworld-from: ${dir} holds two tarballs of ${name}: keep one`);
    found.set(name, `file:${join(dir, file)}`);
  }
  const missing = GAME_DEPENDENCIES.filter((name) => !found.has(name));
  if (missing.length > 0)
    throw new Error(
      `--overworld-from: no tarball of ${missing.join(", ")} in ${dir} (pnpm pack makes overworld-<name>-<version>.tgz)`,
    );
  return found;
}

function gamePackage(name: string, overworld: ReadonlyMap<string, string>) {
  const imported = Object.fromEntries(GAME_DEPENDENCIES.map((dep) => [dep, overworld.get(dep) ?? ""]));
  // tarballs: every Overworld package, the ones the others depend on included, comes from them
  const local = [...overworld.values()].some((spec) => spec.startsWith("file:"));
  const overrides = local ? Object.fromEntries([...overworld].sort()) : undefined;
  return {
    name,
    version: "0.1.0",
    private: true,
    type: "module",
    scripts: {
      start: "overworld start --dc schema.dc --plugin plugin.ts",
      play: "tsx client.ts",
      typecheck: "tsc",
      test: "tsc && vitest run",
    },
    dependencies: imported,
    devDependencies: DEV_DEPENDENCIES,
    ...(overrides === undefined ? {} : { overrides }),
    pnpm: {
      ...(overrides === undefined ? {} : { overrides }),
      onlyBuiltDependencies: ["esbuild", "msgpackr-extract"],
    },
  };
}

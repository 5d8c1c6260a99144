/**
 * Builds one workspace package for publishing (its `prepack`, so `pnpm pack` and `pnpm publish` run it):
 * JavaScript that plain `node` runs and declarations that a game team's own `tsc` reads, in `dist/npm/`.
 *
 * In the workspace a package's `exports` name its TypeScript sources (the dev loop and the tests run them
 * with tsx and vitest); its `publishConfig` names what the tarball holds instead, and pnpm writes those
 * fields into the packed manifest (with `workspace:*` dependencies turned into versions). This script
 * builds what `publishConfig` names, by convention: `./dist/npm/P.js` from `src/P.ts`,
 * `./dist/npm/types/P.d.ts` from the declarations of `src/P.ts`.
 *
 * - JavaScript: esbuild bundles each entry with the package's own modules (splitting what entries share,
 *   so an entry imported twice is one module), leaving every package import to node; `#imports` the
 *   package maps stay imports (a bundler of the game's picks the browser's or node's).
 * - Declarations: one incremental program over every package with types (tsconfig.types.json, `tsc -b`, kept in
 *   node_modules/.cache/overworld-types),
 *   whose share for this package is copied into dist/npm/types.
 * - A bare import of the bundle that is not one of the package's dependencies fails the build, naming it.
 */
import { execFileSync } from "node:child_process";
import { chmodSync, cpSync, existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { builtinModules } from "node:module";
import { relative, resolve } from "node:path";
import { build } from "esbuild";

const REPO = resolve(import.meta.dirname, "..");
/** Where the build goes: beside what else builds into dist/ (the browser bundles of pnpm build:web). */
const OUT = "dist/npm";
const DIST_JS = /^\.\/dist\/npm\/(.+)\.js$/;
const DIST_TYPES = /^\.\/dist\/npm\/types\/.+\.d\.ts$/;
/** A relative module specifier ending in .ts, in an import, export or import() of a declaration file. */
const RELATIVE_TS = /((?:from\s+|import\()\s*")(\.{1,2}\/[^"]*?)\.ts(")/g;

interface Manifest {
  readonly name: string;
  readonly exports?: Record<string, unknown>;
  readonly dependencies?: Record<string, string>;
  readonly publishConfig?: {
    readonly exports?: unknown;
    readonly imports?: Record<string, unknown>;
    readonly bin?: Record<string, string>;
  };
}

/** Every string in a JSON value (the targets of exports, imports and bin, conditions and all). */
function targets(value: unknown): string[] {
  if (typeof value === "string") return [value];
  if (value === null || typeof value !== "object") return [];
  return Object.values(value).flatMap(targets);
}

/** The package an import names (`@scope/name/sub` -> `@scope/name`). */
function packageOf(specifier: string): string {
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? parts.slice(0, 2).join("/") : (parts[0] ?? specifier);
}

export async function buildPackage(dir: string): Promise<void> {
  const manifest = JSON.parse(readFileSync(resolve(dir, "package.json"), "utf8")) as Manifest;
  const config = manifest.publishConfig;
  if (config === undefined) throw new Error(`${manifest.name}: no publishConfig, nothing to build`);
  const published = Object.keys((config.exports ?? {}) as object);
  const unpublished = Object.keys(manifest.exports ?? {}).filter((key) => !published.includes(key));
  if (unpublished.length > 0)
    throw new Error(
      `${manifest.name}: exports ${unpublished.join(", ")} but publishConfig.exports does not: add it`,
    );
  const all = [...targets(config.exports), ...targets(config.imports), ...targets(config.bin)];
  const entries = [...new Set(all.flatMap((target) => DIST_JS.exec(target)?.[1] ?? []))];
  const missing = entries.filter((entry) => !existsSync(resolve(dir, "src", `${entry}.ts`)));
  if (missing.length > 0)
    throw new Error(
      `${manifest.name}: publishConfig names ${OUT}/${missing[0]}.js but src/${missing[0]}.ts is missing`,
    );

  rmSync(resolve(dir, OUT), { recursive: true, force: true });
  const result = await build({
    absWorkingDir: dir,
    entryPoints: entries.map((entry) => `src/${entry}.ts`),
    outbase: "src",
    outdir: OUT,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    packages: "external",
    external: Object.keys(config.imports ?? {}),
    chunkNames: "chunks/[name]-[hash]",
    metafile: true,
    logLevel: "warning",
  });

  const builtins = new Set(builtinModules);
  const dependencies = new Set(Object.keys(manifest.dependencies ?? {}));
  for (const output of Object.values(result.metafile.outputs)) {
    for (const { path, external } of output.imports) {
      if (!external || path.startsWith("#") || path.startsWith("node:") || builtins.has(path)) continue;
      if (!dependencies.has(packageOf(path)))
        throw new Error(`${manifest.name} imports ${path}, which is not one of its dependencies: add it`);
    }
  }

  // a command runs under plain node (the sources' shebang asks for tsx)
  for (const bin of Object.values(config.bin ?? {})) {
    const path = resolve(dir, bin);
    writeFileSync(path, readFileSync(path, "utf8").replace(/^#!.*\n/, "#!/usr/bin/env node\n"));
    chmodSync(path, 0o755);
  }

  if (all.some((target) => DIST_TYPES.test(target))) {
    execFileSync(resolve(REPO, "node_modules/.bin/tsc"), ["-b", "tsconfig.types.json"], {
      cwd: REPO,
      stdio: "inherit",
    });
    const declarations = resolve(REPO, "node_modules/.cache/overworld-types", relative(REPO, dir), "src");
    if (!existsSync(declarations))
      throw new Error(
        `${manifest.name}: no declarations in ${declarations}: add its sources to tsconfig.types.json`,
      );
    cpSync(declarations, resolve(dir, OUT, "types"), { recursive: true });
    // the sources import each other as `./x.ts`; a game's tsc reads the declarations as `./x.js`
    for (const file of readdirSync(resolve(dir, OUT, "types"), { recursive: true, encoding: "utf8" })) {
      if (!file.endsWith(".d.ts")) continue;
      const path = resolve(dir, OUT, "types", file);
      writeFileSync(path, readFileSync(path, "utf8").replace(RELATIVE_TS, "$1$2.js$3"));
    }
  }
}

await buildPackage(process.cwd());

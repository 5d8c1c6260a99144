/**
 * The plugin loader: verify every package (package.ts), resolve the set (each dependency present once,
 * in its range; no cycle), then load them in dependency order: each plugin's checked bytes are written
 * under `cacheDir/<package id>/` and its entry is imported from there.
 *
 * The loader takes the exact set to run (rules.ts decides it); it refuses the whole set when one package
 * is refused, so a host never runs half of a set.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pathToFileURL } from "node:url";
import semver from "semver";
import { label, type PluginManifest, type Side, sideOf } from "./manifest.ts";
import {
  type PackageContent,
  PackageRefused,
  subjectOf,
  type VerifiedPackage,
  verifyPackage,
} from "./package.ts";
import type { TrustList } from "./trust.ts";

export interface LoaderOptions {
  readonly trust: TrustList;
  /** Where checked files are written to be imported from. */
  readonly cacheDir: string;
  /** The side this host is (`server` for a cluster's services): plugins of other sides are refused. */
  readonly side?: Side;
  readonly now?: number;
}

export interface VerifiedPlugin extends VerifiedPackage {
  readonly manifest: PluginManifest;
}

export interface LoadedPlugin {
  readonly manifest: PluginManifest;
  readonly id: string;
  /** The directory its files were written to. */
  readonly dir: string;
  /** What its entry module exports. */
  readonly module: unknown;
}

/** Verifies every package of a set as a plugin for `side`; throws at the first refusal. */
export async function verifyPlugins(
  contents: readonly PackageContent[],
  options: Pick<LoaderOptions, "trust" | "side" | "now">,
): Promise<VerifiedPlugin[]> {
  const verified: VerifiedPlugin[] = [];
  for (const content of contents) {
    const checked = await verifyPackage(content, options.trust, options.now);
    const { manifest } = checked;
    if (manifest.kind !== "plugin") {
      throw new PackageRefused(
        "invalid",
        subjectOf(manifest),
        "an asset is not a plugin; it has no code to load",
      );
    }
    if (options.side !== undefined && sideOf(manifest.edge) !== options.side) {
      throw new PackageRefused(
        "wrong-edge",
        subjectOf(manifest),
        `it attaches to the ${manifest.edge} edge and runs on a ${sideOf(manifest.edge)}; this host is a ${options.side}`,
      );
    }
    verified.push({ ...checked, manifest });
  }
  return verified;
}

/**
 * The set in the order to load it (each plugin after its dependencies, otherwise by name); throws
 * `unsatisfiable` naming the plugin, the dependency and its range when one is missing, out of range, given
 * twice or part of a cycle.
 */
export function loadOrder<T extends { readonly manifest: PluginManifest }>(set: readonly T[]): T[] {
  const byName = new Map<string, T>();
  for (const plugin of set) {
    const { manifest } = plugin;
    const other = byName.get(manifest.name);
    if (other !== undefined) {
      throw new PackageRefused(
        "unsatisfiable",
        subjectOf(manifest),
        `the set holds ${manifest.name} twice (${other.manifest.version} and ${manifest.version}); a host runs one version of a plugin`,
      );
    }
    byName.set(manifest.name, plugin);
  }
  for (const { manifest } of set) {
    for (const [name, range] of Object.entries(manifest.dependencies)) {
      const dependency = byName.get(name);
      if (dependency === undefined) {
        throw new PackageRefused(
          "unsatisfiable",
          subjectOf(manifest),
          `it needs ${name} ${range}, which is not in the set`,
        );
      }
      if (!semver.satisfies(dependency.manifest.version, range)) {
        throw new PackageRefused(
          "unsatisfiable",
          subjectOf(manifest),
          `it needs ${name} ${range}, but the set holds ${label(dependency.manifest)}`,
        );
      }
    }
  }
  const ordered: T[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (plugin: T, path: readonly string[]): void => {
    const { name } = plugin.manifest;
    if (state.get(name) === "done") return;
    if (state.get(name) === "visiting") {
      throw new PackageRefused(
        "unsatisfiable",
        subjectOf(plugin.manifest),
        `its dependencies go round: ${[...path.slice(path.indexOf(name)), name].join(" -> ")}`,
      );
    }
    state.set(name, "visiting");
    for (const dependency of Object.keys(plugin.manifest.dependencies).sort()) {
      visit(byName.get(dependency)!, [...path, name]);
    }
    state.set(name, "done");
    ordered.push(plugin);
  };
  for (const name of [...byName.keys()].sort()) visit(byName.get(name)!, []);
  return ordered;
}

/** Verifies, resolves and loads a set of plugins (see the top of this file). */
export async function loadPlugins(
  contents: readonly PackageContent[],
  options: LoaderOptions,
): Promise<LoadedPlugin[]> {
  const ordered = loadOrder(await verifyPlugins(contents, options));
  const loaded: LoadedPlugin[] = [];
  for (const plugin of ordered) loaded.push(await importVerified(plugin, options.cacheDir));
  return loaded;
}

/**
 * Imports one verified plugin: its checked bytes written under `cacheDir/<package id>/`, its entry
 * imported from there (the same package imported again is the same module). For a host that checks how
 * the plugins fit together itself (zone AI composes them with its own), after `verifyPlugins`.
 */
export async function importVerified(plugin: VerifiedPlugin, cacheDir: string): Promise<LoadedPlugin> {
  const dir = join(cacheDir, plugin.id);
  for (const [path, bytes] of plugin.files) {
    const file = join(dir, ...path.split("/"));
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, bytes);
  }
  const module: unknown = await import(pathToFileURL(join(dir, ...plugin.manifest.entry.split("/"))).href);
  return { manifest: plugin.manifest, id: plugin.id, dir, module };
}

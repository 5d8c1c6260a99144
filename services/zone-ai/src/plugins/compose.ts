/**
 * Several plugins on one replica: each brings its own zone kinds (and instance templates), and names the
 * plugins it needs beside it with semver ranges, as fastify's plugins do (`fastify-plugin`'s metadata:
 * name, version, dependencies). `checkComposition` refuses a set that cannot run together, naming what
 * is missing or conflicting; `PluginSet` is the set running now and the versions run before (hot-swap.ts),
 * seen by the replica as one plugin (`composed`), whose kinds are always the current versions'.
 */
import { legacyHash } from "@overworld/protocol";
import semver from "semver";
import type { Cluster, ZoneHooks, ZonePlugin, ZoneSpec } from "../plugin.ts";

/** The version of a plugin that gives none. */
export const NO_VERSION = "0.0.0";

/** A set of plugins that cannot run together; the message names the plugins and what to do. */
export class CompositionError extends Error {
  override readonly name = "CompositionError";
}

export function versionOf(plugin: ZonePlugin): string {
  return plugin.version ?? NO_VERSION;
}

/** `name@version`: what a zone's journal and snapshot name its code by. */
export function labelOf(plugin: ZonePlugin): string {
  return `${plugin.name}@${versionOf(plugin)}`;
}

/**
 * Throws a CompositionError at the first problem of a set of plugins meant to run together: a name
 * twice, a version that is not semver, a dependency missing or out of its range (or not a range), a zone
 * kind or instance template claimed by two, other classes than the others', another tick rate, two that
 * give arriving clients avatars.
 */
export function checkComposition(plugins: readonly ZonePlugin[]): void {
  if (plugins.length === 0) throw new CompositionError("no plugin to run: give at least one");
  const byName = new Map<string, ZonePlugin>();
  for (const plugin of plugins) {
    if (typeof plugin.name !== "string" || plugin.name === "") {
      throw new CompositionError("a plugin has no name: give each plugin a `name`");
    }
    if (byName.has(plugin.name)) {
      throw new CompositionError(
        `plugin ${plugin.name} is given twice (${labelOf(byName.get(plugin.name)!)} and ${labelOf(plugin)}): a replica runs one version of each plugin`,
      );
    }
    if (semver.valid(versionOf(plugin)) === null) {
      throw new CompositionError(
        `plugin ${plugin.name} has version "${plugin.version}", which is not semver (e.g. 1.2.0)`,
      );
    }
    byName.set(plugin.name, plugin);
  }
  for (const plugin of plugins) {
    for (const [name, range] of Object.entries(plugin.dependencies ?? {})) {
      if (semver.validRange(range) === null) {
        throw new CompositionError(
          `plugin ${labelOf(plugin)} depends on ${name} "${range}", which is not a semver range (e.g. ^1.0.0)`,
        );
      }
      const needed = byName.get(name);
      if (needed === undefined) {
        throw new CompositionError(
          `plugin ${labelOf(plugin)} depends on ${name} ${range}, which is not among the plugins (${[...byName.keys()].join(", ")}): add ${name}`,
        );
      }
      if (!semver.satisfies(versionOf(needed), range, { includePrerelease: true })) {
        throw new CompositionError(
          `plugin ${labelOf(plugin)} depends on ${name} ${range}, but ${labelOf(needed)} is given: run a version of ${name} in ${range}`,
        );
      }
    }
  }
  const first = plugins[0]!;
  const kinds = new Map<string, string>();
  const templates = new Map<string, string>();
  for (const plugin of plugins) {
    if (legacyHash(plugin.schema.file) !== legacyHash(first.schema.file)) {
      throw new CompositionError(
        `plugins ${labelOf(first)} and ${labelOf(plugin)} are written against different classes (schema hashes differ): build them against the same schema`,
      );
    }
    if ((plugin.tickHz ?? undefined) !== (first.tickHz ?? undefined)) {
      throw new CompositionError(
        `plugins ${labelOf(first)} and ${labelOf(plugin)} want different tick rates (${first.tickHz ?? "default"} and ${plugin.tickHz ?? "default"} Hz): every zone of a replica ticks at one rate`,
      );
    }
    for (const kind of Object.keys(plugin.kinds)) {
      const other = kinds.get(kind);
      if (other !== undefined) {
        throw new CompositionError(
          `zone kind "${kind}" is claimed by both ${other} and ${labelOf(plugin)}: each kind has one plugin; rename one`,
        );
      }
      kinds.set(kind, labelOf(plugin));
    }
    for (const name of Object.keys(plugin.instances ?? {})) {
      const other = templates.get(name);
      if (other !== undefined) {
        throw new CompositionError(
          `instance template "${name}" is claimed by both ${other} and ${labelOf(plugin)}: rename one`,
        );
      }
      templates.set(name, labelOf(plugin));
    }
  }
  const greeters = plugins.filter((plugin) => plugin.clientArrived !== undefined);
  if (greeters.length > 1) {
    throw new CompositionError(
      `plugins ${greeters.map(labelOf).join(" and ")} both give arriving clients their avatars (clientArrived): keep it in one`,
    );
  }
}

/**
 * The plugins a replica runs now, by name, and every version it has run (a zone's journal may name an
 * older one: a replay runs it up to the switch). `composed` is the one plugin the replica sees.
 */
export class PluginSet {
  private readonly current = new Map<string, ZonePlugin>();
  private readonly loaded = new Map<string, ZonePlugin>();
  readonly composed: ZonePlugin;

  constructor(plugins: readonly ZonePlugin[]) {
    checkComposition(plugins);
    for (const plugin of plugins) {
      this.current.set(plugin.name, plugin);
      this.loaded.set(labelOf(plugin), plugin);
    }
    this.composed = this.compose();
  }

  /** The plugins running now, in the order given. */
  get plugins(): ZonePlugin[] {
    return [...this.current.values()];
  }

  /** The plugin running now under a name. */
  get(name: string): ZonePlugin | undefined {
    return this.current.get(name);
  }

  /** The plugin (running now) whose kind it is. */
  ownerOf(kind: string): ZonePlugin | undefined {
    for (const plugin of this.current.values()) if (plugin.kinds[kind] !== undefined) return plugin;
    return undefined;
  }

  /** The label (`name@version`) of the code running a kind now. */
  codeOf(kind: string): string | undefined {
    const owner = this.ownerOf(kind);
    return owner && labelOf(owner);
  }

  /** A kind's hooks under a version (`name@version`) this replica has loaded. */
  hooksOf(label: string, kind: string): ZoneHooks<unknown> | undefined {
    return this.loaded.get(label)?.kinds[kind];
  }

  /** Whether a version is loaded here (running now or run before). */
  has(label: string): boolean {
    return this.loaded.has(label);
  }

  /** Adds a version beside the others (not running yet: see `use`). */
  load(plugin: ZonePlugin): void {
    this.loaded.set(labelOf(plugin), plugin);
  }

  /** Forgets a version that never ran (a refused swap's). */
  unload(plugin: ZonePlugin): void {
    if (this.loaded.get(labelOf(plugin)) === plugin) this.loaded.delete(labelOf(plugin));
  }

  /** Makes a loaded version the one running under its name; returns the one it replaces. */
  use(plugin: ZonePlugin): ZonePlugin | undefined {
    const before = this.current.get(plugin.name);
    this.load(plugin);
    this.current.set(plugin.name, plugin);
    return before;
  }

  /**
   * Stops running the plugin of a name (its kinds are nobody's from now on); its versions stay loaded, for
   * replays of zones that ran them. Returns the version it ran.
   */
  drop(name: string): ZonePlugin | undefined {
    const before = this.current.get(name);
    this.current.delete(name);
    return before;
  }

  /**
   * Makes `plugins` the set, before any zone runs (a replica taking the cluster's pushed set as it starts):
   * checked as a whole; the versions replaced stay loaded.
   */
  reset(plugins: readonly ZonePlugin[]): void {
    checkComposition(plugins);
    const names = new Set(plugins.map((plugin) => plugin.name));
    for (const name of [...this.current.keys()]) if (!names.has(name)) this.current.delete(name);
    for (const plugin of plugins) this.use(plugin);
  }

  /** The set as it would be with `plugin` in place of its name's version (for checkComposition). */
  with(plugin: ZonePlugin): ZonePlugin[] {
    return this.plugins.map((each) => (each.name === plugin.name ? plugin : each));
  }

  private compose(): ZonePlugin {
    const set = this;
    const first = this.plugins[0]!;
    const kinds: { [kind: string]: ZoneHooks<unknown> } = {};
    return {
      get name() {
        return set.plugins.map(labelOf).join("+");
      },
      schema: first.schema,
      ...(first.tickHz === undefined ? {} : { tickHz: first.tickHz }),
      async start(cluster: Cluster) {
        for (const plugin of set.plugins) await plugin.start?.(cluster);
      },
      async zones(cluster: Cluster) {
        const all: ZoneSpec[] = [];
        const seen = new Map<string, string>();
        for (const plugin of set.plugins) {
          for (const spec of await plugin.zones(cluster)) {
            const key = `${spec.parent}.${spec.zone}`;
            const other = seen.get(key);
            if (other !== undefined) {
              throw new CompositionError(
                `zone ${key} is run by both ${other} and ${labelOf(plugin)}: give each zone to one plugin`,
              );
            }
            if (plugin.kinds[spec.kind] === undefined) {
              throw new CompositionError(
                `plugin ${labelOf(plugin)} names zone kind ${spec.kind} for zone ${key} but has no hooks for it`,
              );
            }
            seen.set(key, labelOf(plugin));
            all.push(spec);
          }
        }
        return all;
      },
      neighbours(spec: ZoneSpec) {
        return set.ownerOf(spec.kind)?.neighbours?.(spec) ?? [];
      },
      // the kinds of the versions running now: a zone that starts takes the current code
      kinds: new Proxy(kinds, {
        get: (_target, kind) => (typeof kind === "string" ? set.ownerOf(kind)?.kinds[kind] : undefined),
        has: (_target, kind) => typeof kind === "string" && set.ownerOf(kind) !== undefined,
        ownKeys: () => set.plugins.flatMap((plugin) => Object.keys(plugin.kinds)),
        getOwnPropertyDescriptor: (_target, kind) => {
          const hooks = typeof kind === "string" ? set.ownerOf(kind)?.kinds[kind] : undefined;
          return hooks === undefined
            ? undefined
            : { value: hooks, enumerable: true, configurable: true, writable: false };
        },
      }),
      get instances() {
        return Object.assign({}, ...set.plugins.map((plugin) => plugin.instances ?? {}));
      },
      async clientArrived(client, cluster) {
        const greeter = set.plugins.find((plugin) => plugin.clientArrived !== undefined);
        await greeter?.clientArrived?.(client, cluster);
      },
    };
  }
}

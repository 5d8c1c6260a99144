/**
 * Plugin rules down the tree, resolved by one pure function per party.
 *
 * - Main sets what every cluster's servers must run and what every client must run.
 * - A cluster adds what its own servers run and what its clients must run (a child main, with main-main,
 *   is one more level between them: levels are listed from the top down).
 * - A client may add optional plugins, but cannot drop or change a required one.
 *
 * The required set of a party (a cluster's servers, or its clients) is resolved from the ranges of every
 * level above it at once, to exact versions (`Pin`s), with the dependencies of every chosen version: the
 * highest version of each plugin that satisfies every range on it, backtracking when a dependency of a
 * chosen version cannot be met. The clients' set is what a client's hello tells it (`PluginHello`): it is
 * exact, so a client's own additions (`resolveClient`) are resolved around it and can neither remove nor
 * move any of its versions; an addition whose range excludes a required version is an error.
 *
 * Everything is sorted before use, so the result, or the error, is the same whatever the order of the
 * inputs.
 */
import semver from "semver";
import type { Edge, Side } from "./manifest.ts";
import { sideOf } from "./manifest.ts";

/** Plugin name to semver range. */
export type Ranges = Readonly<Record<string, string>>;

/** A version of a plugin that can be run: what its manifest says about resolution. */
export interface AvailablePlugin {
  readonly name: string;
  readonly version: string;
  readonly edge: Edge;
  readonly dependencies: Ranges;
  /** Its package id (manifest.ts), carried to the pins so a party fetches exactly those bytes. */
  readonly id?: string;
}

/** One plugin at one exact version. */
export interface Pin {
  readonly name: string;
  readonly version: string;
  readonly id?: string;
}

/** One level of the tree, top first: what it requires of the servers and of the clients below it. */
export interface RuleLevel {
  /** Who sets these rules, as errors name it: `main`, `cluster east`. */
  readonly by: string;
  readonly servers: Ranges;
  readonly clients: Ranges;
}

/**
 * What a client is told in its hello: the exact plugins it must run, dependencies included, sorted by
 * name. The client agent tells it a client in PLUGINS, just before HELLO_RESP (docs/protocol.md).
 */
export interface PluginHello {
  readonly required: readonly Pin[];
}

export interface Conflict {
  readonly plugin: string;
  /** Every range on the plugin when no version met them all, with who set each, sorted. */
  readonly ranges: readonly { readonly range: string; readonly by: string }[];
  /** The versions there are of it on the party's side, highest first. */
  readonly available: readonly string[];
}

export type Resolution<T> =
  | ({ readonly ok: true } & T)
  | { readonly ok: false; readonly conflict: Conflict; readonly message: string };

/** The required sets of a cluster: what its servers run and what its clients' hello says. */
export function resolveCluster(
  levels: readonly RuleLevel[],
  available: readonly AvailablePlugin[],
): Resolution<{ servers: readonly Pin[]; hello: PluginHello }> {
  const index = indexAvailable(available);
  const servers = solve(constraintsOf(levels, "servers"), [], index, "server");
  if (!servers.ok) return servers;
  const clients = solve(constraintsOf(levels, "clients"), [], index, "client");
  if (!clients.ok) return clients;
  return { ok: true, servers: servers.pins, hello: { required: clients.pins } };
}

/** What one client runs: its hello's plugins, exactly, and its own `optional` ones around them. */
export function resolveClient(
  hello: PluginHello,
  optional: Ranges,
  available: readonly AvailablePlugin[],
): Resolution<{ plugins: readonly Pin[] }> {
  const constraints = sortConstraints(
    Object.entries(optional).map(([plugin, range]) => ({ plugin, range, by: "the client" })),
  );
  const solved = solve(constraints, hello.required, indexAvailable(available), "client");
  return solved.ok ? { ok: true, plugins: solved.pins } : solved;
}

interface Constraint {
  readonly plugin: string;
  readonly range: string;
  readonly by: string;
}

type Index = ReadonlyMap<string, readonly AvailablePlugin[]>;

const SEARCH_BUDGET = 20_000;

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortConstraints(constraints: Constraint[]): Constraint[] {
  return constraints.sort(
    (a, b) => compareText(a.plugin, b.plugin) || compareText(a.by, b.by) || compareText(a.range, b.range),
  );
}

function constraintsOf(levels: readonly RuleLevel[], party: "servers" | "clients"): Constraint[] {
  return sortConstraints(
    levels.flatMap((level) =>
      Object.entries(level[party]).map(([plugin, range]) => ({
        plugin,
        range,
        by: `${level.by} for ${party}`,
      })),
    ),
  );
}

/** Versions by name, highest first; one entry per name@version (the first of equal ones in sorted order). */
function indexAvailable(available: readonly AvailablePlugin[]): Index {
  const index = new Map<string, AvailablePlugin[]>();
  const sorted = [...available].sort(
    (a, b) =>
      compareText(a.name, b.name) ||
      semver.rcompare(a.version, b.version) ||
      compareText(a.edge, b.edge) ||
      compareText(a.id ?? "", b.id ?? "") ||
      compareText(JSON.stringify(sortedRanges(a.dependencies)), JSON.stringify(sortedRanges(b.dependencies))),
  );
  for (const plugin of sorted) {
    const versions = index.get(plugin.name) ?? [];
    if (versions.at(-1)?.version !== plugin.version) versions.push(plugin);
    index.set(plugin.name, versions);
  }
  return index;
}

function sortedRanges(ranges: Ranges): [string, string][] {
  return Object.entries(ranges).sort(([a], [b]) => compareText(a, b));
}

interface SearchState {
  readonly chosen: ReadonlyMap<string, Pin>;
  readonly constraints: readonly Constraint[];
}

type Solved = { ok: true; pins: Pin[] } | { ok: false; conflict: Conflict; message: string };

function failure(conflict: Conflict, why?: string): Solved {
  const ranges = conflict.ranges.map(({ range, by }) => `${range} (${by})`).join(", ");
  const versions = conflict.available.length > 0 ? conflict.available.join(", ") : "none";
  return {
    ok: false,
    conflict,
    message:
      why ??
      `no version of ${conflict.plugin} satisfies every rule on it: ${ranges}; versions there are: ${versions}`,
  };
}

function solve(constraints: Constraint[], fixed: readonly Pin[], index: Index, side: Side): Solved {
  const chosen = new Map(fixed.map((pin) => [pin.name, pin]));
  // a rule on a fixed plugin (an optional plugin of a client that the hello requires) must accept its version
  for (const constraint of constraints) {
    const pin = chosen.get(constraint.plugin);
    if (pin !== undefined && !semver.satisfies(pin.version, constraint.range)) {
      return failure(
        {
          plugin: pin.name,
          ranges: [
            { range: constraint.range, by: constraint.by },
            { range: pin.version, by: "the hello" },
          ],
          available: [pin.version],
        },
        `${constraint.by} asks for ${pin.name} ${constraint.range}, but the hello requires ${pin.name}@${pin.version}; a required plugin cannot be dropped or changed`,
      );
    }
  }
  let steps = 0;
  const search = (state: SearchState): Solved => {
    if (++steps > SEARCH_BUDGET) {
      return failure(
        { plugin: "", ranges: [], available: [] },
        `gave up after ${SEARCH_BUDGET} steps: the rules and dependencies are too tangled to resolve`,
      );
    }
    const open = state.constraints.find((constraint) => !state.chosen.has(constraint.plugin));
    if (open === undefined) {
      const pins = [...state.chosen.values()].sort((a, b) => compareText(a.name, b.name));
      return { ok: true, pins };
    }
    const name = open.plugin;
    const rules = state.constraints.filter((constraint) => constraint.plugin === name);
    const versions = onSide(name, index, side);
    if (!Array.isArray(versions)) return versions;
    const candidates = versions.filter((plugin) =>
      rules.every((rule) => semver.satisfies(plugin.version, rule.range)),
    );
    if (candidates.length === 0) return conflictOn(name, rules, index, side);
    let first: Solved | undefined;
    for (const candidate of candidates) {
      const by = `${candidate.name}@${candidate.version}`;
      const added = sortedRanges(candidate.dependencies).map(([plugin, range]) => ({ plugin, range, by }));
      const broken = added.find((dependency) => {
        const pin = state.chosen.get(dependency.plugin);
        return pin !== undefined && !semver.satisfies(pin.version, dependency.range);
      });
      let outcome: Solved;
      if (broken !== undefined) {
        const pin = state.chosen.get(broken.plugin)!;
        const pinnedBy = state.constraints.filter((constraint) => constraint.plugin === broken.plugin);
        outcome = conflictOn(
          broken.plugin,
          [...pinnedBy, broken, { plugin: pin.name, range: pin.version, by: "pinned" }],
          index,
          side,
        );
      } else {
        const pin: Pin =
          candidate.id === undefined
            ? { name, version: candidate.version }
            : { name, version: candidate.version, id: candidate.id };
        outcome = search({
          chosen: new Map([...state.chosen, [name, pin]]),
          constraints: sortConstraints([...state.constraints, ...added]),
        });
      }
      if (outcome.ok) return outcome;
      first ??= outcome;
    }
    return first!;
  };
  return search({ chosen, constraints });
}

/** The plugin's versions for a party of `side`, or the error that there are only versions for another. */
function onSide(name: string, index: Index, side: Side): AvailablePlugin[] | Solved {
  const all = index.get(name) ?? [];
  const mine = all.filter((plugin) => sideOf(plugin.edge) === side);
  if (mine.length === 0 && all.length > 0) {
    return failure(
      { plugin: name, ranges: [], available: [] },
      `${name} is a ${all[0]!.edge} plugin, run by a ${sideOf(all[0]!.edge)}; it cannot be required of a ${side}`,
    );
  }
  return mine;
}

function conflictOn(name: string, rules: readonly Constraint[], index: Index, side: Side): Solved {
  const versions = onSide(name, index, side);
  if (!Array.isArray(versions)) return versions;
  const ranges = sortConstraints(rules.filter((rule) => rule.plugin === name))
    .filter((rule, at, all) => at === 0 || rule.range !== all[at - 1]!.range || rule.by !== all[at - 1]!.by)
    .map(({ range, by }) => ({ range, by }));
  return failure({ plugin: name, ranges, available: versions.map((plugin) => plugin.version) });
}

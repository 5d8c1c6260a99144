/**
 * Swapping a plugin's version on a running replica, without restarting it: players stay connected, zones
 * keep their state and objects. In order:
 *
 * 1. the set with the new version in place of the old must compose (compose.ts: its dependencies in
 *    range, the others' dependencies on it still in range, no kind claimed twice) and be written against
 *    the cluster's classes; the new version must have the kinds of the zones that run;
 * 2. the new version's `start` (and `zones`) run: if either throws, it is refused and the old runs on;
 * 3. between ticks, each running zone of the plugin in turn has the new version's `migrate` tried on a
 *    copy of its state: if one throws, it is refused (the error names the zone) and the old runs on;
 * 4. the new version becomes the plugin's (zones starting from now on run it), and a switch entry is
 *    appended to each running zone's journal (switch-entry.ts): each zone hands over when its tick
 *    reaches the entry, inputs before it by the old code, after it by the new, on every replay too. The
 *    entries go in groups whose migrations (as the dry runs took) fit half a tick, a tick apart.
 *
 * The old version stays loaded: a zone resumed from a snapshot taken before the switch replays up to the
 * entry with it. Every replica of the cluster must be swapped (each runs its own zones).
 */
import { legacyHash } from "@overworld/protocol";
import type { ZonePlugin } from "../plugin.ts";
import type { Replica } from "../replica.ts";
import { CompositionError, checkComposition, labelOf, PluginSet } from "./compose.ts";

/** How long `swapPlugin` waits for its zones to reach their switch entries. */
const SETTLE_MS = 5000;
const SETTLE_POLL_MS = 10;

/** A swap that was refused; the old version runs on. `stage` says where it stopped. */
export class SwapRefused extends Error {
  override readonly name = "SwapRefused";
  constructor(
    readonly stage: "compose" | "start" | "migrate",
    message: string,
    options?: ErrorOptions & { readonly plugin?: string },
  ) {
    super(message, options);
    this.plugin = options?.plugin;
  }
  /** The plugin (`name@version`) the refusal is about, when it is one plugin's. */
  readonly plugin: string | undefined;
}

export interface SwapReport {
  readonly plugin: string;
  readonly from: string;
  readonly to: string;
  /** The zones handed to the new version (`parent.zone`). */
  readonly zones: readonly string[];
  /** From the swap's start until every zone runs the new version (ms). */
  readonly tookMs: number;
}

/** One swap (or set change) at a time per replica. */
const swapping = new WeakMap<PluginSet, Promise<unknown>>();

/** Swaps `next` in for the plugin of its name on `replica` (see the module's doc); throws SwapRefused. */
export function swapPlugin(set: PluginSet, replica: Replica, next: ZonePlugin): Promise<SwapReport> {
  const previous = swapping.get(set) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => swapNow(set, replica, next));
  swapping.set(set, run);
  return run;
}

async function swapNow(set: PluginSet, replica: Replica, next: ZonePlugin): Promise<SwapReport> {
  const startedAt = performance.now();
  const to = labelOf(next);
  const old = set.get(next.name);
  if (old === undefined) {
    throw new SwapRefused(
      "compose",
      `no plugin ${next.name} runs here (${set.plugins.map(labelOf).join(", ")}): a swap replaces a running plugin's version`,
    );
  }
  const from = labelOf(old);
  if (from === to) throw new SwapRefused("compose", `${to} runs already`);
  try {
    checkComposition(set.with(next));
  } catch (error) {
    if (!(error instanceof CompositionError)) throw error;
    throw new SwapRefused("compose", `${to} refused, ${from} runs on: ${error.message}`, { cause: error });
  }
  if (legacyHash(next.schema.file) !== legacyHash(replica.cluster.dc)) {
    throw new SwapRefused(
      "compose",
      `${to} refused, ${from} runs on: it is written against other classes than the cluster's DC_FILES`,
    );
  }
  const kinds = new Set(Object.keys(old.kinds));
  const running = new Set(
    replica.zones.filter((key) => replica.codes()[key] === from).map((key) => replica.kindOf(key)),
  );
  for (const kind of running) {
    if (kind !== undefined && next.kinds[kind] === undefined) {
      throw new SwapRefused(
        "compose",
        `${to} refused, ${from} runs on: it has no zone kind ${kind}, which zones here run`,
      );
    }
  }
  try {
    await next.start?.(replica.cluster);
    await next.zones(replica.cluster);
  } catch (error) {
    throw new SwapRefused(
      "start",
      `${to} refused, ${from} runs on: its start threw: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  for (const kind of Object.keys(next.kinds)) kinds.add(kind);
  const loadedBefore = set.has(to); // a version run before (a swap back): kept loaded whatever happens
  set.load(next);
  let costs: Map<string, number>;
  try {
    costs = await replica.trySwitch(kinds, to);
  } catch (error) {
    if (!loadedBefore) set.unload(next);
    throw new SwapRefused("migrate", `${to} refused, ${from} runs on: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // the new version is the plugin's: a zone starting from now on takes it (one resumed under the old
  // one is handed over as it starts); the running zones switch at their entries
  set.use(next);
  let zones: string[];
  try {
    zones = await replica.switchCode(kinds, to, costs);
  } catch (error) {
    // the zones whose entries were stored switch; the others run on the old code until they next start
    // (a restart, a move to another replica), when they are handed over as they resume
    throw new Error(
      `${to} is the version of ${next.name} here now, but not every running zone's switch was journaled (${(error as Error).message}): the others switch when they next start`,
      { cause: error },
    );
  }
  // each zone switches when its tick reaches its entry
  const deadline = Date.now() + SETTLE_MS;
  while (zones.some((key) => replica.codes()[key] === from) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
  }
  return { plugin: next.name, from, to, zones, tookMs: performance.now() - startedAt };
}

export interface SetReport {
  /** The plugins running now (`name@version`). */
  readonly running: readonly string[];
  readonly added: readonly string[];
  readonly removed: readonly string[];
  /** Versions swapped (`name@old -> name@new`). */
  readonly swapped: readonly string[];
  /** Zones that started or stopped because the plugins name other zones now (`parent.zone`). */
  readonly zonesAdded: readonly string[];
  readonly zonesRemoved: readonly string[];
}

/**
 * Makes `target` the plugins `replica` runs, without a restart: plugins new to the set are added, plugins
 * gone from it removed, other versions swapped in (as `swapPlugin` does: migrations tried first, a switch
 * entry journaled per zone, handed over at a tick boundary). The whole target must compose, and the start
 * hooks of the new plugins and versions and every plugin's `zones` run before anything changes: if one
 * throws, or a migration does, it is refused (SwapRefused) and the set running before runs on. Then the
 * zones the set names now start (a new version's new zones too), and zones no plugin names any more stop
 * for good, their objects without an owner deleted (`Replica.replaceZones`).
 */
export function applyPluginSet(
  set: PluginSet,
  replica: Replica,
  target: readonly ZonePlugin[],
): Promise<SetReport> {
  const previous = swapping.get(set) ?? Promise.resolve();
  const run = previous.catch(() => undefined).then(() => applyNow(set, replica, target));
  swapping.set(set, run);
  return run;
}

async function applyNow(set: PluginSet, replica: Replica, target: readonly ZonePlugin[]): Promise<SetReport> {
  const before = set.plugins;
  const names = new Set(target.map((plugin) => plugin.name));
  const added = target.filter((plugin) => set.get(plugin.name) === undefined);
  const removed = before.filter((plugin) => !names.has(plugin.name));
  const changed = target.filter((plugin) => {
    const old = set.get(plugin.name);
    return old !== undefined && labelOf(old) !== labelOf(plugin);
  });
  const was = before.map(labelOf).join(", ");
  const refuse = (stage: SwapRefused["stage"], why: string, cause?: unknown, plugin?: ZonePlugin): never => {
    throw new SwapRefused(
      stage,
      `the plugin set ${target.map(labelOf).join(", ")} refused, ${was} runs on: ${why}`,
      {
        ...(cause === undefined ? {} : { cause }),
        ...(plugin === undefined ? {} : { plugin: labelOf(plugin) }),
      },
    );
  };
  try {
    checkComposition(target);
  } catch (error) {
    if (!(error instanceof CompositionError)) throw error;
    refuse("compose", error.message, error);
  }
  for (const plugin of [...added, ...changed]) {
    if (legacyHash(plugin.schema.file) !== legacyHash(replica.cluster.dc)) {
      refuse(
        "compose",
        `${labelOf(plugin)} is written against other classes than the cluster's DC_FILES`,
        undefined,
        plugin,
      );
    }
  }
  for (const plugin of [...added, ...changed]) {
    try {
      await plugin.start?.(replica.cluster);
    } catch (error) {
      refuse("start", `${labelOf(plugin)}'s start threw: ${(error as Error).message}`, error, plugin);
    }
  }
  let specs: Awaited<ReturnType<ZonePlugin["zones"]>>;
  try {
    // every plugin's zones: none named twice, each of a kind its plugin has
    specs = await new PluginSet(target).composed.zones(replica.cluster);
  } catch (error) {
    if (error instanceof CompositionError) return refuse("compose", error.message, error);
    return refuse("start", `a plugin's zones threw: ${(error as Error).message}`, error);
  }
  await replica.prepareZones(specs);
  // every changed version's migrations tried on a copy of each zone's state first
  const loadedHere: ZonePlugin[] = [];
  const costs = new Map<ZonePlugin, { kinds: Set<string>; costs: Map<string, number> }>();
  let trying: ZonePlugin | undefined;
  try {
    for (const next of changed) {
      trying = next;
      const old = set.get(next.name)!;
      if (!set.has(labelOf(next))) loadedHere.push(next);
      set.load(next);
      const kinds = new Set([...Object.keys(old.kinds), ...Object.keys(next.kinds)]);
      costs.set(next, { kinds, costs: await replica.trySwitch(kinds, labelOf(next)) });
    }
  } catch (error) {
    for (const plugin of loadedHere) set.unload(plugin);
    return refuse("migrate", (error as Error).message, error, trying);
  }
  // from here on the target is the set: removed ones first (their kinds are nobody's), then the others,
  // and the zones it names (no await in between: a placement round sees the set and its zones together)
  for (const plugin of removed) set.drop(plugin.name);
  for (const plugin of [...changed, ...added]) set.use(plugin);
  const zones = replica.replaceZones(specs);
  const swapped: string[] = [];
  for (const next of changed) {
    const old = before.find((plugin) => plugin.name === next.name)!;
    const { kinds, costs: cost } = costs.get(next)!;
    await replica.switchCode(kinds, labelOf(next), cost);
    swapped.push(`${labelOf(old)} -> ${labelOf(next)}`);
  }
  const { added: zonesAdded, removed: zonesRemoved } = await zones;
  return {
    running: set.plugins.map(labelOf),
    added: added.map(labelOf),
    removed: removed.map(labelOf),
    swapped,
    zonesAdded,
    zonesRemoved,
  };
}

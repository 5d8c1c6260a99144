/**
 * Shared objects for game logic: the small public API a zone plugin uses for fields marked `shared` in
 * its `.dc` (objects that exist in every linked cluster, each cluster running its own instance; see the
 * link end's shared-objects.ts for the other side).
 *
 * A shared field's first parameter names a cluster, and its value is that cluster's *slot*: this
 * cluster's game logic writes its own slot with `write` (a processed result: the damage its players
 * dealt, not the hits themselves), and peers' slots arrive through the link end as airecv updates, which
 * `handler` records. Nobody but a slot's cluster writes it, so concurrent writes never collide; the field's
 * rule says how the slots combine:
 * - `owner`: the owner cluster's slot wins (e.g. where a shared NPC stands: the cluster that owns it);
 * - `merge`: the game's own function over every slot (e.g. the sum of the damage dealt in every cluster).
 *
 * Slots live in the zone's state (plain data: `Slots`), stamped with the zone time they came at. A peer's
 * slot is *fresh* while it keeps coming: every cluster writes its slot again every `refreshMs` (`refresh`,
 * from the tick), so after `staleAfterMs` of silence (a partition) a peer's slot is stale and logic that
 * asks for `fresh` slots goes on alone with what it knows; when the link returns the slots flow again and
 * every cluster, merging the same slots the same way, reaches the same state.
 */
import { type DClassHandle, type FieldInfoMap, hasKeyword } from "@overworld/protocol";
import { type FieldHandler, onField, type Zone, type ZoneObject } from "./plugin.ts";

/** One cluster's slot of a shared field: its value (the parameters after the cluster) and when it came. */
export interface Slot<V> {
  readonly value: V;
  /** Zone time (ms) it was written here or came from the peer. */
  readonly at: number;
}

/** Every cluster's slot of one shared field of one object, by cluster name. */
export type Slots<V> = Record<string, Slot<V>>;

export type SharedRule<V, M> =
  | { readonly rule: "owner"; readonly owner: string }
  | {
      readonly rule: "merge";
      readonly merge: (slots: readonly (readonly [cluster: string, value: V])[]) => M;
    };

/** The parameters of a shared field after its first (the cluster). */
type SlotValue<T> = T extends readonly [string, ...infer Rest] ? Rest : never;

export interface SharedFieldOptions<V, M> {
  /** This cluster's name (what its slot is written under; CLUSTER_NAME). */
  readonly cluster: string;
  readonly rule: SharedRule<V, M>;
  /** How often `refresh` writes this cluster's slot again (default 500 ms). */
  readonly refreshMs?: number;
  /** A peer's slot not heard for this long is stale (default 1500 ms). */
  readonly staleAfterMs?: number;
}

export interface SharedField<S, V extends unknown[], M> {
  readonly cluster: string;
  /** Writes this cluster's slot of the field on `object`, and records it in `slots`. */
  write(zone: Zone, object: ZoneObject, slots: Slots<V>, value: V): void;
  /** Writes this cluster's slot again if `refreshMs` passed since it was last written (call from `tick`). */
  refresh(zone: Zone, object: ZoneObject, slots: Slots<V>): boolean;
  /**
   * The field's handler: a peer's slot coming (through the link end) is recorded in the slots `select`
   * gives for the object, then `then` runs (to merge again). This cluster's own slot coming back is
   * ignored: it is written here.
   */
  handler(
    select: (state: S, object: ZoneObject) => Slots<V> | undefined,
    then?: (zone: Zone, state: S, object: ZoneObject, cluster: string) => void,
  ): FieldHandler<S>;
  /** The slots heard within `staleAfterMs` (this cluster's always), sorted by cluster. */
  fresh(zone: Zone, slots: Slots<V>): [string, V][];
  /** Every slot known, fresh or not, sorted by cluster. */
  known(slots: Slots<V>): [string, V][];
  /** The field's value by its rule, over the given slots (`known` by default). */
  resolve(zone: Zone, slots: Slots<V>, which?: "known" | "fresh"): M | V | undefined;
  /** Peers whose slot is fresh now. */
  freshPeers(zone: Zone, slots: Slots<V>): string[];
}

const DEFAULT_REFRESH_MS = 500;
const DEFAULT_STALE_AFTER_MS = 1500;

/**
 * Declares how a plugin uses one shared field: `sharedField(demo.DistributedBoss, "setClusterDamage",
 * { cluster, rule: { rule: "merge", merge } })`. Throws now if the field does not exist.
 */
export function sharedField<S, G extends FieldInfoMap, N extends keyof G & string, M = never>(
  handle: DClassHandle<G>,
  name: N,
  options: SharedFieldOptions<SlotValue<G[N]["value"]>, M>,
): SharedField<S, SlotValue<G[N]["value"]> & unknown[], M> {
  type V = SlotValue<G[N]["value"]> & unknown[];
  const field = handle.field(name);
  if (!hasKeyword(field, "shared")) {
    throw new Error(`${handle.dclass.name}.${name} is not a shared field (mark it 'shared' in the .dc)`);
  }
  const refreshMs = options.refreshMs ?? DEFAULT_REFRESH_MS;
  const staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const { cluster } = options;
  const sorted = (entries: [string, V][]) => entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const shared: SharedField<S, V, M> = {
    cluster,
    write(zone, object, slots, value) {
      slots[cluster] = { value, at: zone.now };
      // biome-ignore lint/suspicious/noExplicitAny: the field's full value is [cluster, ...slot value]
      zone.set(object as ZoneObject<G>, name, [cluster, ...value] as any);
    },
    refresh(zone, object, slots) {
      const own = slots[cluster];
      if (own === undefined || zone.now - own.at < refreshMs) return false;
      shared.write(zone, object, slots, own.value);
      return true;
    },
    handler(select, then) {
      return onField<S, G, N>(handle, name, (zone, state, object, value) => {
        const [from, ...rest] = value as unknown as [string, ...unknown[]];
        if (typeof from !== "string" || from === cluster) return;
        const slots = select(state, object);
        if (slots === undefined) return;
        slots[from] = { value: rest as V, at: zone.now };
        then?.(zone, state, object, from);
      });
    },
    fresh(zone, slots) {
      return sorted(
        Object.entries(slots)
          .filter(([name, slot]) => name === cluster || zone.now - slot.at <= staleAfterMs)
          .map(([name, slot]) => [name, slot.value]),
      );
    },
    known(slots) {
      return sorted(Object.entries(slots).map(([name, slot]) => [name, slot.value]));
    },
    resolve(zone, slots, which = "known") {
      const entries = which === "fresh" ? shared.fresh(zone, slots) : shared.known(slots);
      if (options.rule.rule === "merge") return options.rule.merge(entries);
      const owner = options.rule.owner;
      return entries.find(([name]) => name === owner)?.[1];
    },
    freshPeers(zone, slots) {
      return shared
        .fresh(zone, slots)
        .map(([name]) => name)
        .filter((name) => name !== cluster);
    },
  };
  return shared;
}

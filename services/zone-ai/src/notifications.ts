/**
 * Notifications of the objects a zone runs, by class, with the client's names (`onCreated`,
 * `onUpdated`, `onDisabled`, `onDeleted`), and a game's clean hooks of fields (`clean`), which run
 * before a value sent to the zone is applied and may change or refuse it. A kind lists them in its
 * hooks beside `fields`:
 *
 * ```ts
 * meadow: {
 *   init: () => ({ names: {} }),
 *   notifications: [
 *     onCreated(demo.DistributedAvatar, (zone, state, avatar) => { ... }),     // came under this zone's AI
 *     onUpdated(demo.DistributedAvatar, (zone, state, avatar, { field, value }, sender) => { ... }),
 *     onDisabled(demo.DistributedAvatar, (zone, state, avatar) => { ... }),    // went to another zone's AI
 *     onDeleted(demo.DistributedAvatar, (zone, state, avatar) => { ... }),     // deleted
 *   ],
 *   clean: [
 *     clean(demo.DistributedAvatar, "say", (zone, state, avatar, [text]) =>
 *       text.includes("spam") ? refuse("spam") : [text.trim()]),
 *   ],
 * }
 * ```
 *
 * They are plain hooks over the zone's journaled inputs, so they replay like `enter`, `leave` and
 * `fields` (determinism rules in plugin.ts). `enter` and `leave` still work as they did.
 */
import {
  bytesEqual,
  type DClass,
  type DClassHandle,
  type Field,
  type FieldInfoMap,
  type FieldValue,
  inheritsFrom,
  KW,
  packField,
  unpackField,
} from "@overworld/protocol";
import type { Zone, ZoneObject } from "./plugin.ts";

/** One field update of an object of a class: the field's name and its value, typed together. */
export type ZoneFieldUpdate<G extends FieldInfoMap> = {
  [N in keyof G & string]: { readonly field: N; readonly value: G[N]["value"] };
}[keyof G & string];

type Kind = "created" | "updated" | "disabled" | "deleted";

/** A notification of one kind for the objects of one class (and its subclasses); see `onCreated`, ... */
export interface ZoneNotification<S> {
  readonly dclass: DClass;
  readonly kind: Kind;
  readonly handle: (
    zone: Zone,
    state: S,
    object: ZoneObject,
    update: { readonly field: string; readonly value: FieldValue },
    sender: number,
  ) => void;
}

type ObjectHook<S, G extends FieldInfoMap> = (zone: Zone, state: S, object: ZoneObject<G>) => void;

function notification<S>(handle: DClassHandle, kind: Kind, fn: unknown): ZoneNotification<S> {
  return { dclass: handle.dclass, kind, handle: fn as ZoneNotification<S>["handle"] };
}

/**
 * An object of the class came under this zone's AI: spawned or created here, moved in from another
 * zone, or already here when the zone first started (not when it resumes on another replica: its state
 * knows them).
 */
export function onCreated<S, G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fn: ObjectHook<S, G>,
): ZoneNotification<S> {
  return notification(handle, "created", fn);
}

/**
 * A field of an object of the class was sent to the zone (an airecv field, from a client or another
 * zone) and applied: after its clean hooks and its `onField` handlers.
 */
export function onUpdated<S, G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fn: (zone: Zone, state: S, object: ZoneObject<G>, update: ZoneFieldUpdate<G>, sender: number) => void,
): ZoneNotification<S> {
  return notification(handle, "updated", fn);
}

/** An object of the class left this zone's AI (moved to another zone, whose AI now runs it). */
export function onDisabled<S, G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fn: ObjectHook<S, G>,
): ZoneNotification<S> {
  return notification(handle, "disabled", fn);
}

/** An object of the class was deleted (by this zone, another, or its owner's session ending). */
export function onDeleted<S, G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fn: ObjectHook<S, G>,
): ZoneNotification<S> {
  return notification(handle, "deleted", fn);
}

/** What a clean hook returns to refuse a value (see `clean`, `refuse`). */
export class Refusal {
  constructor(readonly reason: string) {}
}

/** Refuses a value in a clean hook; the reason goes to the zone's log. */
export function refuse(reason: string): Refusal {
  return new Refusal(reason);
}

/** A game's clean hook of one field of one class (see `clean`). */
export interface FieldCleaner<S> {
  readonly dclass: DClass;
  readonly fieldName: string;
  readonly clean: (zone: Zone, state: S, object: ZoneObject, value: FieldValue, sender: number) => unknown;
}

/**
 * A clean hook (the pastry seed's clean methods): runs before a value sent to the zone for that field
 * is applied, and returns the value to apply (the same, or changed: trimmed, clamped) or `refuse(reason)`.
 * A changed value of a stored field (ram, required, db) is written back to the cluster; a refused one
 * has the field set back to the value the zone held. The cluster has relayed the sent value to those who
 * hear the field meanwhile: to keep a bad value from everyone, check it where it enters (a validator of
 * the schema, which the client agent runs) or make the field `airecv` only and broadcast the clean value
 * from the zone.
 */
export function clean<S, G extends FieldInfoMap, N extends keyof G & string>(
  handle: DClassHandle<G>,
  name: N,
  // NoInfer: the hook is checked against the class's field once G and N are known, so that an array
  // literal it returns is typed as the field's tuple
  fn: NoInfer<
    (
      zone: Zone,
      state: S,
      object: ZoneObject<G>,
      value: G[N]["value"],
      sender: number,
    ) => G[N]["value"] | Refusal
  >,
): FieldCleaner<S> {
  handle.field(name); // throws now, naming the class, if it has no such field
  return { dclass: handle.dclass, fieldName: name, clean: fn as FieldCleaner<S>["clean"] };
}

/** The notifications and clean hooks of one zone kind, found by class (ancestors included). */
export class ZoneNotifier<S> {
  private readonly byClass = new Map<DClass, ZoneNotification<S>[]>();
  private readonly cleanersByClass = new Map<DClass, Map<string, FieldCleaner<S>[]>>();

  constructor(
    private readonly notifications: readonly ZoneNotification<S>[] = [],
    private readonly cleaners: readonly FieldCleaner<S>[] = [],
  ) {}

  notify(
    kind: Kind,
    zone: Zone,
    state: S,
    object: ZoneObject,
    update?: { field: string; value: FieldValue },
    sender = 0,
  ): void {
    if (this.notifications.length === 0) return;
    for (const each of this.of(object.dclass)) {
      if (each.kind === kind) each.handle(zone, state, object, update ?? NO_UPDATE, sender);
    }
  }

  /**
   * Runs the clean hooks of a value sent to the zone: the bytes to apply (those given, or the clean
   * value's), or undefined when a hook refused it. Writes back a changed or refused stored field.
   */
  clean(
    zone: Zone,
    state: S,
    object: ZoneObject,
    fieldId: number,
    bytes: Uint8Array,
    sender: number,
  ): Uint8Array | undefined {
    if (this.cleaners.length === 0) return bytes;
    const field = object.dclass.fieldById(fieldId);
    const hooks = field === undefined ? undefined : this.cleanersOf(object.dclass).get(field.name);
    if (field === undefined || hooks === undefined) return bytes;
    let value: FieldValue;
    try {
      value = unpackField(field, bytes);
    } catch {
      return bytes; // the state server validated it: only a schema mismatch gets here, and store skips it
    }
    const where = `${object.dclass.name}.${field.name} of object ${object.doId}`;
    for (const hook of hooks) {
      let result: unknown;
      try {
        result = hook.clean(zone, state, object, value, sender);
      } catch (error) {
        result = refuse(`its clean hook threw: ${(error as Error).message}`);
      }
      if (result instanceof Refusal) {
        zone.log.warn(`refused ${where} from channel ${sender}: ${result.reason}`, {
          doId: object.doId,
          sender,
        });
        const held = object.get(field.name) as FieldValue | undefined;
        if (isStored(field) && held !== undefined) zone.set(object, field.name, held);
        return undefined;
      }
      value = result as FieldValue;
    }
    let cleaned: Uint8Array;
    try {
      cleaned = packField(field, value);
    } catch (error) {
      zone.log.warn(
        `refused ${where}: its clean hook gave a value that does not pack: ${(error as Error).message}`,
      );
      return undefined;
    }
    if (bytesEqual(cleaned, bytes)) return bytes;
    if (isStored(field)) zone.set(object, field.name, value);
    return cleaned;
  }

  private of(dclass: DClass): ZoneNotification<S>[] {
    let found = this.byClass.get(dclass);
    if (found === undefined) {
      found = this.notifications.filter((each) => inheritsFrom(dclass, each.dclass));
      this.byClass.set(dclass, found);
    }
    return found;
  }

  private cleanersOf(dclass: DClass): Map<string, FieldCleaner<S>[]> {
    let found = this.cleanersByClass.get(dclass);
    if (found === undefined) {
      found = new Map();
      for (const each of this.cleaners) {
        if (!inheritsFrom(dclass, each.dclass)) continue;
        found.set(each.fieldName, [...(found.get(each.fieldName) ?? []), each]);
      }
      this.cleanersByClass.set(dclass, found);
    }
    return found;
  }
}

const NO_UPDATE = { field: "", value: 0 };

/** A field the cluster keeps: a clean or refused value of it is written back. */
function isStored(field: Field): boolean {
  return (field.flags & (KW.ram | KW.required | KW.db)) !== 0;
}

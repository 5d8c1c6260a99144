/**
 * The client's typed API over its events: notifications per class (`onCreated`, `onUpdated`,
 * `onDisabled`, `onDeleted`: the `generate`, `update`, `disable` and `delete` events of the objects of
 * one class and its subclasses) and per field (`onField`, and a mirror's own `on`; the typed sender is
 * the mirror's `send`). The client's methods of the same names call these; one listener of each event
 * per client serves them all.
 */
import {
  type DClass,
  type DClassHandle,
  type FieldInfoMap,
  type FieldValue,
  inheritsFrom,
} from "@overworld/protocol";
import type { OverworldClient, UpdateEvent } from "./client.ts";
import type { ObjectMirror } from "./mirror.ts";

/** One field update of an object of a class: the field's name and its value, typed together. */
export type FieldUpdateOf<G extends FieldInfoMap> = {
  [N in keyof G & string]: { readonly field: N; readonly value: G[N]["value"] };
}[keyof G & string];

/** The notifications of objects of a class (each with the object, typed by that class). */
export interface ClassNotifications<G extends FieldInfoMap> {
  /** It entered view (`generate`); objects of the class already in view are reported at once. */
  created: (object: ObjectMirror<G>) => void;
  /** One of its fields changed (`update`); the mirror already holds the value. */
  updated: (object: ObjectMirror<G>, update: FieldUpdateOf<G>) => void;
  /** It is leaving view (`disable`): the mirror is still in `objects`. */
  disabled: (object: ObjectMirror<G>) => void;
  /** Its mirror is gone from `objects` (`delete`, right after `disabled`). */
  deleted: (object: ObjectMirror<G>) => void;
}
type Kind = keyof ClassNotifications<FieldInfoMap>;

type AnyListener = (...args: never[]) => void;
interface ClassEntry {
  readonly dclass: DClass;
  readonly kind: Kind | "field";
  readonly field?: string;
  readonly listener: AnyListener;
}

/** The typed listeners of one client, dispatched from one listener per client event. */
class TypedListeners {
  /** Per-object field listeners (`mirror.on`): by doId, then field. */
  private readonly byObject = new Map<number, Map<string, Set<AnyListener>>>();
  private readonly byClass: ClassEntry[] = [];
  /** The entries that apply to each class seen (a class and its ancestors), made when first needed. */
  private readonly matching = new Map<DClass, ClassEntry[]>();

  constructor(private readonly client: OverworldClient) {
    client.on("generate", (object) => this.notify(object, "created"));
    client.on("update", (event) => this.updated(event));
    client.on("disable", (object) => this.notify(object, "disabled"));
    client.on("delete", (object) => {
      this.notify(object, "deleted");
      this.byObject.delete(object.doId);
    });
  }

  onObjectField(doId: number, field: string, listener: AnyListener): () => void {
    let fields = this.byObject.get(doId);
    if (fields === undefined) this.byObject.set(doId, (fields = new Map()));
    let set = fields.get(field);
    if (set === undefined) fields.set(field, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
    };
  }

  onClass(entry: ClassEntry): () => void {
    this.byClass.push(entry);
    this.matching.clear();
    if (entry.kind === "created") {
      for (const object of this.client.objects.values()) {
        if (inheritsFrom(object.dclass, entry.dclass)) (entry.listener as (o: ObjectMirror) => void)(object);
      }
    }
    return () => {
      const at = this.byClass.indexOf(entry);
      if (at >= 0) this.byClass.splice(at, 1);
      this.matching.clear();
    };
  }

  private entriesOf(dclass: DClass): ClassEntry[] {
    let entries = this.matching.get(dclass);
    if (entries === undefined) {
      entries = this.byClass.filter((entry) => inheritsFrom(dclass, entry.dclass));
      this.matching.set(dclass, entries);
    }
    return entries;
  }

  private notify(object: ObjectMirror, kind: Kind): void {
    for (const entry of this.entriesOf(object.dclass)) {
      if (entry.kind === kind) (entry.listener as (o: ObjectMirror) => void)(object);
    }
  }

  private updated({ object, field, value }: UpdateEvent): void {
    for (const entry of this.entriesOf(object.dclass)) {
      if (entry.kind === "updated")
        (entry.listener as (o: ObjectMirror, u: unknown) => void)(object, { field, value });
      else if (entry.kind === "field" && entry.field === field)
        (entry.listener as (o: ObjectMirror, v: FieldValue) => void)(object, value);
    }
    const listeners = this.byObject.get(object.doId)?.get(field);
    if (listeners === undefined) return;
    for (const listener of [...listeners])
      (listener as (v: FieldValue, o: ObjectMirror) => void)(value, object);
  }
}

const perClient = new WeakMap<OverworldClient, TypedListeners>();

/** The typed listeners of a client, set up on first use. */
export function fieldListeners(client: OverworldClient): TypedListeners {
  let listeners = perClient.get(client);
  if (listeners === undefined) perClient.set(client, (listeners = new TypedListeners(client)));
  return listeners;
}

/** Calls `listener` on one notification of the objects of a class (subclasses included). */
export function onClass<G extends FieldInfoMap, K extends Kind>(
  client: OverworldClient,
  handle: DClassHandle<G>,
  kind: K,
  listener: ClassNotifications<G>[K],
): () => void {
  return fieldListeners(client).onClass({ dclass: handle.dclass, kind, listener: listener as AnyListener });
}

/** Calls `listener` with each new value of one field of every object of a class in view. */
export function onField<G extends FieldInfoMap, N extends keyof G & string>(
  client: OverworldClient,
  handle: DClassHandle<G>,
  field: N,
  listener: (object: ObjectMirror<G>, value: G[N]["value"]) => void,
): () => void {
  handle.field(field); // throws now, naming the class, if it has no such field
  return fieldListeners(client).onClass({
    dclass: handle.dclass,
    kind: "field",
    field,
    listener: listener as AnyListener,
  });
}

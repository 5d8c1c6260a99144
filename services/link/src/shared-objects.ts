/**
 * Shared objects across a link: the link end's side, inside its own cluster.
 *
 * A field with the `shared` keyword is reflected to every linked cluster; a class with such fields is a
 * shared class, whose objects exist in every cluster that runs them (each cluster its own instance, its
 * own doId). Across clusters an object is known by its class and place: `<class>@<parent>.<zone>` (one
 * object of a shared class per zone). A shared field's first parameter names a cluster: the value is that
 * cluster's *slot*. Each cluster writes only its own slot and a peer's slot is accepted only from that
 * peer, so concurrent writes never collide: the owner cluster of a slot wins, and how slots combine (sum
 * of damage, the owner's position, ...) is the game's merge, in its zone logic (zone-ai's shared.ts).
 *
 * The link end joins its cluster as a `link` participant (its own NATS credentials) and:
 * - watches the locations it is told hold shared objects (SHARED_ZONES): their objects' entries, and the
 *   updates of shared fields its own game logic makes (its cluster's slot: a processed result, never the
 *   inputs behind it), which it sends to every linked peer;
 * - starts every new link with a refresh (every slot of its own cluster it knows), then deltas;
 * - applies a peer's slot to its own instance as a state-server update under its own channel, so game
 *   logic hears it as an airecv update from the link and merges it.
 * Anything else from a peer (another class, a field not shared, a slot naming another cluster, a value
 * that does not unpack) is refused and logged.
 */
import {
  type DClass,
  type DcFile,
  decodeEnvelope,
  encodeEnvelope,
  type Field,
  hasKeyword,
  type messages,
  unpackField,
} from "@overworld/protocol";
import {
  type Logger,
  type NatsConnection,
  type Participant,
  parseDelivery,
  type Subscription,
} from "@overworld/service";
import type { Counter } from "prom-client";

export const SHARED_KEYWORD = "shared";

/** What travels on a link: refreshes and slots, msgpack. */
type LinkMessage =
  | { readonly t: "slot"; readonly key: string; readonly field: string; readonly value: Uint8Array }
  | {
      readonly t: "refresh";
      readonly slots: readonly { readonly key: string; readonly field: string; readonly value: Uint8Array }[];
    };

export interface Location {
  readonly parent: number;
  readonly zone: number;
}

interface SharedObject {
  readonly key: string;
  readonly doId: number;
  readonly dclass: DClass;
}

export interface SharedObjectsOptions {
  readonly cluster: string;
  readonly participant: Participant;
  readonly dc: DcFile;
  readonly locations: readonly Location[];
  readonly log: Logger;
  readonly sendTo: (peer: string, bytes: Uint8Array) => boolean;
  readonly upPeers: () => readonly string[];
  readonly counters: { readonly slots: Counter<"direction" | "result"> };
}

/** Whether a class has shared fields (is a shared class). */
export function isSharedClass(dclass: DClass): boolean {
  return dclass.fields.some((field) => hasKeyword(field, SHARED_KEYWORD));
}

export function sharedKey(dclass: DClass, parent: number, zone: number): string {
  return `${dclass.name}@${parent}.${zone}`;
}

export class SharedObjects {
  private readonly byKey = new Map<string, SharedObject>();
  private readonly byDoId = new Map<number, SharedObject>();
  /** The latest slot of this cluster per object and field: what a refresh sends. */
  private readonly ownSlots = new Map<string, Map<string, Uint8Array>>();
  /** Peers' slots for objects this cluster has not (yet) got, applied when they appear. */
  private readonly pending = new Map<string, Map<string, Uint8Array>>();
  private readonly subscriptions: Subscription[] = [];
  private rescan: NodeJS.Timeout | undefined;

  constructor(private readonly options: SharedObjectsOptions) {}

  private get nc(): NatsConnection {
    return this.options.participant.nc;
  }

  async start(): Promise<void> {
    const names = this.options.participant.subjects;
    for (const location of this.options.locations) {
      this.subscriptions.push(
        this.nc.subscribe(names.location(location.parent, location.zone), {
          callback: (error, msg) => {
            if (!error) this.delivery(msg.data);
          },
        }),
      );
    }
    await this.nc.flush();
    // a state server that is not up yet (started together) is no reason to fail: the rescan finds them later
    await this.scan().catch((error: Error) =>
      this.options.log.warn({ err: error.message }, "shared objects not scanned yet: trying again every 2 s"),
    );
    this.rescan = setInterval(() => void this.scan().catch(() => undefined), 2000);
    this.rescan.unref();
  }

  stop(): void {
    clearInterval(this.rescan);
    for (const subscription of this.subscriptions) subscription.unsubscribe();
  }

  /** The shared objects present now, by key. */
  get objects(): ReadonlyMap<string, { readonly doId: number; readonly dclass: string }> {
    return new Map(
      [...this.byKey].map(([key, object]) => [key, { doId: object.doId, dclass: object.dclass.name }]),
    );
  }

  /** Finds the shared objects of the watched locations (at start, and now and then in case one was missed). */
  private async scan(): Promise<void> {
    const byParent = new Map<number, number[]>();
    for (const { parent, zone } of this.options.locations)
      byParent.set(parent, [...(byParent.get(parent) ?? []), zone]);
    for (const [parentId, zones] of byParent) {
      const reply = await this.options.participant.request("ss", "query-zones", { parentId, zones });
      for (const object of reply.objects) this.entered(object);
    }
  }

  private delivery(data: Uint8Array): void {
    let delivery: messages.Delivery;
    try {
      delivery = parseDelivery(data);
    } catch (problem) {
      this.options.log.warn({ err: problem }, "unreadable delivery of a shared location dropped");
      return;
    }
    if (delivery.sender === this.options.participant.channel) return; // what this link end applied itself
    switch (delivery.kind) {
      case "enter":
        this.entered(delivery.object);
        return;
      case "leave":
      case "delete":
        this.gone(delivery.doId);
        return;
      case "update":
        for (const [doId, fieldId, value] of delivery.updates) this.updated(doId, fieldId, value);
        return;
      default:
        return;
    }
  }

  private entered(snapshot: messages.ObjectSnapshot): void {
    const dclass = this.options.dc.typeById(snapshot.classId);
    if (dclass === undefined || dclass.kind !== "class" || !isSharedClass(dclass)) return;
    const key = sharedKey(dclass, snapshot.parentId, snapshot.zoneId);
    const known = this.byKey.get(key);
    if (known?.doId === snapshot.doId) return;
    if (known) this.byDoId.delete(known.doId);
    const object = { key, doId: snapshot.doId, dclass };
    this.byKey.set(key, object);
    this.byDoId.set(snapshot.doId, object);
    this.options.log.info({ key, doId: snapshot.doId }, "shared object found");
    for (const [fieldId, value] of snapshot.fields) this.updated(snapshot.doId, fieldId, value);
    const waiting = this.pending.get(key);
    if (waiting) {
      this.pending.delete(key);
      for (const [fieldName, value] of waiting) this.apply(object, fieldName, value);
    }
  }

  private gone(doId: number): void {
    const object = this.byDoId.get(doId);
    if (!object) return;
    this.byDoId.delete(doId);
    this.byKey.delete(object.key);
    this.ownSlots.delete(object.key);
  }

  /** An update seen in this cluster: if it is this cluster's slot of a shared field, the peers get it. */
  private updated(doId: number, fieldId: number, value: Uint8Array): void {
    const object = this.byDoId.get(doId);
    if (!object) return;
    const field = object.dclass.fieldById(fieldId);
    if (!field || !hasKeyword(field, SHARED_KEYWORD)) return;
    if (slotOwner(field, value) !== this.options.cluster) return; // a peer's slot, as this link end applied it
    let slots = this.ownSlots.get(object.key);
    if (!slots) this.ownSlots.set(object.key, (slots = new Map()));
    slots.set(field.name, value);
    const message = encodeEnvelope({
      t: "slot",
      key: object.key,
      field: field.name,
      value,
    } satisfies LinkMessage);
    for (const peer of this.options.upPeers()) {
      if (this.options.sendTo(peer, message))
        this.options.counters.slots.inc({ direction: "out", result: "sent" });
    }
  }

  /** A new link starts with every slot of this cluster. */
  linkUp(peer: string): void {
    const slots: { key: string; field: string; value: Uint8Array }[] = [];
    for (const [key, fields] of this.ownSlots)
      for (const [field, value] of fields) slots.push({ key, field, value });
    this.options.sendTo(peer, encodeEnvelope({ t: "refresh", slots } satisfies LinkMessage));
    this.options.log.info({ peer, slots: slots.length }, "shared objects refreshed to the peer");
  }

  /** A message from a peer over its link. */
  receive(peer: string, bytes: Uint8Array): undefined {
    let message: LinkMessage;
    try {
      message = decodeEnvelope(bytes) as LinkMessage;
    } catch {
      return this.refuse(peer, "undecodable", {});
    }
    if (message?.t === "slot") this.accept(peer, message.key, message.field, message.value);
    else if (message?.t === "refresh" && Array.isArray(message.slots)) {
      for (const slot of message.slots) this.accept(peer, slot.key, slot.field, slot.value);
    } else if (typeof message?.t === "string" && message.t.startsWith("file-")) {
      // package files between peers (peer-files.ts): theirs
    } else if ((message?.t as string) === "plugin-msg") {
      // plugin messages between clusters (plugin-messages.ts): theirs
    } else this.refuse(peer, "unknown_message", {});
  }

  private accept(peer: string, key: unknown, fieldName: unknown, value: unknown): undefined {
    if (typeof key !== "string" || typeof fieldName !== "string" || !(value instanceof Uint8Array)) {
      return this.refuse(peer, "malformed", { key });
    }
    const className = key.split("@")[0] ?? "";
    const dclass = this.options.dc.class(className);
    if (!dclass || !isSharedClass(dclass)) return this.refuse(peer, "not_a_shared_class", { key });
    const field = dclass.field(fieldName);
    if (!field || !hasKeyword(field, SHARED_KEYWORD))
      return this.refuse(peer, "not_a_shared_field", { key, field: fieldName });
    const owner = slotOwner(field, value);
    if (owner === undefined) return this.refuse(peer, "bad_value", { key, field: fieldName });
    if (owner !== peer) return this.refuse(peer, "not_the_peers_slot", { key, field: fieldName, owner });
    const object = this.byKey.get(key);
    if (!object) {
      let waiting = this.pending.get(key);
      if (!waiting) this.pending.set(key, (waiting = new Map()));
      waiting.set(fieldName, value);
      return;
    }
    this.apply(object, fieldName, value);
  }

  private apply(object: SharedObject, fieldName: string, value: Uint8Array): void {
    const field = object.dclass.field(fieldName)!;
    this.options.counters.slots.inc({ direction: "in", result: "applied" });
    this.options.participant
      .request("ss", "updates", {
        groups: [[0, [[object.doId, field.id, value]]]],
      })
      .then(
        (reply) => {
          for (const refused of reply.refused) {
            this.options.log.warn(
              { key: object.key, field: fieldName, reason: refused.message },
              "slot refused by the state server",
            );
          }
        },
        (error: unknown) =>
          this.options.log.warn({ key: object.key, err: (error as Error).message }, "slot not applied"),
      );
  }

  private refuse(peer: string, reason: string, details: object): undefined {
    this.options.counters.slots.inc({ direction: "in", result: reason });
    this.options.log.warn({ peer, reason, ...details }, "shared update from a peer refused");
    return undefined;
  }
}

/** The cluster a shared field's value is the slot of (its first parameter, a string); undefined if none. */
export function slotOwner(field: Field, value: Uint8Array): string | undefined {
  try {
    const unpacked = unpackField(field, value);
    const first = Array.isArray(unpacked) ? unpacked[0] : unpacked;
    return typeof first === "string" ? first : undefined;
  } catch {
    return undefined;
  }
}

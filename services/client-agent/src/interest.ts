/**
 * Interest: which zones a client sees, and what it is told about the objects in them.
 *
 * `LocationSubscriptions` is the agent's side: one NATS subscription per location subject, shared by
 * every client of the agent that covers that zone (reference-counted by sink).
 *
 * `ClientInterests` is one client's side, pure logic over deliveries and a zone query:
 * - ADD_INTEREST (or re-adding an id with other zones): zones no longer covered are dropped at once
 *   (LEAVE_OBJECT for objects no interest covers), new ones are subscribed, then queried; the client gets
 *   ENTER_OBJECT for each object it does not already see, then DONE_INTEREST, then the deliveries that
 *   arrived meanwhile, in order (they are buffered while any query is under way).
 * - REMOVE_INTEREST: LEAVE_OBJECT for objects no interest covers any more, unsubscribe, DONE_INTEREST.
 * - Deliveries: `enter` -> ENTER_OBJECT, `leave` / `delete` -> LEAVE_OBJECT, `update` -> field updates
 *   gathered until the next tick (for a stored state field the latest value wins; events keep their
 *   order).
 * - Owner deliveries (from the client's own participant channel): `enter-owner` -> ENTER_OWNED with the
 *   owner-visible fields (whether or not the client saw it already), `update` -> field updates,
 *   `changing-location` -> OBJECT_LOCATION, `delete` -> LEAVE_OBJECT, `changing-owner` away ->
 *   LEAVE_OBJECT unless an interest covers it.
 * - An object in view that moves to another zone in view -> OBJECT_LOCATION.
 * - A client is not sent back the values it set itself (see `expectEcho`).
 *   An owned object stays whether or not an interest covers it.
 */
import type { messages } from "@overworld/protocol";
import { type AgentMessage, AgentMessageType, type FieldUpdate } from "@overworld/protocol/client";

type Delivery = messages.Delivery;
type ObjectSnapshot = messages.ObjectSnapshot;

/** Receives the deliveries of the zones it subscribed to. */
export interface DeliverySink {
  receiveDelivery(delivery: Delivery): void;
}

/** What a client's interests need from the agent. */
export interface InterestPort {
  subscribe(parent: number, zone: number, sink: DeliverySink): void;
  unsubscribe(parent: number, zone: number, sink: DeliverySink): void;
  /** The objects in those zones of the parent, as clients see them. */
  query(parent: number, zones: readonly number[]): Promise<readonly ObjectSnapshot[]>;
}

/** An object the client can see, where it is, and whether it owns it (for ownsend fields). */
export interface VisibleObject {
  readonly classId: number;
  parent: number;
  zone: number;
  owned: boolean;
}

interface Interest {
  readonly parent: number;
  readonly zones: ReadonlySet<number>;
}

/** Sent values awaiting their echo, per field of an object, at most (older ones are forgotten). */
const MAX_PENDING_ECHOES = 16;

const zoneKey = (parent: number, zone: number) => `${parent}.${zone}`;
const updateKey = (doId: number, fieldId: number) => `${doId}.${fieldId}`;

/** The agent's shared location subscriptions: one per subject, however many clients cover it. */
export class LocationSubscriptions {
  private readonly subjects = new Map<string, { sinks: Set<DeliverySink>; close: () => void }>();

  constructor(
    private readonly open: (subject: string, deliver: (delivery: Delivery) => void) => () => void,
    private readonly subjectOf: (parent: number, zone: number) => string,
  ) {}

  /** How many NATS subscriptions are open. */
  get size(): number {
    return this.subjects.size;
  }

  add(parent: number, zone: number, sink: DeliverySink): void {
    const subject = this.subjectOf(parent, zone);
    let entry = this.subjects.get(subject);
    if (entry === undefined) {
      const sinks = new Set<DeliverySink>();
      const close = this.open(subject, (delivery) => {
        for (const each of [...sinks]) each.receiveDelivery(delivery);
      });
      entry = { sinks, close };
      this.subjects.set(subject, entry);
    }
    entry.sinks.add(sink);
  }

  remove(parent: number, zone: number, sink: DeliverySink): void {
    const subject = this.subjectOf(parent, zone);
    const entry = this.subjects.get(subject);
    if (entry === undefined) return;
    entry.sinks.delete(sink);
    if (entry.sinks.size === 0) {
      entry.close();
      this.subjects.delete(subject);
    }
  }

  closeAll(): void {
    for (const entry of this.subjects.values()) entry.close();
    this.subjects.clear();
  }
}

export class ClientInterests implements DeliverySink {
  readonly visible = new Map<number, VisibleObject>();
  private readonly interests = new Map<number, Interest>();
  /** How many interests cover each zone (`parent.zone`). */
  private readonly coverage = new Map<string, number>();
  /** Gathered for the next tick, in order: state fields by `doId.field`, events by a unique key. */
  private readonly pending = new Map<string, FieldUpdate>();
  private eventCount = 0;
  /** Values the client sent, by doId and field, oldest first, whose echo it is not sent back. */
  private readonly echoes = new Map<string, Uint8Array[]>();
  /** Deliveries that arrived while a query was under way, with whether they came to the owner channel. */
  private buffered: { delivery: Delivery; owner: boolean }[] = [];
  private queriesUnderWay = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly port: InterestPort,
    private readonly send: (message: AgentMessage) => void,
    private readonly fail: (error: Error) => void,
    /** True for fields whose latest value is all that matters (stored state); others are events. */
    private readonly isState: (fieldId: number) => boolean = () => true,
  ) {}

  /** Zones covered by at least one interest. */
  get coveredZones(): number {
    return this.coverage.size;
  }

  add(interestId: number, context: number, parent: number, zones: readonly number[]): void {
    const wanted = new Set(zones);
    const old = this.interests.get(interestId);
    const added = [...wanted].filter((zone) => !(old?.parent === parent && old.zones.has(zone)));
    const dropped = old
      ? [...old.zones]
          .filter((zone) => !(old.parent === parent && wanted.has(zone)))
          .map((z) => [old.parent, z] as const)
      : [];
    this.interests.set(interestId, { parent, zones: wanted });
    for (const [p, zone] of dropped) this.uncover(p, zone);
    for (const zone of added) this.cover(parent, zone);
    if (dropped.length > 0) this.leaveUncovered();
    this.queriesUnderWay += 1;
    const query = added.length > 0 ? this.port.query(parent, added) : Promise.resolve([]);
    this.chain = this.chain
      .then(() => query)
      .then(
        (objects) => this.answer(interestId, context, objects),
        (error: unknown) => {
          this.queriesUnderWay -= 1;
          this.fail(error as Error);
        },
      );
  }

  remove(interestId: number, context: number): boolean {
    const old = this.interests.get(interestId);
    if (old === undefined) return false;
    this.interests.delete(interestId);
    for (const zone of old.zones) this.uncover(old.parent, zone);
    this.leaveUncovered();
    this.chain = this.chain.then(() => {
      if (!this.closed) this.send({ type: AgentMessageType.DoneInterest, interestId, context });
    });
    return true;
  }

  /**
   * The client sent this value: when the cluster delivers it back (in the order sent), the client is not
   * told what it already knows. A value set by anyone else, even in between, still reaches it.
   */
  expectEcho(doId: number, fieldId: number, value: Uint8Array): void {
    const key = updateKey(doId, fieldId);
    const queue = this.echoes.get(key);
    if (queue === undefined) this.echoes.set(key, [value]);
    else if (queue.push(value) > MAX_PENDING_ECHOES) queue.shift();
  }

  /** The field updates gathered since the last call, oldest first; empties the gathering. */
  takeUpdates(): FieldUpdate[] {
    const updates = [...this.pending.values()];
    this.pending.clear();
    return updates;
  }

  /** Unsubscribes everything; nothing more is sent. */
  close(): void {
    this.closed = true;
    for (const [key] of this.coverage) {
      const [parent, zone] = key.split(".").map(Number) as [number, number];
      this.port.unsubscribe(parent, zone, this);
    }
    this.coverage.clear();
    this.interests.clear();
    this.buffered = [];
    this.pending.clear();
    this.echoes.clear();
  }

  receiveDelivery(delivery: Delivery): void {
    this.receive(delivery, false);
  }

  /** A delivery to the client's own participant channel (it is or was the owner). */
  receiveOwnerDelivery(delivery: Delivery): void {
    this.receive(delivery, true);
  }

  private receive(delivery: Delivery, owner: boolean): void {
    if (this.closed) return;
    if (this.queriesUnderWay > 0) this.buffered.push({ delivery, owner });
    else if (owner) this.applyOwner(delivery);
    else this.apply(delivery);
  }

  private answer(interestId: number, context: number, objects: readonly ObjectSnapshot[]): void {
    this.queriesUnderWay -= 1;
    if (this.closed) return;
    for (const object of objects) this.enter(object);
    this.send({ type: AgentMessageType.DoneInterest, interestId, context });
    if (this.queriesUnderWay > 0) return;
    const buffered = this.buffered;
    this.buffered = [];
    for (const { delivery, owner } of buffered) {
      if (owner) this.applyOwner(delivery);
      else this.apply(delivery);
    }
  }

  private applyOwner(delivery: Delivery): void {
    switch (delivery.kind) {
      case "enter-owner":
        this.enterOwned(delivery.object);
        return;
      case "update":
        for (const [doId, fieldId, value] of delivery.updates) {
          if (this.visible.get(doId)?.owned !== true) continue;
          this.gather(doId, fieldId, value);
        }
        return;
      case "changing-location": {
        const object = this.visible.get(delivery.doId);
        if (object?.owned !== true) return;
        this.move(delivery.doId, object, delivery.parentId, delivery.zoneId);
        return;
      }
      case "changing-owner": {
        const object = this.visible.get(delivery.doId);
        if (object?.owned !== true || delivery.owner === delivery.oldOwner) return;
        object.owned = false;
        if (!this.coverage.has(zoneKey(object.parent, object.zone))) this.leave(delivery.doId);
        return;
      }
      case "delete":
        if (this.visible.has(delivery.doId)) this.leave(delivery.doId);
        return;
      default:
        return;
    }
  }

  /** The client now owns the object: it enters (owner-visible fields), or, if seen already, gains them. */
  private enterOwned(object: ObjectSnapshot): void {
    const seen = this.visible.get(object.doId);
    if (seen !== undefined) {
      // field updates gathered for it are older than the snapshot the owner now gets
      for (const [key, update] of this.pending) if (update.doId === object.doId) this.pending.delete(key);
      seen.owned = true;
      seen.parent = object.parentId;
      seen.zone = object.zoneId;
    } else {
      this.visible.set(object.doId, {
        classId: object.classId,
        parent: object.parentId,
        zone: object.zoneId,
        owned: true,
      });
    }
    this.sendEnter(object, AgentMessageType.EnterOwnedObject);
  }

  private apply(delivery: Delivery): void {
    switch (delivery.kind) {
      case "enter":
        this.enter(delivery.object);
        return;
      case "leave": {
        const object = this.visible.get(delivery.doId);
        // a leave from the zone it is no longer in (its enter elsewhere came first) changes nothing;
        // an owned object stays wherever it goes
        if (object?.owned === false && object.parent === delivery.parentId && object.zone === delivery.zoneId)
          this.leave(delivery.doId);
        return;
      }
      case "delete":
        if (this.visible.has(delivery.doId)) this.leave(delivery.doId);
        return;
      case "update":
        for (const [doId, fieldId, value] of delivery.updates) {
          if (!this.visible.has(doId)) continue;
          this.gather(doId, fieldId, value);
        }
        return;
      default:
        return;
    }
  }

  /**
   * An update for the next tick, unless it is the echo of the client's own. A state field's latest value
   * replaces the one gathered before (and moves after the events gathered meanwhile); events all go, in
   * order.
   */
  private gather(doId: number, fieldId: number, value: Uint8Array): void {
    const key = updateKey(doId, fieldId);
    const queue = this.echoes.get(key);
    if (queue !== undefined) {
      const at = queue.findIndex((sent) => sameBytes(sent, value));
      if (at >= 0) {
        queue.splice(0, at + 1);
        if (queue.length === 0) this.echoes.delete(key);
        return;
      }
    }
    if (this.isState(fieldId)) {
      this.pending.delete(key);
      this.pending.set(key, { doId, fieldId, value });
    } else this.pending.set(`${key}#${this.eventCount++}`, { doId, fieldId, value });
  }

  private enter(object: ObjectSnapshot): void {
    if (!this.coverage.has(zoneKey(object.parentId, object.zoneId))) return;
    const seen = this.visible.get(object.doId);
    if (seen !== undefined) {
      // moved between two zones the client sees, or already sent by a query: only its place changes
      this.move(object.doId, seen, object.parentId, object.zoneId);
      return;
    }
    this.visible.set(object.doId, {
      classId: object.classId,
      parent: object.parentId,
      zone: object.zoneId,
      owned: false,
    });
    this.sendEnter(object);
  }

  /** The object is now at (parent, zone): the client hears of it when that is a change. */
  private move(doId: number, object: VisibleObject, parent: number, zone: number): void {
    if (object.parent === parent && object.zone === zone) return;
    object.parent = parent;
    object.zone = zone;
    this.send({ type: AgentMessageType.ObjectLocation, doId, parent, zone });
  }

  private sendEnter(
    object: ObjectSnapshot,
    type:
      | typeof AgentMessageType.EnterObject
      | typeof AgentMessageType.EnterOwnedObject = AgentMessageType.EnterObject,
  ): void {
    this.send({
      type,
      doId: object.doId,
      parent: object.parentId,
      zone: object.zoneId,
      classId: object.classId,
      fields: object.fields.map(([fieldId, value]) => ({ fieldId, value })),
    });
  }

  private leave(doId: number): void {
    this.visible.delete(doId);
    for (const key of this.echoes.keys()) if (key.startsWith(`${doId}.`)) this.echoes.delete(key);
    for (const [key, update] of this.pending) if (update.doId === doId) this.pending.delete(key);
    this.send({ type: AgentMessageType.LeaveObject, doId });
  }

  private leaveUncovered(): void {
    for (const [doId, object] of [...this.visible]) {
      if (!object.owned && !this.coverage.has(zoneKey(object.parent, object.zone))) this.leave(doId);
    }
  }

  private cover(parent: number, zone: number): void {
    const key = zoneKey(parent, zone);
    const count = this.coverage.get(key) ?? 0;
    this.coverage.set(key, count + 1);
    if (count === 0) this.port.subscribe(parent, zone, this);
  }

  private uncover(parent: number, zone: number): void {
    const key = zoneKey(parent, zone);
    const count = this.coverage.get(key) ?? 0;
    if (count <= 1) {
      this.coverage.delete(key);
      if (count === 1) this.port.unsubscribe(parent, zone, this);
    } else this.coverage.set(key, count - 1);
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Interest: which zones a client sees, and what it is told about the objects in them.
 *
 * `LocationSubscriptions` is the agent's side: one NATS subscription per location subject, shared by
 * every client of the agent that covers that zone (reference-counted by sink), and one `ZoneFeed` per
 * zone: the zone's field updates of a tick are gathered there once (for a stored state field the latest
 * value wins; events keep their order) and encoded once into FIELD_UPDATES messages, whose bytes every
 * client covering the zone is sent (encode once, send many: per client there is only the transport's
 * framing and encryption).
 *
 * `ClientInterests` is one client's side, pure logic over deliveries and a zone query:
 * - ADD_INTEREST (or re-adding an id with other zones): zones no longer covered are dropped at once
 *   (LEAVE_OBJECT for objects no interest covers), new ones are subscribed, then queried; the client gets
 *   ENTER_OBJECT for each object it does not already see, then DONE_INTEREST, then the deliveries that
 *   arrived meanwhile, in order (they are buffered while any query is under way).
 * - REMOVE_INTEREST: LEAVE_OBJECT for objects no interest covers any more, unsubscribe, DONE_INTEREST.
 * - Deliveries: `enter` -> ENTER_OBJECT, `leave` / `delete` -> LEAVE_OBJECT, at once; field updates come
 *   with the zones' feeds at each tick (held back, in order, while a query is under way).
 * - Owner deliveries (from the client's own participant channel): `enter-owner` -> ENTER_OWNED with the
 *   owner-visible fields (whether or not the client saw it already), `update` -> field updates gathered
 *   for the client (except broadcast fields of an object in a covered zone: its feed carries them),
 *   `changing-location` -> OBJECT_LOCATION, `delete` -> LEAVE_OBJECT, `changing-owner` away ->
 *   LEAVE_OBJECT unless an interest covers it.
 * - An object in view that moves to another zone in view -> OBJECT_LOCATION.
 *   An owned object stays whether or not an interest covers it.
 * - A client is sent back the values it set itself, like everyone covering the zone (the bytes are
 *   shared); the client library drops those echoes.
 * - Nested changes (game logic edited one entry of a container field): the state server's frame carries
 *   the change and the whole value it made. A client is sent the change when it holds the value the
 *   change applies to: it saw the object enter before the change came. Clients that had a zone query
 *   under way during the tick (whose snapshot may or may not hold the change) are sent the tick's
 *   whole values instead, encoded once too (`ZoneFeed.sealedWhole`). Container fields' updates are
 *   never state (see `fieldRulesOf`): they go reliable and in order, since each change applies to the
 *   value the previous one left, and a lost one cannot be made good by a newer one.
 */
import {
  type DcFile,
  type FrameUpdate,
  type FrameVisitor,
  type messages,
  readUpdateFrame,
  reliable,
} from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  encodeAgentMessage,
  FIELD_UPDATES_HEADER_BYTES,
  type FieldUpdate,
  fieldUpdateBytes,
  gridNeighbourhood,
  onGrid,
  updateKey,
  type ZoneGrid,
} from "@overworld/protocol/client";

type Delivery = messages.Delivery;

/**
 * The largest message the default reliable configuration sends whole in one datagram: unfragmented on
 * the reliable channel, and at all on the unreliable one.
 */
const MAX_WHOLE_MESSAGE_BYTES = (() => {
  const limits = reliable.resolveReliableConfig();
  return Math.min(limits.fragmentSize, limits.maxUnreliableSize);
})();
type ObjectSnapshot = messages.ObjectSnapshot;

/** Receives the deliveries of the zones it subscribed to. */
export interface DeliverySink {
  receiveDelivery(delivery: Delivery): void;
}

/** What a client's interests need from the agent. */
export interface InterestPort {
  /** Subscribes the sink to the zone's deliveries; the zone's feed brings its field updates. */
  subscribe(parent: number, zone: number, sink: DeliverySink): ZoneFeed;
  unsubscribe(parent: number, zone: number, sink: DeliverySink): void;
  /** The objects in those zones of the parent, as clients see them. */
  query(parent: number, zones: readonly number[]): Promise<readonly ObjectSnapshot[]>;
  /** Counts the ticks: a zone's updates are taken once per tick. */
  readonly tick: number;
}

/** What a client's interests must know of fields. */
export interface FieldRules {
  /**
   * True for fields whose latest value is all that matters (stored state); others are events. A
   * container field is no state: its nested changes must all arrive, in order.
   */
  isState(fieldId: number): boolean;
  /** True for fields the location channel carries (broadcast): the zone's feed brings them. */
  isBroadcast(fieldId: number): boolean;
}

/** An object the client can see, where it is, and whether it owns it (for ownsend fields). */
export interface VisibleObject {
  readonly classId: number;
  parent: number;
  zone: number;
  owned: boolean;
}

/** Update messages for a client: events and owner updates (reliable), and zone state (unreliable). */
export interface ZoneUpdates {
  readonly events: Uint8Array[];
  readonly state: StateMessage[];
}

/** A zone some interest of the client covers: how many do, and the zone's feed. */
interface Coverage {
  readonly parent: number;
  readonly zone: number;
  count: number;
  readonly feed: ZoneFeed;
}

interface Interest {
  readonly parent: number;
  readonly zones: ReadonlySet<number>;
}

/** A followed interest: the neighbourhood of an object's zone on a grid. */
interface Follow {
  readonly doId: number;
  readonly grid: ZoneGrid;
  readonly radius: number;
}

/** The context of DONE_INTEREST for a move the agent made itself (the client asked for none). */
const NO_CONTEXT = 0;

/** Field updates sent in one FIELD_UPDATES message at most (more go in several). */
export const MAX_UPDATES_PER_MESSAGE = 1024;
const FIELD_IDS = 0x1_0000;

const zoneKey = (parent: number, zone: number) => `${parent}.${zone}`;
/** A state field of an object: one number (doIds are 32-bit, field ids 16-bit: under 2^48). */
const stateKey = (doId: number, fieldId: number) => doId * FIELD_IDS + fieldId;

const byDoId = (a: FieldUpdate, b: FieldUpdate) => a.doId - b.doId;

/** A gathered update: as the client wire carries it, and for a nested change the whole value it made. */
interface Gathered extends FieldUpdate {
  readonly whole?: Uint8Array;
}

/** The update as its whole value (a nested change is replaced by the value it made). */
function asWhole(update: Gathered): FieldUpdate {
  if (update.whole === undefined) return update;
  return { doId: update.doId, classId: update.classId, fieldId: update.fieldId, value: update.whole };
}

/**
 * Field updates gathered until the next tick: for a state field the latest value wins (and moves after
 * the events gathered meanwhile), events all go, in order.
 */
class UpdateGathering {
  private readonly pending = new Map<number | string, Gathered>();
  private events = 0;

  constructor(private readonly isState: (fieldId: number) => boolean) {}

  get size(): number {
    return this.pending.size;
  }

  add(update: Gathered): void {
    if (update.whole === undefined && this.isState(update.fieldId)) {
      const key = stateKey(update.doId, update.fieldId);
      this.pending.delete(key);
      this.pending.set(key, update);
    } else this.pending.set(`e${this.events++}`, update);
  }

  /** Forgets what was gathered for an object (it left the client's view). */
  drop(doId: number): void {
    for (const [key, update] of this.pending) if (update.doId === doId) this.pending.delete(key);
  }

  /** What was gathered, oldest first; empties the gathering. */
  take(): Gathered[] {
    if (this.pending.size === 0) return [];
    const updates = [...this.pending.values()];
    this.pending.clear();
    return updates;
  }
}

/**
 * Updates in batches that each fit a datagram whole as one message (so they pack together into full
 * datagrams, never split into fragments, which one loss would hold back).
 */
function batches(updates: readonly FieldUpdate[], dc: DcFile): FieldUpdate[][] {
  const out: FieldUpdate[][] = [];
  let batch: FieldUpdate[] = [];
  let size = FIELD_UPDATES_HEADER_BYTES;
  let previous = 0;
  for (const update of updates) {
    const key = updateKey(dc, update);
    let bytes = fieldUpdateBytes(previous, update.doId, key, update.value.length);
    if (
      batch.length > 0 &&
      (size + bytes > MAX_WHOLE_MESSAGE_BYTES || batch.length === MAX_UPDATES_PER_MESSAGE)
    ) {
      out.push(batch);
      batch = [];
      size = FIELD_UPDATES_HEADER_BYTES;
      bytes = fieldUpdateBytes(0, update.doId, key, update.value.length);
    }
    batch.push(update);
    size += bytes;
    previous = update.doId;
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** FIELD_UPDATES messages, encoded, each fitting a datagram whole. */
function fieldUpdateMessages(updates: readonly FieldUpdate[], dc: DcFile): Uint8Array[] {
  return batches(updates, dc).map((batch) =>
    encodeAgentMessage({ type: AgentMessageType.FieldUpdates, updates: batch }, dc),
  );
}

/**
 * A STATE_UPDATES message of one zone and tick, as sent on the unreliable channel; it is also the tag
 * the connection hands back if the message is lost (see `ZoneFeed.stillNewest`).
 */
export interface StateMessage {
  readonly bytes: Uint8Array;
  readonly tick: number;
  readonly updates: readonly FieldUpdate[];
  readonly feed: ZoneFeed;
}

/** Ticks a zone remembers when each of its state fields last changed: the most a loss can be repaired after. */
export const RESEND_WINDOW_TICKS = 256;

/**
 * One zone's field updates of a tick, gathered and encoded once for every client covering the zone:
 * events as FIELD_UPDATES (reliable, in order), stored state as STATE_UPDATES stamped with the tick
 * (unreliable: a lost datagram holds nothing back; what it carried is sent again only if still newest).
 */
export class ZoneFeed {
  private readonly events: UpdateGathering;
  private readonly state: UpdateGathering;
  /** The tick each state field of the zone last changed in, for the last RESEND_WINDOW_TICKS ticks. */
  private readonly changed = new Map<number, number>();
  /** The last sealed tick's events, encoded. */
  sealed: readonly Uint8Array[] = [];
  /**
   * The same events with each nested change replaced by the whole value it made (the same messages when
   * there was none): for clients that may not hold the values the changes apply to.
   */
  sealedWhole: readonly Uint8Array[] = [];
  /** The last sealed tick's state. */
  sealedState: readonly StateMessage[] = [];

  constructor(
    private readonly isState: (fieldId: number) => boolean,
    private readonly dc: DcFile,
  ) {
    this.events = new UpdateGathering(() => false);
    this.state = new UpdateGathering(() => true);
  }

  add(updates: readonly FrameUpdate[]): void {
    for (const [doId, fieldId, value, classId, delta] of updates)
      this.gather(doId, classId, fieldId, value, delta);
  }

  /** Gathers the updates of a state server's frame, read in place; false when it is malformed. */
  addFrame(frame: Uint8Array): boolean {
    return readUpdateFrame(frame, this.visit) !== undefined;
  }

  private readonly visit: FrameVisitor = (doId, classId, fieldId, bytes, start, end, deltaStart, deltaEnd) =>
    this.gather(
      doId,
      classId,
      fieldId,
      bytes.subarray(start, end),
      deltaStart < 0 ? undefined : bytes.subarray(deltaStart, deltaEnd),
    );

  private gather(
    doId: number,
    classId: number,
    fieldId: number,
    value: Uint8Array,
    delta: Uint8Array | undefined,
  ): void {
    if (delta !== undefined)
      this.events.add({ doId, classId, fieldId, value: delta, nested: true, whole: value });
    else if (this.isState(fieldId)) this.state.add({ doId, classId, fieldId, value });
    else this.events.add({ doId, classId, fieldId, value });
  }

  /** Ends tick `tick`: what was gathered is encoded, once (and the events as whole values once more if needed). */
  seal(tick: number): void {
    const events = this.events.take();
    this.sealed = fieldUpdateMessages(events, this.dc);
    this.sealedWhole = events.some((update) => update.whole !== undefined)
      ? fieldUpdateMessages(events.map(asWhole), this.dc)
      : this.sealed;
    // state is newest-value-wins, so its order is free: by doId, each update's doId is a small step from
    // the one before (one byte of difference where arrival order can need two or three)
    const state = this.state.take().sort(byDoId);
    for (const update of state) this.changed.set(stateKey(update.doId, update.fieldId), tick);
    if (tick % RESEND_WINDOW_TICKS === 0) this.forgetBefore(tick - RESEND_WINDOW_TICKS);
    this.sealedState = batches(state, this.dc).map((batch) => this.stateMessage(tick, batch));
  }

  /**
   * The updates of a lost STATE_UPDATES message that are still the newest of their fields (nothing
   * changed them since), as a message to send again with the same tick; undefined when all were superseded.
   */
  stillNewest(lost: StateMessage): StateMessage | undefined {
    const updates = lost.updates.filter(
      (update) => this.changed.get(stateKey(update.doId, update.fieldId)) === lost.tick,
    );
    if (updates.length === 0) return undefined;
    return this.stateMessage(lost.tick, updates);
  }

  private stateMessage(tick: number, updates: readonly FieldUpdate[]): StateMessage {
    const bytes = encodeAgentMessage({ type: AgentMessageType.StateUpdates, tick, updates }, this.dc);
    return { bytes, tick, updates, feed: this };
  }

  private forgetBefore(tick: number): void {
    for (const [key, changed] of this.changed) if (changed < tick) this.changed.delete(key);
  }
}

/** The agent's shared location subscriptions: one per subject, however many clients cover it. */
export class LocationSubscriptions {
  private readonly subjects = new Map<
    string,
    { sinks: Set<DeliverySink>; close: () => void; feed: ZoneFeed }
  >();
  private ticks = 0;

  constructor(
    /** Subscribes: deliveries come decoded, update frames as bytes for `frame` (false: malformed). */
    private readonly open: (
      subject: string,
      deliver: (delivery: Delivery) => void,
      frame: (bytes: Uint8Array) => boolean,
    ) => () => void,
    private readonly subjectOf: (parent: number, zone: number) => string,
    private readonly isState: (fieldId: number) => boolean,
    private readonly dc: DcFile,
  ) {}

  /** Ticks sealed so far. */
  get tick(): number {
    return this.ticks;
  }

  /** Ends a tick: every zone's updates are encoded, once, for the clients to take. */
  sealAll(): void {
    this.ticks += 1;
    for (const entry of this.subjects.values()) entry.feed.seal(this.ticks);
  }

  /** How many NATS subscriptions are open. */
  get size(): number {
    return this.subjects.size;
  }

  add(parent: number, zone: number, sink: DeliverySink): ZoneFeed {
    const subject = this.subjectOf(parent, zone);
    let entry = this.subjects.get(subject);
    if (entry === undefined) {
      const sinks = new Set<DeliverySink>();
      const feed = new ZoneFeed(this.isState, this.dc);
      const close = this.open(
        subject,
        (delivery) => {
          if (delivery.kind === "update") {
            throw new Error(
              "a location's field updates come as update frames (update-frame.ts), not envelopes",
            );
          }
          for (const each of [...sinks]) each.receiveDelivery(delivery);
        },
        (frame) => feed.addFrame(frame),
      );
      entry = { sinks, close, feed };
      this.subjects.set(subject, entry);
    }
    entry.sinks.add(sink);
    return entry.feed;
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
  /** Interests this agent moves itself, following an object of the client's. */
  private readonly follows = new Map<number, Follow>();
  /** How many interests cover each zone (`parent.zone`). */
  private readonly coverage = new Map<string, Coverage>();
  /** Owner-channel updates gathered for this client alone. */
  private readonly pending: UpdateGathering;
  /** Zone updates of ticks that ended while a query was under way, held back until it is answered. */
  private heldBack: ZoneUpdates = { events: [], state: [] };
  /**
   * Whether a zone query was under way at some time since the last tick's updates were taken: this
   * tick's nested changes may already be in its snapshot, so the client gets whole values instead.
   */
  private queriedThisTick = false;
  /** State sent again: what lost messages carried that is still the newest. */
  private resends: StateMessage[] = [];
  /** The last tick whose zone updates were taken. */
  private lastTick = 0;
  /** Deliveries that arrived while a query was under way, with whether they came to the owner channel. */
  private buffered: { delivery: Delivery; owner: boolean; tick: number }[] = [];
  private queriesUnderWay = 0;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly port: InterestPort,
    private readonly send: (message: AgentMessage) => void,
    private readonly fail: (error: Error) => void,
    private readonly fields: FieldRules,
    private readonly dc: DcFile,
  ) {
    this.pending = new UpdateGathering(fields.isState);
  }

  /** Zones covered by at least one interest. */
  get coveredZones(): number {
    return this.coverage.size;
  }

  add(interestId: number, context: number, parent: number, zones: readonly number[]): void {
    this.follows.delete(interestId); // the client set its zones itself: it follows nothing any more
    this.set(interestId, context, parent, zones);
  }

  /** Sets an interest's zones (subscribing, querying, leaving as needed); DONE_INTEREST once answered. */
  private set(interestId: number, context: number, parent: number, zones: readonly number[]): void {
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
    this.queriedThisTick = true;
    const tick = this.ongoingTick;
    const query = added.length > 0 ? this.port.query(parent, added) : Promise.resolve([]);
    this.chain = this.chain
      .then(() => query)
      .then(
        (objects) => this.answer(interestId, context, objects, tick),
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
    this.follows.delete(interestId);
    for (const zone of old.zones) this.uncover(old.parent, zone);
    this.leaveUncovered();
    this.chain = this.chain.then(() => {
      if (!this.closed) this.send({ type: AgentMessageType.DoneInterest, interestId, context });
    });
    return true;
  }

  /**
   * The messages of updates for the client now: those gathered for it alone, then the zones' of the
   * last tick (each zone's encoded once for all its clients), and state sent again. While a query is
   * under way, the zones' are held back, and go after its answer.
   */
  takeUpdates(): ZoneUpdates {
    const out: ZoneUpdates = {
      events: fieldUpdateMessages(this.pending.take(), this.dc),
      state: this.resends,
    };
    this.resends = [];
    const tick = this.port.tick;
    if (tick === this.lastTick) return out;
    this.lastTick = tick;
    const zones = this.queriesUnderWay > 0 ? this.heldBack : out;
    if (zones === out && this.heldBack.events.length + this.heldBack.state.length > 0) {
      out.events.push(...this.heldBack.events);
      out.state.push(...this.heldBack.state);
      this.heldBack = { events: [], state: [] };
    }
    const whole = this.queriedThisTick;
    this.queriedThisTick = this.queriesUnderWay > 0;
    for (const covered of this.coverage.values()) {
      zones.events.push(...(whole ? covered.feed.sealedWhole : covered.feed.sealed));
      zones.state.push(...covered.feed.sealedState);
    }
    return out;
  }

  /**
   * A STATE_UPDATES message sent to the client was lost: what it carried that is still the newest goes
   * again with the next updates (if the client still covers its zone).
   */
  lost(message: StateMessage): void {
    if (this.closed) return;
    let covered = false;
    for (const coverage of this.coverage.values()) if (coverage.feed === message.feed) covered = true;
    if (!covered) return;
    const resend = message.feed.stillNewest(message);
    if (resend !== undefined) this.resends.push(resend);
  }

  /** Unsubscribes everything; nothing more is sent. */
  close(): void {
    this.closed = true;
    for (const covered of this.coverage.values()) this.port.unsubscribe(covered.parent, covered.zone, this);
    this.coverage.clear();
    this.interests.clear();
    this.buffered = [];
    this.heldBack = { events: [], state: [] };
    this.resends = [];
    this.pending.take();
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
    const tick = this.ongoingTick;
    if (this.queriesUnderWay > 0) this.buffered.push({ delivery, owner, tick });
    else if (owner) this.applyOwner(delivery, tick);
    else this.apply(delivery, tick);
  }

  /**
   * The tick the updates arriving now will be sealed in: a snapshot taken now is as new as they are or
   * newer, so the client skips state of older ticks.
   */
  private get ongoingTick(): number {
    return this.port.tick + 1;
  }

  private answer(
    interestId: number,
    context: number,
    objects: readonly ObjectSnapshot[],
    tick: number,
  ): void {
    this.queriesUnderWay -= 1;
    this.queriedThisTick = true;
    if (this.closed) return;
    for (const object of objects) this.enter(object, tick);
    this.send({ type: AgentMessageType.DoneInterest, interestId, context });
    if (this.queriesUnderWay > 0) return;
    const buffered = this.buffered;
    this.buffered = [];
    for (const { delivery, owner, tick: then } of buffered) {
      if (owner) this.applyOwner(delivery, then);
      else this.apply(delivery, then);
    }
  }

  private applyOwner(delivery: Delivery, tick: number): void {
    switch (delivery.kind) {
      case "enter-owner":
        this.enterOwned(delivery.object, tick);
        return;
      case "update":
        // the client saw the object (and the values the nested changes apply to) before these came
        for (const [doId, fieldId, value, , delta] of delivery.updates) {
          const object = this.visible.get(doId);
          if (object?.owned !== true) continue;
          if (this.fields.isBroadcast(fieldId) && this.coverage.has(zoneKey(object.parent, object.zone)))
            continue;
          const { classId } = object;
          if (delta === undefined) this.pending.add({ doId, classId, fieldId, value });
          else this.pending.add({ doId, classId, fieldId, value: delta, nested: true, whole: value });
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
  private enterOwned(object: ObjectSnapshot, tick: number): void {
    const seen = this.visible.get(object.doId);
    if (seen !== undefined) {
      // field updates gathered for it are older than the snapshot the owner now gets
      this.pending.drop(object.doId);
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
    this.sendEnter(object, tick, AgentMessageType.EnterOwnedObject);
  }

  private apply(delivery: Delivery, tick: number): void {
    switch (delivery.kind) {
      case "enter":
        this.enter(delivery.object, tick);
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
      default:
        return;
    }
  }

  private enter(object: ObjectSnapshot, tick: number): void {
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
    this.sendEnter(object, tick);
  }

  /** The object is now at (parent, zone): the client hears of it when that is a change. */
  private move(doId: number, object: VisibleObject, parent: number, zone: number): void {
    if (object.parent === parent && object.zone === zone) return;
    object.parent = parent;
    object.zone = zone;
    this.send({ type: AgentMessageType.ObjectLocation, doId, parent, zone });
    for (const [interestId, follow] of this.follows) {
      if (follow.doId === doId) this.coverFollowed(interestId, follow, object);
    }
  }

  /**
   * An interest this agent moves itself: the zones of `grid` within `radius` of the zone of `doId` (an
   * object the client owns), now and each time it moves. Answered with DONE_INTEREST once, like `add`.
   */
  follow(interestId: number, context: number, doId: number, grid: ZoneGrid, radius: number): void {
    const object = this.visible.get(doId);
    if (object === undefined) return;
    const follow = { doId, grid, radius };
    this.follows.set(interestId, follow);
    this.coverFollowed(interestId, follow, object, context);
  }

  /** Sets a followed interest to the object's neighbourhood (nothing while it is off the grid). */
  private coverFollowed(
    interestId: number,
    follow: Follow,
    object: VisibleObject,
    context = NO_CONTEXT,
  ): void {
    const zones = onGrid(follow.grid, object.zone)
      ? gridNeighbourhood(follow.grid, object.zone, follow.radius)
      : [];
    this.set(interestId, context, object.parent, zones);
  }

  private sendEnter(
    object: ObjectSnapshot,
    tick: number,
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
      tick,
      fields: object.fields.map(([fieldId, value]) => ({ fieldId, value })),
    });
  }

  private leave(doId: number): void {
    this.visible.delete(doId);
    this.pending.drop(doId);
    this.send({ type: AgentMessageType.LeaveObject, doId });
  }

  private leaveUncovered(): void {
    for (const [doId, object] of [...this.visible]) {
      if (!object.owned && !this.coverage.has(zoneKey(object.parent, object.zone))) this.leave(doId);
    }
  }

  private cover(parent: number, zone: number): void {
    const key = zoneKey(parent, zone);
    const covered = this.coverage.get(key);
    if (covered) covered.count += 1;
    else this.coverage.set(key, { parent, zone, count: 1, feed: this.port.subscribe(parent, zone, this) });
  }

  private uncover(parent: number, zone: number): void {
    const key = zoneKey(parent, zone);
    const covered = this.coverage.get(key);
    if (covered === undefined) return;
    covered.count -= 1;
    if (covered.count > 0) return;
    this.coverage.delete(key);
    this.port.unsubscribe(parent, zone, this);
  }
}

/**
 * One running zone: the objects it runs (those whose AI is its zone channel), the plugin state of its
 * kind, its inputs (journal entries of its zone channel) applied once per tick in canonical order, its
 * timers and its seeded random numbers. What the hooks do is gathered as outputs and handed to the
 * replica at the end of each tick, in order.
 *
 * Pure logic over inputs and time: the replica feeds it journal entries, calls `tick`, and sends the
 * outputs. `snapshot()` captures all it needs to resume elsewhere: with the same inputs after the
 * snapshot's sequence, a resumed zone reaches the same state.
 */
import {
  DClass,
  type DClassHandle,
  type DcFile,
  DeltaTracker,
  encodeFieldDelta,
  type Field,
  type FieldInfoMap,
  type FieldValue,
  isContainerField,
  KW,
  type messages,
  ObjectState,
  packField,
  unpackField,
} from "@overworld/protocol";
import { type InstanceOutput, instanceActions } from "./instances.ts";
import { ZoneNotifier } from "./notifications.ts";
import { canonicalOrder } from "./ordering.ts";
import type { FieldHandler, Zone, ZoneHooks, ZoneObject, ZonePlugin, ZoneSpec } from "./plugin.ts";
import { type RequestOutput, type RequestsSnapshot, ZoneRequests } from "./requests.ts";

/** One entry of a zone's journal: what was sent to its channel, when, and its place in the journal. */
export interface ZoneInput {
  readonly seq: number;
  /** When the journal stored it (ms). */
  readonly time: number;
  readonly message: messages.ZoneChannelMessage;
}

/** What a zone asks the cluster to do, in the order it asked. */
export type ZoneOutput =
  | {
      readonly op: "create";
      readonly doId: number;
      readonly classId: number;
      readonly parent: number;
      readonly zone: number;
      readonly ai: number;
      readonly owner: number;
      readonly fields: [number, Uint8Array][];
    }
  | { readonly op: "updates"; readonly updates: ZoneUpdate[] }
  | {
      readonly op: "move";
      readonly doId: number;
      readonly parent: number;
      readonly zone: number;
      readonly ai: number;
    }
  | { readonly op: "delete"; readonly doId: number }
  | {
      readonly op: "event";
      readonly channel: number;
      readonly name: string;
      readonly target: number;
      readonly data: unknown;
      readonly origin: [number, number];
    }
  | RequestOutput
  | InstanceOutput;

/**
 * One field update a zone sends: [doId, fieldId, whole value], and for an edit inside a stored container
 * field the nested change beside it (the state server stores the value, clients get the change).
 */
export type ZoneUpdate =
  | [doId: number, fieldId: number, value: Uint8Array]
  | [number, number, Uint8Array, Uint8Array];

/** Ids this zone may give to objects it spawns: taken ahead, kept in its snapshot (replays reuse them). */
export interface IdBlock {
  next: number;
  end: number;
}

/** Everything a zone needs to resume elsewhere. */
export interface ZoneSnapshot {
  /** The journal sequence of the last input applied. */
  readonly seq: number;
  readonly state: unknown;
  readonly rng: number;
  readonly timers: readonly Timer[];
  readonly ids: IdBlock;
  /** The last zone-event origin seen from each sender (repeats from a resumed sender are dropped). */
  readonly marks: Record<number, [number, number]>;
  /** Calls waiting for replies, and the replies given lately (requests.ts). */
  readonly requests?: RequestsSnapshot;
  /** The code the state is of (`name@version`, plugins/compose.ts), when the replica names it. */
  readonly code?: string;
}

/**
 * A switch of a zone's code at a place in its journal (a hot swap, plugins/hot-swap.ts): inputs before
 * `seq` are applied by the old code, those after by the new one (its hooks: undefined when this replica
 * has not loaded that version, and the zone runs on with its code).
 */
export interface CodeSwitch {
  readonly seq: number;
  /** The new code, `name@version`. */
  readonly to: string;
  readonly hooks: ZoneHooks<unknown> | undefined;
}

interface Timer {
  readonly at: number;
  readonly name: string;
  readonly data: unknown;
  /** Order of setting, for timers due at the same time. */
  readonly order: number;
}

export interface ZoneRuntimeOptions {
  readonly spec: ZoneSpec;
  readonly channel: number;
  readonly dc: DcFile;
  readonly hooks: ZoneHooks<unknown>;
  /** The zone channel of another zone of the same parent. */
  readonly channelOf: (zone: number) => number;
  readonly log: Zone["log"];
  /** The plugin's instance templates (`zone.openInstance`). */
  readonly templates?: ZonePlugin["instances"];
  /** The code `hooks` are of (`name@version`), kept in the snapshot: a replay starts with the same code. */
  readonly code?: string;
}

/** Spawned objects below this many ids left ask for a new block (see `idsLow`). */
const IDS_LOW_WATER = 32;
const UINT32 = 0x1_0000_0000;

export class ZoneRuntime {
  readonly spec: ZoneSpec;
  readonly channel: number;
  private state: unknown;
  private rng: number;
  private timers: Timer[] = [];
  private timerOrder = 0;
  private ids: IdBlock = { next: 0, end: 0 };
  /** Blocks given ahead of need, used in turn once `ids` runs out. */
  private readonly spare: IdBlock[] = [];
  private lastSeq = 0;
  /** Zone events made since the last input, numbering their origins. */
  private eventIndex = 0;
  private marks: Record<number, [number, number]> = {};
  private lastTick: number | undefined;
  private pending: ZoneInput[] = [];
  private outputs: ZoneOutput[] = [];
  private updates: ZoneUpdate[] = [];
  /** The objects edited in place (`zone.edit`) since their changes were last sent. */
  private readonly edited = new DeltaTracker();
  private now = 0;
  private readonly objects = new Map<number, LiveObject>();
  private readonly nearby = new Map<number, LiveObject>();
  private handlers = new Map<string, FieldHandler<unknown>[]>();
  private notifier: ZoneNotifier<unknown>;
  /** The kind's hooks of the code running the zone; replaced by a code switch. */
  private hooks: ZoneHooks<unknown>;
  private codeLabel: string | undefined;
  /** Code switches read from the journal, applied at their place among the inputs at the next tick. */
  private switches: CodeSwitch[] = [];
  private readonly zone: Zone;
  private requests: ZoneRequests;

  constructor(private readonly options: ZoneRuntimeOptions) {
    this.spec = options.spec;
    this.channel = options.channel;
    this.rng = seedOf(options.spec);
    this.hooks = options.hooks;
    this.codeLabel = options.code;
    this.zone = this.makeZone();
    this.notifier = new ZoneNotifier(undefined, undefined);
    this.requests = this.useHooks(options.hooks);
  }

  /** The code running the zone (`name@version`), if the replica names it. */
  get code(): string | undefined {
    return this.codeLabel;
  }

  /** Takes a kind's hooks: its field handlers, notifications and request handlers. */
  private useHooks(hooks: ZoneHooks<unknown>): ZoneRequests {
    this.hooks = hooks;
    this.handlers = new Map();
    for (const handler of hooks.fields ?? []) {
      const key = `${handler.dclass.name}.${handler.fieldName}`;
      const list = this.handlers.get(key) ?? [];
      list.push(handler);
      this.handlers.set(key, list);
    }
    this.notifier = new ZoneNotifier(hooks.notifications, hooks.clean);
    const requests = new ZoneRequests({
      dc: this.options.dc,
      hooks,
      zone: this.zone,
      state: () => this.state,
      object: (doId) => this.objects.get(doId),
      output: (output) => this.push(output),
      lineage,
    });
    this.requests = requests;
    return requests;
  }

  /**
   * Whether the zone could be handed to `hooks` now: runs their `migrate` on a copy of the state and
   * returns what it threw (undefined when it would go). Changes nothing.
   */
  trySwitch(hooks: ZoneHooks<unknown>): Error | undefined {
    if (hooks.migrate === undefined) return undefined;
    try {
      hooks.migrate(this.portableState(), this.codeLabel ?? "");
      return undefined;
    } catch (error) {
      return error instanceof Error ? error : new Error(String(error));
    }
  }

  /** A code switch read from the journal (one at or before the last applied sequence is ignored). */
  receiveSwitch(entry: CodeSwitch): void {
    if (entry.seq > this.lastSeq) this.switches.push(entry);
  }

  /** The state as plain data, copied: what a new version's `migrate` is given. */
  private portableState(): unknown {
    return structuredClone(this.hooks.save?.(this.state) ?? this.state);
  }

  /** Hands the zone to the switch's code: its state migrated, its hooks taken (or, if it cannot, kept). */
  private applySwitch(entry: CodeSwitch): void {
    this.lastSeq = Math.max(this.lastSeq, entry.seq);
    if (entry.to === this.codeLabel) return;
    const { hooks } = entry;
    if (hooks === undefined) {
      this.options.log.warn("code switch skipped: this replica has not loaded the version", {
        from: this.codeLabel,
        to: entry.to,
      });
      return;
    }
    let state = this.state;
    if (hooks.migrate !== undefined) {
      try {
        state = hooks.migrate(this.portableState(), this.codeLabel ?? "");
      } catch (error) {
        // the same on every replay: the old code runs on, deterministically
        this.options.log.warn("code switch refused by the new version's migrate; the old code runs on", {
          from: this.codeLabel,
          to: entry.to,
          error: (error as Error).message,
        });
        return;
      }
    }
    this.flushEdits();
    const saved = this.requests.snapshot();
    this.useHooks(hooks).restore(saved);
    this.state = state;
    this.codeLabel = entry.to;
  }

  /** The journal sequence of the last input applied. */
  get seq(): number {
    return this.lastSeq;
  }

  /** How many objects the zone runs. */
  get objectCount(): number {
    return this.objects.size;
  }

  /** True when fewer than IDS_LOW_WATER spawn ids are left (blocks given ahead included): see `addIds`. */
  get idsLow(): boolean {
    let left = this.ids.end - this.ids.next;
    for (const block of this.spare) left += block.end - block.next;
    return left < IDS_LOW_WATER;
  }

  addIds(first: number, count: number): void {
    if (this.ids.next >= this.ids.end) this.ids = { next: first, end: first + count };
    else this.spare.push({ next: first, end: first + count });
  }

  /**
   * Starts the zone: fresh (no snapshot: `init`, then `enter` for the objects already there, then
   * `start`) or resumed from a snapshot (its state; the objects are the live ones, without hooks: the
   * state knows them, and the inputs after the snapshot will be replayed).
   */
  begin(objects: readonly ZoneObjectData[], snapshot: ZoneSnapshot | undefined, now: number): ZoneOutput[] {
    this.now = now;
    for (const data of objects) this.objects.set(data.doId, this.live(data));
    if (snapshot === undefined) {
      this.state = this.hooks.init(this.zone);
      for (const object of this.objects.values()) {
        this.hooks.enter?.(this.zone, this.state, object);
        this.notifier.notify("created", this.zone, this.state, object);
      }
      this.hooks.start?.(this.zone, this.state);
    } else {
      this.state = snapshot.state;
      this.rng = snapshot.rng;
      this.timers = [...snapshot.timers];
      this.timerOrder = this.timers.reduce((max, timer) => Math.max(max, timer.order + 1), 0);
      this.ids = { ...snapshot.ids };
      this.marks = { ...snapshot.marks };
      this.requests.restore(snapshot.requests);
      this.lastSeq = snapshot.seq;
    }
    this.lastTick = now;
    return this.takeOutputs();
  }

  /** A journal entry for the next tick (entries at or before the last applied sequence are ignored). */
  receive(input: ZoneInput): void {
    if (input.seq > this.lastSeq) this.pending.push(input);
  }

  /** What a bordering zone's location shows (its objects, for `nearby`). */
  receiveNearby(delivery: messages.Delivery): void {
    this.flushEdits(); // a value heard replaces what an edit made of it only once the edit is sent
    switch (delivery.kind) {
      case "enter": {
        const object = delivery.object;
        if (!this.objects.has(object.doId)) this.nearby.set(object.doId, this.live(snapshotData(object)));
        return;
      }
      case "leave": {
        const object = this.nearby.get(delivery.doId);
        if (object && object.parent === delivery.parentId && object.zone === delivery.zoneId)
          this.nearby.delete(delivery.doId);
        return;
      }
      case "delete":
        this.nearby.delete(delivery.doId);
        return;
      case "update":
        for (const [doId, fieldId, value] of delivery.updates) this.nearby.get(doId)?.store(fieldId, value);
        return;
      default:
        return;
    }
  }

  /**
   * The bordering zones' objects as a query found them. Deliveries that came meanwhile are newer: the
   * query only adds the objects they did not bring.
   */
  addNearby(objects: readonly ZoneObjectData[]): void {
    for (const data of objects) {
      if (!this.objects.has(data.doId) && !this.nearby.has(data.doId))
        this.nearby.set(data.doId, this.live(data));
    }
  }

  /** Applies the inputs received since the last tick in canonical order, fires due timers, ticks. */
  tick(now: number): ZoneOutput[] {
    let pending = this.pending;
    this.pending = [];
    // a code switch is a barrier: the inputs before it (by journal sequence) are the old code's
    const switches = this.switches.sort((a, b) => a.seq - b.seq);
    this.switches = [];
    for (const entry of switches) {
      this.applyInputs(pending.filter((input) => input.seq < entry.seq));
      pending = pending.filter((input) => input.seq > entry.seq);
      this.applySwitch(entry);
    }
    this.applyInputs(pending);
    this.now = now;
    this.fireTimers(now);
    this.requests.expire(now);
    const dt = this.lastTick === undefined ? 0 : now - this.lastTick;
    this.lastTick = now;
    this.hooks.tick?.(this.zone, this.state, dt);
    return this.takeOutputs();
  }

  /** Applies inputs in canonical order. */
  private applyInputs(pending: readonly ZoneInput[]): void {
    const inputs = canonicalOrder(
      pending.map((input) => ({
        input,
        time: input.time,
        source: input.message.sender,
        sequence: input.seq,
      })),
    );
    for (const { input } of inputs) {
      this.now = input.time;
      this.lastSeq = Math.max(this.lastSeq, input.seq);
      this.eventIndex = 0;
      this.apply(input);
    }
  }

  snapshot(): ZoneSnapshot {
    return {
      ...(this.codeLabel === undefined ? {} : { code: this.codeLabel }),
      seq: this.lastSeq,
      state: this.hooks.save?.(this.state) ?? this.state,
      rng: this.rng,
      timers: [...this.timers],
      ids: { ...this.ids },
      marks: { ...this.marks },
      requests: this.requests.snapshot(),
    };
  }

  // ---- inputs --------------------------------------------------------------------------------------

  private apply(input: ZoneInput): void {
    this.flushEdits();
    const message = input.message;
    const hooks = this.hooks;
    switch (message.kind) {
      case "enter-ai": {
        const data = snapshotData(message.object);
        const known = this.objects.get(data.doId);
        const object = known ?? this.live(data);
        if (known) for (const [fieldId, value] of message.object.fields) known.store(fieldId, value);
        this.objects.set(object.doId, object);
        this.nearby.delete(object.doId);
        hooks.enter?.(this.zone, this.state, object);
        this.notifier.notify("created", this.zone, this.state, object);
        return;
      }
      case "update":
        // the channel each update came from (a client's, a zone's): the state server names it
        for (const [doId, fieldId, value, from] of message.updates)
          this.applyUpdate(doId, fieldId, value, from ?? message.sender);
        return;
      case "changing-location": {
        const object = this.objects.get(message.doId);
        if (object) object.place(message.parentId, message.zoneId);
        return;
      }
      case "changing-ai":
        if (message.ai !== this.channel) this.drop(message.doId, "disabled");
        return;
      case "delete":
        this.drop(message.doId, "deleted");
        return;
      case "zone-event": {
        const mark = this.marks[message.sender];
        const [seq, index] = message.origin;
        if (mark !== undefined && (seq < mark[0] || (seq === mark[0] && index <= mark[1]))) return; // a replay's repeat
        this.marks[message.sender] = [seq, index];
        hooks.event?.(this.zone, this.state, {
          name: message.name,
          target: message.target,
          data: message.data,
          from: message.sender,
        });
        return;
      }
      case "request":
        this.requests.receiveCall(message);
        return;
      case "reply":
        this.requests.receiveReply(message);
        return;
      default:
        return;
    }
  }

  private applyUpdate(doId: number, fieldId: number, value: Uint8Array, sender: number): void {
    const object = this.objects.get(doId);
    if (object === undefined) return;
    const cleaned = this.notifier.clean(this.zone, this.state, object, fieldId, value, sender);
    if (cleaned === undefined) return; // refused by a clean hook
    const stored = object.store(fieldId, cleaned);
    if (stored === undefined) return;
    for (const handler of this.handlersOf(object.dclass, stored.field)) {
      handler.handle(this.zone, this.state, object, stored.value, sender);
    }
    this.notifier.notify("updated", this.zone, this.state, object, stored, sender);
  }

  /** The handlers of a field, declared on the object's class or on a class it inherits from. */
  private handlersOf(dclass: DClass, fieldName: string): FieldHandler<unknown>[] {
    const found: FieldHandler<unknown>[] = [];
    for (const each of lineage(dclass)) {
      const list = this.handlers.get(`${each.name}.${fieldName}`);
      if (list) found.push(...list);
    }
    return found;
  }

  private drop(doId: number, why: "disabled" | "deleted"): void {
    const object = this.objects.get(doId);
    if (object === undefined) return;
    this.objects.delete(doId);
    this.hooks.leave?.(this.zone, this.state, object);
    this.notifier.notify(why, this.zone, this.state, object);
  }

  private fireTimers(now: number): void {
    const due = this.timers
      .filter((timer) => timer.at <= now)
      .sort((a, b) => a.at - b.at || a.order - b.order);
    if (due.length === 0) return;
    this.timers = this.timers.filter((timer) => timer.at > now);
    for (const timer of due) this.hooks.timer?.(this.zone, this.state, timer.name, timer.data);
  }

  // ---- outputs -------------------------------------------------------------------------------------

  private takeOutputs(): ZoneOutput[] {
    this.flushEdits();
    this.flushUpdates();
    const outputs = this.outputs;
    this.outputs = [];
    return outputs;
  }

  private flushUpdates(): void {
    if (this.updates.length === 0) return;
    this.outputs.push({ op: "updates", updates: this.updates });
    this.updates = [];
  }

  private push(output: ZoneOutput): void {
    this.flushEdits();
    this.flushUpdates(); // keep the order the hooks asked for
    this.outputs.push(output);
  }

  /**
   * Sends what the hooks changed in place: for each edited field its whole new value and, for a stored
   * field whose value holds arrays or structs, the nested change (what clients apply); in field order.
   */
  private flushEdits(): void {
    if (this.edited.size === 0) return;
    for (const state of this.edited.drain()) {
      const delta = state.takeDelta();
      if (delta === undefined) continue;
      for (const change of delta.changes) {
        const { field } = change;
        if (!("delta" in change)) {
          this.updates.push([state.doId, field.id, packField(field, change.value)]);
          continue;
        }
        const whole = packField(field, state.get(field)!);
        if (sendsNestedChanges(field)) {
          this.updates.push([state.doId, field.id, whole, encodeFieldDelta(field, change.delta)]);
        } else this.updates.push([state.doId, field.id, whole]);
      }
    }
  }

  private takeId(): number {
    while (this.ids.next >= this.ids.end) {
      const next = this.spare.shift();
      if (next === undefined) {
        throw new Error(`zone ${this.spec.parent}/${this.spec.zone} has no doIds left to spawn with`);
      }
      this.ids = next;
    }
    const doId = this.ids.next;
    this.ids.next += 1;
    return doId;
  }

  private makeZone(): Zone {
    const runtime = this;
    const { spec, channelOf, log } = this.options;
    const zone: Zone = {
      parent: spec.parent,
      zone: spec.zone,
      kind: spec.kind,
      channel: this.channel,
      get now() {
        return runtime.now;
      },
      objects: this.objects,
      nearby: this.nearby,
      find: (doId) => this.objects.get(doId) ?? this.nearby.get(doId),
      random: () => {
        // mulberry32: small, fast, and its whole state is one number the snapshot keeps
        this.rng = (this.rng + 0x6d2b79f5) % UINT32;
        let t = this.rng;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / UINT32;
      },
      spawn: (handle, fields, options = {}) => {
        const doId = this.takeId();
        const zone = options.zone ?? spec.zone;
        this.push({
          op: "create",
          doId,
          classId: handle.dclass.id,
          parent: spec.parent,
          zone,
          ai: channelOf(zone),
          owner: options.owner ?? 0,
          fields: packFields(handle, fields),
        });
        return doId;
      },
      set: (object, name, value) => {
        const field = object.dclass.field(name);
        if (field === undefined) throw new Error(`class ${object.dclass.name} has no field ${name}`);
        const bytes = packField(field, value as FieldValue);
        this.flushEdits(); // an edit made before goes first
        this.updates.push([object.doId, field.id, bytes]);
        this.liveObject(object, "set").hold(field, value as FieldValue);
      },
      edit: (object, name, ...path) => this.liveObject(object, "edit").state.edit(name, ...path),
      editMap: (object, name, keyMember, ...path) =>
        this.liveObject(object, "edit").state.editMap(name, keyMember, ...path),
      move: (object, zone) => {
        if (!this.objects.has(object.doId) || zone === object.zone) return;
        this.push({ op: "move", doId: object.doId, parent: spec.parent, zone, ai: channelOf(zone) });
      },
      delete: (object) => {
        this.push({ op: "delete", doId: object.doId });
      },
      sendEvent: (zone, name, data = null, target = 0) => {
        const origin: [number, number] = [this.lastSeq, this.eventIndex++];
        this.push({ op: "event", channel: channelOf(zone), name, target, data, origin });
      },
      request: (doId, handle, method, args, options) =>
        this.requests.call(doId, handle, method, args as FieldValue, options),
      after: (ms, name, data = null) => {
        this.timers.push({ at: this.now + ms, name, data, order: this.timerOrder++ });
      },
      log,
      ...instanceActions({
        spec,
        templates: this.options.templates,
        takeId: () => this.takeId(),
        origin: () => [this.lastSeq, this.eventIndex], // not counted as an event: event origins stay as they were
        push: (output) => this.push(output),
        runs: (doId) => this.objects.has(doId),
      }),
    };
    return zone;
  }

  private live(data: ZoneObjectData): LiveObject {
    return new LiveObject(data, this.options.dc, this.edited);
  }

  /** The zone's own record of an object it runs or sees nearby; an error naming it otherwise. */
  private liveObject(object: ZoneObject, action: string): LiveObject {
    const live = this.objects.get(object.doId) ?? this.nearby.get(object.doId);
    if (live === undefined) {
      throw new Error(`cannot ${action} object ${object.doId}: this zone neither runs it nor sees it nearby`);
    }
    return live;
  }
}

/** An object's data as the state server shows it. */
export interface ZoneObjectData {
  readonly doId: number;
  readonly classId: number;
  readonly parent: number;
  readonly zone: number;
  /** The owner's channel, 0 for none. */
  readonly owner: number;
  readonly fields: readonly (readonly [number, Uint8Array])[];
}

export function snapshotData(object: messages.ObjectSnapshot): ZoneObjectData {
  return {
    doId: object.doId,
    classId: object.classId,
    parent: object.parentId,
    zone: object.zoneId,
    owner: object.owner ?? 0,
    fields: object.fields,
  };
}

/** Whether a zone sends a field's edits as nested changes: a stored field whose value holds containers. */
function sendsNestedChanges(field: Field): boolean {
  return (field.flags & (KW.ram | KW.required)) !== 0 && isContainerField(field);
}

class LiveObject implements ZoneObject {
  readonly doId: number;
  readonly dclass: DClass;
  parent: number;
  zone: number;
  readonly owner: number;
  /** The fields' latest values; edits in place are tracked here and reported to the zone's tracker. */
  readonly state: ObjectState;

  constructor(data: ZoneObjectData, dc: DcFile, edited: DeltaTracker) {
    const dclass = dc.typeById(data.classId);
    if (!(dclass instanceof DClass))
      throw new Error(`object ${data.doId} has class id ${data.classId}, no dclass`);
    this.doId = data.doId;
    this.dclass = dclass;
    this.parent = data.parent;
    this.zone = data.zone;
    this.owner = data.owner;
    this.state = new ObjectState(dclass, undefined, { doId: data.doId, tracker: edited });
    for (const [fieldId, value] of data.fields) this.store(fieldId, value);
  }

  place(parent: number, zone: number): void {
    this.parent = parent;
    this.zone = zone;
  }

  /** Decodes and keeps a field's value (a molecular field's atoms too); undefined when it cannot. */
  store(fieldId: number, bytes: Uint8Array): { field: string; value: FieldValue } | undefined {
    const field = this.dclass.fieldById(fieldId);
    if (field === undefined) return undefined;
    let value: FieldValue;
    try {
      value = unpackField(field, bytes);
    } catch {
      return undefined; // the state server validated it: only a schema mismatch gets here
    }
    this.hold(field, value);
    return { field: field.name, value };
  }

  /** Keeps a field's value as it now is everywhere (not a change to send). */
  hold(field: Field, value: FieldValue): void {
    this.state.load(field, value);
  }

  get(name: string): never {
    return this.state.get(name) as never;
  }

  is<G extends FieldInfoMap>(handle: DClassHandle<G>): this is ZoneObject<G> {
    // by id: the plugin's schema and the cluster's DC_FILES are two models of the same classes
    return lineage(this.dclass).some((each) => each.id === handle.dclass.id);
  }
}

/** A class and every class it inherits from, nearest first. */
export function lineage(dclass: DClass): DClass[] {
  const out: DClass[] = [];
  const visit = (each: DClass) => {
    if (out.includes(each)) return;
    out.push(each);
    for (const parent of each.parents) visit(parent);
  };
  visit(dclass);
  return out;
}

/** Typed field values packed by their class, in field-id order. */
export function packFields<G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fields: { readonly [N in keyof G]?: G[N]["value"] },
): [number, Uint8Array][] {
  const packed: [number, Uint8Array][] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const field = handle.field(name);
    packed.push([field.id, packField(field, value as FieldValue)]);
  }
  return packed.sort((a, b) => a[0] - b[0]);
}

/** A zone's first random seed: from its place, so that a fresh zone is the same wherever it starts. */
function seedOf(spec: ZoneSpec): number {
  return (Math.imul(spec.parent, 0x9e3779b1) ^ Math.imul(spec.zone + 1, 0x85ebca6b)) >>> 0;
}

/**
 * OverworldClient: a game client over the real transport (netcode.io connection, reliable endpoint, the
 * client message catalogue), driven by a timer. It says hello, keeps the connection alive with
 * heartbeats (whose CLOCK answers keep the cluster clock), manages interests, mirrors the objects the
 * client agent shows it, and sends field updates packed by their dclass.
 */

import {
  bytesEqual,
  DClass,
  type DcFile,
  type FieldValue,
  hasKeyword,
  legacyHash,
  loadDcFiles,
  netcode,
  packField,
  reliable,
  unpackFieldAt,
} from "@overworld/protocol";
import {
  type AgentMessage,
  type AgentMessageOf,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  dcFieldSizer,
  decodeAgentMessage,
  encodeClientMessage,
  type FieldValueSizer,
  gridNeighbourhood,
  NO_TICK,
  onGrid,
  readFieldUpdates,
  type ZoneGrid,
} from "@overworld/protocol/client";
import { type ClockEstimate, ClusterClock } from "./clock.ts";
import { Emitter } from "./emitter.ts";
import { StateTicks } from "./state-ticks.ts";

export interface ConnectOptions {
  /** The connect token from login: 2048 bytes, or their base64. */
  readonly token: Uint8Array | string;
  /** The .dc files of the cluster, in order (loaded here); or give `file`. */
  readonly dcFiles?: readonly string[];
  /** The loaded dclass model; or give `dcFiles`. */
  readonly file?: DcFile;
  /** The cluster version to say hello with. */
  readonly version: string;
  /** The schema hash to say hello with; legacyHash of the model by default. */
  readonly schemaHash?: number;
  /** The local clock in ms; Date.now by default. */
  readonly now?: () => number;
  /** Transport updates per second; 60 by default. */
  readonly updateHz?: number;
  /** Heartbeat period in ms; 1000 by default (the agent's timeout is 10 s by default). */
  readonly heartbeatMs?: number;
  /** How long connecting and hello may take, in ms; 10000 by default. */
  readonly connectTimeoutMs?: number;
  /** Local address to bind the UDP socket to; 127.0.0.1 by default ("0.0.0.0" to reach other hosts). */
  readonly host?: string;
}

/** A local mirror of an object the client agent shows this client. */
export interface ObjectMirror {
  readonly doId: number;
  readonly dclass: DClass;
  parent: number;
  zone: number;
  /** True when this client owns the object (it may send its ownsend fields). */
  owned: boolean;
  /** Decoded values by field name (molecular fields under their own name). */
  readonly fields: Map<string, FieldValue>;
}

export interface UpdateEvent {
  readonly object: ObjectMirror;
  readonly field: string;
  readonly value: FieldValue;
}

export interface MoveEvent {
  readonly object: ObjectMirror;
  readonly oldParent: number;
  readonly oldZone: number;
}

export interface EjectEvent {
  readonly code: number;
  readonly reason: string;
}

export interface SystemMessageEvent {
  readonly text: string;
}

export interface DisconnectEvent {
  /** Why: "closed" (close() was called), "ejected", or the netcode state reached (e.g. "timed out"). */
  readonly reason: string;
}

export interface ClientEvents {
  /** An object entered this client's view (ENTER_OBJECT); its required and visible fields are set. */
  generate: ObjectMirror;
  /** A field of a mirrored object changed (FIELD_UPDATES); the mirror already holds the new value. */
  update: UpdateEvent;
  /** A mirrored object moved to another zone (OBJECT_LOCATION); the mirror holds the new place. */
  move: MoveEvent;
  /** The client came to own an object it already saw (ENTER_OWNED); `generate` covers new ones. */
  own: ObjectMirror;
  /** An object left this client's view (LEAVE_OBJECT); followed at once by `delete`. */
  disable: ObjectMirror;
  /** The mirror is gone from `objects` (after `disable`). */
  delete: ObjectMirror;
  /** The client agent ejected this client; `disconnect` follows. */
  eject: EjectEvent;
  /** The cluster's operators said something to the players (a broadcast, a maintenance warning). */
  "system-message": SystemMessageEvent;
  /** The connection ended; the client is closed. */
  disconnect: DisconnectEvent;
  /** An agent message could not be decoded (a schema mismatch or a bug): it was skipped. */
  error: Error;
}

/** Connecting failed: the agent ejected the hello (code and reason), or the connection did not come up. */
export class ConnectError extends Error {
  constructor(
    message: string,
    /** The ejection code, when the agent ejected. */
    readonly code?: number,
    /** The agent's reason, when it ejected. */
    readonly reason?: string,
  ) {
    super(message);
    this.name = "ConnectError";
  }
}

/** An interest the client holds: remove it with `removeInterest`. */
export interface InterestHandle {
  readonly id: number;
  readonly parent: number;
  readonly zones: readonly number[];
}

interface Pending {
  resolve(): void;
  reject(error: Error): void;
}

const DEFAULT_UPDATE_HZ = 60;
const DEFAULT_HEARTBEAT_MS = 1000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const MS_PER_SECOND = 1000;
const U16_LIMIT = 0x1_0000;
/** Sent values awaiting their echo, per field of an object, at most (older ones are forgotten). */
const MAX_PENDING_ECHOES = 16;
const U32_LIMIT = 0x1_0000_0000;

/**
 * A client mostly listens: the agent's datagrams come in bursts, one per tick (20 Hz by default). Acks
 * ride on whatever the client sends; alone, one per burst is enough (the agent's next datagrams are
 * acked with the 32 before them), not one or two per datagram heard.
 */
const ACK_DELAY_MS = 50;

/** A field of an object as one number (doIds are 32-bit, field ids 16-bit). */
const echoKey = (doId: number, fieldId: number) => doId * U16_LIMIT + fieldId;

export class OverworldClient extends Emitter<ClientEvents> {
  /** The objects in view, by doId. */
  readonly objects = new Map<number, ObjectMirror>();
  readonly dc: DcFile;
  private readonly netcodeClient = new netcode.NetcodeClient();
  private readonly endpoint = new reliable.ReliableEndpoint({ ackDelayMs: ACK_DELAY_MS });
  private readonly clock = new ClusterClock();
  private readonly sizer: FieldValueSizer;
  private readonly now: () => number;
  private udp: netcode.UdpEndpoint | null = null;
  private pumpTimer: ReturnType<typeof setInterval> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  /** Send times of the hello and heartbeats whose answers (HELLO_RESP, CLOCK) have not come yet. */
  private readonly clockRequests: number[] = [];
  private readonly pendingContexts = new Map<number, Pending>();
  private readonly interests = new Map<number, InterestHandle>();
  /** Values this client sent, by object and field, oldest first, until their echo comes back. */
  private readonly echoes = new Map<number, Uint8Array[]>();
  /** The tick of each stored field's value (state comes unreliably: older values are skipped). */
  private readonly stateTicks = new StateTicks();
  private nextInterestId = 1;
  private nextContext = 1;
  private helloDone = false;
  private closed = false;
  private onHello: Pending | null = null;
  /** Says hello once the netcode connection is up (set while connecting). */
  private onNetcodeConnected: (() => void) | null = null;

  private constructor(dc: DcFile, now: () => number) {
    super();
    this.dc = dc;
    this.sizer = dcFieldSizer(dc);
    this.now = now;
  }

  /**
   * Connects with a connect token, says hello, and resolves once the agent accepts it (HELLO_RESP).
   * Rejects with a ConnectError carrying the ejection code and reason if the agent refuses (124 version,
   * 125 schema hash), or naming the netcode state if the connection never comes up.
   */
  static async connect(options: ConnectOptions): Promise<OverworldClient> {
    const dc = options.file ?? (options.dcFiles ? loadDcFiles([...options.dcFiles]) : undefined);
    if (dc === undefined) throw new TypeError("connect needs `file` (a DcFile) or `dcFiles` (paths)");
    const token = typeof options.token === "string" ? base64Bytes(options.token) : options.token;
    const client = new OverworldClient(dc, options.now ?? Date.now);
    await client.start(token, options);
    return client;
  }

  /** The cluster time now (Unix ms), corrected by half the round trip of the best recent sample. */
  clusterTime(): number {
    return this.clock.at(this.now());
  }

  /** The clock estimate behind clusterTime (offset, error bound, round trip); null before hello. */
  get clockEstimate(): ClockEstimate | null {
    return this.clock.current;
  }

  get connected(): boolean {
    return !this.closed && this.netcodeClient.state === netcode.ClientState.Connected;
  }

  /** Transport statistics (packets, bytes, RTT, loss). */
  get stats(): reliable.ReliableStats {
    return this.endpoint.stats;
  }

  /** Asks to see the objects in `zones` of `parent`; resolves once they have all arrived (DONE_INTEREST). */
  async addInterest(parent: number, zones: readonly number[]): Promise<InterestHandle> {
    const id = this.allocateInterestId();
    const handle: InterestHandle = { id, parent, zones: [...zones] };
    this.interests.set(id, handle);
    try {
      await this.request((context) => ({
        type: ClientMessageType.AddInterest,
        interestId: id,
        context,
        parent,
        zones: handle.zones,
      }));
    } catch (error) {
      this.interests.delete(id);
      throw error;
    }
    return handle;
  }

  /**
   * An interest that follows an object this client owns (its avatar) on a zone grid: the object's zone
   * and those within `radius` of it (1: the eight around), moved by the client agent itself whenever the
   * object changes zone, with no round trip through the client. Resolves once the first zones' objects
   * have arrived. `zones` of the handle are those asked first; the agent keeps it up to date since.
   */
  async followInterest(object: ObjectMirror, grid: ZoneGrid, radius = 1): Promise<InterestHandle> {
    const id = this.allocateInterestId();
    const handle: InterestHandle = {
      id,
      parent: object.parent,
      zones: onGrid(grid, object.zone) ? gridNeighbourhood(grid, object.zone, radius) : [],
    };
    this.interests.set(id, handle);
    try {
      await this.request((context) => ({
        type: ClientMessageType.FollowInterest,
        interestId: id,
        context,
        doId: object.doId,
        width: grid.width,
        height: grid.height,
        radius,
      }));
    } catch (error) {
      this.interests.delete(id);
      throw error;
    }
    return handle;
  }

  /**
   * Changes the zones of an interest in place: objects of zones it still covers stay (no leave and enter),
   * those of dropped zones leave, those of new zones enter; resolves once they have arrived.
   */
  async alterInterest(
    handle: InterestHandle,
    parent: number,
    zones: readonly number[],
  ): Promise<InterestHandle> {
    if (this.interests.get(handle.id) !== handle) {
      throw new Error(`interest ${handle.id} is not held by this client`);
    }
    const altered: InterestHandle = { id: handle.id, parent, zones: [...zones] };
    this.interests.set(handle.id, altered);
    await this.request((context) => ({
      type: ClientMessageType.AddInterest,
      interestId: handle.id,
      context,
      parent,
      zones: altered.zones,
    }));
    return altered;
  }

  /** Drops an interest; resolves once the agent has answered (objects no longer covered have left). */
  async removeInterest(handle: InterestHandle): Promise<void> {
    if (this.interests.get(handle.id) !== handle) {
      throw new Error(`interest ${handle.id} is not held by this client`);
    }
    this.interests.delete(handle.id);
    await this.request((context) => ({
      type: ClientMessageType.RemoveInterest,
      interestId: handle.id,
      context,
    }));
  }

  /**
   * Sends a field update of a mirrored object. The value is packed by the object's dclass first: a bad
   * value throws a DcPackError and nothing is sent. (Whether the agent allows it — clsend, or ownsend of
   * an owned object — is the agent's call: a forbidden one ejects.)
   */
  sendField(doId: number, fieldName: string, value: FieldValue): void {
    const object = this.objects.get(doId);
    if (object === undefined) throw new Error(`object ${doId} is not in view of this client`);
    const field = object.dclass.field(fieldName);
    if (field === undefined) throw new Error(`class ${object.dclass.name} has no field ${fieldName}`);
    const bytes = packField(field, value);
    this.send({ type: ClientMessageType.SetField, doId, fieldId: field.id, value: bytes });
    // the mirror holds what this client set; the cluster's echo of it (everyone around is sent the
    // zone's updates, this client too) is dropped when it comes
    this.store(object, field.id, bytes);
    if (hasKeyword(field, "broadcast") || hasKeyword(field, "ownrecv") || hasKeyword(field, "clrecv")) {
      const key = echoKey(doId, field.id);
      const queue = this.echoes.get(key);
      if (queue === undefined) this.echoes.set(key, [bytes]);
      else if (queue.push(bytes) > MAX_PENDING_ECHOES) queue.shift();
    }
  }

  /** Says goodbye (DISCONNECT, then netcode's disconnect packets) and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.connected) {
      this.send({ type: ClientMessageType.Disconnect });
      this.flush();
      this.handle(this.netcodeClient.disconnect(this.now()));
    }
    await this.shutdown("closed");
  }

  // ---- connecting ------------------------------------------------------------------------------------

  private async start(token: Uint8Array, options: ConnectOptions): Promise<void> {
    this.udp = await netcode.openUdpEndpoint({
      host: options.host ?? "127.0.0.1",
      onDatagram: (bytes, from) => this.handle(this.netcodeClient.receive(bytes, from, this.now())),
    });
    const hello = new Promise<void>((resolve, reject) => {
      this.onHello = { resolve, reject };
    });
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timeout = setTimeout(
      () => this.failHello(new ConnectError(`no hello answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const hash = options.schemaHash ?? legacyHash(this.dc);
    const greet = () => {
      this.clockRequests.push(this.now());
      this.send({ type: ClientMessageType.Hello, version: options.version, schemaHash: hash });
    };
    this.onNetcodeConnected = greet;
    this.handle(this.netcodeClient.connect(token, this.now()));
    const periodMs = MS_PER_SECOND / (options.updateHz ?? DEFAULT_UPDATE_HZ);
    this.pumpTimer = setInterval(() => this.pump(), periodMs);
    try {
      await hello;
    } catch (error) {
      await this.shutdown("connect failed");
      throw error;
    } finally {
      clearTimeout(timeout);
    }
    this.heartbeatTimer = setInterval(() => this.heartbeat(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
  }

  private failHello(error: Error): void {
    const pending = this.onHello;
    this.onHello = null;
    pending?.reject(error);
  }

  private heartbeat(): void {
    if (!this.connected) return;
    this.clockRequests.push(this.now());
    this.send({ type: ClientMessageType.Heartbeat });
  }

  // ---- the transport ---------------------------------------------------------------------------------

  private send(message: ClientMessage): void {
    if (this.closed) throw new Error("the client is closed");
    this.endpoint.sendReliable(encodeClientMessage(message));
  }

  private pump(): void {
    const now = this.now();
    this.handle(this.netcodeClient.update(now));
    this.flush();
  }

  /**
   * Sends what is queued now instead of at the next transport update (e.g. right after a frame's
   * sendField calls: one datagram for all of them, without waiting up to 1/updateHz).
   */
  flush(): void {
    if (!this.connected) return;
    const now = this.now();
    for (const payload of this.endpoint.update(now)) this.handle(this.netcodeClient.send(payload, now));
  }

  private handle(events: netcode.ClientEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case "send":
          this.udp?.send(event.bytes, event.to);
          break;
        case "payload":
          this.receivePayload(event.payload);
          break;
        case "state":
          this.stateChanged(event.to);
          break;
        case "dropped":
          break;
      }
    }
  }

  private stateChanged(state: netcode.ClientState): void {
    if (state === netcode.ClientState.Connected) {
      const greet = this.onNetcodeConnected;
      this.onNetcodeConnected = null;
      greet?.();
      return;
    }
    if (state > netcode.ClientState.Disconnected) return;
    const reason = stateName(state);
    this.failHello(new ConnectError(`the connection ended before hello was answered: ${reason}`));
    void this.shutdown(reason);
  }

  private receivePayload(payload: Uint8Array): void {
    const result = this.endpoint.receivePacket(payload, this.now());
    if (!result.accepted) return;
    for (const message of result.messages) {
      const type = message.bytes[0];
      if (type === AgentMessageType.FieldUpdates || type === AgentMessageType.StateUpdates) {
        // the hot path: every update of everything in view, read in place
        const read = readFieldUpdates(message.bytes, this.sizer, this.visitUpdate);
        if (!read.ok)
          this.emit("error", new Error(`undecodable agent message (${read.code}): ${read.detail}`));
        continue;
      }
      const decoded = decodeAgentMessage(message.bytes, this.sizer);
      if (decoded.ok) this.receive(decoded.message);
      else this.emit("error", new Error(`undecodable agent message (${decoded.code}): ${decoded.detail}`));
    }
  }

  // ---- agent messages --------------------------------------------------------------------------------

  private receive(message: AgentMessage): void {
    switch (message.type) {
      case AgentMessageType.HelloResp:
        this.sampleClock(message.clusterTime, 0);
        this.helloDone = true;
        this.onHello?.resolve();
        this.onHello = null;
        return;
      case AgentMessageType.Clock:
        this.sampleClock(message.serverTime, message.errorBound);
        return;
      case AgentMessageType.Eject:
        this.receiveEject(message.code, message.reason);
        return;
      case AgentMessageType.SystemMessage:
        this.emit("system-message", { text: message.text });
        return;
      case AgentMessageType.EnterObject:
      case AgentMessageType.EnterOwnedObject: {
        const owned = message.type === AgentMessageType.EnterOwnedObject;
        this.enterObject(message, owned);
        return;
      }
      case AgentMessageType.ObjectLocation:
        this.moveObject(message.doId, message.parent, message.zone);
        return;
      case AgentMessageType.LeaveObject:
        this.leaveObject(message.doId);
        return;
      case AgentMessageType.DoneInterest: {
        const pending = this.pendingContexts.get(message.context);
        this.pendingContexts.delete(message.context);
        pending?.resolve();
        return;
      }
      case AgentMessageType.FieldUpdates:
      case AgentMessageType.StateUpdates: {
        const tick = message.type === AgentMessageType.StateUpdates ? message.tick : NO_TICK;
        for (const update of message.updates) {
          this.updateField(update.doId, update.fieldId, update.value, 0, update.value.length, tick);
        }
        return;
      }
    }
  }

  private sampleClock(serverTime: number, errorBound: number): void {
    const sentAt = this.clockRequests.shift();
    if (sentAt !== undefined) this.clock.sample(sentAt, this.now(), serverTime, errorBound);
  }

  private receiveEject(code: number, reason: string): void {
    this.emit("eject", { code, reason });
    this.failHello(new ConnectError(`ejected (${code}): ${reason}`, code, reason));
    void this.shutdown("ejected");
  }

  private enterObject(
    {
      doId,
      parent,
      zone,
      classId,
      tick,
      fields,
    }: AgentMessageOf<typeof AgentMessageType.EnterObject | typeof AgentMessageType.EnterOwnedObject>,
    owned: boolean,
  ): void {
    const dclass = this.dc.typeById(classId);
    if (!(dclass instanceof DClass)) {
      this.emit("error", new Error(`object ${doId} has class id ${classId}, which is no dclass`));
      return;
    }
    const existing = this.objects.get(doId);
    this.stateTicks.enter(doId, tick);
    if (existing !== undefined) {
      existing.parent = parent;
      existing.zone = zone;
      for (const field of fields) {
        // a value that came unreliably since is as new or newer than this entry's
        if (!this.stateTicks.holdsNewer(doId, field.fieldId, tick))
          this.store(existing, field.fieldId, field.value);
      }
      if (owned && !existing.owned) {
        existing.owned = true;
        this.emit("own", existing);
      }
      return;
    }
    const object: ObjectMirror = { doId, dclass, parent, zone, owned, fields: new Map() };
    for (const field of fields) this.store(object, field.fieldId, field.value);
    // state that came before the entry, if it is newer than the entry's
    for (const early of this.stateTicks.takeEarly(doId, this.now())) {
      if (this.stateTicks.advance(doId, early.fieldId, early.tick))
        this.store(object, early.fieldId, early.value);
    }
    this.objects.set(doId, object);
    this.emit("generate", object);
  }

  private moveObject(doId: number, parent: number, zone: number): void {
    const object = this.objects.get(doId);
    if (object === undefined) return;
    const oldParent = object.parent;
    const oldZone = object.zone;
    object.parent = parent;
    object.zone = zone;
    this.emit("move", { object, oldParent, oldZone });
  }

  private leaveObject(doId: number): void {
    const object = this.objects.get(doId);
    if (object === undefined) return;
    for (const field of object.dclass.fields) this.echoes.delete(echoKey(doId, field.id));
    this.stateTicks.forget(doId);
    this.emit("disable", object);
    this.objects.delete(doId);
    this.emit("delete", object);
  }

  private readonly visitUpdate = (
    doId: number,
    fieldId: number,
    bytes: Uint8Array,
    start: number,
    end: number,
    tick: number,
  ): void => this.updateField(doId, fieldId, bytes, start, end, tick);

  /**
   * One update, its value `bytes[start, end)`; `tick` is its STATE_UPDATES message's (stored state, which
   * comes unreliably: a value older than the one held is skipped), or NO_TICK.
   */
  private updateField(
    doId: number,
    fieldId: number,
    bytes: Uint8Array,
    start: number,
    end: number,
    tick: number,
  ): void {
    const object = this.objects.get(doId);
    if (object === undefined) {
      // state may overtake its object's entry (held back by a loss on the reliable channel)
      if (tick !== NO_TICK)
        this.stateTicks.keepEarly(doId, fieldId, tick, bytes.subarray(start, end), this.now());
      return;
    }
    if (tick !== NO_TICK && !this.stateTicks.advance(doId, fieldId, tick)) return;
    if (this.echoes.size > 0 && this.isEcho(doId, fieldId, bytes.subarray(start, end))) return;
    const stored = this.store(object, fieldId, bytes, start, end);
    if (stored !== null) this.emit("update", { object, field: stored.name, value: stored.value });
  }

  /**
   * True for the cluster's echo of a value this client sent (in the order sent): it is consumed. A value
   * set by anyone else, even in between, is not an echo.
   */
  private isEcho(doId: number, fieldId: number, bytes: Uint8Array): boolean {
    const key = echoKey(doId, fieldId);
    const queue = this.echoes.get(key);
    if (queue === undefined) return false;
    const at = queue.findIndex((sent) => bytesEqual(sent, bytes));
    if (at < 0) return false;
    queue.splice(0, at + 1);
    if (queue.length === 0) this.echoes.delete(key);
    return true;
  }

  /** Decodes and stores one field value in a mirror; null (and an `error` event) when it cannot. */
  private store(
    object: ObjectMirror,
    fieldId: number,
    bytes: Uint8Array,
    start = 0,
    end = bytes.length,
  ): { name: string; value: FieldValue } | null {
    const field = object.dclass.fieldById(fieldId);
    if (field === undefined) {
      this.emit("error", new Error(`class ${object.dclass.name} has no field with id ${fieldId}`));
      return null;
    }
    try {
      const value = unpackFieldAt(field, bytes, start, end);
      object.fields.set(field.name, value);
      return { name: field.name, value };
    } catch (error) {
      this.emit("error", new Error(`${object.dclass.name}.${field.name}: ${(error as Error).message}`));
      return null;
    }
  }

  // ---- interests and contexts ------------------------------------------------------------------------

  private allocateInterestId(): number {
    for (let tries = 0; tries < U16_LIMIT; tries++) {
      const id = this.nextInterestId;
      this.nextInterestId = (this.nextInterestId % (U16_LIMIT - 1)) + 1;
      if (!this.interests.has(id)) return id;
    }
    throw new Error("every interest id is in use");
  }

  /** Sends a message carrying a fresh context and waits for its DONE_INTEREST. */
  private request(build: (context: number) => ClientMessage): Promise<void> {
    if (!this.helloDone || this.closed) return Promise.reject(new Error("the client is not connected"));
    const context = this.nextContext;
    this.nextContext = (this.nextContext % (U32_LIMIT - 1)) + 1;
    return new Promise<void>((resolve, reject) => {
      this.pendingContexts.set(context, { resolve, reject });
      this.send(build(context));
    });
  }

  // ---- the end ---------------------------------------------------------------------------------------

  private async shutdown(reason: string): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pumpTimer);
    clearInterval(this.heartbeatTimer);
    const error = new Error(`the client disconnected: ${reason}`);
    for (const pending of this.pendingContexts.values()) pending.reject(error);
    this.pendingContexts.clear();
    this.failHello(new ConnectError(`the client disconnected: ${reason}`));
    const udp = this.udp;
    this.udp = null;
    await udp?.close();
    this.emit("disconnect", { reason });
  }
}

function stateName(state: netcode.ClientState): string {
  for (const [name, value] of Object.entries(netcode.ClientState)) if (value === state) return name;
  return `state ${state}`;
}

function base64Bytes(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}

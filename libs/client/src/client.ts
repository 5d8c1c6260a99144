/**
 * OverworldClient: a game client over a real transport (transport.ts: netcode.io and the reliable layer
 * over UDP, or a WebSocket) and the client message catalogue, driven by a timer. It says hello, keeps the
 * connection alive with heartbeats (whose CLOCK answers keep the cluster clock), manages interests,
 * mirrors the objects the client agent shows it, and sends field updates packed by their dclass.
 */

import {
  applyFieldDelta,
  bytesEqual,
  DClass,
  type DClassHandle,
  type DcFile,
  decodeFieldDelta,
  type Field,
  type FieldInfoMap,
  type FieldValue,
  hasKeyword,
  isContainerField,
  legacyHash,
  type MethodName,
  type MethodReply,
  packField,
  type reliable,
  unpackFieldAt,
} from "@overworld/protocol";
import {
  type AgentMessage,
  type AgentMessageOf,
  AgentMessageType,
  type AssetPeerGrant,
  type ClientMessage,
  ClientMessageType,
  decodeAgentMessage,
  encodeClientMessage,
  type FieldUpdatesResult,
  type FieldUpdateVisitor,
  gridNeighbourhood,
  HELLO_FEATURE_PLUGIN_MESSAGES,
  HELLO_FEATURE_PLUGINS,
  NO_TICK,
  onGrid,
  type RequiredPlugin,
  readFieldUpdates,
  readUnreadUpdates,
  type WireClasses,
  type ZoneGrid,
} from "@overworld/protocol/client";
import { platform } from "#platform";
import { type ClockEstimate, ClusterClock } from "./clock.ts";
import { Emitter } from "./emitter.ts";
import { ObjectMirror } from "./mirror.ts";
import { ClientPluginMessages, type PluginErrorEvent } from "./plugin-messages.ts";
import { type CallOptions, ClientRequests } from "./requests.ts";
import { StateTicks } from "./state-ticks.ts";
import type { ClientTransport } from "./transport.ts";
import { type ClassNotifications, onClass, onField } from "./typed.ts";
import { UnreadStore } from "./unread-updates.ts";

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
  /**
   * Connect over WebSocket to this `ws://` or `wss://` URL (login's `webSockets`) instead of over UDP to
   * the token's addresses; the only way in a browser.
   */
  readonly url?: string;
  /**
   * The optional plugins this client runs beside the required ones (names), told in the hello: it may
   * send plugin messages for these and for the required ones (`client.plugins`).
   */
  readonly optionalPlugins?: readonly string[];
}

export { ObjectMirror };

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

/**
 * The client plugins this client must run, exactly (main's required set and its cluster's): given just
 * before the hello is answered, and again whenever main pushes a new set while connected. Fetch and verify
 * each one (`fetchPackage` and `verifyPlugins` of @overworld/manifest, from main or the cluster) and load it.
 */
export interface PluginsEvent {
  /** Main's push the set came with (0: no push yet). */
  readonly push: number;
  readonly plugins: readonly RequiredPlugin[];
}

export interface DisconnectEvent {
  /** Why: "closed" (close() was called), "ejected", or how the connection ended (a netcode state, a WebSocket close). */
  readonly reason: string;
}

export interface ClientEvents {
  /** An object entered this client's view (ENTER_OBJECT); its required and visible fields are set. */
  generate: ObjectMirror;
  /**
   * A field of a mirrored object changed (FIELD_UPDATES, STATE_UPDATES); the mirror already holds the
   * new value, whether the agent sent it whole or as a nested change (one entry of a map field, a run
   * of a uniform board) applied to the value the mirror held.
   */
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
  /** The plugins this client must run, exactly: at the hello, and whenever the set changes. */
  plugins: PluginsEvent;
  /** A plugin message of this client was not delivered (`client.plugins.send`): the agent's reason. */
  "plugin-error": PluginErrorEvent;
  /** A grant to swarm for an asset with one peer (ASSET_PEER): `downloadAsset` (assets.ts) uses it. */
  "asset-peer": AssetPeerGrant;
  /** An ASSET_JOIN failed (ASSET_ERROR). */
  "asset-error": AssetErrorEvent;
  /** The connection ended; the client is closed. */
  disconnect: DisconnectEvent;
  /** An agent message could not be decoded (a schema mismatch or a bug): it was skipped. */
  error: Error;
}

/** An ASSET_JOIN of this client failed: the asset, a code (unknown_asset, unavailable) and the agent's words. */
export interface AssetErrorEvent {
  readonly asset: string;
  readonly code: string;
  readonly message: string;
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
 * Objects that left view whose class is remembered, at most: an update of one may still come (sealed in
 * the agent's tick before it saw the object go), and reading past it needs its class.
 */
const MAX_DEPARTED = 1024;

export class OverworldClient extends Emitter<ClientEvents> {
  /** The objects in view, by doId. */
  readonly objects = new Map<number, ObjectMirror>();
  readonly dc: DcFile;
  private readonly clock = new ClusterClock();
  /** How the agent's messages are read: field keys are local to the class of each object in view. */
  private readonly wire: WireClasses;
  /** The classes of objects that left view lately (see MAX_DEPARTED). */
  private readonly departed = new Map<number, DClass>();
  /** Updates that wait for their object to enter before they can be read. */
  private readonly unread = new UnreadStore();
  private readonly now: () => number;
  private transport: ClientTransport | null = null;
  private pumpTimer: ReturnType<typeof setInterval> | undefined;
  private heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  /** Send times of the hello and heartbeats whose answers (HELLO_RESP, CLOCK) have not come yet. */
  private readonly clockRequests: number[] = [];
  private readonly pendingContexts = new Map<number, Pending>();
  private readonly requests = new ClientRequests(
    (message) => this.send(message),
    () => this.flush(),
  );
  private readonly interests = new Map<number, InterestHandle>();
  /**
   * Values this client sent, by object, then field, oldest first, until their echo comes back. By doId
   * first, so that an update of an object this client sent nothing for costs one lookup of a small
   * integer (a key combining doId and field id would be a heap number, made for every update heard).
   */
  private readonly echoes = new Map<number, Map<number, Uint8Array[]>>();
  /** The tick of each stored field's value (state comes unreliably: older values are skipped). */
  private readonly stateTicks = new StateTicks();
  private nextInterestId = 1;
  private nextContext = 1;
  private helloDone = false;
  private closed = false;
  private onHello: Pending | null = null;
  /** The plugins this client must run, as the agent last said (PLUGINS); none before it says. */
  requiredPlugins: PluginsEvent = { push: 0, plugins: [] };
  /**
   * Plugin messages: `plugins.send("emotes", { wave: true })` to the servers' plugin of that name (or
   * `{ to: "main" }`), `plugins.on("emotes", (data, from) => ...)` for what they send this client.
   */
  readonly plugins = new ClientPluginMessages(
    (message) => this.send(message),
    () => this.flush(),
    (event) => this.emit("plugin-error", event),
  );
  /** Says hello once the transport is up (set while connecting). */
  private onTransportOpen: (() => void) | null = null;
  /** When the message being handled arrived (the `now` clock), read once per message. */
  private messageAt = 0;

  private constructor(dc: DcFile, now: () => number) {
    super();
    this.dc = dc;
    this.wire = {
      dc,
      classOf: (doId) => this.objects.get(doId)?.dclass ?? this.departed.get(doId),
    };
    this.now = now;
  }

  /**
   * Connects with a connect token, says hello, and resolves once the agent accepts it (HELLO_RESP).
   * Rejects with a ConnectError carrying the ejection code and reason if the agent refuses (124 version,
   * 125 schema hash), or naming how the connection ended if it never comes up (a netcode state, or a
   * WebSocket close: 1008 for a refused token).
   */
  static async connect(options: ConnectOptions): Promise<OverworldClient> {
    const dc = options.file ?? (options.dcFiles ? platform.loadDcFiles(options.dcFiles) : undefined);
    if (dc === undefined) throw new TypeError("connect needs `file` (a DcFile) or `dcFiles` (paths)");
    const token = typeof options.token === "string" ? platform.base64Bytes(options.token) : options.token;
    const client = new OverworldClient(dc, options.now ?? Date.now);
    await client.start(token, options);
    return client;
  }

  /** The cluster time now (Unix ms), corrected by half the round trip of the best recent sample. */
  clusterTime(): number {
    return this.clock.at(this.now());
  }

  /** The cluster time at a local time `localMs` (of the `now` clock given to connect). */
  clusterTimeAt(localMs: number): number {
    return this.clock.at(localMs);
  }

  /**
   * When the agent message being handled arrived, on the `now` clock given to connect: read once per
   * message, so that a handler of each of its updates (an `update` listener timing them) need not read
   * the clock for every one. Meaningful inside the client's event listeners.
   */
  get receivedAt(): number {
    return this.messageAt;
  }

  /** The clock estimate behind clusterTime (offset, error bound, round trip); null before hello. */
  get clockEstimate(): ClockEstimate | null {
    return this.clock.current;
  }

  get connected(): boolean {
    return !this.closed && this.transport?.connected === true;
  }

  /** Transport statistics (packets, bytes, RTT, loss; over WebSocket, frames and bytes). */
  get stats(): reliable.ReliableStats {
    if (this.transport === null) throw new Error("the client has no transport before it connects");
    return this.transport.stats;
  }

  /** Asks to see the objects in `zones` of `parent`; resolves once they have all arrived (DONE_INTEREST). */
  async addInterest(parent: number, zones: readonly number[]): Promise<InterestHandle> {
    const id = this.allocateInterestId();
    const handle: InterestHandle = { id, parent, zones: [...zones] };
    this.interests.set(id, handle);
    try {
      await this.awaitContext((context) => ({
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
      await this.awaitContext((context) => ({
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
    await this.awaitContext((context) => ({
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
    await this.awaitContext((context) => ({
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
    this.store(object, field, bytes, 0, bytes.length);
    if (hasKeyword(field, "broadcast") || hasKeyword(field, "ownrecv") || hasKeyword(field, "clrecv")) {
      let fields = this.echoes.get(doId);
      if (fields === undefined) this.echoes.set(doId, (fields = new Map()));
      const queue = fields.get(field.id);
      if (queue === undefined) fields.set(field.id, [bytes]);
      else if (queue.push(bytes) > MAX_PENDING_ECHOES) queue.shift();
    }
  }

  /**
   * Calls a method of an object in view (a field with the keyword `request`) and resolves with its reply,
   * the value of the class's `<method>Reply` field (undefined when it has none); rejects with a
   * RequestError (`code`, `message`), a RequestTimeoutError past `timeoutMs` (requests.ts). Typed by a
   * typed mirror (`shop.is(demo.DistributedShop)`), or by `dclass` (the class's handle) with a doId.
   */
  request<G extends FieldInfoMap, N extends MethodName<G>>(
    target: ObjectMirror<G>,
    method: N,
    args: G[N]["value"],
    options?: CallOptions,
  ): Promise<MethodReply<G, N>>;
  request<G extends FieldInfoMap, N extends MethodName<G>>(
    target: number | ObjectMirror,
    method: N,
    args: G[N]["value"],
    options: CallOptions & { readonly dclass: DClassHandle<G> },
  ): Promise<MethodReply<G, N>>;
  request(
    target: number | ObjectMirror,
    method: string,
    args: FieldValue,
    options?: CallOptions,
  ): Promise<unknown>;
  request(
    target: number | ObjectMirror,
    method: string,
    args: FieldValue,
    options: CallOptions = {},
  ): Promise<unknown> {
    const doId = typeof target === "number" ? target : target.doId;
    const object = this.objects.get(doId);
    if (object === undefined)
      return Promise.reject(new Error(`object ${doId} is not in view of this client`));
    return this.requests.call(doId, object.dclass, method, args, options);
  }

  // ---- the typed API (typed.ts, mirror.ts) -------------------------------------------------------------

  /** Objects of a class (or a subclass) entering view, those in view now included; returns the unsubscribe. */
  onCreated<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fn: ClassNotifications<G>["created"],
  ): () => void {
    return onClass(this, handle, "created", fn);
  }

  /** Any field update of an object of a class, as `{ field, value }` typed together. */
  onUpdated<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fn: ClassNotifications<G>["updated"],
  ): () => void {
    return onClass(this, handle, "updated", fn);
  }

  /** Objects of a class leaving view (still in `objects`). */
  onDisabled<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fn: ClassNotifications<G>["disabled"],
  ): () => void {
    return onClass(this, handle, "disabled", fn);
  }

  /** Objects of a class gone from `objects`. */
  onDeleted<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fn: ClassNotifications<G>["deleted"],
  ): () => void {
    return onClass(this, handle, "deleted", fn);
  }

  /** Each new value of one field of every object of a class in view. */
  onField<G extends FieldInfoMap, N extends keyof G & string>(
    handle: DClassHandle<G>,
    field: N,
    fn: (object: ObjectMirror<G>, value: G[N]["value"]) => void,
  ): () => void {
    return onField(this, handle, field, fn);
  }

  /** Says goodbye (DISCONNECT, then the transport's own goodbye) and closes the socket. */
  async close(): Promise<void> {
    if (this.closed) return;
    if (this.connected) {
      this.send({ type: ClientMessageType.Disconnect });
      this.flush();
    }
    await this.shutdown("closed");
  }

  // ---- connecting ------------------------------------------------------------------------------------

  private async start(token: Uint8Array, options: ConnectOptions): Promise<void> {
    const hash = options.schemaHash ?? legacyHash(this.dc);
    this.onTransportOpen = () => {
      this.clockRequests.push(this.now());
      this.send({
        type: ClientMessageType.Hello,
        version: options.version,
        schemaHash: hash,
        features: HELLO_FEATURE_PLUGINS | HELLO_FEATURE_PLUGIN_MESSAGES,
        optionalPlugins: [...(options.optionalPlugins ?? [])],
      });
    };
    this.transport = await platform.openTransport(
      token,
      { url: options.url, host: options.host },
      {
        open: () => this.transportOpened(),
        message: (bytes) => this.receiveMessage(bytes),
        closed: (reason) => this.transportClosed(reason),
      },
      this.now,
    );
    const hello = new Promise<void>((resolve, reject) => {
      this.onHello = { resolve, reject };
    });
    const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const timeout = setTimeout(
      () => this.failHello(new ConnectError(`no hello answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
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

  /** Joins or leaves an asset's swarm, or reports a banned peer (the client wire's ASSET_* messages). */
  sendAssetMessage(
    message: Extract<
      ClientMessage,
      {
        type:
          | typeof ClientMessageType.AssetJoin
          | typeof ClientMessageType.AssetLeave
          | typeof ClientMessageType.AssetBanned;
      }
    >,
  ): void {
    this.send(message);
    this.flush();
  }

  // ---- the transport ---------------------------------------------------------------------------------

  private send(message: ClientMessage): void {
    if (this.closed || this.transport === null) throw new Error("the client is closed");
    this.transport.send(encodeClientMessage(message));
  }

  private pump(): void {
    this.transport?.update(this.now());
  }

  /**
   * Sends what is queued now instead of at the next transport update (e.g. right after a frame's
   * sendField calls: one datagram for all of them, without waiting up to 1/updateHz).
   */
  flush(): void {
    if (!this.connected) return;
    this.transport?.flush(this.now());
  }

  private transportOpened(): void {
    const greet = this.onTransportOpen;
    this.onTransportOpen = null;
    greet?.();
  }

  private transportClosed(reason: string): void {
    this.failHello(new ConnectError(`the connection ended before hello was answered: ${reason}`));
    void this.shutdown(reason);
  }

  private receiveMessage(bytes: Uint8Array): void {
    this.messageAt = this.now();
    const type = bytes[0];
    if (type === AgentMessageType.FieldUpdates || type === AgentMessageType.StateUpdates) {
      // the hot path: every update of everything in view, read in place
      this.updatesRead(readFieldUpdates(bytes, this.wire, this.visitUpdate));
      return;
    }
    const decoded = decodeAgentMessage(bytes, this.wire);
    if (decoded.ok) this.receive(decoded.message);
    else this.emit("error", new Error(`undecodable agent message (${decoded.code}): ${decoded.detail}`));
  }

  /** After reading updates: the rest of a message waiting for an object is kept; a problem is reported. */
  private updatesRead(read: FieldUpdatesResult): void {
    if (read.ok) return;
    if (read.unread !== undefined) this.unread.keep(read.unread, this.now());
    else this.emit("error", new Error(`undecodable agent message (${read.code}): ${read.detail}`));
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
      case AgentMessageType.PluginMessage:
      case AgentMessageType.PluginError:
        this.plugins.receive(message);
        return;
      case AgentMessageType.AssetPeer: {
        const { type: _type, ...grant } = message;
        this.emit("asset-peer", grant);
        return;
      }
      case AgentMessageType.AssetError:
        this.emit("asset-error", { asset: message.asset, code: message.code, message: message.message });
        return;
      case AgentMessageType.Plugins:
        this.requiredPlugins = { push: message.push, plugins: message.plugins };
        this.emit("plugins", this.requiredPlugins);
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
      case AgentMessageType.Reply:
      case AgentMessageType.RequestError:
        this.requests.receive(message);
        return;
      // FIELD_UPDATES and STATE_UPDATES are read in place (receivePayload), never decoded into messages
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
          this.storeById(existing, field.fieldId, field.value);
      }
      if (owned && !existing.owned) {
        existing.owned = true;
        this.emit("own", existing);
      }
      return;
    }
    const object = new ObjectMirror(this, doId, dclass, parent, zone, owned);
    for (const field of fields) this.storeById(object, field.fieldId, field.value);
    // state that came before the entry, if it is newer than the entry's
    for (const early of this.stateTicks.takeEarly(doId, this.now())) {
      if (this.stateTicks.advance(doId, early.fieldId, early.tick))
        this.storeById(object, early.fieldId, early.value);
    }
    this.departed.delete(doId);
    this.objects.set(doId, object);
    this.emit("generate", object);
    // messages whose reading stopped at this object, for want of its class, read on
    for (const rest of this.unread.take(doId, this.now()))
      this.updatesRead(readUnreadUpdates(rest, this.wire, this.visitUpdate));
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
    this.echoes.delete(doId);
    this.stateTicks.forget(doId);
    if (this.departed.size >= MAX_DEPARTED) this.departed.delete(this.departed.keys().next().value!);
    this.departed.set(doId, object.dclass);
    this.emit("disable", object);
    this.objects.delete(doId);
    this.emit("delete", object);
  }

  /**
   * One update, its body `bytes[start, end)`: the field's whole value, or (`nested`) a change of the
   * value the mirror holds; `tick` is its STATE_UPDATES message's (stored state, which comes unreliably:
   * a value older than the one held is skipped), or NO_TICK.
   */
  private readonly visitUpdate: FieldUpdateVisitor = (doId, field, nested, bytes, start, end, tick) => {
    const object = this.objects.get(doId);
    if (object === undefined) {
      // state of an object that left may overtake its next entry (held back by a loss on the reliable channel)
      if (tick !== NO_TICK)
        this.stateTicks.keepEarly(doId, field.id, tick, bytes.subarray(start, end), this.now());
      return;
    }
    if (nested) {
      this.applyNested(object, field, bytes, start, end);
      return;
    }
    if (tick !== NO_TICK && !this.stateTicks.advance(doId, field.id, tick)) return;
    if (this.echoes.size > 0 && this.isEcho(doId, field.id, bytes, start, end)) return;
    const value = this.store(object, field, bytes, start, end);
    if (value !== undefined) this.emit("update", { object, field: field.name, value });
  };

  /**
   * Applies a nested change to the value the mirror holds (the agent sends one only to a client that
   * holds the value it applies to, and in order); an `error` event if it cannot.
   */
  private applyNested(
    object: ObjectMirror,
    field: Field,
    bytes: Uint8Array,
    start: number,
    end: number,
  ): void {
    const held = object.fields.get(field.name);
    const where = `${object.dclass.name}.${field.name} of object ${object.doId}`;
    if (held === undefined || !isContainerField(field)) {
      this.emit("error", new Error(`a nested change of ${where}, which holds no value to change`));
      return;
    }
    try {
      const value = applyFieldDelta(field, held, decodeFieldDelta(field, bytes, start, end));
      object.fields.set(field.name, value);
      this.emit("update", { object, field: field.name, value });
    } catch (error) {
      this.emit(
        "error",
        new Error(`the nested change of ${where} does not apply: ${(error as Error).message}`),
      );
    }
  }

  /**
   * True for the cluster's echo of a value this client sent (in the order sent): it is consumed. A value
   * set by anyone else, even in between, is not an echo.
   */
  private isEcho(doId: number, fieldId: number, bytes: Uint8Array, start: number, end: number): boolean {
    const fields = this.echoes.get(doId);
    if (fields === undefined) return false;
    const queue = fields.get(fieldId);
    if (queue === undefined) return false;
    const value = bytes.subarray(start, end);
    const at = queue.findIndex((sent) => bytesEqual(sent, value));
    if (at < 0) return false;
    queue.splice(0, at + 1);
    if (queue.length > 0) return true;
    fields.delete(fieldId);
    if (fields.size === 0) this.echoes.delete(doId);
    return true;
  }

  /** Decodes and stores a value of a field given by id (an entry's); false (and an `error` event) when it cannot. */
  private storeById(object: ObjectMirror, fieldId: number, bytes: Uint8Array): boolean {
    const field = object.dclass.fieldById(fieldId);
    if (field === undefined) {
      this.emit("error", new Error(`class ${object.dclass.name} has no field with id ${fieldId}`));
      return false;
    }
    return this.store(object, field, bytes, 0, bytes.length) !== undefined;
  }

  /**
   * Decodes `bytes[start, end)` as a value of `field` (of the object's class) and stores it in the mirror;
   * the value, or undefined (and an `error` event) when it cannot.
   */
  private store(
    object: ObjectMirror,
    field: Field,
    bytes: Uint8Array,
    start: number,
    end: number,
  ): FieldValue | undefined {
    try {
      const value = unpackFieldAt(field, bytes, start, end);
      object.fields.set(field.name, value);
      return value;
    } catch (error) {
      this.emit("error", new Error(`${object.dclass.name}.${field.name}: ${(error as Error).message}`));
      return undefined;
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
  private awaitContext(build: (context: number) => ClientMessage): Promise<void> {
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
    this.requests.closeAll(error);
    this.failHello(new ConnectError(`the client disconnected: ${reason}`));
    await this.transport?.close(this.now());
    this.emit("disconnect", { reason });
  }
}

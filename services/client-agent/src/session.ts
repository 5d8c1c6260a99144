/**
 * One connected client, as pure logic over bytes and time: its hello, its heartbeat, and the checks on what
 * it sends. Ejections follow Astron's codes; each carries a reason naming what was wrong. It talks through
 * a SessionLink (session-link.ts: the reliable layer over UDP, frames over WebSocket), the same logic
 * whichever carries it. The agent owns the sockets; it feeds payloads in and sends what `flush` returns.
 *
 * States: awaiting_hello -> active -> ejecting (an EJECT is queued; the agent disconnects the client once
 * it is acknowledged or after EJECT_LINGER_MS). A client that said DISCONNECT is simply closed.
 *
 * A good hello is answered only once the agent has admitted the session (`admit`: the cluster's session
 * limits let it in); until then what the client says after its hello waits, in order, and a session
 * refused is ejected before it ever was active.
 */

import {
  type DcFile,
  type Field,
  hasKeyword,
  isContainerField,
  isMethod,
  type messages,
  unpackField,
  validateField,
} from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  decodeClientMessage,
  EJECT_FOR_DECODE_FAILURE,
  EjectCode,
  encodeAgentMessage,
  type FieldValueSizer,
  HELLO_FEATURE_PLUGIN_MESSAGES,
  HELLO_FEATURE_PLUGINS,
  MAX_FOLLOW_RADIUS,
  type PluginEdge,
  type PluginEncoding,
  type RequiredPlugin,
} from "@overworld/protocol/client";
import { ClientInterests, type FieldRules, type InterestPort, type VisibleObject } from "./interest.ts";
import { SessionPluginMessages } from "./plugin-messages.ts";
import type { DatagramBudget } from "./rate-limit.ts";
import { SessionRequests } from "./requests.ts";
import type { SessionLink } from "./session-link.ts";

/** Client messages larger than this are refused with 106: nothing a client says needs more. */
export const MAX_CLIENT_MESSAGE_BYTES = 4096;
/** How long an ejected client is kept so that its EJECT can arrive, at most. */
export const EJECT_LINGER_MS = 1000;
/** Messages a client may send after its hello while its session awaits admission (a few ms, normally). */
const MAX_MESSAGES_BEFORE_ADMISSION = 64;

export type SessionState = "awaiting_hello" | "active" | "ejecting" | "closed";

export interface SessionRules {
  readonly version: string;
  readonly schemaHash: number;
  readonly dc: DcFile;
  readonly sizer: FieldValueSizer;
  readonly fields: FieldRules;
  readonly heartbeatTimeoutMs: number;
  /** An interest in more zones than this is forbidden (115). */
  readonly maxInterestZones: number;
  /** The cluster's time in Unix milliseconds, and how far off it may be. */
  readonly clock: () => { readonly time: number; readonly errorBound: number };
  /** The client plugins every client must run now (plugins.ts), told in the hello. */
  readonly plugins?: () => ClientPluginSet;
  /** Each session's budget of plugin messages (plugin-messages.ts); a default when absent. */
  readonly pluginMessages?: DatagramBudget;
  /** Counts a client's plugin message by what became of it at the session (metrics). */
  readonly countPluginMessage?: (outcome: string) => void;
  /** The assets the agent swarms (assets.ts); absent: ASSET_JOIN is answered ASSET_ERROR unavailable. */
  readonly assets?: SessionAssets;
}

/** What a session asks of the agent's asset swarms (ASSET_JOIN, ASSET_LEAVE, ASSET_BANNED, its end). */
export interface SessionAssets {
  join(session: ClientSession, asset: string, relayOnly: boolean): void;
  leave(session: ClientSession, asset: string): void;
  banned(session: ClientSession, asset: string, peer: string): void;
  closed(session: ClientSession): void;
}

/** Plugin messages a session may send at once, and per second, unless the rules say otherwise. */
export const DEFAULT_PLUGIN_MESSAGE_BUDGET: DatagramBudget = { burst: 32, perSecond: 16 };

/** The client plugins a cluster's clients must run: main's push it came with, and the exact plugins. */
export interface ClientPluginSet {
  readonly push: number;
  readonly required: readonly RequiredPlugin[];
}

export interface Ejection {
  readonly code: number;
  readonly reason: string;
}

export class ClientSession {
  private currentState: SessionState = "awaiting_hello";
  private lastHeartbeatAt: number;
  private ejectedAt = 0;
  private ejectionValue: Ejection | null = null;
  readonly interests: ClientInterests;
  /** Well-formed field updates the client sent, for the agent to forward. */
  readonly outgoing: { doId: number; field: Field; value: Uint8Array }[] = [];
  /** The client's requests: those to pass on, and those waiting for their answers. */
  readonly requests = new SessionRequests();
  /** The client's participant channel (owner deliveries come to it), once the director gave one. */
  channel: number | undefined;
  /** A reply whose timing matters (HELLO_RESP, CLOCK) is queued: the agent flushes the session at once. */
  urgent = false;
  /** Objects deleted when the client goes; their deletion by anyone else ejects the client (153). */
  readonly sessionObjects = new Set<number>();
  /** When the client connected (ms since the epoch). */
  readonly connectedAt: number;
  /** The cluster's session limits let this session in (see `admit`). */
  private admitted = false;
  /** Set once a good hello waits for admission: the messages that came after it, in order. */
  private afterHello: Uint8Array[] | null = null;
  /** The client reads PLUGINS (its hello set HELLO_FEATURE_PLUGINS). */
  private readsPlugins = false;
  /** The client sends and reads plugin messages (its hello set HELLO_FEATURE_PLUGIN_MESSAGES). */
  private speaksPlugins = false;
  /** The optional plugins the client's hello listed. */
  private optionalPlugins: ReadonlySet<string> = new Set();
  /** The client's plugin messages: checked, and queued for the agent to pass on. */
  readonly pluginMessages: SessionPluginMessages;

  constructor(
    readonly clientIndex: number,
    readonly accountId: number,
    readonly username: string,
    private readonly rules: SessionRules,
    now: number,
    port: InterestPort,
    /** What the session talks through: the reliable layer over UDP, frames over WebSocket. */
    private readonly link: SessionLink,
  ) {
    this.lastHeartbeatAt = now;
    this.connectedAt = now;
    this.pluginMessages = new SessionPluginMessages(
      rules.pluginMessages ?? DEFAULT_PLUGIN_MESSAGE_BUDGET,
      () => this.pluginSet(),
      rules.countPluginMessage,
    );
    this.interests = new ClientInterests(
      port,
      (message) => this.send(message),
      (error) => this.eject(EjectCode.ForbiddenInterest, `interest failed: ${error.message}`, Date.now()),
      rules.fields,
      rules.dc,
    );
  }

  /** Objects the client sees, through interest or because it owns them. */
  get visible(): ReadonlyMap<number, VisibleObject> {
    return this.interests.visible;
  }

  /** Releases the client's subscriptions; call once the client is gone. */
  close(): void {
    this.rules.assets?.closed(this);
    this.interests.close();
    if (this.currentState !== "ejecting") this.currentState = "closed";
  }

  /**
   * A delivery to the client's participant channel. The deletion of one of its session objects (by anyone
   * but the agent, which unsubscribes first) ejects the client with 153; returns that object's doId then.
   */
  receiveOwnerDelivery(delivery: messages.Delivery, now: number): number | undefined {
    if (this.currentState === "closed") return undefined;
    this.interests.receiveOwnerDelivery(delivery);
    if (delivery.kind !== "delete" || !this.sessionObjects.delete(delivery.doId)) return undefined;
    this.eject(EjectCode.SessionObjectDeleted, `session object ${delivery.doId} was deleted`, now);
    return delivery.doId;
  }

  get state(): SessionState {
    return this.currentState;
  }

  /** Why the client was ejected, once it was. */
  get ejection(): Ejection | null {
    return this.ejectionValue;
  }

  /** A payload from the client's connection: a netcode payload over UDP, a frame over WebSocket. */
  receivePayload(payload: Uint8Array, now: number): void {
    if (this.currentState === "ejecting" || this.currentState === "closed") return;
    const delivered = this.link.receive(payload, now);
    if (delivered === null) return; // a bad reliable packet is dropped by the layer below, not ejected
    for (const bytes of delivered) {
      if (this.currentState !== "awaiting_hello" && this.currentState !== "active") return;
      this.receiveMessage(bytes, now);
    }
  }

  /**
   * The cluster's session limits let the session in: a hello that waited is answered now, and what the
   * client said after it is taken in order.
   */
  admit(now: number): void {
    if (this.currentState !== "awaiting_hello" || this.admitted) return;
    this.admitted = true;
    const waiting = this.afterHello;
    if (waiting === null) return;
    this.afterHello = null;
    this.activate(now);
    for (const bytes of waiting) {
      if (this.state !== "active") return; // one of them ejected it
      this.receiveMessage(bytes, now);
    }
  }

  /** Heartbeat check; call every tick. */
  check(now: number): void {
    if (this.currentState !== "awaiting_hello" && this.currentState !== "active") return;
    if (this.afterHello !== null && now - this.lastHeartbeatAt >= this.rules.heartbeatTimeoutMs) {
      const ms = this.rules.heartbeatTimeoutMs;
      this.eject(EjectCode.SessionRefused, `the session limits were not checked within ${ms} ms`, now);
      return;
    }
    if (now - this.lastHeartbeatAt >= this.rules.heartbeatTimeoutMs) {
      const what = this.currentState === "awaiting_hello" ? "no hello" : "no heartbeat";
      this.eject(EjectCode.NoHeartbeat, `${what} for ${this.rules.heartbeatTimeoutMs} ms`, now);
    }
  }

  /** True when the agent should now close the connection of an ejected client. */
  readyToClose(now: number): boolean {
    if (this.currentState === "closed") return true;
    if (this.currentState !== "ejecting") return false;
    return !this.link.pending || now - this.ejectedAt >= EJECT_LINGER_MS;
  }

  /** What to send now: datagram payloads (acks, queued messages, resends) over UDP, frames over WebSocket. */
  flush(now: number): Uint8Array[] {
    this.urgent = false;
    if (this.currentState === "active") {
      const updates = this.interests.takeUpdates();
      for (const bytes of updates.events) this.link.sendReliable(bytes);
      for (const message of updates.state) this.link.sendState(message);
    }
    const payloads = this.link.flush(now);
    for (const lost of this.link.takeLost()) this.interests.lost(lost);
    return payloads;
  }

  send(message: AgentMessage): void {
    this.link.sendReliable(encodeAgentMessage(message, this.rules.dc));
  }

  eject(code: number, reason: string, now: number): void {
    if (this.currentState === "ejecting" || this.currentState === "closed") return;
    this.ejectionValue = { code, reason };
    this.send({ type: AgentMessageType.Eject, code, reason });
    this.currentState = "ejecting";
    this.ejectedAt = now;
  }

  private receiveMessage(bytes: Uint8Array, now: number): void {
    if (bytes.length > MAX_CLIENT_MESSAGE_BYTES) {
      this.eject(
        EjectCode.OversizedDatagram,
        `a message of ${bytes.length} bytes is over ${MAX_CLIENT_MESSAGE_BYTES}`,
        now,
      );
      return;
    }
    if (this.afterHello !== null) {
      if (this.afterHello.length >= MAX_MESSAGES_BEFORE_ADMISSION) {
        const what = `${MAX_MESSAGES_BEFORE_ADMISSION} messages`;
        this.eject(EjectCode.NotYetAllowed, `more than ${what} before the hello was answered`, now);
        return;
      }
      this.afterHello.push(bytes.slice()); // taken once the session is admitted
      return;
    }
    const decoded = decodeClientMessage(bytes, this.rules.sizer);
    if (!decoded.ok) {
      const firstType = bytes[0];
      if (this.currentState === "awaiting_hello" && firstType !== ClientMessageType.Hello) {
        this.eject(EjectCode.NoHello, "the first message must be a hello", now);
        return;
      }
      this.eject(EJECT_FOR_DECODE_FAILURE[decoded.code], decoded.detail, now);
      return;
    }
    if (this.currentState === "awaiting_hello") this.receiveFirst(decoded.message, now);
    else this.receiveActive(decoded.message, now);
  }

  private receiveFirst(message: ClientMessage, now: number): void {
    if (message.type !== ClientMessageType.Hello) {
      this.eject(EjectCode.NoHello, "the first message must be a hello", now);
      return;
    }
    if (message.version !== this.rules.version) {
      this.eject(
        EjectCode.BadVersion,
        `client version ${JSON.stringify(message.version)} is not the cluster's ${JSON.stringify(this.rules.version)}`,
        now,
      );
      return;
    }
    if (message.schemaHash !== this.rules.schemaHash) {
      this.eject(
        EjectCode.BadSchemaHash,
        `client schema hash 0x${hex(message.schemaHash)} is not the cluster's 0x${hex(this.rules.schemaHash)}`,
        now,
      );
      return;
    }
    this.lastHeartbeatAt = now;
    this.readsPlugins = ((message.features ?? 0) & HELLO_FEATURE_PLUGINS) !== 0;
    this.speaksPlugins = ((message.features ?? 0) & HELLO_FEATURE_PLUGIN_MESSAGES) !== 0;
    this.optionalPlugins = new Set(message.optionalPlugins ?? []);
    if (!this.admitted) {
      this.afterHello = []; // answered once admitted
      return;
    }
    this.activate(now);
  }

  private activate(now: number): void {
    this.currentState = "active";
    this.lastHeartbeatAt = now;
    // the plugins come just before the hello's answer: a client knows them once it is connected
    if (this.rules.plugins !== undefined) this.tellPlugins(this.rules.plugins());
    this.send({ type: AgentMessageType.HelloResp, clusterTime: this.rules.clock().time });
    this.urgent = true;
  }

  /**
   * Tells the client the plugins it must run (PLUGINS), if it reads them; true when told. Called at the
   * hello (state awaiting it) and by the agent when the set changes (state active).
   */
  tellPlugins(set: ClientPluginSet): boolean {
    if (!this.readsPlugins || this.currentState !== "active") return false;
    this.send({ type: AgentMessageType.Plugins, push: set.push, plugins: set.required });
    return true;
  }

  /** The plugins the client runs: the required ones the cluster tells it, and its optional ones. */
  private pluginSet(): ReadonlySet<string> {
    const names = new Set(this.optionalPlugins);
    for (const pin of this.rules.plugins?.().required ?? []) names.add(pin.name);
    return names;
  }

  /**
   * Plugin data for the client from the other end of an edge (a server's plugin, main's): sent when the
   * client speaks plugin messages and runs that plugin; true when sent.
   */
  deliverPlugin(from: PluginEdge, plugin: string, encoding: PluginEncoding, data: Uint8Array): boolean {
    if (!this.speaksPlugins || this.currentState !== "active" || !this.pluginMessages.runs(plugin))
      return false;
    this.send({ type: AgentMessageType.PluginMessage, from, plugin, encoding, data });
    return true;
  }

  /** A PLUGIN_MESSAGE of the client: checked (plugin-messages.ts), queued or refused with PLUGIN_ERROR. */
  private receivePluginMessage(
    message: Extract<ClientMessage, { type: typeof ClientMessageType.PluginMessage }>,
    now: number,
  ): void {
    if (!this.speaksPlugins) {
      this.eject(
        EjectCode.InvalidMessageType,
        "a plugin message from a client whose hello did not ask for plugin messages (HELLO_FEATURE_PLUGIN_MESSAGES)",
        now,
      );
      return;
    }
    const { edge, plugin, encoding, data } = message;
    const refused = this.pluginMessages.accept({ edge, plugin, encoding, data }, now);
    if (refused === undefined) return;
    this.send(refused);
    this.urgent = true;
  }

  private receiveActive(message: ClientMessage, now: number): void {
    switch (message.type) {
      case ClientMessageType.Hello:
        this.eject(EjectCode.NotYetAllowed, "hello was already said", now);
        return;
      case ClientMessageType.Heartbeat: {
        this.lastHeartbeatAt = now;
        const clock = this.rules.clock();
        this.send({ type: AgentMessageType.Clock, serverTime: clock.time, errorBound: clock.errorBound });
        this.urgent = true; // the client's clock estimate assumes the reply left when it was stamped
        return;
      }
      case ClientMessageType.Disconnect:
        this.currentState = "closed";
        return;
      case ClientMessageType.AddInterest:
        this.receiveAddInterest(message.interestId, message.context, message.parent, message.zones, now);
        return;
      case ClientMessageType.RemoveInterest:
        if (!this.interests.remove(message.interestId, message.context)) {
          this.eject(EjectCode.ForbiddenInterest, `interest ${message.interestId} does not exist`, now);
        }
        return;
      case ClientMessageType.SetField:
        this.receiveSetField(message.doId, message.fieldId, message.value, now);
        return;
      case ClientMessageType.FollowInterest:
        this.receiveFollowInterest(message, now);
        return;
      case ClientMessageType.Request:
        this.receiveRequest(message, now);
        return;
      case ClientMessageType.PluginMessage:
        this.receivePluginMessage(message, now);
        return;
      case ClientMessageType.AssetJoin:
        if (this.rules.assets === undefined) {
          this.send({
            type: AgentMessageType.AssetError,
            asset: message.asset,
            code: "unavailable",
            message: "this client agent swarms no assets (its ASSETS_DIR is not set)",
          });
          this.urgent = true;
          return;
        }
        this.rules.assets.join(this, message.asset, message.relayOnly);
        return;
      case ClientMessageType.AssetLeave:
        this.rules.assets?.leave(this, message.asset);
        return;
      case ClientMessageType.AssetBanned:
        this.rules.assets?.banned(this, message.asset, message.peer);
        return;
    }
  }

  /** A call of a method: checked as a field update of that field is, and it must be a method (118). */
  private receiveRequest(
    message: Extract<ClientMessage, { type: typeof ClientMessageType.Request }>,
    now: number,
  ): void {
    const field = this.sendable(message.doId, message.fieldId, message.value, now);
    if (field === undefined) return;
    if (!isMethod(field)) {
      const name = `${field.owner.name}.${field.name}`;
      this.eject(EjectCode.ForbiddenField, `field ${name} is not a method (no keyword request)`, now);
      return;
    }
    const { requestId, doId, fieldId, value: args } = message;
    const refused = this.requests.accept({ requestId, doId, fieldId, args }, now);
    if (refused !== undefined) this.send(refused);
  }

  /** Following is allowed for an object the client owns, on a grid of at most 65535 zones, within the zone limit. */
  private receiveFollowInterest(
    message: Extract<ClientMessage, { type: typeof ClientMessageType.FollowInterest }>,
    now: number,
  ): void {
    const { interestId, context, doId, width, height, radius } = message;
    const refuse = (why: string) =>
      this.eject(
        EjectCode.ForbiddenInterest,
        `interest ${interestId} may not follow object ${doId}: ${why}`,
        now,
      );
    if (width < 1 || height < 1 || width * height > 0xffff) {
      refuse(`a grid of ${width}x${height} zones (1 to 65535 zones)`);
      return;
    }
    const across = 2 * radius + 1;
    if (radius > MAX_FOLLOW_RADIUS || across * across > this.rules.maxInterestZones) {
      refuse(`radius ${radius} covers more than ${this.rules.maxInterestZones} zones`);
      return;
    }
    if (this.visible.get(doId)?.owned !== true) {
      refuse("the client does not own it");
      return;
    }
    this.interests.follow(interestId, context, doId, { width, height }, radius);
  }

  /** The rule: a real parent (not 0), at least one zone, and no more than maxInterestZones. */
  private receiveAddInterest(
    interestId: number,
    context: number,
    parent: number,
    zones: readonly number[],
    now: number,
  ): void {
    if (parent === 0) {
      this.eject(EjectCode.ForbiddenInterest, `interest ${interestId} names parent 0`, now);
      return;
    }
    const distinct = new Set(zones).size;
    if (distinct === 0 || distinct > this.rules.maxInterestZones) {
      this.eject(
        EjectCode.ForbiddenInterest,
        `interest ${interestId} names ${distinct} zones; 1 to ${this.rules.maxInterestZones} are allowed`,
        now,
      );
      return;
    }
    this.interests.add(interestId, context, parent, zones);
  }

  private receiveSetField(doId: number, fieldId: number, value: Uint8Array, now: number): void {
    const field = this.sendable(doId, fieldId, value, now);
    if (field !== undefined) this.outgoing.push({ doId, field, value });
  }

  /**
   * Astron's order: the object must be visible (117), the field allowed (118), the value in range (127).
   * The field if the client may send it; undefined once the client is ejected.
   */
  private sendable(doId: number, fieldId: number, value: Uint8Array, now: number): Field | undefined {
    const object = this.visible.get(doId);
    if (object === undefined) {
      this.eject(EjectCode.MissingObject, `object ${doId} is not visible to this client`, now);
      return undefined;
    }
    const dclass = this.rules.dc.typeById(object.classId);
    const field = this.rules.dc.fieldById(fieldId);
    if (dclass?.kind !== "class" || field === undefined || dclass.fieldById(fieldId) !== field) {
      this.eject(EjectCode.ForbiddenField, `field ${fieldId} is not a field of object ${doId}'s class`, now);
      return undefined;
    }
    const sendable = hasKeyword(field, "clsend") || (object.owned && hasKeyword(field, "ownsend"));
    if (!sendable) {
      this.eject(
        EjectCode.ForbiddenField,
        `field ${field.owner.name}.${field.name} of object ${doId} may not be sent by this client`,
        now,
      );
      return undefined;
    }
    let invalid: string | undefined;
    try {
      invalid = validateField(field, unpackField(field, value)); // the schema's validators, if any
    } catch (error) {
      invalid = `value of ${field.owner.name}.${field.name}: ${(error as Error).message}`;
    }
    if (invalid !== undefined) {
      this.eject(EjectCode.FieldConstraint, invalid, now);
      return undefined;
    }
    return field;
  }
}

/**
 * The field rules of a model, looked up by field id in tables made once: state fields (ram, required or
 * db: only the latest value in a tick matters, and it may travel unreliably) and broadcast ones. A field
 * whose value holds arrays or structs is no state: game logic sends it as nested changes, which must
 * all arrive in order (a lost change cannot be made good by a newer one, which applies to what the lost
 * one left), so its updates, whole or nested, travel reliably.
 */
export function fieldRulesOf(dc: DcFile): FieldRules {
  const count = dc.fields.length;
  const state = new Uint8Array(count);
  const broadcast = new Uint8Array(count);
  for (const field of dc.fields) {
    const stored = hasKeyword(field, "ram") || hasKeyword(field, "required") || hasKeyword(field, "db");
    if (stored && !isContainerField(field)) state[field.id] = 1;
    if (hasKeyword(field, "broadcast")) broadcast[field.id] = 1;
  }
  return {
    isState: (fieldId) => state[fieldId] === 1,
    isBroadcast: (fieldId) => broadcast[fieldId] === 1,
  };
}

function hex(value: number): string {
  return value.toString(16).padStart(8, "0");
}

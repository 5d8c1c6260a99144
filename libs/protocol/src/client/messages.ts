/**
 * The client message catalogue (layer 3 of the client wire): what a game client and its client agent say
 * to each other inside the reliable / unreliable messages of the transport. One message per transport
 * message; the transport gives its length.
 *
 * Every message starts with its type (one byte). Client-to-agent types are 1..6 and agent-to-client types
 * are 0x41..0x49, so a client echoing the agent's messages sends bad types. Fields follow little-endian:
 *
 *   u8 / u16 / u32          unsigned integers
 *   var                     unsigned LEB128 integer (7 bits a byte, low bits first), at most 5 bytes
 *   f64                     IEEE double (times, in Unix milliseconds)
 *   str                     u16 byte length, then UTF-8 (at most MAX_STRING_BYTES)
 *   zones                   u16 count, then u32 each (at most MAX_ZONES_PER_INTEREST)
 *   value                   a field value packed by the dclass, with no length prefix: the dclass
 *                           says where it ends (see FieldValueSizer)
 *   key                     var: a field named by its place in its object's class, and whether a
 *                           nested change follows instead of the whole value (field-keys.ts:
 *                           localIndex << 1 | nestedBit; one byte for the first 64 fields of a class)
 *   body                    the whole value (nestedBit 0), or the nested change of a container field
 *                           (nestedBit 1: one entry of a map, a run of a uniform board; field-delta.ts)
 *   fields                  u16 count, then (key, value) each (keys of whole values only)
 *
 *   client -> agent
 *   HELLO            version: str, schemaHash: u32, then optionally features: u32 (a bit set of what
 *                    the client understands beyond revision 0: HELLO_FEATURE_PLUGINS,
 *                    HELLO_FEATURE_PLUGIN_MESSAGES), then, when features has HELLO_FEATURE_PLUGIN_MESSAGES,
 *                    optional: u16 count, then name: str each (the optional plugins the client runs
 *                    beside the required ones: it may send plugin messages for these and the required)
 *   HEARTBEAT        (nothing)
 *   DISCONNECT       (nothing)
 *   ADD_INTEREST     interestId: u16, context: u32, parent: u32, zones
 *   REMOVE_INTEREST  interestId: u16, context: u32
 *   SET_FIELD        doId: u32, fieldId: u16, value
 *   FOLLOW_INTEREST  interestId: u16, context: u32, doId: u32, width: u16, height: u16, radius: u8
 *   REQUEST          requestId: u32, doId: u32, fieldId: u16 (a method: dc/methods.ts), value (its
 *                    arguments); answered by REPLY or REQUEST_ERROR with the same requestId
 *   PLUGIN_MESSAGE   edge: u8 (PluginEdge: 0 the cluster's servers, 1 main), plugin: str, encoding: u8
 *                    (PluginEncoding: 0 bytes, 1 MessagePack), data: the rest of the message (at most
 *                    MAX_PLUGIN_DATA_BYTES): to the plugin of that name at the other end of the edge;
 *                    refused with PLUGIN_ERROR (never an ejection) when the plugin is not in the client's
 *                    set, the data is too long, or the client sends too fast
 *   ASSET_JOIN       asset: 32 bytes (the asset's id, its manifest's SHA-256), flags: u8 (1: relay only, the
 *                    client keeps its address to itself): the client wants to swarm for the asset (and
 *                    serves what it holds); answered by ASSET_PEER grants, or ASSET_ERROR
 *   ASSET_LEAVE      asset: 32 bytes: the client leaves that asset's swarm
 *   ASSET_BANNED     asset: 32 bytes, peer: str: the client banned that peer (it sent corrupt chunks); the
 *                    cluster's seed then counts nothing of that peer's for this client
 *
 *   agent -> client
 *   HELLO_RESP       clusterTime: f64
 *   EJECT            code: u16, reason: str
 *   CLOCK            serverTime: f64, errorBound: f64 (ms; the true cluster time is within ± this)
 *   ENTER_OBJECT     doId: u32, parent: u32, zone: u32, classId: u16, tick: var, fields (required, then
 *                    other visible); STATE_UPDATES of the object older than `tick` are stale
 *   ENTER_OWNED      as ENTER_OBJECT, for an object this client owns (fields: the owner-visible ones); also
 *                    sent for an object already in view that the client comes to own
 *   LEAVE_OBJECT     doId: u32
 *   DONE_INTEREST    interestId: u16, context: u32
 *   FIELD_UPDATES    count: var, then (doId: zigzag var of the difference from the previous update's doId
 *                    (the first's from 0), key, body) each: updates of one object, or of objects with
 *                    close ids, cost 1 byte of doId; a zone's updates of a tick. Nested changes come only
 *                    here (reliable, in order: each applies to the value the one before left), never in
 *                    STATE_UPDATES; a container field's updates, whole or nested, all come here
 *   OBJECT_LOCATION  doId: u32, parent: u32, zone: u32 (an object in view moved to another zone in view,
 *                    or an owned object moved anywhere)
 *   REPLY            requestId: u32, then the reply field's value (<method>Reply) to the end of the
 *                    message (nothing for a method without one); the client knows the method it asked
 *   REQUEST_ERROR    requestId: u32, code: str (a short name, e.g. sold_out), message: str
 *   PLUGINS          push: u32, count: u16, then (name: str, version: str, id: 32 bytes) each: the client
 *                    plugins the client must run, exactly (sent only to a client whose HELLO set
 *                    HELLO_FEATURE_PLUGINS: right after HELLO_RESP, and again whenever the set changes)
 *   PLUGIN_MESSAGE   from: u8 (PluginEdge: 0 a server of the cluster, 1 main), plugin: str, encoding: u8,
 *                    data: the rest (sent only to a client whose HELLO set HELLO_FEATURE_PLUGIN_MESSAGES)
 *   PLUGIN_ERROR     edge: u8, plugin: str, code: str (too_large, not_in_set, rate_limited, no_handler,
 *                    unavailable), message: str: a PLUGIN_MESSAGE of the client was not delivered
 *   ASSET_PEER       asset: 32 bytes, pair: 16 bytes, peer: str (the other side's session, "cluster" for
 *                    the seed), side: u8 (0 or 1), key: 32 bytes, expiresAt: f64 (Unix ms), flags: u8
 *                    (1: the peer is the cluster's seed, 2: an address follows), then with flag 2 host: str,
 *                    port: u16: a grant to talk to that peer about that asset over the peer wire (docs/assets.md)
 *   ASSET_ERROR      asset: 32 bytes, code: str (unknown_asset, unavailable), message: str: an ASSET_JOIN failed
 *   STATE_UPDATES    tick: var, then as FIELD_UPDATES: the newest values of stored fields (ram, required,
 *                    db) as of the agent's tick `tick`, sent on the unreliable channel; a value of an older
 *                    tick than the one a client holds for that field is stale and skipped; keys of
 *                    whole values only
 *
 * Keys are local to the object's class, so reading an update needs the class of its object: ENTER_OBJECT
 * gave it (see WireClasses). An update of an object the reader does not know stops the reading there; the
 * rest is handed back (UnreadUpdates) to be read once that object enters.
 * Decoding is hostile-input safe: it never reads past the bytes given and never throws; it returns either
 * the message or a typed failure whose `code` maps to an ejection (see EJECT_FOR_DECODE_FAILURE).
 */
import { DClass } from "../dc/dclass.ts";
import type { Field } from "../dc/field.ts";
import type { DcFile } from "../dc/file.ts";
import { DcPackError } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import { fieldAtKey, fieldKey, isNestedKey } from "./field-keys.ts";
import { fieldValueEnd } from "./sizer.ts";

export const ClientMessageType = {
  Hello: 1,
  Heartbeat: 2,
  Disconnect: 3,
  AddInterest: 4,
  RemoveInterest: 5,
  SetField: 6,
  /** An interest the client agent moves itself, following an object the client owns on a zone grid. */
  FollowInterest: 7,
  /** A call of a method (a field with the keyword `request`) of an object, answered by REPLY or REQUEST_ERROR. */
  Request: 8,
  /** Bytes or a MessagePack value for the plugin of that name on the cluster's servers or on main. */
  PluginMessage: 9,
  /** The client wants to swarm for an asset: answered by ASSET_PEER grants or ASSET_ERROR. */
  AssetJoin: 10,
  AssetLeave: 11,
  /** The client banned a peer of an asset's swarm (corrupt chunks). */
  AssetBanned: 12,
} as const;
export type ClientMessageType = (typeof ClientMessageType)[keyof typeof ClientMessageType];

export const AgentMessageType = {
  HelloResp: 0x41,
  Eject: 0x42,
  Clock: 0x43,
  EnterObject: 0x44,
  LeaveObject: 0x45,
  DoneInterest: 0x46,
  FieldUpdates: 0x47,
  EnterOwnedObject: 0x48,
  ObjectLocation: 0x49,
  StateUpdates: 0x4a,
  /** Words from the cluster's operators to the player (OTP's CLIENT_SYSTEM_MESSAGE): a broadcast, a warning. */
  SystemMessage: 0x4b,
  /** The answer to a REQUEST: its reply value. */
  Reply: 0x4c,
  /** The answer to a REQUEST that failed: a code and a message. */
  RequestError: 0x4d,
  /** The client plugins the client must run (main's required set and its cluster's), exactly. */
  Plugins: 0x4e,
  /** Bytes or a MessagePack value from the plugin of that name on a server of the cluster or on main. */
  PluginMessage: 0x4f,
  /** A PLUGIN_MESSAGE of the client was not delivered: a code and a message. */
  PluginError: 0x50,
  /** A grant to talk to one peer (or the cluster's seed) about one asset. */
  AssetPeer: 0x51,
  /** An ASSET_JOIN failed: a code and a message. */
  AssetError: 0x52,
} as const;

/** ASSET_JOIN's flag: the client keeps its address to itself (its peers reach it through the relay only). */
export const ASSET_JOIN_RELAY_ONLY = 1;
/** Bytes of a peer pair's id, and of its key, in ASSET_PEER. */
export const ASSET_PAIR_BYTES = 16;
export const ASSET_KEY_BYTES = 32;

/** A grant as ASSET_PEER carries it (asset as 64 hex digits). */
export interface AssetPeerGrant {
  readonly asset: string;
  readonly pair: Uint8Array;
  readonly peer: string;
  readonly side: 0 | 1;
  readonly key: Uint8Array;
  readonly expiresAt: number;
  readonly server: boolean;
  readonly address?: { readonly host: string; readonly port: number };
}

/** HELLO's `features` bit: the client reads PLUGINS messages (wire revision 1). */
export const HELLO_FEATURE_PLUGINS = 1;
/** The most plugins one PLUGINS message lists. */
export const MAX_PLUGINS = 256;
/**
 * HELLO's `features` bit: the client sends and reads plugin messages (wire revision 2), and its hello
 * lists the optional plugins it runs.
 */
export const HELLO_FEATURE_PLUGIN_MESSAGES = 2;
/** The most data one plugin message carries; a client's longer one is refused with PLUGIN_ERROR too_large. */
export const MAX_PLUGIN_DATA_BYTES = 2048;
/** The longest plugin name (UTF-8 bytes), as manifests allow. */
export const MAX_PLUGIN_NAME_BYTES = 64;

/** The other end of a plugin message's edge, as the client sees it. */
export const PluginEdge = {
  /** client-server: the cluster's servers (zone AI). */
  Server: 0,
  /** client-main: main, through the cluster. */
  Main: 1,
} as const;
export type PluginEdge = (typeof PluginEdge)[keyof typeof PluginEdge];

/** How a plugin message's data is to be read. */
export const PluginEncoding = {
  /** Bytes, as they are. */
  Bytes: 0,
  /** One MessagePack value. */
  MessagePack: 1,
} as const;
export type PluginEncoding = (typeof PluginEncoding)[keyof typeof PluginEncoding];

/** A plugin a client must run: its name, exact version and package id (SHA-256 of its manifest, hex). */
export interface RequiredPlugin {
  readonly name: string;
  readonly version: string;
  readonly id: string;
}
export type AgentMessageType = (typeof AgentMessageType)[keyof typeof AgentMessageType];

/** Astron's ejection codes, as the client agent uses them. */
export const EjectCode = {
  /**
   * CLIENT_DISCONNECT_GENERIC: Astron refuses a client with it when the agent is at capacity ("Client
   * capacity reached"); here the cluster refuses a session it has no room for: the address already holds
   * its MAX_SESSIONS_PER_ADDRESS sessions, or the session limits could not be checked (Redis down). The
   * reason says which.
   */
  SessionRefused: 1,
  /** OTP's CLIENT_DISCONNECT_RELOGIN: the account logged in elsewhere, and this older session ends. */
  LoggedInElsewhere: 100,
  OversizedDatagram: 106,
  NoHello: 107,
  InvalidMessageType: 108,
  TruncatedDatagram: 109,
  NotYetAllowed: 113,
  ForbiddenInterest: 115,
  MissingObject: 117,
  ForbiddenField: 118,
  BadVersion: 124,
  BadSchemaHash: 125,
  FieldConstraint: 127,
  SessionObjectDeleted: 153,
  /**
   * Overworld's own: the state server did not acknowledge the client's updates for too long (or too many
   * waited), and the agent stopped holding them; the reason says which. Moves sent just before may be
   * missing: the client should log in again.
   */
  UpdatesNotKept: 190,
  NoHeartbeat: 345,
} as const;
export type EjectCode = (typeof EjectCode)[keyof typeof EjectCode];

export const MAX_STRING_BYTES = 1024;
export const MAX_ZONES_PER_INTEREST = 1024;
const U16_MAX = 0xffff;
const U32_MAX = 0xffff_ffff;
/** Field updates in one FIELD_UPDATES message at most. */
export const MAX_UPDATES_PER_FIELD_UPDATES = 0xffff;
const VAR_SCALE = 0x80;
const VAR_MAX_BYTES = 5;

/** Signed to unsigned, small magnitudes small: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ... */
function zigzag(value: number): number {
  return value >= 0 ? value * 2 : -value * 2 - 1;
}

function unzigzag(value: number): number {
  return value % 2 === 0 ? value / 2 : -(value + 1) / 2;
}

/** Bytes of a FIELD_UPDATES or STATE_UPDATES message before its updates, at most (type, tick, count). */
export const FIELD_UPDATES_HEADER_BYTES = 1 + VAR_MAX_BYTES + 3;

function varuintBytes(value: number): number {
  let bytes = 1;
  while (value >= VAR_SCALE) {
    value = Math.floor(value / VAR_SCALE);
    bytes++;
  }
  return bytes;
}

/** Bytes one update takes in a FIELD_UPDATES message, after an update for `previousDoId` (0 first). */
export function fieldUpdateBytes(
  previousDoId: number,
  doId: number,
  key: number,
  valueBytes: number,
): number {
  return varuintBytes(zigzag(doId - previousDoId)) + varuintBytes(key) + valueBytes;
}

/** The dclass with this id in `dc`; a RangeError naming the id otherwise. */
function dclassOf(dc: DcFile, classId: number): DClass {
  const dclass = dc.typeById(classId);
  if (!(dclass instanceof DClass)) throw new RangeError(`class id ${classId} names no dclass`);
  return dclass;
}

/** An update's key on the wire: its field's, local to the object's class. */
export function updateKey(dc: DcFile, update: FieldUpdate): number {
  return fieldKey(dclassOf(dc, update.classId), update.fieldId, update.nested === true);
}

/**
 * What reading the agent's messages needs besides their bytes: the model, and the class of each object
 * in view (updates name their fields by keys local to it).
 */
export interface WireClasses {
  readonly dc: DcFile;
  classOf(doId: number): DClass | undefined;
}

export type ClientMessage =
  | {
      readonly type: typeof ClientMessageType.Hello;
      readonly version: string;
      readonly schemaHash: number;
      /** What the client understands beyond wire revision 0 (HELLO_FEATURE_PLUGINS); absent: nothing. */
      readonly features?: number;
      /** With HELLO_FEATURE_PLUGIN_MESSAGES: the optional plugins the client runs (names). */
      readonly optionalPlugins?: readonly string[];
    }
  | { readonly type: typeof ClientMessageType.Heartbeat }
  | { readonly type: typeof ClientMessageType.Disconnect }
  | { readonly type: typeof ClientMessageType.AssetJoin; readonly asset: string; readonly relayOnly: boolean }
  | { readonly type: typeof ClientMessageType.AssetLeave; readonly asset: string }
  | { readonly type: typeof ClientMessageType.AssetBanned; readonly asset: string; readonly peer: string }
  | {
      readonly type: typeof ClientMessageType.AddInterest;
      readonly interestId: number;
      readonly context: number;
      readonly parent: number;
      readonly zones: readonly number[];
    }
  | {
      readonly type: typeof ClientMessageType.RemoveInterest;
      readonly interestId: number;
      readonly context: number;
    }
  | {
      readonly type: typeof ClientMessageType.SetField;
      readonly doId: number;
      readonly fieldId: number;
      readonly value: Uint8Array;
    }
  | {
      readonly type: typeof ClientMessageType.FollowInterest;
      readonly interestId: number;
      readonly context: number;
      /** The object to follow: one the client owns, whose parent is the grid's. */
      readonly doId: number;
      readonly width: number;
      readonly height: number;
      /** 0: the object's zone only; 1: and the eight around it; ... */
      readonly radius: number;
    }
  | {
      readonly type: typeof ClientMessageType.Request;
      /** The client's number for the request: a retry of it (after a lost reply) keeps it. */
      readonly requestId: number;
      readonly doId: number;
      /** The method's global field id. */
      readonly fieldId: number;
      /** The arguments, packed by the dclass. */
      readonly value: Uint8Array;
    }
  | {
      readonly type: typeof ClientMessageType.PluginMessage;
      readonly edge: PluginEdge;
      readonly plugin: string;
      readonly encoding: PluginEncoding;
      readonly data: Uint8Array;
    };

export interface PackedField {
  readonly fieldId: number;
  readonly value: Uint8Array;
}

export interface FieldUpdate {
  readonly doId: number;
  /** The object's class: the key naming the field on the wire is local to it. */
  readonly classId: number;
  readonly fieldId: number;
  /** The whole value packed by the dclass or, when `nested`, a nested change of it (field-delta.ts). */
  readonly value: Uint8Array;
  readonly nested?: boolean;
}

export type AgentMessage =
  | { readonly type: typeof AgentMessageType.HelloResp; readonly clusterTime: number }
  | { readonly type: typeof AgentMessageType.Eject; readonly code: number; readonly reason: string }
  | { readonly type: typeof AgentMessageType.SystemMessage; readonly text: string }
  | ({ readonly type: typeof AgentMessageType.AssetPeer } & AssetPeerGrant)
  | {
      readonly type: typeof AgentMessageType.AssetError;
      readonly asset: string;
      readonly code: string;
      readonly message: string;
    }
  | {
      readonly type: typeof AgentMessageType.Plugins;
      readonly push: number;
      readonly plugins: readonly RequiredPlugin[];
    }
  | { readonly type: typeof AgentMessageType.Clock; readonly serverTime: number; readonly errorBound: number }
  | {
      readonly type: typeof AgentMessageType.EnterObject | typeof AgentMessageType.EnterOwnedObject;
      readonly doId: number;
      readonly parent: number;
      readonly zone: number;
      readonly classId: number;
      /** The agent's tick the values are of: STATE_UPDATES of older ticks are stale. */
      readonly tick: number;
      readonly fields: readonly PackedField[];
    }
  | { readonly type: typeof AgentMessageType.LeaveObject; readonly doId: number }
  | {
      readonly type: typeof AgentMessageType.DoneInterest;
      readonly interestId: number;
      readonly context: number;
    }
  | { readonly type: typeof AgentMessageType.FieldUpdates; readonly updates: readonly FieldUpdate[] }
  | {
      readonly type: typeof AgentMessageType.StateUpdates;
      readonly tick: number;
      readonly updates: readonly FieldUpdate[];
    }
  | {
      readonly type: typeof AgentMessageType.ObjectLocation;
      readonly doId: number;
      readonly parent: number;
      readonly zone: number;
    }
  | {
      readonly type: typeof AgentMessageType.Reply;
      readonly requestId: number;
      /** The reply field's value packed by the dclass (empty for a method without a reply field). */
      readonly value: Uint8Array;
    }
  | {
      readonly type: typeof AgentMessageType.RequestError;
      readonly requestId: number;
      readonly code: string;
      readonly message: string;
    }
  | {
      readonly type: typeof AgentMessageType.PluginMessage;
      readonly from: PluginEdge;
      readonly plugin: string;
      readonly encoding: PluginEncoding;
      readonly data: Uint8Array;
    }
  | {
      readonly type: typeof AgentMessageType.PluginError;
      readonly edge: PluginEdge;
      readonly plugin: string;
      readonly code: string;
      readonly message: string;
    };

/** The agent message of one type (ENTER_OBJECT and ENTER_OWNED share a layout and a variant). */
export type AgentMessageOf<T extends AgentMessage["type"]> = AgentMessage extends infer M
  ? M extends { readonly type: infer U }
    ? T extends U
      ? M & { readonly type: T }
      : never
    : never
  : never;

// ---- field value sizes ---------------------------------------------------------------------------------

/**
 * Where a packed field value starting at `offset` ends: the end offset, "unknown_field" when no field has
 * that id, or "bad_value" when the bytes do not hold a value of the field (truncated or malformed). Must
 * not read past `bytes.length` and must not throw.
 */
export type FieldValueSizer = (
  fieldId: number,
  bytes: Uint8Array,
  offset: number,
) => number | FieldSizeFailure;
export type FieldSizeFailure = "unknown_field" | "bad_value" | "out_of_range";

// ---- decode results ------------------------------------------------------------------------------------

export type DecodeFailureCode =
  /** The message is empty or ends inside a member. */
  | "truncated"
  /** Bytes are left after the message. */
  | "trailing_bytes"
  /** The type byte names no message of this direction. */
  | "bad_type"
  /** A member breaks its rule (a string that is not UTF-8 or too long, too many zones). */
  | "bad_member"
  /** A field id no field has. */
  | "unknown_field"
  /** A field value the dclass cannot read. */
  | "bad_value"
  /** An update of an object whose class the reader does not know (it has not entered). */
  | "unknown_object"
  /** A field value outside its declared ranges or length limits. */
  | "out_of_range";

export type DecodeResult<T> =
  | { readonly ok: true; readonly message: T }
  | { readonly ok: false; readonly code: DecodeFailureCode; readonly detail: string };

/** The ejection a client agent sends for a client message that failed to decode. */
export const EJECT_FOR_DECODE_FAILURE: Readonly<Record<DecodeFailureCode, EjectCode>> = {
  truncated: EjectCode.TruncatedDatagram,
  trailing_bytes: EjectCode.OversizedDatagram,
  bad_type: EjectCode.InvalidMessageType,
  bad_member: EjectCode.TruncatedDatagram,
  unknown_field: EjectCode.ForbiddenField,
  bad_value: EjectCode.TruncatedDatagram,
  unknown_object: EjectCode.MissingObject,
  out_of_range: EjectCode.FieldConstraint,
};

class DecodeFailure {
  constructor(
    readonly code: DecodeFailureCode,
    readonly detail: string,
  ) {}
}

// ---- reading -------------------------------------------------------------------------------------------

const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const utf8Encoder = new TextEncoder();

/**
 * The protocol's one byte cursor (DatagramReader) with each read named: a member that is cut short or
 * malformed throws a DecodeFailure naming it, which the decoders turn into results.
 */
class Reader {
  private readonly cursor: DatagramReader;

  constructor(readonly bytes: Uint8Array) {
    this.cursor = new DatagramReader(bytes);
  }

  get position(): number {
    return this.cursor.position;
  }

  get remaining(): number {
    return this.cursor.remaining;
  }

  private need(count: number, what: string): void {
    if (this.cursor.remaining < count) {
      throw new DecodeFailure(
        "truncated",
        `${what} needs ${count} byte(s) at offset ${this.cursor.position}, only ${this.cursor.remaining} remain`,
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.cursor.readUint8();
  }

  u16(what: string): number {
    this.need(2, what);
    return this.cursor.readUint16();
  }

  u32(what: string): number {
    this.need(4, what);
    return this.cursor.readUint32();
  }

  /** An unsigned LEB128 integer of at most VAR_MAX_BYTES bytes (up to 2^35 - 1). */
  varuint(what: string): number {
    const at = this.cursor.position;
    const value = varuintOf(this.cursor);
    if (value === TRUNCATED_VARUINT)
      throw new DecodeFailure("truncated", `${what} at offset ${at} is cut off by the end of the message`);
    if (value === LONG_VARUINT) {
      throw new DecodeFailure(
        "bad_member",
        `${what} is a variable-length integer longer than ${VAR_MAX_BYTES} bytes`,
      );
    }
    return value;
  }

  f64(what: string): number {
    this.need(8, what);
    return this.cursor.readFloat64();
  }

  str(what: string): string {
    const length = this.u16(`${what} length`);
    if (length > MAX_STRING_BYTES) {
      throw new DecodeFailure("bad_member", `${what} is ${length} bytes, over ${MAX_STRING_BYTES}`);
    }
    this.need(length, what);
    const slice = this.cursor.readView(length);
    try {
      return utf8.decode(slice);
    } catch {
      throw new DecodeFailure("bad_member", `${what} is not valid UTF-8`);
    }
  }

  zones(what: string): number[] {
    const count = this.u16(`${what} count`);
    if (count > MAX_ZONES_PER_INTEREST) {
      throw new DecodeFailure("bad_member", `${what} lists ${count} zones, over ${MAX_ZONES_PER_INTEREST}`);
    }
    this.need(count * 4, what);
    const zones = new Array<number>(count);
    for (let i = 0; i < count; i++) zones[i] = this.cursor.readUint32();
    return zones;
  }

  /** A plugin's name: a string of at most MAX_PLUGIN_NAME_BYTES, not empty. */
  pluginName(what: string): string {
    const name = this.str(what);
    if (name.length === 0 || utf8Encoder.encode(name).length > MAX_PLUGIN_NAME_BYTES)
      throw new DecodeFailure("bad_member", `${what} must be 1 to ${MAX_PLUGIN_NAME_BYTES} bytes`);
    return name;
  }

  /** One byte that must be below `limit` (an enumeration). */
  choice<T extends number>(limit: number, what: string): T {
    const value = this.u8(what);
    if (value >= limit)
      throw new DecodeFailure("bad_member", `${what} ${value} is not one of 0..${limit - 1}`);
    return value as T;
  }

  /** 32 bytes, as 64 lower-case hex digits (a SHA-256). */
  hash(what: string): string {
    this.need(32, what);
    let hex = "";
    for (const byte of this.cursor.readView(32)) hex += byte.toString(16).padStart(2, "0");
    return hex;
  }

  /** `count` bytes (a copy). */
  fixed(count: number, what: string): Uint8Array {
    this.need(count, what);
    return this.cursor.readView(count).slice();
  }

  /** Moves past the rest of the message (read by someone else in place). */
  skipRest(): void {
    this.cursor.skip(this.cursor.remaining);
  }

  /** The rest of the message, as a view (no copy). */
  rest(): Uint8Array {
    return this.cursor.readView(this.cursor.remaining);
  }

  /** A field value whose end the dclass knows; the bytes are a view (no copy). */
  value(fieldId: number, sizer: FieldValueSizer): Uint8Array {
    let end: number | FieldSizeFailure;
    try {
      end = sizer(fieldId, this.bytes, this.position);
    } catch {
      end = "bad_value";
    }
    return this.valueTo(end, fieldId);
  }

  private valueTo(end: number | FieldSizeFailure, fieldId: number): Uint8Array {
    if (end === "unknown_field") throw new DecodeFailure("unknown_field", `no field has id ${fieldId}`);
    if (end === "out_of_range") {
      throw new DecodeFailure("out_of_range", `the value of field ${fieldId} is outside its declared limits`);
    }
    if (end === "bad_value" || !Number.isInteger(end) || end < this.position || end > this.bytes.length) {
      throw new DecodeFailure(
        "bad_value",
        `the value of field ${fieldId} at offset ${this.position} is malformed`,
      );
    }
    return this.cursor.readView(end - this.position);
  }

  /** The whole values of fields of `dclass`, named by their keys. */
  fields(dclass: DClass): PackedField[] {
    const count = this.u16("field count");
    // each field takes at least its key: a count beyond that is a lie, refused before any work
    this.need(count, "fields");
    const fields: PackedField[] = [];
    for (let i = 0; i < count; i++) {
      const key = this.varuint("field key");
      const field = fieldAtKey(dclass, key);
      if (field === undefined || isNestedKey(key))
        throw new DecodeFailure("unknown_field", `class ${dclass.name} has no whole field at key ${key}`);
      const end = fieldValueEnd(field, false, this.bytes, this.position);
      fields.push({ fieldId: field.id, value: this.valueTo(end, field.id) });
    }
    return fields;
  }

  end(): void {
    if (this.remaining > 0) {
      throw new DecodeFailure("trailing_bytes", `${this.remaining} byte(s) left after the message`);
    }
  }
}

function decodeWith<T>(bytes: Uint8Array, read: (reader: Reader) => T): DecodeResult<T> {
  if (!(bytes instanceof Uint8Array)) return { ok: false, code: "truncated", detail: "not a byte array" };
  const reader = new Reader(bytes);
  try {
    const message = read(reader);
    reader.end();
    return { ok: true, message };
  } catch (error) {
    if (error instanceof DecodeFailure) return { ok: false, code: error.code, detail: error.detail };
    // Reader only throws DecodeFailure; anything else is a bug, reported as a malformed message.
    return {
      ok: false,
      code: "bad_member",
      detail: `unexpected: ${(error as Error)?.message ?? String(error)}`,
    };
  }
}

/** Decodes one client-to-agent message. Never throws. */
export function decodeClientMessage(bytes: Uint8Array, sizer: FieldValueSizer): DecodeResult<ClientMessage> {
  return decodeWith(bytes, (reader): ClientMessage => {
    const type = reader.u8("message type");
    switch (type) {
      case ClientMessageType.Hello: {
        const version = reader.str("version");
        const schemaHash = reader.u32("schema hash");
        if (reader.remaining === 0) return { type, version, schemaHash };
        const features = reader.u32("features");
        if ((features & HELLO_FEATURE_PLUGIN_MESSAGES) === 0) return { type, version, schemaHash, features };
        const count = reader.u16("optional plugin count");
        if (count > MAX_PLUGINS)
          throw new DecodeFailure("bad_member", `${count} optional plugins, over ${MAX_PLUGINS}`);
        const optionalPlugins: string[] = [];
        for (let i = 0; i < count; i++) optionalPlugins.push(reader.pluginName("optional plugin"));
        return { type, version, schemaHash, features, optionalPlugins };
      }
      case ClientMessageType.PluginMessage:
        return {
          type,
          edge: reader.choice<PluginEdge>(2, "plugin edge"),
          plugin: reader.pluginName("plugin name"),
          encoding: reader.choice<PluginEncoding>(2, "plugin data encoding"),
          data: reader.rest(),
        };
      case ClientMessageType.Heartbeat:
      case ClientMessageType.Disconnect:
        return { type };
      case ClientMessageType.AssetJoin: {
        const asset = reader.hash("asset id");
        const flags = reader.u8("asset join flags");
        if ((flags & ~ASSET_JOIN_RELAY_ONLY) !== 0)
          throw new DecodeFailure("bad_member", `asset join flags ${flags} set unknown bits`);
        return { type, asset, relayOnly: (flags & ASSET_JOIN_RELAY_ONLY) !== 0 };
      }
      case ClientMessageType.AssetLeave:
        return { type, asset: reader.hash("asset id") };
      case ClientMessageType.AssetBanned:
        return { type, asset: reader.hash("asset id"), peer: reader.str("peer") };
      case ClientMessageType.AddInterest:
        return {
          type,
          interestId: reader.u16("interest id"),
          context: reader.u32("context"),
          parent: reader.u32("parent"),
          zones: reader.zones("zones"),
        };
      case ClientMessageType.RemoveInterest:
        return { type, interestId: reader.u16("interest id"), context: reader.u32("context") };
      case ClientMessageType.SetField: {
        const doId = reader.u32("doId");
        const fieldId = reader.u16("field id");
        return { type, doId, fieldId, value: reader.value(fieldId, sizer) };
      }
      case ClientMessageType.FollowInterest:
        return {
          type,
          interestId: reader.u16("interest id"),
          context: reader.u32("context"),
          doId: reader.u32("doId"),
          width: reader.u16("grid width"),
          height: reader.u16("grid height"),
          radius: reader.u8("radius"),
        };
      case ClientMessageType.Request: {
        const requestId = reader.u32("request id");
        const doId = reader.u32("doId");
        const fieldId = reader.u16("field id");
        return { type, requestId, doId, fieldId, value: reader.value(fieldId, sizer) };
      }
      default:
        throw new DecodeFailure("bad_type", `${type} is not a client message type`);
    }
  });
}

/**
 * Decodes one agent-to-client message. Never throws. An update of an object `classes` does not know is a
 * failure (`unknown_object`): read updates with `readFieldUpdates` to keep the rest for later.
 */
export function decodeAgentMessage(bytes: Uint8Array, classes: WireClasses): DecodeResult<AgentMessage> {
  return decodeWith(bytes, (reader): AgentMessage => {
    const type = reader.u8("message type");
    switch (type) {
      case AgentMessageType.HelloResp:
        return { type, clusterTime: reader.f64("cluster time") };
      case AgentMessageType.Eject:
        return { type, code: reader.u16("code"), reason: reader.str("reason") };
      case AgentMessageType.SystemMessage:
        return { type, text: reader.str("text") };
      case AgentMessageType.Plugins: {
        const push = reader.u32("push");
        const count = reader.u16("plugin count");
        if (count > MAX_PLUGINS)
          throw new DecodeFailure("bad_member", `${count} plugins, over ${MAX_PLUGINS}`);
        const plugins: RequiredPlugin[] = [];
        for (let i = 0; i < count; i++) {
          plugins.push({
            name: reader.str("plugin name"),
            version: reader.str("plugin version"),
            id: reader.hash("package id"),
          });
        }
        return { type, push, plugins };
      }
      case AgentMessageType.Clock:
        return { type, serverTime: reader.f64("server time"), errorBound: reader.f64("error bound") };
      case AgentMessageType.EnterObject:
      case AgentMessageType.EnterOwnedObject: {
        const doId = reader.u32("doId");
        const parent = reader.u32("parent");
        const zone = reader.u32("zone");
        const classId = reader.u16("class id");
        const dclass = classes.dc.typeById(classId);
        if (!(dclass instanceof DClass))
          throw new DecodeFailure("bad_member", `class id ${classId} is no dclass`);
        const tick = reader.varuint("tick");
        return { type, doId, parent, zone, classId, tick, fields: reader.fields(dclass) };
      }
      case AgentMessageType.LeaveObject:
        return { type, doId: reader.u32("doId") };
      case AgentMessageType.ObjectLocation:
        return { type, doId: reader.u32("doId"), parent: reader.u32("parent"), zone: reader.u32("zone") };
      case AgentMessageType.DoneInterest:
        return { type, interestId: reader.u16("interest id"), context: reader.u32("context") };
      case AgentMessageType.Reply:
        return { type, requestId: reader.u32("request id"), value: reader.rest() };
      case AgentMessageType.RequestError:
        return {
          type,
          requestId: reader.u32("request id"),
          code: reader.str("code"),
          message: reader.str("message"),
        };
      case AgentMessageType.PluginMessage:
        return {
          type,
          from: reader.choice<PluginEdge>(2, "plugin edge"),
          plugin: reader.pluginName("plugin name"),
          encoding: reader.choice<PluginEncoding>(2, "plugin data encoding"),
          data: reader.rest(),
        };
      case AgentMessageType.PluginError:
        return {
          type,
          edge: reader.choice<PluginEdge>(2, "plugin edge"),
          plugin: reader.pluginName("plugin name"),
          code: reader.str("code"),
          message: reader.str("message"),
        };
      case AgentMessageType.AssetPeer: {
        const asset = reader.hash("asset id");
        const pair = reader.fixed(ASSET_PAIR_BYTES, "pair");
        const peer = reader.str("peer");
        const side = reader.choice<0 | 1>(2, "side");
        const key = reader.fixed(ASSET_KEY_BYTES, "key");
        const expiresAt = reader.f64("expiry");
        const flags = reader.u8("asset peer flags");
        if ((flags & ~3) !== 0)
          throw new DecodeFailure("bad_member", `asset peer flags ${flags} set unknown bits`);
        const grant = { type, asset, pair, peer, side, key, expiresAt, server: (flags & 1) !== 0 };
        if ((flags & 2) === 0) return grant;
        return { ...grant, address: { host: reader.str("host"), port: reader.u16("port") } };
      }
      case AgentMessageType.AssetError:
        return {
          type,
          asset: reader.hash("asset id"),
          code: reader.str("code"),
          message: reader.str("message"),
        };
      case AgentMessageType.FieldUpdates:
      case AgentMessageType.StateUpdates: {
        const updates: FieldUpdate[] = [];
        const read = readFieldUpdates(reader.bytes, classes, (doId, field, nested, bytes, start, end) => {
          const classId = classes.classOf(doId)!.id;
          const value = bytes.subarray(start, end);
          updates.push(
            nested
              ? { doId, classId, fieldId: field.id, value, nested }
              : { doId, classId, fieldId: field.id, value },
          );
        });
        if (!read.ok) throw new DecodeFailure(read.code, read.detail);
        reader.skipRest();
        if (type === AgentMessageType.FieldUpdates) return { type, updates };
        return { type, tick: read.message, updates };
      }
      default:
        throw new DecodeFailure("bad_type", `${type} is not an agent message type`);
    }
  });
}

/** The tick of a FIELD_UPDATES message's updates: none (they are events, or go in order anyway). */
export const NO_TICK = -1;

/**
 * Called for each update of a FIELD_UPDATES or STATE_UPDATES message: the field (of the object's class),
 * whether the body is a nested change, and the body `bytes[start, end)`, checked by the dclass; `tick` is
 * the STATE_UPDATES message's tick, or NO_TICK.
 */
export type FieldUpdateVisitor = (
  doId: number,
  field: Field,
  nested: boolean,
  bytes: Uint8Array,
  start: number,
  end: number,
  tick: number,
) => void;

/**
 * The rest of an update message whose reading stopped at an update of an object the reader did not know
 * (its entry, sent reliably, may come after state sent unreliably): read it with `readUnreadUpdates`
 * once that object has entered.
 */
export interface UnreadUpdates {
  /** The object whose class is needed to read on. */
  readonly doId: number;
  /** The message's tick (NO_TICK for FIELD_UPDATES). */
  readonly tick: number;
  /** The updates left, that object's first: a copy. */
  readonly bytes: Uint8Array;
  readonly count: number;
  /** The doId the first update's difference is from. */
  readonly previousDoId: number;
}

/** How reading updates ended: the message's tick, or the first problem (and, for an unknown object, the rest). */
export type FieldUpdatesResult =
  | { readonly ok: true; readonly message: number }
  | {
      readonly ok: false;
      readonly code: DecodeFailureCode;
      readonly detail: string;
      readonly unread?: UnreadUpdates;
    };

/**
 * Reads a whole FIELD_UPDATES or STATE_UPDATES message (type byte included) in place, calling `visit` for
 * each update in order: the hot path of a client, which hears every update of everything it sees. The
 * same checks as `decodeAgentMessage`; `ok: false` names the first problem (updates visited before it
 * were well formed); `ok: true` carries the message's tick (NO_TICK for FIELD_UPDATES).
 */
export function readFieldUpdates(
  bytes: Uint8Array,
  classes: WireClasses,
  visit: FieldUpdateVisitor,
): FieldUpdatesResult {
  const length = bytes.length;
  const state = length > 0 && bytes[0] === AgentMessageType.StateUpdates;
  if (length === 0 || (bytes[0] !== AgentMessageType.FieldUpdates && !state)) {
    return { ok: false, code: "bad_type", detail: "neither a FIELD_UPDATES nor a STATE_UPDATES message" };
  }
  const cursor = new DatagramReader(bytes, 1);
  const tick = state ? varuintOf(cursor) : NO_TICK;
  if (state && tick < 0) return failure(varuintFailure(tick), "the tick is malformed");
  const count = varuintOf(cursor);
  if (count < 0) return failure(varuintFailure(count), "the update count is malformed");
  if (count > MAX_UPDATES_PER_FIELD_UPDATES) {
    return failure("bad_member", `${count} updates, over ${MAX_UPDATES_PER_FIELD_UPDATES}`);
  }
  return readUpdates(cursor, count, 0, tick, classes, visit);
}

/** Reads on what `readFieldUpdates` left unread, now that its object's class is known. */
export function readUnreadUpdates(
  unread: UnreadUpdates,
  classes: WireClasses,
  visit: FieldUpdateVisitor,
): FieldUpdatesResult {
  const cursor = new DatagramReader(unread.bytes);
  return readUpdates(cursor, unread.count, unread.previousDoId, unread.tick, classes, visit);
}

function failure(code: DecodeFailureCode, detail: string): FieldUpdatesResult {
  return { ok: false, code, detail };
}

/** What `varuintOf` returns for a varuint cut off by the end of the bytes, and for one too long. */
const TRUNCATED_VARUINT = -1;
const LONG_VARUINT = -2;

/** The next varuint of at most VAR_MAX_BYTES bytes, or TRUNCATED_VARUINT / LONG_VARUINT. */
function varuintOf(cursor: DatagramReader): number {
  try {
    return cursor.readVarUint(VAR_MAX_BYTES);
  } catch (error) {
    if (error instanceof DcPackError && error.code === "out_of_range") return LONG_VARUINT;
    return TRUNCATED_VARUINT;
  }
}

function varuintFailure(value: number): DecodeFailureCode {
  return value === TRUNCATED_VARUINT ? "truncated" : "bad_member";
}

function readUpdates(
  cursor: DatagramReader,
  count: number,
  previousDoId: number,
  tick: number,
  classes: WireClasses,
  visit: FieldUpdateVisitor,
): FieldUpdatesResult {
  const bytes = cursor.bytes;
  const length = cursor.end;
  let doId = previousDoId;
  for (let i = 0; i < count; i++) {
    const updateStart = cursor.position;
    const difference = varuintOf(cursor);
    if (difference < 0) return failure(varuintFailure(difference), `update ${i}: the doId is malformed`);
    const previous = doId;
    doId += unzigzag(difference);
    if (doId < 0 || doId > U32_MAX) return failure("bad_member", `doId ${doId} is not a uint32`);
    const dclass = classes.classOf(doId);
    if (dclass === undefined) {
      const unread = {
        doId,
        tick,
        bytes: bytes.slice(updateStart),
        count: count - i,
        previousDoId: previous,
      };
      return { ok: false, code: "unknown_object", detail: `object ${doId} has not entered`, unread };
    }
    const key = varuintOf(cursor);
    if (key < 0) return failure(varuintFailure(key), `update ${i}: the key is malformed`);
    const field = fieldAtKey(dclass, key);
    if (field === undefined)
      return failure("unknown_field", `class ${dclass.name} has no field at key ${key}`);
    const nested = isNestedKey(key);
    if (nested && tick !== NO_TICK) return failure("bad_member", "a nested change in STATE_UPDATES");
    const at = cursor.position;
    const end = fieldValueEnd(field, nested, bytes, at);
    if (end === "out_of_range")
      return failure(
        "out_of_range",
        `the value of ${dclass.name}.${field.name} is outside its declared limits`,
      );
    if (typeof end !== "number" || end > length) {
      return failure("bad_value", `the value of ${dclass.name}.${field.name} at offset ${at} is malformed`);
    }
    visit(doId, field, nested, bytes, at, end, tick);
    cursor.skip(end - at);
  }
  if (cursor.remaining > 0)
    return failure("trailing_bytes", `${cursor.remaining} byte(s) left after the message`);
  return { ok: true, message: tick };
}

// ---- writing -------------------------------------------------------------------------------------------

/** A little-endian writer over the packer's DatagramWriter. Members are checked; a bad one is a RangeError naming it. */
class Writer {
  private readonly out = new DatagramWriter(64);

  u8(value: number, what: string): this {
    checkUint(value, 0xff, what);
    this.out.writeUint8(value);
    return this;
  }

  u16(value: number, what: string): this {
    checkUint(value, U16_MAX, what);
    this.out.writeUint16(value);
    return this;
  }

  u32(value: number, what: string): this {
    checkUint(value, U32_MAX, what);
    this.out.writeUint32(value);
    return this;
  }

  varuint(value: number, what: string): this {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
    this.out.writeVarUint(value);
    return this;
  }

  f64(value: number, what: string): this {
    if (typeof value !== "number" || Number.isNaN(value))
      throw new RangeError(`${what} must be a number, got ${value}`);
    this.out.writeFloat64(value);
    return this;
  }

  raw(bytes: Uint8Array, what: string): this {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`${what} must be a Uint8Array`);
    this.out.writeBytes(bytes);
    return this;
  }

  str(text: string, what: string): this {
    const encoded = utf8Encoder.encode(text);
    if (encoded.length > MAX_STRING_BYTES) {
      throw new RangeError(`${what} is ${encoded.length} bytes of UTF-8, over ${MAX_STRING_BYTES}`);
    }
    return this.u16(encoded.length, `${what} length`).raw(encoded, what);
  }

  pluginName(name: string, what: string): this {
    const bytes = utf8Encoder.encode(name).length;
    if (bytes === 0 || bytes > MAX_PLUGIN_NAME_BYTES)
      throw new RangeError(`${what} ${JSON.stringify(name)} must be 1 to ${MAX_PLUGIN_NAME_BYTES} bytes`);
    return this.str(name, what);
  }

  /** 64 hex digits as their 32 bytes. */
  hash(hex: string, what: string): this {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`${what} ${hex} is not 64 lower-case hex digits`);
    return this.raw(
      Uint8Array.from({ length: 32 }, (_, i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)),
      what,
    );
  }

  fixed(bytes: Uint8Array, count: number, what: string): this {
    if (bytes.length !== count) throw new RangeError(`${what} must be ${count} bytes, got ${bytes.length}`);
    return this.raw(bytes, what);
  }

  zones(zones: readonly number[], what: string): this {
    if (zones.length > MAX_ZONES_PER_INTEREST) {
      throw new RangeError(`${what} lists ${zones.length} zones, over ${MAX_ZONES_PER_INTEREST}`);
    }
    this.u16(zones.length, `${what} count`);
    for (const zone of zones) this.u32(zone, "zone");
    return this;
  }

  finish(): Uint8Array {
    return this.out.toBytes();
  }
}

function checkUint(value: number, max: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer in [0, ${max}], got ${value}`);
  }
}

/** Encodes one client-to-agent message. Throws a RangeError naming a member out of its range. */
export function encodeClientMessage(message: ClientMessage): Uint8Array {
  const writer = new Writer().u8(message.type, "message type");
  switch (message.type) {
    case ClientMessageType.Hello:
      writer.str(message.version, "version").u32(message.schemaHash, "schema hash");
      if (message.features !== undefined) writer.u32(message.features, "features");
      if (message.features !== undefined && (message.features & HELLO_FEATURE_PLUGIN_MESSAGES) !== 0) {
        const optional = message.optionalPlugins ?? [];
        if (optional.length > MAX_PLUGINS)
          throw new RangeError(`${optional.length} optional plugins, over ${MAX_PLUGINS}`);
        writer.u16(optional.length, "optional plugin count");
        for (const name of optional) writer.pluginName(name, "optional plugin");
      }
      return writer.finish();
    case ClientMessageType.PluginMessage:
      return writer
        .u8(message.edge, "plugin edge")
        .pluginName(message.plugin, "plugin name")
        .u8(message.encoding, "plugin data encoding")
        .raw(message.data, "plugin data")
        .finish();
    case ClientMessageType.Heartbeat:
    case ClientMessageType.Disconnect:
      return writer.finish();
    case ClientMessageType.AssetJoin:
      return writer
        .hash(message.asset, "asset id")
        .u8(message.relayOnly ? ASSET_JOIN_RELAY_ONLY : 0, "asset join flags")
        .finish();
    case ClientMessageType.AssetLeave:
      return writer.hash(message.asset, "asset id").finish();
    case ClientMessageType.AssetBanned:
      return writer.hash(message.asset, "asset id").str(message.peer, "peer").finish();
    case ClientMessageType.AddInterest:
      return writer
        .u16(message.interestId, "interest id")
        .u32(message.context, "context")
        .u32(message.parent, "parent")
        .zones(message.zones, "zones")
        .finish();
    case ClientMessageType.RemoveInterest:
      return writer.u16(message.interestId, "interest id").u32(message.context, "context").finish();
    case ClientMessageType.SetField:
      return writer
        .u32(message.doId, "doId")
        .u16(message.fieldId, "field id")
        .raw(message.value, "value")
        .finish();
    case ClientMessageType.FollowInterest:
      return writer
        .u16(message.interestId, "interest id")
        .u32(message.context, "context")
        .u32(message.doId, "doId")
        .u16(message.width, "grid width")
        .u16(message.height, "grid height")
        .u8(message.radius, "radius")
        .finish();
    case ClientMessageType.Request:
      return writer
        .u32(message.requestId, "request id")
        .u32(message.doId, "doId")
        .u16(message.fieldId, "field id")
        .raw(message.value, "value")
        .finish();
  }
}

/**
 * Encodes one agent-to-client message, naming fields by their keys in `dc`. Throws a RangeError naming a
 * member out of its range.
 */
export function encodeAgentMessage(message: AgentMessage, dc: DcFile): Uint8Array {
  const writer = new Writer().u8(message.type, "message type");
  switch (message.type) {
    case AgentMessageType.HelloResp:
      return writer.f64(message.clusterTime, "cluster time").finish();
    case AgentMessageType.Eject:
      return writer.u16(message.code, "code").str(message.reason, "reason").finish();
    case AgentMessageType.SystemMessage:
      return writer.str(message.text, "text").finish();
    case AgentMessageType.Plugins: {
      if (message.plugins.length > MAX_PLUGINS)
        throw new RangeError(`${message.plugins.length} plugins, over ${MAX_PLUGINS}`);
      writer.u32(message.push, "push").u16(message.plugins.length, "plugin count");
      for (const plugin of message.plugins) {
        if (!/^[0-9a-f]{64}$/.test(plugin.id))
          throw new RangeError(`package id ${plugin.id} is not 64 hex digits`);
        writer.str(plugin.name, "plugin name").str(plugin.version, "plugin version");
        writer.raw(
          Uint8Array.from({ length: 32 }, (_, i) => Number.parseInt(plugin.id.slice(i * 2, i * 2 + 2), 16)),
          "package id",
        );
      }
      return writer.finish();
    }
    case AgentMessageType.Clock:
      return writer.f64(message.serverTime, "server time").f64(message.errorBound, "error bound").finish();
    case AgentMessageType.EnterObject:
    case AgentMessageType.EnterOwnedObject: {
      checkUint(message.tick, U32_MAX, "tick");
      writer
        .u32(message.doId, "doId")
        .u32(message.parent, "parent")
        .u32(message.zone, "zone")
        .u16(message.classId, "class id")
        .varuint(message.tick, "tick")
        .u16(message.fields.length, "field count");
      const dclass = dclassOf(dc, message.classId);
      for (const field of message.fields)
        writer.varuint(fieldKey(dclass, field.fieldId), "field key").raw(field.value, "value");
      return writer.finish();
    }
    case AgentMessageType.LeaveObject:
      return writer.u32(message.doId, "doId").finish();
    case AgentMessageType.ObjectLocation:
      return writer
        .u32(message.doId, "doId")
        .u32(message.parent, "parent")
        .u32(message.zone, "zone")
        .finish();
    case AgentMessageType.DoneInterest:
      return writer.u16(message.interestId, "interest id").u32(message.context, "context").finish();
    case AgentMessageType.Reply:
      return writer.u32(message.requestId, "request id").raw(message.value, "value").finish();
    case AgentMessageType.RequestError:
      return writer
        .u32(message.requestId, "request id")
        .str(message.code, "code")
        .str(message.message, "message")
        .finish();
    case AgentMessageType.PluginMessage:
      return writer
        .u8(message.from, "plugin edge")
        .pluginName(message.plugin, "plugin name")
        .u8(message.encoding, "plugin data encoding")
        .raw(message.data, "plugin data")
        .finish();
    case AgentMessageType.PluginError:
      return writer
        .u8(message.edge, "plugin edge")
        .pluginName(message.plugin, "plugin name")
        .str(message.code, "code")
        .str(message.message, "message")
        .finish();
    case AgentMessageType.AssetPeer: {
      writer
        .hash(message.asset, "asset id")
        .fixed(message.pair, ASSET_PAIR_BYTES, "pair")
        .str(message.peer, "peer")
        .u8(message.side, "side")
        .fixed(message.key, ASSET_KEY_BYTES, "key")
        .f64(message.expiresAt, "expiry")
        .u8((message.server ? 1 : 0) | (message.address !== undefined ? 2 : 0), "asset peer flags");
      if (message.address !== undefined)
        writer.str(message.address.host, "host").u16(message.address.port, "port");
      return writer.finish();
    }
    case AgentMessageType.AssetError:
      return writer
        .hash(message.asset, "asset id")
        .str(message.code, "code")
        .str(message.message, "message")
        .finish();
    case AgentMessageType.FieldUpdates:
    case AgentMessageType.StateUpdates: {
      if (message.updates.length > MAX_UPDATES_PER_FIELD_UPDATES) {
        throw new RangeError(`${message.updates.length} updates, over ${MAX_UPDATES_PER_FIELD_UPDATES}`);
      }
      if (message.type === AgentMessageType.StateUpdates) {
        checkUint(message.tick, U32_MAX, "tick");
        writer.varuint(message.tick, "tick");
      }
      writer.varuint(message.updates.length, "update count");
      let previous = 0;
      for (const update of message.updates) {
        checkUint(update.doId, U32_MAX, "doId");
        if (update.nested === true && message.type === AgentMessageType.StateUpdates)
          throw new RangeError(`a nested change of field ${update.fieldId} cannot go in STATE_UPDATES`);
        writer.varuint(zigzag(update.doId - previous), "doId difference");
        writer.varuint(updateKey(dc, update), "field key").raw(update.value, "value");
        previous = update.doId;
      }
      return writer.finish();
    }
  }
}

/**
 * The internal message catalogue: every message services exchange over NATS, as zod schemas (the
 * TypeScript types are inferred from them). Messages travel as msgpackr envelopes (`encodeEnvelope`), but
 * for the hot path's batches of updates, which travel as binary frames (update-batch-frame.ts); field
 * values inside them travel as bytes packed by the dclass, never as msgpack values, so that they are
 * validated once, by the packer, and cost what the dclass says.
 *
 * A request never names its sender in its body: the sender's role and channel are the last two tokens of
 * its subject (`<root>.<service>.<operation>.<role>.<channel>`), which NATS lets only that sender publish
 * on (see catalogue.ts). Deliveries the state server publishes name the channel that caused them
 * (`sender`), as Astron's do; only the state server may publish them.
 *
 * Requests are answered with a `Reply`: `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`,
 * where the message names the thing that is wrong (the class, the field, the object).
 */
import { z } from "zod";
import { ROLES } from "./roles.ts";
import { decodeUpdateBatchFrame, encodeUpdateBatchFrame, isUpdateBatchFrame } from "./update-batch-frame.ts";

const id = z.number().int().positive().max(0xffff_ffff);
const zone = z.number().int().nonnegative().max(0xffff_ffff);
/** Any Uint8Array (a Node Buffer too, whatever its backing buffer). */
const bytes = z.custom<Uint8Array>((value) => value instanceof Uint8Array, "expected bytes (a Uint8Array)");
/** A field update: the global field id and the value packed by the dclass. */
const fieldValue = z.tuple([z.number().int().nonnegative().max(0xffff), bytes]);
/** In a delivery: the channel whose request caused it. */
const sender = id;
const fieldId = z.number().int().nonnegative().max(0xffff);
const channelOrNone = id.or(z.literal(0));
/**
 * In a request: the channel the sender acts for, when not its own. A client agent acts for the client
 * channels the director gave it, a zone-AI replica for the zones it runs; the state server refuses any
 * other (`forbidden`).
 */
const actingFor = { as: id.optional() };

// ---- replies ------------------------------------------------------------------------------------

export const ERROR_CODES = [
  "malformed",
  "unknown_class",
  "unknown_field",
  "bad_value",
  "unknown_object",
  "exists",
  "forbidden",
  "mismatch",
  "not_found",
  "unavailable",
  "internal",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export const errorReply = z.object({
  ok: z.literal(false),
  error: z.object({ code: z.enum(ERROR_CODES), message: z.string() }),
});
export type ErrorReply = z.infer<typeof errorReply>;

/**
 * An operation of a service: the request it takes and the reply it answers with (`{ ok: true, ... }`;
 * a refusal is an ErrorReply). Servers are built from these, and callers typed by them: a caller never
 * writes a subject or casts a reply.
 */
export interface Operation<Request extends z.ZodType = z.ZodType, Reply extends z.ZodType = z.ZodType> {
  readonly request: Request;
  readonly reply: Reply;
  /**
   * A binary form of the request, for an operation on the hot path: callers through the typed client send
   * it, servers read it (checked as it is read, instead of by the schema) and still take the envelope.
   */
  readonly frame?: RequestFrame<z.infer<Request>>;
}

/** A request's binary form: `is` tells it from an envelope by its first byte; `decode` throws naming what is wrong. */
export interface RequestFrame<T> {
  is(bytes: Uint8Array): boolean;
  encode(body: T): Uint8Array;
  decode(bytes: Uint8Array): T;
}

function operation<Request extends z.ZodType, Reply extends z.ZodType>(
  request: Request,
  reply: Reply,
  frame?: RequestFrame<z.infer<Request>>,
): Operation<Request, Reply> {
  return frame === undefined ? { request, reply } : { request, reply, frame };
}

/** The reply of an operation that answers nothing but success. */
export const okReply = z.object({ ok: z.literal(true) });

export function fail(code: ErrorCode, message: string): ErrorReply {
  return { ok: false, error: { code, message } };
}

/** An error a handler throws to answer a request with a clear reason; anything else is `internal`. */
export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

// ---- message director ---------------------------------------------------------------------------

export { ROLES } from "./roles.ts";

/**
 * A join (`<root>.md.join.<role>`, the role from the subject): the instance's identity is an Ed25519
 * key pair (a NATS user nkey) it made at start. `signature` signs `joinProof(...)` with it, so only the
 * holder of the key can join under it; `at` (ms since the epoch) bounds how long a proof is good for.
 */
export const joinRequest = z.object({
  instanceId: z.string().min(1).max(128),
  version: z.string().min(1).max(64),
  schemaHash: z.number().int().nonnegative().max(0xffff_ffff),
  /** The instance's public user nkey (`U...`). */
  key: z.string().regex(/^U[A-Z2-7]{55}$/, "must be a NATS user public key (U and 55 base32 characters)"),
  at: z.number().int().nonnegative(),
  signature: bytes.refine((value) => value.length === 64, {
    message: "must be an Ed25519 signature (64 bytes)",
  }),
});
export type JoinRequest = z.infer<typeof joinRequest>;

/** The bytes a join's signature covers: every member of the request, and the role from its subject. */
export function joinProof(role: string, request: Omit<JoinRequest, "signature">): Uint8Array {
  const { instanceId, version, schemaHash, key, at } = request;
  return new TextEncoder().encode(
    ["overworld-join", role, instanceId, version, schemaHash, key, at].join("\n"),
  );
}

export const joinReply = z.object({
  ok: z.literal(true),
  /** The participant's own channel, for its heartbeats, goodbye and post-removes. */
  channel: id,
  heartbeatMs: z.number().int().positive(),
  /** A participant silent for this long is declared dead. */
  deadAfterMs: z.number().int().positive(),
  /**
   * The participant's NATS credentials (a user JWT for its key, signed with the account signing key):
   * they let it publish only as its role and channel.
   */
  jwt: z.string(),
});
export type JoinReply = z.infer<typeof joinReply>;

export const heartbeat = z.object({});
export const goodbye = z.object({});

/** A subject a message can be published to: dot-separated tokens, no wildcards, no whitespace. */
const publishSubject = z
  .string()
  .min(1)
  .max(256)
  .regex(/^[^\s.*>]+(\.[^\s.*>]+)*$/, "must be a NATS subject to publish to (tokens, no wildcards)");
/** The largest payload of one post-remove message (NATS's default max_payload is 1 MiB). */
export const MAX_POST_REMOVE_BYTES = 64 * 1024;

/** A message to publish if the participant dies without saying goodbye. */
export const postRemove = z.object({
  subject: publishSubject,
  payload: bytes.refine((value) => value.length <= MAX_POST_REMOVE_BYTES, {
    message: `must be at most ${MAX_POST_REMOVE_BYTES} bytes`,
  }),
});
export type PostRemove = z.infer<typeof postRemove>;
/** Each must be a message its participant may publish itself; the director refuses any other. */
export const addPostRemoves = z.object({ messages: z.array(postRemove).min(1).max(1024) });
/** How many post-remove messages the participant has registered now. */
export const addPostRemovesReply = z.object({ ok: z.literal(true), count: z.number().int().nonnegative() });
export const clearPostRemoves = z.object({});

export const ID_KINDS = ["doId", "channel"] as const;
export const allocateIds = z.object({
  kind: z.enum(ID_KINDS),
  count: z.number().int().positive().max(1_000_000),
});
export const allocateIdsReply = z.object({
  ok: z.literal(true),
  first: id,
  count: z.number().int().positive(),
});
export type AllocateIdsReply = z.infer<typeof allocateIdsReply>;

/** Lists the live participants of one role (e.g. the zone-AI replicas, to spread zones over them). */
export const members = z.object({ role: z.enum(ROLES) });
export const member = z.object({
  channel: id,
  role: z.enum(ROLES),
  instanceId: z.string(),
  /** When it joined (ms since the epoch). */
  joinedAt: z.number().int().nonnegative().optional(),
});
export type Member = z.infer<typeof member>;
export const membersReply = z.object({ ok: z.literal(true), members: z.array(member) });
export type MembersReply = z.infer<typeof membersReply>;

/**
 * Which participant each channel was given to (0: none, or a participant's own channel): the director
 * records every block of channels it hands out, so that a service can check that a client agent acts
 * only for its own clients.
 */
export const owners = z.object({ channels: z.array(id).min(1).max(4096) });
export const ownersReply = z.object({ ok: z.literal(true), owners: z.array(channelOrNone) });
export type OwnersReply = z.infer<typeof ownersReply>;

/** The director's operations (besides `join`): `service("md", op, from)`. */
export const DIRECTOR_OPS = {
  heartbeat: operation(heartbeat, okReply),
  goodbye: operation(goodbye, okReply),
  addPostRemoves: operation(addPostRemoves, addPostRemovesReply),
  clearPostRemoves: operation(clearPostRemoves, okReply),
  allocateIds: operation(allocateIds, allocateIdsReply),
  members: operation(members, membersReply),
  owners: operation(owners, ownersReply),
} as const;
export type DirectorOp = keyof typeof DIRECTOR_OPS;

/**
 * One entry of the cluster event log (JetStream, subjects `<root>.events.<role>.<channel>.<kind>`): what
 * happened (`participant.joined`, `participant.left`, `participant.died`, `object.created`,
 * `object.deleted`, `client.ejected`, ...), when (ms since the epoch), and the details. Who reported it
 * is in the subject, where only the reporter can put it.
 */
export const clusterEvent = z.object({
  kind: z.string().regex(/^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/),
  at: z.number().int().nonnegative(),
  data: z.unknown(),
});
export type ClusterEvent = z.infer<typeof clusterEvent>;

// ---- state server -------------------------------------------------------------------------------

export const createObject = z.object({
  ...actingFor,
  /** Absent: the state server allocates one. */
  doId: id.optional(),
  classId: z.number().int().nonnegative(),
  parentId: zone,
  zoneId: zone,
  /** Required fields must all be present; other ram fields may be. */
  fields: z.array(fieldValue),
  ai: id.optional(),
  owner: id.optional(),
});
export type CreateObject = z.infer<typeof createObject>;
export const createObjectReply = z.object({ ok: z.literal(true), doId: id });

export const deleteObject = z.object({ ...actingFor, doId: id });
export const getFields = z.object({
  ...actingFor,
  doId: id,
  /** Absent: every stored field. Unset fields are left out of the reply; a field of another class is an error. */
  fieldIds: z.array(fieldId).optional(),
});
/** What `getFields` answers: the object's class, location, AI, owner and the asked-for fields that are set. */
export const objectState = z.object({
  doId: id,
  classId: z.number().int().nonnegative(),
  parentId: zone,
  zoneId: zone,
  ai: channelOrNone,
  owner: channelOrNone,
  fields: z.array(fieldValue),
});
export type ObjectState = z.infer<typeof objectState>;
export const getFieldsReply = objectState.extend({ ok: z.literal(true) });
/** Sets one or several fields atomically: all are applied or, if one is bad, none. */
export const setFields = z.object({ ...actingFor, doId: id, fields: z.array(fieldValue).min(1) });
export type SetFields = z.infer<typeof setFields>;
/** With `ai`, the object's AI is set (explicitly) in the same step: a zone handing an object to the next. */
export const setLocation = z.object({
  ...actingFor,
  doId: id,
  parentId: zone,
  zoneId: zone,
  ai: id.optional(),
});
/** ai 0 clears an explicit AI (the object then inherits its parent's again). */
export const setAi = z.object({ ...actingFor, doId: id, ai: channelOrNone });
export const setOwner = z.object({ ...actingFor, doId: id, owner: channelOrNone });
export const deleteAiObjects = z.object({ ...actingFor, ai: id });
export const queryZones = z.object({ parentId: id, zones: z.array(zone).min(1).max(4096) });
export const queryZonesReply = z.object({
  ok: z.literal(true),
  objects: z.array(z.lazy(() => objectSnapshot)),
});
export const countZones = queryZones;
export const countZonesReply = z.object({ ok: z.literal(true), count: z.number().int().nonnegative() });
export const activeZones = z.object({ parentId: id });
export const activeZonesReply = z.object({ ok: z.literal(true), zones: z.array(zone) });
export const deleteZone = z.object({ ...actingFor, parentId: id, zoneId: zone });
export const deleteChildren = z.object({ ...actingFor, parentId: id });
/** What the delete operations answer: every object deleted, the asked-for ones and their descendants. */
export const deletedReply = z.object({ ok: z.literal(true), deleted: z.array(id) });

/**
 * One field update: [doId, fieldId, value packed by the dclass], and from game logic, which holds the
 * value, the nested change that made it: [doId, fieldId, whole new value, nested change] (field-delta.ts;
 * only for a stored field whose value holds an array or struct). The state server stores the whole value
 * and forwards the change, which clients holding the old value apply instead.
 */
const update = z.union([z.tuple([id, fieldId, bytes]), z.tuple([id, fieldId, bytes, bytes])]);
/**
 * A tick's updates: the hot path. They come in groups, each sent for one channel (0: the sender's own),
 * e.g. one group per client whose updates a client agent forwards, so that the state server never echoes
 * an update back to whoever sent it and game logic knows who did. At most 65,536 updates in all.
 */
export const updateBatch = z
  .object({
    groups: z.array(z.tuple([channelOrNone, z.array(update).min(1)])).min(1),
    /**
     * The sender's batch number, counting up from 1 (a client agent's: it holds a batch until it is
     * acknowledged, and sends the next only then). The state server applies a numbered batch once: one
     * sent again (`resent`) whose number it already applied for this sender is answered, not applied.
     */
    seq: z.number().int().positive().optional(),
    resent: z.literal(true).optional(),
  })
  .refine((batch) => batch.groups.reduce((sum, [, updates]) => sum + updates.length, 0) <= 65_536, {
    message: "at most 65536 updates in one batch",
  });
export type UpdateBatch = z.infer<typeof updateBatch>;
/**
 * Sent only when the batch was a request: how many updates were applied, and each refused one by its
 * index (counted over the groups in order) with the reason. Applied db fields of stored objects are
 * committed before this.
 */
export const updateBatchReply = z.object({
  ok: z.literal(true),
  applied: z.number().int().nonnegative(),
  /** The batch was sent again and had been applied already: nothing was applied this time. */
  duplicate: z.literal(true).optional(),
  refused: z.array(
    z.object({ index: z.number().int().nonnegative(), code: z.enum(ERROR_CODES), message: z.string() }),
  ),
});

// ---- requests: calls of methods, and their replies (dc/methods.ts) ---------------------------------

/** The most bytes of a request's arguments or a reply's value (a client message is at most 4096). */
export const MAX_REQUEST_BYTES = 64 * 1024;
const requestId = z.number().int().nonnegative().max(0xffff_ffff);
const requestBytes = bytes.refine((value) => value.length <= MAX_REQUEST_BYTES, {
  message: `must be at most ${MAX_REQUEST_BYTES} bytes`,
});
/** A request's error code: a short snake_case name (`sold_out`), the game's own or the cluster's. */
const requestCode = z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, "must be a short snake_case name");

/**
 * A call of a method of an object (`ss.request`), for the channel the sender acts for (a client agent
 * for one of its clients, a zone-AI replica for a zone): the state server checks that the field is a
 * method of the object's class and passes the call to the object's AI channel (a zone's: journaled), or
 * refuses it (`unknown_object`, `unknown_field`, `unavailable` when no AI runs the object). Answered once
 * the call is on its way; the reply comes later to the caller's channel (`requestReply`).
 */
export const callRequest = z.object({
  ...actingFor,
  /** The caller's number for the request: answered once per caller and number, however often it comes. */
  requestId,
  doId: id,
  fieldId,
  /** The method's arguments, packed by the dclass. */
  args: requestBytes,
});
export type CallRequest = z.infer<typeof callRequest>;

/** A call as the object's AI hears it: `sender` is the caller's channel, where the reply goes. */
export const requestCall = z.object({
  kind: z.literal("request"),
  sender,
  requestId,
  doId: id,
  fieldId,
  args: requestBytes,
});
export type RequestCall = z.infer<typeof requestCall>;

/**
 * The answer to a call, to the caller's channel (a client's: its agent sends it REPLY or REQUEST_ERROR; a
 * zone's: journaled like any input): the reply field's value packed, or an error. `sender`: who answered.
 */
export const requestReply = z.object({
  kind: z.literal("reply"),
  sender,
  requestId,
  value: requestBytes.optional(),
  error: z.object({ code: requestCode, message: z.string().max(1024) }).optional(),
});
export type RequestReply = z.infer<typeof requestReply>;

/** The state server's operations: `service("ss", op, from)`. */
export const STATE_SERVER_OPS = {
  create: operation(createObject, createObjectReply),
  delete: operation(deleteObject, deletedReply),
  get: operation(getFields, getFieldsReply),
  set: operation(setFields, okReply),
  "set-location": operation(setLocation, okReply),
  "set-ai": operation(setAi, okReply),
  "set-owner": operation(setOwner, okReply),
  "delete-ai-objects": operation(deleteAiObjects, deletedReply),
  "query-zones": operation(queryZones, queryZonesReply),
  "count-zones": operation(countZones, countZonesReply),
  "active-zones": operation(activeZones, activeZonesReply),
  "delete-zone": operation(deleteZone, deletedReply),
  "delete-children": operation(deleteChildren, deletedReply),
  updates: operation(updateBatch, updateBatchReply, {
    is: isUpdateBatchFrame,
    encode: encodeUpdateBatchFrame,
    decode: decodeUpdateBatchFrame,
  }),
  request: operation(callRequest, okReply),
} as const;
export type StateServerOp = keyof typeof STATE_SERVER_OPS;

// ---- db: stored objects in Postgres (served by the state server) -------------------------------------

/** Creates a stored object with some of its db fields (db fields with a declared default get it). */
export const dbCreateObject = z.object({
  classId: z.number().int().nonnegative(),
  fields: z.array(fieldValue),
});
export const dbCreateObjectReply = z.object({ ok: z.literal(true), doId: id });
/** Absent fieldIds: every stored field. Fields with no stored value are left out. */
export const dbGetFields = z.object({ doId: id, fieldIds: z.array(fieldId).optional() });
export const dbGetFieldsReply = z.object({
  ok: z.literal(true),
  doId: id,
  classId: z.number().int().nonnegative(),
  fields: z.array(fieldValue),
});
/** Answered once the values are committed to Postgres. */
export const dbSetFields = z.object({ ...actingFor, doId: id, fields: z.array(fieldValue).min(1) });
/** [fieldId, expected, replacement]: all are replaced if every field holds its expected value, else none. */
export const dbSetFieldsIfEquals = z.object({
  ...actingFor,
  doId: id,
  fields: z.array(z.tuple([fieldId, bytes, bytes])).min(1),
});
export const dbSetFieldIfEmpty = z.object({ ...actingFor, doId: id, fieldId, value: bytes });
/** A compare-and-set's answer; when not applied, `current` holds the values stored now (unset ones left out). */
export const dbCompareReply = z.object({
  ok: z.literal(true),
  applied: z.boolean(),
  current: z.array(fieldValue),
});
/** Deleted fields with a declared default are reset to it, as Astron does. */
export const dbDeleteFields = z.object({ ...actingFor, doId: id, fieldIds: z.array(fieldId).min(1) });
export const dbDeleteObject = z.object({ ...actingFor, doId: id });
/**
 * Loads a stored object into a location as a live object: its db fields from Postgres, required fields
 * that have no stored value get their default, `fields` override both. Its db fields are then written
 * back on every update.
 */
export const dbActivate = z.object({
  ...actingFor,
  doId: id,
  parentId: zone,
  zoneId: zone,
  fields: z.array(fieldValue).optional(),
  ai: id.optional(),
  owner: id.optional(),
});

export const dbActivateReply = z.object({ ok: z.literal(true), doId: id });

/** The db operations: `service("db", op, from)`. */
export const DB_OPS = {
  create: operation(dbCreateObject, dbCreateObjectReply),
  get: operation(dbGetFields, dbGetFieldsReply),
  set: operation(dbSetFields, okReply),
  "set-if-equals": operation(dbSetFieldsIfEquals, dbCompareReply),
  "set-if-empty": operation(dbSetFieldIfEmpty, dbCompareReply),
  "delete-fields": operation(dbDeleteFields, okReply),
  delete: operation(dbDeleteObject, okReply),
  activate: operation(dbActivate, dbActivateReply),
} as const;
export type DbOp = keyof typeof DB_OPS;

// ---- deliveries: what the state server publishes ---------------------------------------------------

/**
 * An object as a zone query or an entering notice shows it: its class, location and the fields its
 * audience may see (location: required and set ram fields that are broadcast or clrecv; AI: all of
 * them; owner: broadcast, clrecv or ownrecv ones).
 */
export const objectSnapshot = z.object({
  doId: id,
  classId: z.number().int().nonnegative(),
  parentId: zone,
  zoneId: zone,
  fields: z.array(fieldValue),
  /** Its owner's channel (a client's), when it has one: game logic compares it with an update's sender. */
  owner: id.optional(),
});
export type ObjectSnapshot = z.infer<typeof objectSnapshot>;

export const DELIVERY_KINDS = [
  "enter",
  "enter-ai",
  "enter-owner",
  "leave",
  "update",
  "changing-location",
  "changing-ai",
  "changing-owner",
  "delete",
] as const;

export const delivery = z.discriminatedUnion("kind", [
  /** To the location channel: the object entered this zone (created, moved or activated here). */
  z.object({ kind: z.literal("enter"), sender, object: objectSnapshot }),
  /** To the AI channel: this AI now runs the object (all required and ram fields). */
  z.object({ kind: z.literal("enter-ai"), sender, object: objectSnapshot }),
  /** To the owner channel: this participant now owns the object. */
  z.object({ kind: z.literal("enter-owner"), sender, object: objectSnapshot }),
  /** To the old location channel: the object left this zone (parentId/zoneId are the old location). */
  z.object({ kind: z.literal("leave"), sender, doId: id, parentId: zone, zoneId: zone }),
  /** To the location, AI and owner channels: the object was deleted. */
  z.object({ kind: z.literal("delete"), sender, doId: id }),
  z.object({
    kind: z.literal("update"),
    sender,
    /**
     * [doId, fieldId, value] in the order they were applied; to an AI or owner channel
     * [doId, fieldId, value, from]: `from`, the channel the update came from (e.g. the client's), and
     * [doId, fieldId, value, from, delta] when the value came with the nested change that made it.
     */
    updates: z.array(
      z.union([
        z.tuple([id, fieldId, bytes]),
        z.tuple([id, fieldId, bytes, channelOrNone]),
        z.tuple([id, fieldId, bytes, channelOrNone, bytes]),
      ]),
    ),
  }),
  /** To the AI and owner channels. */
  z.object({
    kind: z.literal("changing-location"),
    sender,
    doId: id,
    parentId: zone,
    zoneId: zone,
    oldParentId: zone,
    oldZoneId: zone,
  }),
  /** To the old AI channel. */
  z.object({
    kind: z.literal("changing-ai"),
    sender,
    doId: id,
    ai: channelOrNone,
    oldAi: channelOrNone,
  }),
  /** To the old owner channel. */
  z.object({
    kind: z.literal("changing-owner"),
    sender,
    doId: id,
    owner: channelOrNone,
    oldOwner: channelOrNone,
  }),
]);
export type Delivery = z.infer<typeof delivery>;

// ---- the client channel: what game logic tells a client's agent -----------------------------------------

/**
 * Control messages to a client's participant channel (`<root>.c.<client>`), beside the deliveries of the
 * objects it owns: the client agent holding that client acts on them.
 */
export const clientControl = z.discriminatedUnion("kind", [
  /** The object is the client's session object: deleted when the client goes; its deletion ejects (153). */
  z.object({ kind: z.literal("add-session-object"), sender, doId: id }),
  /** The object is no longer a session object of the client. */
  z.object({ kind: z.literal("remove-session-object"), sender, doId: id }),
  /** Eject the client with this code and reason (as Astron's CLIENTAGENT_EJECT). */
  z.object({
    kind: z.literal("eject"),
    sender,
    code: z.number().int().min(0).max(0xffff),
    reason: z.string().max(1024),
  }),
  /** Tell the player these words (an operator's broadcast, a maintenance warning): SYSTEM_MESSAGE. */
  z.object({ kind: z.literal("system-message"), sender, text: z.string().min(1).max(1024) }),
  /** The answer to one of the client's requests: its agent sends it REPLY or REQUEST_ERROR. */
  requestReply,
  /** Plugin data from a server's plugin to this client: its agent sends PLUGIN_MESSAGE (from the servers). */
  z.object({
    kind: z.literal("plugin-message"),
    sender,
    plugin: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/),
    encoding: z.union([z.literal(0), z.literal(1)]),
    data: bytes.refine((data) => data.length <= 64 * 1024, "at most 64 KiB of plugin data"),
  }),
]);
export type ClientControl = z.infer<typeof clientControl>;

/** Anything published to a client's participant channel: an owner delivery or a control message. */
export const clientChannelMessage = z.discriminatedUnion("kind", [
  ...delivery.options,
  ...clientControl.options,
]);
export type ClientChannelMessage = z.infer<typeof clientChannelMessage>;

/**
 * An account has more live sessions than its limit: the client agent that admitted the newest session
 * publishes this to the account's subject (`<root>.a.<accountId>`), and every agent holding a session of
 * the account ejects those named in `clients` with 100 (logged in elsewhere). `clients` never names the
 * session that replaces them (`by`), and an agent never ejects `by` even if it were named.
 */
export const endSessions = z
  .object({
    kind: z.literal("end-sessions"),
    accountId: id,
    /** The client channels of the sessions that end. */
    clients: z.array(id).min(1).max(1024),
    /** The client channel of the newer session that replaces them. */
    by: id,
  })
  .refine((message) => !message.clients.includes(message.by), {
    message: "clients must not name the session that replaces them (by)",
    path: ["clients"],
  });
export type EndSessions = z.infer<typeof endSessions>;

/**
 * A client said hello and has its channel: published by its agent as `game.client-arrived` (queue group
 * `<root>-game`), so that exactly one game-logic participant gives it an avatar.
 */
export const clientArrived = z.object({
  /** The client's participant channel: owner of its avatar, target of control messages. */
  client: id,
  accountId: id,
  username: z.string(),
});
export type ClientArrived = z.infer<typeof clientArrived>;

/** A client that arrived is gone (`game.client-left`): disconnected, ejected or timed out. */
export const clientLeft = z.object({
  client: id,
  accountId: id,
  reason: z.string(),
});
export type ClientLeft = z.infer<typeof clientLeft>;

// ---- plugin messages: a plugin at one end of an edge to the plugin of the same name at the other ------

/** A plugin's name, as manifests name them (libs/manifest). */
const pluginName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, "a plugin name: 1-64 of a-z, 0-9, '.', '_', '-'");
/** A cluster's name at main (libs/federation isClusterName). */
const clusterName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "a cluster name");
/** The most data one plugin message carries inside the cluster and over links (a client's: 2 KiB). */
export const MAX_PLUGIN_MESSAGE_BYTES = 64 * 1024;
/** How the data is to be read: 0 bytes as they are, 1 one MessagePack value (PluginEncoding). */
const pluginEncoding = z.union([z.literal(0), z.literal(1)]);
const pluginData = bytes.refine(
  (data) => data.length <= MAX_PLUGIN_MESSAGE_BYTES,
  `at most ${MAX_PLUGIN_MESSAGE_BYTES} bytes of plugin data`,
);

/**
 * Who sent a plugin message, as the cluster vouches for it; never what the message says of itself: a
 * client's channel and account come from its client agent (the only one who may say `client`: the NATS
 * subject names the sender's role), a cluster's name from the federation link it came over, main from the
 * link end's signed exchange with main (only the `link` role may say `cluster` or `main`).
 */
export const pluginSender = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("client"), client: id, accountId: id }),
  z.object({ kind: z.literal("cluster"), cluster: clusterName }),
  z.object({ kind: z.literal("main") }),
]);
export type PluginSender = z.infer<typeof pluginSender>;

/**
 * A plugin message to the cluster's servers (`game.plugin-message`, queue group `<root>-game`: one zone-AI
 * replica takes it and hands it to its plugin of that name's `messages.onMessage`). Sent by client agents
 * (from a client) and the link end (from a linked cluster or main). Refused with `not_found` when no
 * plugin of that name with a message handler runs there, `forbidden` when the sender's role may not
 * vouch for that kind of sender.
 */
export const pluginMessage = z.object({
  plugin: pluginName,
  from: pluginSender,
  encoding: pluginEncoding,
  data: pluginData,
});
export type PluginMessage = z.infer<typeof pluginMessage>;

/**
 * Plugin data for clients (`ca.plugin-deliver`, every agent hears it and delivers to its own sessions):
 * to the clients named, or to every client that runs the plugin when none are named. Sent by zone AI (a
 * server's plugin: the client hears it from the servers) and by the link end (from main). One client is
 * reached more cheaply through its channel (`plugin-message` control message).
 */
export const pluginDeliver = z.object({
  plugin: pluginName,
  clients: z.array(id).max(4096).optional(),
  encoding: pluginEncoding,
  data: pluginData,
});
export type PluginDeliver = z.infer<typeof pluginDeliver>;
export const pluginDeliverReply = z.object({
  ok: z.literal(true),
  delivered: z.number().int().nonnegative(),
});

/**
 * A plugin message out of the cluster (`lk.plugin-message`, to the cluster's link end): to the same plugin
 * in a linked cluster (server-server, over the federation link), or to main (server-main, client-main:
 * signed with the cluster's key). Sent by zone AI, and by client agents for a client (`client`, vouched
 * for by the agent). Main's answers, if it gives any, come back as `replies`: the link end has delivered
 * them already (to the client, or to the servers' plugin); they are returned for the sender to see.
 */
export const linkPluginMessage = z.object({
  plugin: pluginName,
  to: z.discriminatedUnion("kind", [
    z.object({ kind: z.literal("cluster"), cluster: clusterName }),
    z.object({ kind: z.literal("main") }),
  ]),
  client: z.object({ client: id, accountId: id }).optional(),
  encoding: pluginEncoding,
  data: pluginData,
});
export type LinkPluginMessage = z.infer<typeof linkPluginMessage>;
export const linkPluginMessageReply = z.object({
  ok: z.literal(true),
  /** Main's answers (to main only). */
  replies: z.number().int().nonnegative(),
});

/** What game logic hears from client agents: `service("game", op, from)`, notices without replies. */
export const GAME_OPS = {
  "client-arrived": operation(clientArrived, okReply),
  "client-left": operation(clientLeft, okReply),
  /** A plugin message to the servers' plugin of that name (`pluginMessage`, below). */
  "plugin-message": operation(pluginMessage, okReply),
} as const;

// ---- client agents: asked all at once, each answering for its own clients ------------------------------

/**
 * The sessions a client agent holds (`ca.sessions`): every agent hears the request (no queue group) and
 * answers with its own, so that an operator asking gathers one answer per live agent. `accountId` keeps
 * only that account's sessions.
 */
export const listSessions = z.object({ accountId: id.optional() });
export const sessionInfo = z.object({
  /** The client's participant channel: control messages (eject, system-message) go there. */
  client: id,
  accountId: id,
  username: z.string(),
  /** Where the client connects from (`addressKey`: IPv6 by /64). */
  address: z.string(),
  /** When it connected (ms since the epoch). */
  connectedAt: z.number().int().nonnegative(),
  /** Its session objects (its avatar): deleted when it goes. */
  objects: z.array(id),
});
export type SessionInfo = z.infer<typeof sessionInfo>;
export const listSessionsReply = z.object({
  ok: z.literal(true),
  /** The agent's participant channel. */
  agent: id,
  instanceId: z.string(),
  sessions: z.array(sessionInfo),
});
export type ListSessionsReply = z.infer<typeof listSessionsReply>;

/**
 * The client plugins every client of the cluster must run (main's required set and the cluster's own,
 * resolved and verified by the cluster's link end): each agent tells its clients in their hello, and tells
 * the connected ones again when it changes (the PLUGINS message, docs/protocol.md). `push` is main's push
 * the set came with (0: none); an agent keeps the set of the highest push it heard.
 */
export const pluginPin = z.object({
  name: z.string().max(64),
  version: z.string().max(256),
  /** The package id: the SHA-256 (hex) of its manifest's canonical JSON. */
  id: z.string().regex(/^[0-9a-f]{64}$/),
});
export type PluginPinMessage = z.infer<typeof pluginPin>;
export const clientPlugins = z.object({
  push: z.number().int().nonnegative(),
  required: z.array(pluginPin).max(256),
});
export const clientPluginsReply = z.object({
  ok: z.literal(true),
  agent: id,
  instanceId: z.string(),
});

/**
 * How full a client agent is (`ca.load`): where players reach it and how many it holds of how many it
 * takes, for uberdog to put the least loaded agent first in the connect tokens it issues.
 */
export const agentLoad = z.object({});
export const agentLoadReply = z.object({
  ok: z.literal(true),
  agent: id,
  instanceId: z.string(),
  /** Its public UDP address (`IP:port`), as connect tokens name it. */
  publicAddress: z.string(),
  clients: z.number().int().nonnegative(),
  maxClients: z.number().int().positive(),
});
export type AgentLoadReply = z.infer<typeof agentLoadReply>;

/**
 * A package of the cluster's server plugin set, as the link end verified and holds it (`lk.plugin-package`,
 * asked by zone-AI replicas): its signed manifest's JSON and its files. Nothing in it is trusted by the
 * asker: a replica verifies it again against its own trust list of main keys before loading it.
 */
export const pluginPackage = z.object({
  /** The package id: the SHA-256 (hex) of its manifest's canonical JSON. */
  id: z.string().regex(/^[0-9a-f]{64}$/),
});
export const pluginPackageReply = z.object({
  ok: z.literal(true),
  /** The signed manifest, `{manifest, signature}`, as JSON text. */
  signed: z.string().max(1 << 20),
  files: z.array(z.object({ path: z.string().max(4096), data: bytes })).max(4096),
});
export type PluginPackageReply = z.infer<typeof pluginPackageReply>;

/**
 * The server plugin set the cluster runs (`lk.plugin-set`, asked by a zone-AI replica as it starts, so that
 * its zones start under the set's versions): the push it came with and its packages.
 */
export const runningPluginSet = z.object({});
export const runningPluginSetReply = z.object({
  ok: z.literal(true),
  push: z.number().int().nonnegative(),
  servers: z.array(pluginPin).max(256),
});

/** What the cluster's link end answers: `service("lk", op, from)` (a queue group of link ends). */
export const LINK_OPS = {
  "plugin-message": operation(linkPluginMessage, linkPluginMessageReply),
  "plugin-package": operation(pluginPackage, pluginPackageReply),
  "plugin-set": operation(runningPluginSet, runningPluginSetReply),
} as const;

/** What every client agent answers: `service("ca", op, from)`. */
export const CLIENT_AGENT_OPS = {
  sessions: operation(listSessions, listSessionsReply),
  load: operation(agentLoad, agentLoadReply),
  plugins: operation(clientPlugins, clientPluginsReply),
  "plugin-deliver": operation(pluginDeliver, pluginDeliverReply),
} as const;

// ---- zone-AI replicas: asked all at once by operators --------------------------------------------------

/**
 * Swap a running plugin's version on every zone-AI replica (services/zone-ai/src/plugins/hot-swap.ts):
 * the new version from a module path or a plugin package directory on the replicas' machines (a package is
 * verified against the replica's trust list of main keys, PLUGIN_TRUST, before it is loaded).
 */
export const pluginSwap = z.union([
  z.strictObject({ module: z.string().min(1).max(4096) }),
  z.strictObject({ package: z.string().min(1).max(4096) }),
]);
export type PluginSwap = z.infer<typeof pluginSwap>;
/** One replica's answer: what it swapped, or why it refused (its old version running on). */
export const pluginSwapReply = z.object({
  ok: z.literal(true),
  /** The replica's participant channel. */
  replica: id,
  swapped: z.boolean(),
  plugin: z.string().optional(),
  from: z.string().optional(),
  to: z.string().optional(),
  /** The zones handed to the new version (`parent.zone`). */
  zones: z.array(z.string()),
  /** Why it refused, naming what is wrong. */
  error: z.string().optional(),
});
export type PluginSwapReply = z.infer<typeof pluginSwapReply>;

/**
 * The server plugin set main pushed to the cluster, as its link end verified and installed it
 * (`zai.plugin-set`, from the link end only, to every replica at once, at every poll so that a replica
 * started later learns it too): each replica fetches the packages it lacks from the link end
 * (`lk.plugin-package`), verifies them against its trust list of main keys (PLUGIN_TRUST), and runs its own
 * plugins (PLUGIN) with the set's in place of, or beside, them (services/zone-ai/src/plugins/pushed-set.ts).
 */
export const pluginSet = z.object({
  /** Main's push the set came with. */
  push: z.number().int().nonnegative(),
  servers: z.array(pluginPin).max(256),
});
export type PluginSetMessage = z.infer<typeof pluginSet>;
/** One replica's answer: the plugins it runs now (`name@version`), and why it refused the set if it did. */
export const pluginSetReply = z.object({
  ok: z.literal(true),
  /** The replica's participant channel. */
  replica: id,
  /** The push the replica runs the set of (0: none yet). */
  push: z.number().int().nonnegative(),
  applied: z.boolean(),
  running: z.array(z.string()),
  /** Why it refused, naming the package or plugin and what is wrong; its previous set runs on. */
  error: z.string().optional(),
  /** The package the refusal is about (`name@version`), when it is one package's. */
  package: z.string().optional(),
  /** The kind of refusal: a package's (`tampered`, `untrusted`, ...), or `compose`, `start`, `migrate`. */
  refusal: z.string().optional(),
});
export type PluginSetReply = z.infer<typeof pluginSetReply>;

/** What every zone-AI replica answers: `service("zai", op, from)`. */
export const ZONE_AI_OPS = {
  "plugin-swap": operation(pluginSwap, pluginSwapReply),
  "plugin-set": operation(pluginSet, pluginSetReply),
} as const;

/** Every service's operations, by service name. */
export const SERVICE_OPERATIONS = {
  md: DIRECTOR_OPS,
  ss: STATE_SERVER_OPS,
  db: DB_OPS,
  game: GAME_OPS,
  ca: CLIENT_AGENT_OPS,
  zai: ZONE_AI_OPS,
  lk: LINK_OPS,
} as const;
export type OperatedService = keyof typeof SERVICE_OPERATIONS;
export type OperationName<S extends OperatedService> = keyof (typeof SERVICE_OPERATIONS)[S] & string;
type OperationOf<
  S extends OperatedService,
  K extends OperationName<S>,
> = (typeof SERVICE_OPERATIONS)[S][K] extends Operation ? (typeof SERVICE_OPERATIONS)[S][K] : never;
/** What a caller sends for an operation. */
export type RequestOf<S extends OperatedService, K extends OperationName<S>> = z.input<
  OperationOf<S, K>["request"]
>;
/** What an operation answers. */
export type ReplyOf<S extends OperatedService, K extends OperationName<S>> = z.infer<
  OperationOf<S, K>["reply"]
>;
type ReplyFields<O extends Operation> = Omit<z.infer<O["reply"]>, "ok">;
/** What an operation's handler returns: the reply without `ok`, which serving adds (nothing for okReply). */
// biome-ignore lint/suspicious/noConfusingVoidType: the handler of an okReply operation returns nothing
export type ResultOf<O extends Operation> = keyof ReplyFields<O> extends never ? void : ReplyFields<O>;

// ---- zone channels: what a zone's AI hears ------------------------------------------------------------

/**
 * An event from game logic to a zone (published to its zone channel, hence journaled with the zone's
 * inputs): e.g. damage dealt across a zone border to an object the other zone runs.
 */
export const zoneEvent = z.object({
  kind: z.literal("zone-event"),
  sender,
  name: z.string().min(1).max(64),
  /** The object it is about, 0 for none. */
  target: channelOrNone,
  /** Any msgpack value. */
  data: z.unknown(),
  /**
   * Where in its sender's journal it was made: [sequence of the sender's input, index among the events
   * made at that input]. A zone resumed elsewhere replays its inputs and makes the same events again;
   * the receiver drops those at or before the last origin it saw from that sender.
   */
  origin: z.tuple([z.number().int().nonnegative(), z.number().int().nonnegative()]),
});
export type ZoneEvent = z.infer<typeof zoneEvent>;

/** Anything published to a zone channel: a delivery about the objects the zone runs, or a zone event. */
export const zoneChannelMessage = z.discriminatedUnion("kind", [
  ...delivery.options,
  zoneEvent,
  requestCall,
  requestReply,
]);
export type ZoneChannelMessage = z.infer<typeof zoneChannelMessage>;

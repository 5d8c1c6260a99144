/**
 * The internal message catalogue: every message services exchange over NATS, as zod schemas (the
 * TypeScript types are inferred from them). Messages travel as msgpackr envelopes (`encodeEnvelope`);
 * field values inside them travel as bytes packed by the dclass, never as msgpack values, so that they
 * are validated once, by the packer, and cost what the dclass says.
 *
 * Every message names its sender's channel (`sender`), as Astron's do.
 *
 * Requests are answered with a `Reply`: `{ ok: true, ... }` or `{ ok: false, error: { code, message } }`,
 * where the message names the thing that is wrong (the class, the field, the object).
 */
import { z } from "zod";

const id = z.number().int().positive().max(0xffff_ffff);
const zone = z.number().int().nonnegative().max(0xffff_ffff);
const bytes = z.instanceof(Uint8Array);
/** A field update: the global field id and the value packed by the dclass. */
const fieldValue = z.tuple([z.number().int().nonnegative().max(0xffff), bytes]);
const sender = id;

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

export const ROLES = [
  "message-director",
  "state-server",
  "client-agent",
  "zone-ai",
  "uberdog",
  "signaling",
  "tool",
] as const;

export const joinRequest = z.object({
  role: z.enum(ROLES),
  instanceId: z.string().min(1).max(128),
  version: z.string().min(1).max(64),
  schemaHash: z.number().int().nonnegative().max(0xffff_ffff),
});
export type JoinRequest = z.infer<typeof joinRequest>;
export const joinReply = z.object({
  ok: z.literal(true),
  /** The participant's own channel, for its heartbeats, goodbye and post-removes. */
  channel: id,
  heartbeatMs: z.number().int().positive(),
  /** A participant silent for this long is declared dead. */
  deadAfterMs: z.number().int().positive(),
});
export type JoinReply = z.infer<typeof joinReply>;

export const heartbeat = z.object({ sender });
export const goodbye = z.object({ sender });

/** A message to publish if the participant dies without saying goodbye. */
export const postRemove = z.object({ subject: z.string().min(1).max(256), payload: bytes });
export type PostRemove = z.infer<typeof postRemove>;
export const addPostRemoves = z.object({ sender, messages: z.array(postRemove).min(1).max(1024) });
export const clearPostRemoves = z.object({ sender });

export const ID_KINDS = ["doId", "channel"] as const;
export const allocateIds = z.object({
  sender,
  kind: z.enum(ID_KINDS),
  count: z.number().int().positive().max(1_000_000),
});
export const allocateIdsReply = z.object({
  ok: z.literal(true),
  first: id,
  count: z.number().int().positive(),
});

// ---- state server -------------------------------------------------------------------------------

export const createObject = z.object({
  sender,
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

export const deleteObject = z.object({ sender, doId: id });
export const getFields = z.object({
  sender,
  doId: id,
  fieldIds: z.array(z.number().int().nonnegative()).optional(),
});
export const setFields = z.object({ sender, doId: id, fields: z.array(fieldValue).min(1) });
export type SetFields = z.infer<typeof setFields>;
export const setLocation = z.object({ sender, doId: id, parentId: zone, zoneId: zone });
export const setAi = z.object({ sender, doId: id, ai: id });
export const setOwner = z.object({ sender, doId: id, owner: id });
export const deleteAiObjects = z.object({ sender, ai: id });
export const queryZones = z.object({ sender, parentId: id, zones: z.array(zone).min(1).max(4096) });
export const countZones = queryZones;
export const activeZones = z.object({ sender, parentId: id });
export const deleteZone = z.object({ sender, parentId: id, zoneId: zone });

/** One update of a tick batch: the hot path. */
export const updateBatch = z.object({
  sender,
  /** [doId, fieldId, value] triples, applied in order. */
  updates: z.array(z.tuple([id, z.number().int().nonnegative().max(0xffff), bytes])).max(65_536),
});
export type UpdateBatch = z.infer<typeof updateBatch>;

// ---- deliveries: what the state server publishes ---------------------------------------------------

/** An object as a zone query or an entering notice shows it: its class, location and visible fields. */
export const objectSnapshot = z.object({
  doId: id,
  classId: z.number().int().nonnegative(),
  parentId: zone,
  zoneId: zone,
  fields: z.array(fieldValue),
});
export type ObjectSnapshot = z.infer<typeof objectSnapshot>;

export const DELIVERY_KINDS = [
  "enter",
  "leave",
  "update",
  "changing-location",
  "changing-ai",
  "changing-owner",
  "delete",
] as const;

export const delivery = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("enter"), sender, object: objectSnapshot }),
  z.object({ kind: z.literal("leave"), sender, doId: id, parentId: zone, zoneId: zone }),
  z.object({ kind: z.literal("delete"), sender, doId: id }),
  z.object({
    kind: z.literal("update"),
    sender,
    /** [doId, fieldId, value] in the order they were applied. */
    updates: z.array(z.tuple([id, z.number().int().nonnegative(), bytes])),
  }),
  z.object({
    kind: z.literal("changing-location"),
    sender,
    doId: id,
    parentId: zone,
    zoneId: zone,
    oldParentId: zone,
    oldZoneId: zone,
  }),
  z.object({
    kind: z.literal("changing-ai"),
    sender,
    doId: id,
    ai: id.or(z.literal(0)),
    oldAi: id.or(z.literal(0)),
  }),
  z.object({
    kind: z.literal("changing-owner"),
    sender,
    doId: id,
    owner: id.or(z.literal(0)),
    oldOwner: id.or(z.literal(0)),
  }),
]);
export type Delivery = z.infer<typeof delivery>;

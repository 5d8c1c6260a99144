/**
 * The admin API's requests and answers as JSON Schema (TypeBox): validation, the handlers' types and the
 * OpenAPI document come from here. Every field says what it must be; a 400 names the field at fault.
 */
import { type Static, Type } from "typebox";
import { ACTING_ROLES, STORED_ROLES } from "./roles.ts";

const U32 = 0xffff_ffff;
const id = (description: string) => Type.Integer({ minimum: 1, maximum: U32, description });
const zone = (description: string) => Type.Integer({ minimum: 0, maximum: U32, description });
const literals = <const T extends string[]>(values: readonly [...T], description: string) =>
  Type.Enum(values, { description });
const text = (maxLength: number, description: string) =>
  Type.String({ minLength: 1, maxLength, description });
const limit = (fallback: number, max: number) =>
  Type.Integer({
    minimum: 1,
    maximum: max,
    default: fallback,
    description: `at most this many (1 to ${max})`,
  });
const time = (description: string) => Type.String({ format: "date-time", description });
const nullableTime = (description: string) => Type.Union([time(description), Type.Null()]);

export const AccountIdParams = Type.Object(
  { accountId: id("the player's account id") },
  { additionalProperties: false },
);
export const DoIdParams = Type.Object({ doId: id("the object's doId") }, { additionalProperties: false });
export const KeyIdParams = Type.Object({ keyId: id("the API key's id") }, { additionalProperties: false });

// ---- access ----------------------------------------------------------------------------------------

export const AdminLoginAnswer = Type.Object({
  token: Type.String({
    description: "the bearer token of this admin session: Authorization: Bearer <token>",
  }),
  expiresAt: time("when the session ends"),
  role: literals(ACTING_ROLES, "the role the player acts with now"),
});

export const Me = Type.Object({
  actor: Type.String({ description: "how the audit log names the caller" }),
  kind: literals(["key", "player"], "an operator's API key or a player's admin session"),
  role: literals(ACTING_ROLES, "the role the caller acts with"),
  accountId: Type.Optional(Type.Integer()),
});

export const KeyRoleSchema = literals(["admin", "moderator"], "the role the key acts with");

export const CreateKeyBody = Type.Object(
  { name: text(64, "what the key is for, 1 to 64 characters"), role: KeyRoleSchema },
  { additionalProperties: false },
);
export type CreateKeyBody = Static<typeof CreateKeyBody>;

export const ApiKeyView = Type.Object({
  keyId: Type.Integer(),
  name: Type.String(),
  role: KeyRoleSchema,
  createdBy: Type.String(),
  createdAt: time("when it was made"),
  revokedAt: nullableTime("when it was revoked"),
});
export const CreatedKey = Type.Object({
  key: ApiKeyView,
  token: Type.String({ description: "the key's bearer token, shown this once: keep it secret" }),
});
export const KeyList = Type.Object({ keys: Type.Array(ApiKeyView) });

// ---- status ------------------------------------------------------------------------------------------

export const StatusQuery = Type.Object(
  {
    parentId: Type.Optional(
      id("also show the zone placement of this parent's zones (e.g. the world's doId)"),
    ),
  },
  { additionalProperties: false },
);
export type StatusQuery = Static<typeof StatusQuery>;

export const LiveQuery = Type.Object(
  { parentId: id("the world whose zones the map shows (the parent object's doId)") },
  { additionalProperties: false },
);
export type LiveQuery = Static<typeof LiveQuery>;

const MemberView = Type.Object({
  channel: Type.Integer(),
  instanceId: Type.String(),
  joinedAt: Type.Optional(Type.Integer({ description: "ms since the epoch" })),
});

export const Status = Type.Object({
  version: Type.String({ description: "the cluster's version: every participant joined with it" }),
  schemaHash: Type.Integer({
    description: "the hash of the cluster's classes: every participant joined with it",
  }),
  healthy: Type.Boolean({ description: "uberdog is a live participant and every answer came" }),
  participants: Type.Record(Type.String(), Type.Array(MemberView), {
    description: "the live participants by role, as the message director sees them (heartbeating in time)",
  }),
  clientAgents: Type.Array(
    Type.Object({ agent: Type.Integer(), instanceId: Type.String(), ccu: Type.Integer() }),
    { description: "each client agent that answered, with its connected players" },
  ),
  ccu: Type.Integer({ description: "connected players over every client agent" }),
  placement: Type.Optional(
    Type.Array(Type.Object({ replica: Type.Integer(), zones: Type.Array(Type.Integer()) }), {
      description: "the parent's zones (those holding objects) by the zone-AI replica that runs them",
    }),
  ),
  maintenance: Type.Boolean(),
  tempAdmin: Type.Union([Type.Integer(), Type.Null()], {
    description: "the temp admin's account id, if any",
  }),
});

// ---- objects -------------------------------------------------------------------------------------------

const Fields = Type.Record(Type.String(), Type.Unknown(), {
  description:
    "field name -> value as JSON (a tuple for atomic fields; 64-bit integers as strings, blobs base64)",
});

export const ObjectView = Type.Object({
  doId: Type.Integer(),
  className: Type.String(),
  parentId: Type.Integer(),
  zoneId: Type.Integer(),
  ai: Type.Optional(Type.Integer()),
  owner: Type.Optional(Type.Integer({ description: "the owning client's channel" })),
  fields: Fields,
});

export const ObjectQuery = Type.Object(
  {
    parentId: Type.Optional(
      id("the parent whose zones to search (with zones, or all its zones holding objects)"),
    ),
    zones: Type.Optional(
      Type.String({
        pattern: "^[0-9]{1,10}(,[0-9]{1,10}){0,255}$",
        description:
          "zone ids, comma-separated (at most 256); default: every zone of the parent holding objects",
      }),
    ),
    className: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, description: "only objects of this class" }),
    ),
    owner: Type.Optional(id("only the objects of this player (account id): its session objects")),
    limit: limit(100, 1000),
  },
  { additionalProperties: false },
);
export type ObjectQuery = Static<typeof ObjectQuery>;
export const ObjectList = Type.Object({ objects: Type.Array(ObjectView), truncated: Type.Boolean() });

export const SetFieldsBody = Type.Object(
  {
    fields: Type.Record(Type.String({ minLength: 1, maxLength: 64 }), Type.Unknown(), {
      minProperties: 1,
      maxProperties: 64,
      description: "field name -> new value (as GET shows them); all are set or, if one is refused, none",
    }),
  },
  { additionalProperties: false },
);
export type SetFieldsBody = Static<typeof SetFieldsBody>;

export const CallBody = Type.Object(
  {
    method: text(64, "the method's name (a field of the object's class with the keyword request)"),
    args: Type.Unknown({
      description: 'its arguments as JSON, as GET shows field values (the tuple: [42], ["potion", 2])',
    }),
    timeoutMs: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 60_000,
        default: 5000,
        description: "how long to wait for the answer",
      }),
    ),
  },
  { additionalProperties: false },
);
export type CallBody = Static<typeof CallBody>;

export const CallAnswer = Type.Object({
  reply: Type.Unknown({ description: "the value of the class's <method>Reply field as JSON (null: none)" }),
});

// ---- players -------------------------------------------------------------------------------------------

export const PlayerQuery = Type.Object(
  {
    prefix: Type.Optional(
      Type.String({ minLength: 1, maxLength: 32, description: "usernames starting with this" }),
    ),
    role: Type.Optional(literals(STORED_ROLES, "only accounts with this role")),
    online: Type.Optional(Type.Boolean({ description: "true: only players connected now" })),
    after: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "paging: the last account id of the previous page",
      }),
    ),
    limit: limit(50, 500),
  },
  { additionalProperties: false },
);
export type PlayerQuery = Static<typeof PlayerQuery>;

const BanView = Type.Object({
  reason: Type.String(),
  bannedBy: Type.String(),
  bannedAt: time("when"),
  until: nullableTime("when it ends (null: until lifted)"),
});

const SessionView = Type.Object({
  client: Type.Integer({ description: "the session's client channel" }),
  agent: Type.Integer({ description: "the client agent holding it" }),
  address: Type.String(),
  connectedAt: time("when it connected"),
  objects: Type.Array(Type.Integer(), { description: "its session objects (the avatar)" }),
});

export const PlayerView = Type.Object({
  accountId: Type.Integer(),
  username: Type.String(),
  role: literals(STORED_ROLES, "the account's stored role"),
  tempAdmin: Type.Boolean({ description: "the temp-admin rule chose this player" }),
  createdAt: time("when the account was made"),
  lastLoginAt: nullableTime("the last login"),
  ban: Type.Union([BanView, Type.Null()]),
  sessions: Type.Array(SessionView),
});
export const PlayerList = Type.Object({
  players: Type.Array(PlayerView),
  next: Type.Union([Type.Integer(), Type.Null()], {
    description: "`after` for the next page; null at the end",
  }),
});

export const KickBody = Type.Object(
  {
    code: Type.Integer({
      minimum: 1,
      maximum: 999,
      description: "the eject code the player sees (1 to 999)",
    }),
    reason: text(512, "the reason the player sees, 1 to 512 characters"),
  },
  { additionalProperties: false },
);
export type KickBody = Static<typeof KickBody>;
export const Kicked = Type.Object({ ejected: Type.Integer({ description: "sessions ejected" }) });

export const BanBody = Type.Object(
  {
    reason: text(512, "why, 1 to 512 characters (the player sees it when a login is refused)"),
    days: Type.Optional(
      Type.Number({ exclusiveMinimum: 0, maximum: 36_500, description: "how long; absent: until lifted" }),
    ),
  },
  { additionalProperties: false },
);
export type BanBody = Static<typeof BanBody>;
export const Banned = Type.Object({ ban: BanView, ejected: Type.Integer() });

export const RoleBody = Type.Object(
  { role: literals(STORED_ROLES, "the account's new role") },
  { additionalProperties: false },
);
export type RoleBody = Static<typeof RoleBody>;

// ---- broadcast, maintenance ------------------------------------------------------------------------------

export const BroadcastBody = Type.Object(
  {
    text: text(1024, "what the players read, 1 to 1024 characters"),
    parentId: Type.Optional(id("only players whose avatar is under this parent (with zoneId)")),
    zoneId: Type.Optional(zone("only players whose avatar is in this zone of parentId")),
  },
  { additionalProperties: false },
);
export type BroadcastBody = Static<typeof BroadcastBody>;
export const Broadcasted = Type.Object({
  delivered: Type.Integer({ description: "players it was sent to" }),
});

export const MaintenanceBody = Type.Object(
  {
    reason: text(512, "what the players read, 1 to 512 characters"),
    warningSeconds: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: 3600,
        description: "warning before players are ejected (154); default MAINTENANCE_WARNING_SECONDS",
      }),
    ),
  },
  { additionalProperties: false },
);
export type MaintenanceBody = Static<typeof MaintenanceBody>;
export const MaintenanceView = Type.Object({
  on: Type.Boolean(),
  reason: Type.Optional(Type.String()),
  since: Type.Optional(time("when it began")),
  ejectAt: Type.Optional(time("when connected players are ejected with 154")),
  startedBy: Type.Optional(Type.String()),
});

// ---- logs ----------------------------------------------------------------------------------------------

export const EventQuery = Type.Object(
  {
    kind: Type.Optional(
      Type.String({
        pattern: "^[a-z][a-z0-9-]*(\\.[a-z][a-z0-9-]*)*(\\.>)?$",
        maxLength: 128,
        description:
          "only this kind (dot-separated words; may end in .> for a whole family, e.g. participant.>)",
      }),
    ),
    fromSeq: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      default: 1,
      description: "the first sequence number",
    }),
    limit: limit(100, 1000),
  },
  { additionalProperties: false },
);
export type EventQuery = Static<typeof EventQuery>;
export const EventList = Type.Object({
  events: Type.Array(
    Type.Object({
      seq: Type.Integer(),
      kind: Type.String(),
      at: time("when"),
      source: Type.String({ description: "who reported it: role#channel" }),
      data: Type.Unknown(),
    }),
  ),
  next: Type.Union([Type.Integer(), Type.Null()], {
    description: "`fromSeq` for the next page; null: nothing more now",
  }),
});

export const AuditQuery = Type.Object(
  {
    actor: Type.Optional(
      Type.String({ minLength: 1, maxLength: 200, description: "only this caller's calls" }),
    ),
    before: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "paging back: the last id of the previous page",
      }),
    ),
    limit: limit(100, 1000),
  },
  { additionalProperties: false },
);
export type AuditQuery = Static<typeof AuditQuery>;
export const AuditList = Type.Object({
  entries: Type.Array(
    Type.Object({
      auditId: Type.Integer(),
      at: time("when"),
      actor: Type.String(),
      role: Type.Union([Type.String(), Type.Null()]),
      method: Type.String(),
      route: Type.String(),
      target: Type.Union([Type.String(), Type.Null()]),
      request: Type.Unknown(),
      status: Type.Integer(),
      outcome: Type.String(),
    }),
  ),
  next: Type.Union([Type.Integer(), Type.Null()]),
});

export const TempAdminView = Type.Object({
  adminAbsentDays: Type.Number({
    description: "X: days without an admin login before a temp admin is chosen",
  }),
  recentLoginDays: Type.Number({ description: "Y: the temp admin logged in within this many days" }),
  accountId: Type.Union([Type.Integer(), Type.Null()]),
  username: Type.Union([Type.String(), Type.Null()]),
  since: time("since when this holds"),
  lastAdminLoginAt: nullableTime("the last admin login"),
});

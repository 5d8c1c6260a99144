/**
 * Main's HTTP API as JSON Schema (TypeBox): validation (fastify's Ajv), the handlers' types and the
 * OpenAPI document come from here.
 */
import { type Static, Type } from "typebox";

const ClusterName = Type.String({
  pattern: "^[a-z0-9][a-z0-9-]{0,31}$",
  description: "1 to 32 characters: lower-case letters, digits and '-', not starting with '-'",
  examples: ["eu-1"],
});
const PublicKey = Type.String({
  pattern: "^[A-Za-z0-9+/]{43}=$",
  description: "an Ed25519 public key, 32 bytes in base64",
});
const Signature = {
  at: Type.Integer({
    minimum: 0,
    description: "when it was signed (Unix ms); refused if 60 s away from main's clock",
  }),
  signature: Type.String({
    pattern: "^[A-Za-z0-9+/]{86}==$",
    description: "Ed25519 signature (base64) of the request's purpose and its other members as sorted JSON",
  }),
};
const Address = Type.String({
  pattern: "^(\\d{1,3}(\\.\\d{1,3}){3}|\\[[0-9a-fA-F:]+\\]):\\d{1,5}$",
  description: "ip:port",
});

export const RegisterBody = Type.Object(
  {
    name: ClusterName,
    key: PublicKey,
    kind: Type.Optional(Type.Union([Type.Literal("cluster"), Type.Literal("main")])),
    plugins: Type.Array(Type.String({ maxLength: 128 }), {
      maxItems: 256,
      description: "the plugins it runs, name@version",
    }),
    linkAddress: Type.Optional(Address),
    tags: Type.Optional(
      Type.Array(Type.String({ pattern: "^[a-z0-9][a-z0-9-]{0,31}$" }), {
        maxItems: 32,
        description: "tags a plugin set can be pushed to (e.g. eu), lower-case letters, digits and '-'",
      }),
    ),
    ...Signature,
  },
  { additionalProperties: false },
);
export type RegisterBody = Static<typeof RegisterBody>;

export const Registered = Type.Object({
  name: Type.String(),
  created: Type.Boolean({ description: "false when an existing registration (same key) was updated" }),
  main: Type.String({ description: "main's own public key" }),
});

export const TokenBody = Type.Object(
  {
    cluster: ClusterName,
    peer: ClusterName,
    ...Signature,
  },
  { additionalProperties: false },
);
export type TokenBody = Static<typeof TokenBody>;

export const TokenAnswer = Type.Object({
  sealed: Type.String({
    contentEncoding: "base64",
    description: "the 2048-byte link token (a netcode connect token), sealed for the dialing cluster",
  }),
  peer: ClusterName,
  peerKey: PublicKey,
  expiresAt: Type.String({ format: "date-time" }),
});

export const Identity = Type.Object({
  name: Type.String(),
  key: PublicKey,
  rendezvous: Type.String({ description: "where link ends heartbeat (UDP ip:port)" }),
  relay: Type.String({ description: "the relay (UDP ip:port), empty when none" }),
});

const Instance = Type.Object({
  instance: Type.String(),
  observed: Type.String(),
  load: Type.Number(),
  live: Type.Boolean(),
  lastSeen: Type.String({ format: "date-time" }),
  links: Type.Array(
    Type.Object({
      peer: Type.String(),
      up: Type.Boolean(),
      via: Type.String(),
      rttMs: Type.Number(),
      loss: Type.Number(),
    }),
  ),
});

export const Cluster = Type.Object({
  name: Type.String(),
  key: Type.String(),
  kind: Type.String(),
  plugins: Type.Array(Type.String()),
  linkAddress: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  registeredAt: Type.String({ format: "date-time" }),
  revoked: Type.Boolean(),
  revokedReason: Type.Union([Type.String(), Type.Null()]),
  instances: Type.Array(Instance),
});

export const ClusterList = Type.Object({ clusters: Type.Array(Cluster) });

export const RevokeBody = Type.Object(
  { reason: Type.Optional(Type.String({ maxLength: 200 })) },
  { additionalProperties: false },
);

export const PairParams = Type.Object({ a: ClusterName, b: ClusterName });
export const NameParams = Type.Object({ name: ClusterName });

export const Policy = Type.Object({
  links: Type.Array(
    Type.Object({ a: Type.String(), b: Type.String(), createdAt: Type.String({ format: "date-time" }) }),
  ),
});

export const ErrorAnswer = Type.Object({
  error: Type.Union(
    [
      Type.Literal("invalid_request"),
      Type.Literal("unauthorized"),
      Type.Literal("bad_signature"),
      Type.Literal("stale_signature"),
      Type.Literal("replayed_signature"),
      Type.Literal("revoked"),
      Type.Literal("name_taken"),
      Type.Literal("key_taken"),
      Type.Literal("not_registered"),
      Type.Literal("not_allowed"),
      Type.Literal("not_dialer"),
      Type.Literal("not_found"),
      Type.Literal("internal"),
    ],
    { description: "a stable code for programs" },
  ),
  reason: Type.String({ description: "what went wrong, in words" }),
  field: Type.Optional(Type.String()),
});
export type ErrorAnswer = Static<typeof ErrorAnswer>;

export const Health = Type.Object({
  service: Type.String(),
  ok: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Boolean()),
});

// ---- main-main ------------------------------------------------------------------------------------

export const MainSyncBody = Type.Object(
  {
    main: ClusterName,
    url: Type.String({ format: "uri", description: "where the parent reaches this main's API" }),
    clusters: Type.Array(
      Type.Object({
        name: ClusterName,
        key: PublicKey,
        instances: Type.Array(
          Type.Object({ instance: Type.String(), observed: Type.String(), live: Type.Boolean() }),
          { maxItems: 64 },
        ),
      }),
      { maxItems: 10_000 },
    ),
    ...Signature,
  },
  { additionalProperties: false },
);
export type MainSyncBody = Static<typeof MainSyncBody>;

export const RemotePeers = Type.Object({
  peers: Type.Array(
    Type.Object({
      cluster: Type.String(),
      peer: Type.String(),
      key: Type.String(),
      address: Type.String(),
      relay: Type.Optional(Type.String()),
      ticket: Type.Optional(Type.String()),
    }),
  ),
});

export const MainTokenBody = Type.Object(
  { main: ClusterName, dialer: ClusterName, dialerKey: PublicKey, acceptor: ClusterName, ...Signature },
  { additionalProperties: false },
);
export type MainTokenBody = Static<typeof MainTokenBody>;

export const MainMintBody = Type.Object(
  { dialer: ClusterName, dialerKey: PublicKey, acceptor: ClusterName, ...Signature },
  { additionalProperties: false },
);

export const SealedToken = Type.Object({
  sealed: Type.String({ contentEncoding: "base64", description: "a link token sealed for the asking main" }),
});

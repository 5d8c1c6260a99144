/**
 * The HTTP API's bodies as JSON Schema (TypeBox), the single source for validation (fastify's Ajv), the
 * handlers' types and the OpenAPI document.
 */
import { USERNAME_MAX_LENGTH, USERNAME_MIN_LENGTH } from "@overworld/service";
import { type Static, Type } from "typebox";

export const PASSWORD_MIN_LENGTH = 8;
export const PASSWORD_MAX_LENGTH = 128;

/** What each field must be, in words: the reason a 400 gives when the field breaks its rules. */
export const FIELD_RULES: Readonly<Record<string, string>> = {
  username: `${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} characters: letters, digits, '_' or '-'`,
  password: `${PASSWORD_MIN_LENGTH} to ${PASSWORD_MAX_LENGTH} characters`,
  loginPassword: `1 to ${PASSWORD_MAX_LENGTH} characters`,
};

const Username = Type.String({
  minLength: USERNAME_MIN_LENGTH,
  maxLength: USERNAME_MAX_LENGTH,
  pattern: "^[A-Za-z0-9_-]+$",
  description: `${FIELD_RULES.username}; unique whatever its case`,
  examples: ["alice"],
});

export const RegisterBody = Type.Object(
  {
    username: Username,
    password: Type.String({
      minLength: PASSWORD_MIN_LENGTH,
      maxLength: PASSWORD_MAX_LENGTH,
      description: FIELD_RULES.password,
      examples: ["correct horse battery staple"],
    }),
  },
  { additionalProperties: false },
);
export type RegisterBody = Static<typeof RegisterBody>;

export const LoginBody = Type.Object(
  {
    username: Username,
    password: Type.String({
      minLength: 1,
      maxLength: PASSWORD_MAX_LENGTH,
      description: FIELD_RULES.loginPassword,
    }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const AccountCreated = Type.Object({
  accountId: Type.Integer({ minimum: 1 }),
});

export const LoginAnswer = Type.Object({
  accountId: Type.Integer({ minimum: 1 }),
  connectToken: Type.String({
    contentEncoding: "base64",
    description: "the 2048-byte netcode.io 1.02 connect token, base64",
  }),
  expiresAt: Type.String({
    format: "date-time",
    description: "when the token stops being accepted for connecting",
  }),
  servers: Type.Array(Type.String(), {
    description: "the client agents' addresses in the token (IP:port), to be tried in order",
  }),
  webSockets: Type.Array(Type.String(), {
    description:
      "the same client agents' WebSocket URLs (ws:// or wss://), for browsers; the token is good there too",
  }),
});
export type LoginAnswer = Static<typeof LoginAnswer>;

export const ErrorAnswer = Type.Object({
  error: Type.Union(
    [
      Type.Literal("invalid_request"),
      Type.Literal("username_taken"),
      Type.Literal("bad_credentials"),
      Type.Literal("rate_limited"),
      Type.Literal("not_found"),
      Type.Literal("unauthorized"),
      Type.Literal("forbidden"),
      Type.Literal("banned"),
      Type.Literal("maintenance"),
      Type.Literal("unavailable"),
      Type.Literal("internal"),
      Type.Literal("request_failed"),
    ],
    { description: "a stable code for programs" },
  ),
  reason: Type.String({ description: "what went wrong, in words" }),
  field: Type.Optional(
    Type.String({
      description: "the field at fault (of the body, the query or the path), for invalid_request",
    }),
  ),
  code: Type.Optional(
    Type.String({
      description:
        "for request_failed: the error code the object answered (`sold_out`), or `timeout` when none came",
    }),
  ),
});
export type ErrorAnswer = Static<typeof ErrorAnswer>;

export const Health = Type.Object({
  service: Type.String(),
  ok: Type.Boolean(),
  checks: Type.Record(Type.String(), Type.Boolean()),
});

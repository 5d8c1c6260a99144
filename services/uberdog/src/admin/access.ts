/**
 * Who may call the admin API: authentication of every call (an API key or a player's admin session, see
 * credentials.ts), the right each route needs (roles.ts), the audit row every call leaves, and the routes
 * of access itself: a player's admin login and logout, `me`, and the operators' API keys.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Type } from "typebox";
import {
  AdminLoginAnswer,
  ApiKeyView,
  CreatedKey,
  CreateKeyBody,
  KeyIdParams,
  KeyList,
  Me,
} from "../admin-schemas.ts";
import type { ApiKey, Bearer } from "../credentials.ts";
import { type ActingRole, type Actor, aRole, mayDo, rightToSet } from "../roles.ts";
import { LoginBody } from "../schemas.ts";
import { type AdminDeps, errors, forbidden, iso, isoOrNull, notFound, problem } from "./context.ts";

const BEARER = /^Bearer ([A-Za-z0-9_-]{1,200})$/;

/** The role a player acts with: the temp admin's, or its stored one if that is an admin role. */
export async function playerRole(
  deps: AdminDeps,
  accountId: number,
  stored: string,
): Promise<ActingRole | undefined> {
  if (stored === "admin") return "admin";
  if ((await deps.tempAdmin.current()) === accountId) return "temp-admin";
  return stored === "moderator" ? "moderator" : undefined;
}

async function actorOf(deps: AdminDeps, bearer: Bearer): Promise<Actor | string> {
  if (bearer.kind === "key") {
    const { key } = bearer;
    return { kind: "key", name: `key:${key.keyId}:${key.name}`, role: key.role };
  }
  const account = await deps.accounts.summary(bearer.accountId);
  if (!account) return "the session's account no longer exists";
  const ban = await deps.bans.inForce(account.accountId, new Date(deps.now()));
  if (ban) return `${account.username} is banned: ${ban.reason}`;
  const role = await playerRole(deps, account.accountId, account.role);
  if (!role) return `${account.username} has no admin role (any more)`;
  return {
    kind: "player",
    name: `player:${account.accountId}:${account.username}`,
    role,
    accountId: account.accountId,
  };
}

function keyView(key: ApiKey) {
  return { ...key, createdAt: iso(key.createdAt), revokedAt: isoOrNull(key.revokedAt) };
}

/** What the audit log keeps of a request: its path parameters, query and body, never a password. */
function auditedRequest(request: FastifyRequest): unknown {
  const body = request.body as Record<string, unknown> | undefined;
  const { password: _secret, ...rest } =
    body && typeof body === "object" ? body : ({} as Record<string, unknown>);
  return {
    params: request.params,
    query: request.query,
    ...(body && typeof body === "object" ? { body: rest } : {}),
  };
}

/**
 * Every admin call: authenticated (401 without a live token), held to its route's right (403), and
 * written to the audit log before it is answered, allowed or not.
 */
export function guard(app: FastifyInstance, deps: AdminDeps): void {
  app.addHook("onRequest", async (request, reply) => {
    const right = request.routeOptions.config.right;
    if (right === "public") return;
    const match = BEARER.exec(request.headers.authorization ?? "");
    const bearer = match ? await deps.credentials.verify(match[1]!, new Date(deps.now())) : undefined;
    if (!bearer) {
      return reply
        .code(401)
        .header("www-authenticate", 'Bearer realm="overworld-admin"')
        .send(
          problem(
            "unauthorized",
            match
              ? "the bearer token is no live API key or admin session: log in again (POST /v1/admin/login) or ask an admin for a key"
              : "send Authorization: Bearer <token>: an API key, or the token of POST /v1/admin/login",
          ),
        );
    }
    const actor = await actorOf(deps, bearer);
    if (typeof actor === "string") return forbidden(reply, actor);
    request.actor = actor;
    if (right !== undefined && !mayDo(actor.role, right)) {
      return forbidden(reply, `${aRole(actor.role)} may not do this (it needs the ${right} right)`);
    }
  });

  // the row is written before the answer leaves, so a caller who has its answer finds its call audited
  app.addHook("onSend", async (request, reply, payload) => {
    let outcome = "ok";
    if (reply.statusCode >= 400) {
      outcome = String(reply.statusCode);
      if (typeof payload === "string") {
        try {
          outcome = String((JSON.parse(payload) as { error?: string }).error ?? reply.statusCode);
        } catch {}
      }
    }
    const params = request.params as Record<string, number> | undefined;
    const target =
      request.auditTarget ??
      (params?.accountId
        ? `account:${params.accountId}`
        : params?.doId
          ? `object:${params.doId}`
          : params?.keyId
            ? `key:${params.keyId}`
            : null);
    const body = request.body as { username?: string } | undefined;
    await deps.audit
      .record({
        at: new Date(deps.now()),
        actor: request.actor?.name ?? (body?.username ? `login:${body.username}` : "anonymous"),
        role: request.actor?.role ?? null,
        method: request.method,
        route: request.routeOptions.url ?? request.url,
        target,
        request: auditedRequest(request),
        status: reply.statusCode,
        outcome,
      })
      .catch((error: unknown) => request.log.error({ err: error }, "the audit row could not be written"));
    return payload;
  });
}

/** Logging in and out, `me`, and the operators' API keys. */
export const access: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  app.post(
    "/login",
    {
      config: { right: "public" },
      schema: {
        tags: ["admin: access"],
        summary: "Log in to the admin API with a game account (an admin, a moderator or the temp admin)",
        security: [],
        body: LoginBody,
        response: { 200: AdminLoginAnswer, ...errors() },
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const taken = await deps.backoff.attempt(request.ip, username);
      if (!taken.allowed) {
        const seconds = Math.max(1, Math.ceil(taken.retryAfterMs / 1000));
        return reply
          .code(429)
          .header("retry-after", String(seconds))
          .send(
            problem(
              "rate_limited",
              `too many failed logins for this username from this address; try again in ${seconds} s`,
            ),
          );
      }
      const account = await deps.accounts.find(username);
      const matches = account
        ? await deps.passwords.verify(password, account.passwordHash)
        : await deps.passwords.verifyNothing(password);
      if (!account || !matches)
        return reply.code(401).send(problem("bad_credentials", "wrong username or password"));
      await deps.backoff.succeeded(request.ip, username);
      const now = new Date(deps.now());
      const ban = await deps.bans.inForce(account.accountId, now);
      if (ban) return reply.code(403).send(problem("banned", `${account.username} is banned: ${ban.reason}`));
      await deps.accounts.recordLogin(account.accountId, now);
      await deps.tempAdmin.evaluate();
      const role = await playerRole(deps, account.accountId, account.role);
      if (!role)
        return forbidden(
          reply,
          `${account.username} has no admin role: admins, moderators and the temp admin may log in here`,
        );
      request.actor = {
        kind: "player",
        name: `player:${account.accountId}:${account.username}`,
        role,
        accountId: account.accountId,
      };
      const session = await deps.credentials.openSession(account.accountId, now);
      return { token: session.token, expiresAt: iso(session.expiresAt), role };
    },
  );

  app.post(
    "/logout",
    {
      // a session whose role was taken away may still end itself
      config: { right: "public" },
      schema: {
        tags: ["admin: access"],
        summary: "End this admin session",
        response: { 204: Type.Null(), ...errors() },
      },
    },
    async (request, reply) => {
      const token = BEARER.exec(request.headers.authorization ?? "")?.[1];
      if (token) await deps.credentials.closeSession(token);
      return reply.code(204).send(null);
    },
  );

  app.get(
    "/me",
    {
      schema: {
        tags: ["admin: access"],
        summary: "Who is calling, with which role",
        response: { 200: Me, ...errors() },
      },
    },
    async (request) => {
      const actor = request.actor!;
      return {
        actor: actor.name,
        kind: actor.kind,
        role: actor.role,
        ...(actor.accountId ? { accountId: actor.accountId } : {}),
      };
    },
  );

  app.get(
    "/keys",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: access"],
        summary: "The operators' API keys (never their secrets)",
        response: { 200: KeyList, ...errors() },
      },
    },
    async () => ({ keys: (await deps.credentials.listKeys()).map(keyView) }),
  );

  app.post(
    "/keys",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: access"],
        summary: "Make an API key (an admin key needs a permanent admin); its token is shown once",
        body: CreateKeyBody,
        response: { 201: CreatedKey, ...errors() },
      },
    },
    async (request, reply) => {
      const actor = request.actor!;
      const { name, role } = request.body;
      if (role === "admin" && !mayDo(actor.role, "grant-admin")) {
        return forbidden(
          reply,
          `${aRole(actor.role)} may not make an admin key: only a permanent admin makes admins`,
        );
      }
      const made = await deps.credentials.createKey(name, role, actor.name, new Date(deps.now()));
      request.auditTarget = `key:${made.key.keyId}`;
      return reply.code(201).send({ key: keyView(made.key), token: made.token });
    },
  );

  app.delete(
    "/keys/:keyId",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: access"],
        summary: "Revoke an API key",
        params: KeyIdParams,
        response: { 200: ApiKeyView, ...errors() },
      },
    },
    async (request, reply) => {
      const key = (await deps.credentials.listKeys()).find((each) => each.keyId === request.params.keyId);
      if (!key || key.revokedAt) return notFound(reply, `live API key ${request.params.keyId}`);
      if (rightToSet(key.role, "player") === "grant-admin" && !mayDo(request.actor!.role, "grant-admin")) {
        return forbidden(reply, `${aRole(request.actor!.role)} may not revoke an admin key`);
      }
      await deps.credentials.revokeKey(key.keyId, new Date(deps.now()));
      return keyView({ ...key, revokedAt: new Date(deps.now()) });
    },
  );
};

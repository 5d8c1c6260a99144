/**
 * Uberdog's HTTP API as a fastify app, built from its dependencies so tests can drive it with
 * `app.inject` (no socket) against a real database:
 *
 *   POST /v1/accounts   {username, password} -> 201 {accountId}       (409 when the username is taken)
 *   POST /v1/login      {username, password} -> 200 {accountId, connectToken, expiresAt, servers, webSockets}
 *   GET  /play/         a web client (PLAY_DIR), when configured; /play/config.json its settings
 *   GET  /dashboard/    the operators' dashboard (DASHBOARD_DIR); /dashboard/config.json its settings
 *   GET  /healthz, GET /metrics, GET /openapi.json
 *
 * Every error is a 4xx or 5xx with `{ error, reason, field? }`: `error` a stable code, `reason` words for
 * people, `field` the body field at fault. A wrong password and an unknown username get the very same
 * 401, after the same scrypt work, so answers do not tell which usernames exist. Logins are limited per
 * client address and, with exponential back-off on failures, per (client address, username) pair;
 * registrations per client address (429 with Retry-After). The limits are kept in Redis, shared by every
 * replica (rate-limit.ts).
 */

import { existsSync } from "node:fs";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import { resolve } from "node:path";
import rateLimit, { type RateLimitOptions } from "@fastify/rate-limit";
import fastifyStatic from "@fastify/static";
import swagger from "@fastify/swagger";
import swaggerUi from "@fastify/swagger-ui";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { messages } from "@overworld/protocol";
import { addHealthRoutes, addressKey, type HealthCheck, type Logger, type Redis } from "@overworld/service";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifySchemaValidationError,
  LogController,
} from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";
import type { AccountStore } from "./accounts.ts";
import { type AdminDeps, adminApi } from "./admin/index.ts";
import type { Bans } from "./bans.ts";
import { BadField } from "./cluster.ts";
import type { Maintenance } from "./maintenance.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import type { PasswordHasher } from "./passwords.ts";
import type { LoginBackoff } from "./rate-limit.ts";
import {
  AccountCreated,
  type ErrorAnswer,
  ErrorAnswer as ErrorSchema,
  Health,
  LoginAnswer,
  LoginBody,
  RegisterBody,
} from "./schemas.ts";
import type { TempAdmin } from "./temp-admin.ts";
import type { TokenIssuer } from "./tokens.ts";

export const SERVICE = "uberdog";
export const API_VERSION = "0.1.0";

export interface RateLimits {
  /** Where the per-address counts are kept: the Redis every replica shares. */
  readonly redis: Redis;
  /** Prefix of the per-address counts' keys, e.g. `ow:uberdog:ip:`. */
  readonly addressPrefix: string;
  /** Login attempts per client address and minute. */
  readonly loginsPerAddressPerMinute: number;
  /** Registrations per client address and minute. */
  readonly registrationsPerAddressPerMinute: number;
  /** Exponential back-off on failed logins per (client address, username) pair. */
  readonly backoff: LoginBackoff;
}

export interface UberdogDeps {
  readonly accounts: AccountStore;
  readonly passwords: PasswordHasher;
  readonly tokens: TokenIssuer;
  readonly limits: RateLimits;
  /** A banned account's logins are refused. */
  readonly bans: Bans;
  /** While it is on, logins are refused with its reason. */
  readonly maintenance: Maintenance;
  /** Evaluated after every login. */
  readonly tempAdmin: TempAdmin;
  /** Uberdog's clock, ms since the epoch (Date.now; tests set their own). */
  readonly now: () => number;
  /** The admin API's (absent: accounts and login only, as the login tests build the app). */
  readonly admin?: AdminDeps;
  /** Where /metrics reads from (a fresh registry when absent). */
  readonly metrics?: Registry;
  /** What /healthz checks besides the account store. */
  readonly checks?: Record<string, HealthCheck>;
  /** Fastify logs through it; silent when absent. */
  readonly log?: Logger;
  /** True behind a reverse proxy: the client address comes from X-Forwarded-For. */
  readonly trustProxy?: boolean;
  /** The client agents' WebSocket URLs, answered with every login. */
  readonly webSockets?: readonly string[];
  /** A web client served at /play/, and the cluster version it says hello with. */
  readonly play?: { readonly dir: string; readonly version: string };
  /** The dashboard's files, served at /dashboard/ (when they are built), and the world its map opens on. */
  readonly dashboard?: { readonly dir: string; readonly parentId: number };
}

/** The largest body accepted: two short strings fit many times over. */
const BODY_LIMIT_BYTES = 4096;
const BAD_CREDENTIALS = "wrong username or password";
const MS_PER_SECOND = 1000;
const MS_PER_MINUTE = 60_000;

/** A request over a per-address limit: answered 429 `rate_limited` (Retry-After is already set). */
class TooManyRequests extends Error {
  readonly statusCode = 429;
}

/** Builds the app (routes, validation, OpenAPI, health and metrics); it is not listening yet. */
export async function buildApp(deps: UberdogDeps): Promise<FastifyInstance> {
  const registry = deps.metrics ?? new Registry();
  registry.setDefaultLabels({ service: SERVICE });
  collectDefaultMetrics({ register: registry });
  const metrics = createMetrics(registry);

  const app = Fastify({
    ...(deps.log ? { loggerInstance: deps.log as FastifyBaseLogger } : { logger: false }),
    // the handlers log what matters (never a password); fastify's per-request lines are left out
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    trustProxy: deps.trustProxy ?? false,
    // strict bodies: no type coercion (123 is not a username), unknown fields refused rather than dropped
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
    // what fastify refuses before any route (a URL it cannot read, a bad content type) is answered alike
    frameworkErrors: (error, _request, reply: FastifyReply) => {
      const status = error.statusCode !== undefined && error.statusCode < 500 ? error.statusCode : 400;
      return reply.code(status).send(problem("invalid_request", error.message));
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Overworld uberdog",
        version: API_VERSION,
        description:
          "Accounts and login: a successful login returns a netcode.io connect token for the client agents.",
      },
      tags: [
        { name: "accounts", description: "Registering and logging in" },
        { name: "operations", description: "Health and metrics" },
        { name: "admin: access", description: "Logging in to the admin API, API keys, the audit log" },
        { name: "admin: cluster", description: "Status, the event log, maintenance mode" },
        { name: "admin: objects", description: "Distributed objects, through the state server" },
        { name: "admin: players", description: "Players: kick, ban, roles, broadcasts, the temp admin" },
      ],
      components: {
        securitySchemes: {
          bearer: {
            type: "http",
            scheme: "bearer",
            description: "an API key (owk_...) or the token of POST /v1/admin/login (ows_...)",
          },
        },
      },
    },
    // the admin routes need a bearer token unless they say otherwise
    transform: ({ schema, url }) => ({
      schema:
        url.startsWith("/v1/admin/") && schema && !("security" in schema)
          ? { ...schema, security: [{ bearer: [] }] }
          : schema,
      url,
    }),
  });
  await app.register(swaggerUi, { routePrefix: "/docs" });
  await app.register(rateLimit, {
    global: false, // only the routes that ask (their config.rateLimit)
    redis: deps.limits.redis,
    nameSpace: deps.limits.addressPrefix,
    keyGenerator: (request) => addressKey(request.ip),
    skipOnError: false, // Redis down: the request fails (500) rather than go unlimited
  });
  app.setErrorHandler((error: FastifyError, request, reply) => answerError(error, request, reply, metrics));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(problem("not_found", `no route ${request.method} ${request.url}`)),
  );

  addAccountRoutes(app, deps, metrics);
  addOperationRoutes(app, deps, registry);
  if (deps.play) await addPlayRoutes(app, deps.play);
  if (deps.dashboard) await addDashboardRoutes(app, deps.dashboard);
  if (deps.admin) await app.register(adminApi, { deps: deps.admin, prefix: "/v1/admin" });
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

function addAccountRoutes(app: App, deps: UberdogDeps, metrics: Metrics): void {
  const { accounts, passwords, tokens, limits } = deps;
  const timed = async <T>(work: Promise<T>): Promise<T> => {
    const stop = metrics.passwordSeconds.startTimer();
    try {
      return await work;
    } finally {
      stop();
    }
  };

  app.post(
    "/v1/accounts",
    {
      schema: {
        tags: ["accounts"],
        summary: "Register an account",
        body: RegisterBody,
        response: { 201: AccountCreated, 400: ErrorSchema, 409: ErrorSchema, 429: ErrorSchema },
      },
      config: {
        rateLimit: perAddress(limits.registrationsPerAddressPerMinute, "too many registrations", () =>
          metrics.registrations.inc({ result: "rate_limited" }),
        ),
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const hash = await timed(passwords.hash(password));
      const accountId = await accounts.create(username, hash, new Date(deps.now()));
      if (accountId === null) {
        metrics.registrations.inc({ result: "taken" });
        return reply
          .code(409)
          .send(problem("username_taken", `the username "${username}" is taken`, "username"));
      }
      metrics.registrations.inc({ result: "created" });
      request.log.info({ accountId, username }, "account created");
      return reply.code(201).send({ accountId });
    },
  );

  app.post(
    "/v1/login",
    {
      schema: {
        tags: ["accounts"],
        summary: "Log in: returns a connect token for the client agents",
        body: LoginBody,
        response: {
          200: LoginAnswer,
          400: ErrorSchema,
          401: ErrorSchema,
          403: ErrorSchema,
          429: ErrorSchema,
          503: ErrorSchema,
        },
      },
      config: {
        rateLimit: perAddress(limits.loginsPerAddressPerMinute, "too many login attempts", () =>
          metrics.logins.inc({ result: "rate_limited" }),
        ),
      },
    },
    async (request, reply) => {
      const { username, password } = request.body;
      const maintenance = await deps.maintenance.state();
      if (maintenance) {
        metrics.logins.inc({ result: "maintenance" });
        return reply
          .code(503)
          .send(problem("maintenance", `the cluster is down for maintenance: ${maintenance.reason}`));
      }
      const taken = await limits.backoff.attempt(request.ip, username);
      if (!taken.allowed) {
        metrics.logins.inc({ result: "rate_limited" });
        return tooMany(
          reply,
          taken.retryAfterMs,
          "too many failed logins for this username from this address",
        );
      }
      const account = await accounts.find(username);
      const matches = account
        ? await timed(passwords.verify(password, account.passwordHash))
        : await timed(passwords.verifyNothing(password));
      if (!account || !matches) {
        metrics.logins.inc({ result: "bad_credentials" });
        request.log.info({ username }, "login refused");
        return reply.code(401).send(problem("bad_credentials", BAD_CREDENTIALS));
      }
      await limits.backoff.succeeded(request.ip, username);
      const now = new Date(deps.now());
      const ban = await deps.bans.inForce(account.accountId, now);
      if (ban) {
        metrics.logins.inc({ result: "banned" });
        const until = ban.until ? ` until ${ban.until.toISOString()}` : "";
        return reply
          .code(403)
          .send(problem("banned", `${account.username} is banned${until}: ${ban.reason}`));
      }
      const rehashed = passwords.needsRehash(account.passwordHash)
        ? await timed(passwords.hash(password))
        : undefined;
      await accounts.recordLogin(account.accountId, now, rehashed);
      // a longer-standing player logging in may take the temp admin over; an admin ends its term
      await deps.tempAdmin
        .evaluate()
        .catch((error: unknown) => request.log.error({ err: error }, "the temp-admin rule failed"));
      const issued = tokens.issue({ accountId: account.accountId, username: account.username });
      metrics.logins.inc({ result: "ok" });
      request.log.info({ accountId: account.accountId, rehashed: rehashed !== undefined }, "logged in");
      return reply.code(200).send({
        accountId: account.accountId,
        connectToken: Buffer.from(issued.connectToken).toString("base64"),
        expiresAt: issued.expiresAt.toISOString(),
        servers: [...issued.servers],
        webSockets: [...(deps.webSockets ?? [])],
      });
    },
  );
}

/** The web client's files, and its settings (the version to say hello with). */
async function addPlayRoutes(
  app: App,
  play: { readonly dir: string; readonly version: string },
): Promise<void> {
  app.get("/play/config.json", { schema: { hide: true } }, async () => ({ version: play.version }));
  await app.register(fastifyStatic, { root: resolve(play.dir), prefix: "/play/" });
  app.get("/play", { schema: { hide: true } }, async (_request, reply) => reply.redirect("/play/"));
}

/**
 * The dashboard (services/uberdog/web, built by `pnpm build:web`): its own login is the admin API's, its
 * live data the admin API's /live feed. Not built: /dashboard/ says how to build it.
 */
async function addDashboardRoutes(
  app: App,
  dashboard: { readonly dir: string; readonly parentId: number },
): Promise<void> {
  app.get("/dashboard", { schema: { hide: true } }, async (_request, reply) => reply.redirect("/dashboard/"));
  app.get("/dashboard/config.json", { schema: { hide: true } }, async () => ({
    parentId: dashboard.parentId,
  }));
  if (!existsSync(resolve(dashboard.dir, "index.html"))) {
    app.get("/dashboard/*", { schema: { hide: true } }, async (_request, reply) =>
      reply
        .code(404)
        .send(
          problem(
            "not_found",
            `the dashboard is not built (no index.html in ${dashboard.dir}): run pnpm build:web`,
          ),
        ),
    );
    return;
  }
  await app.register(fastifyStatic, {
    root: resolve(dashboard.dir),
    prefix: "/dashboard/",
    decorateReply: false,
  });
}

function addOperationRoutes(app: App, deps: UberdogDeps, registry: Registry): void {
  const checks: Record<string, HealthCheck> = { postgres: () => deps.accounts.ping(), ...deps.checks };
  addHealthRoutes(app, {
    service: SERVICE,
    checks,
    schema: {
      healthz: {
        tags: ["operations"],
        summary: "200 when every dependency answers, 503 naming the checks that fail",
        response: { 200: Health, 503: Health },
      },
      livez: { tags: ["operations"], summary: "200 while the process answers (a liveness probe)" },
    },
  });
  app.get(
    "/metrics",
    { schema: { tags: ["operations"], summary: "Prometheus metrics (text format)" } },
    async (_request, reply) =>
      reply.header("content-type", registry.contentType).send(await registry.metrics()),
  );
}

function problem(error: ErrorAnswer["error"], reason: string, field?: string): ErrorAnswer {
  return field === undefined ? { error, reason } : { error, reason, field };
}

function retryAfterSeconds(retryAfterMs: number): number {
  return Math.max(1, Math.ceil(retryAfterMs / MS_PER_SECOND));
}

function tooMany(reply: FastifyReply, retryAfterMs: number, what: string): FastifyReply {
  const seconds = retryAfterSeconds(retryAfterMs);
  return reply
    .code(429)
    .header("retry-after", String(seconds))
    .send(problem("rate_limited", `${what}; try again in ${seconds} s`));
}

/** A route's limit per client address and minute (@fastify/rate-limit sets Retry-After when it refuses). */
function perAddress(max: number, what: string, count: () => void): RateLimitOptions {
  return {
    max,
    timeWindow: MS_PER_MINUTE,
    errorResponseBuilder: (_request, context) => {
      count();
      return new TooManyRequests(
        `${what} from this address; try again in ${retryAfterSeconds(context.ttl)} s`,
      );
    },
  };
}

/** Validation errors name the field; other client errors keep their status; the rest are 500s. */
function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply, metrics: Metrics) {
  if (error instanceof TooManyRequests) return reply.code(429).send(problem("rate_limited", error.message));
  if (error instanceof BadField)
    return reply.code(400).send(problem("invalid_request", error.message, error.field));
  if (error instanceof messages.RequestError) return answerRefusal(error, reply);
  if (error.validation && error.validation.length > 0) {
    countInvalid(request, metrics);
    const { field, reason } = describeInvalid(error.validation[0]!, error.validationContext, request);
    return reply.code(400).send(problem("invalid_request", reason, field));
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    countInvalid(request, metrics);
    return reply.code(status).send(problem("invalid_request", error.message));
  }
  request.log.error({ err: error, url: request.url }, "request failed");
  return reply.code(500).send(problem("internal", "the server failed to answer; it has been logged"));
}

/** What the cluster refused (the state server, the director), as the HTTP answer it deserves. */
function answerRefusal(error: messages.RequestError, reply: FastifyReply) {
  switch (error.code) {
    case "unknown_object":
    case "not_found":
      return reply.code(404).send(problem("not_found", error.message));
    case "forbidden":
      return reply.code(403).send(problem("forbidden", error.message));
    case "unavailable":
      return reply.code(503).send(problem("unavailable", `the cluster did not answer: ${error.message}`));
    case "internal":
      return reply.code(500).send(problem("internal", error.message));
    default:
      return reply.code(400).send(problem("invalid_request", error.message));
  }
}

function countInvalid(request: FastifyRequest, metrics: Metrics): void {
  if (request.routeOptions.url === "/v1/login") metrics.logins.inc({ result: "invalid" });
  if (request.routeOptions.url === "/v1/accounts") metrics.registrations.inc({ result: "invalid" });
}

interface BodySchema {
  readonly properties?: Record<string, { readonly description?: string }>;
}

/** The field at fault and what is wrong with it, in words. */
function describeInvalid(
  issue: FastifySchemaValidationError,
  context: string | undefined,
  request: FastifyRequest,
): { field?: string; reason: string } {
  const part = context === "querystring" ? "query string" : context === "params" ? "path" : "body";
  const schemas = request.routeOptions.schema;
  const schema = (
    context === "querystring" ? schemas?.querystring : context === "params" ? schemas?.params : schemas?.body
  ) as BodySchema | undefined;
  const fields = Object.keys(schema?.properties ?? {});
  const params = issue.params as Record<string, unknown>;
  if (issue.keyword === "required") {
    const field = [...issue.instancePath.split("/").filter(Boolean), String(params.missingProperty)].join(
      ".",
    );
    return { field, reason: `${field}: required` };
  }
  if (issue.keyword === "additionalProperties") {
    const field = String(params.additionalProperty);
    return { field, reason: `${field}: not a field of this request (it takes ${fields.join(", ")})` };
  }
  const field = issue.instancePath.split("/").filter(Boolean).join(".");
  if (field === "") return { reason: `the ${part} must be a JSON object with ${fields.join(", ")}` };
  const rule = schema?.properties?.[field]?.description;
  if (issue.keyword === "type") return { field, reason: `${field}: must be a ${String(params.type)}` };
  return { field, reason: `${field}: ${issue.message ?? "is not valid"}${rule ? `; expected ${rule}` : ""}` };
}

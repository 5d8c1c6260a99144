/**
 * Main's HTTP API as a fastify app, built from its dependencies so tests drive it with `app.inject`:
 *
 *   GET    /v1/identity                 main's name, public key, rendezvous and relay addresses
 *   POST   /v1/clusters                 a cluster registers (signed with its key)       -> 201 / 200
 *   POST   /v1/links/token              a cluster asks for a link token (signed)        -> the token, sealed for it
 *   GET    /v1/clusters                 the directory (operator)
 *   GET    /v1/clusters/:name           one cluster (operator)
 *   POST   /v1/clusters/:name/revoke    revokes a cluster's key for good (operator)
 *   GET    /v1/policy                   the pairs allowed to link (operator)
 *   PUT    /v1/policy/:a/:b             lets a and b link (operator)
 *   DELETE /v1/policy/:a/:b             stops them linking; their link comes down (operator)
 *   POST   /v1/plugin-messages      a cluster passes a plugin message to a main plugin (signed; main-plugins.ts)
 *   POST   /v1/packages, GET /v1/packages/:name/:version, GET /v1/files/:sha256
 *                                       published plugins and assets (packages.ts)
 *   GET    /healthz, /metrics, /openapi.json
 *
 * The operator authenticates with `Authorization: Bearer <ADMIN_TOKEN>`. A cluster authenticates by
 * signing: each body carries `at` and an Ed25519 `signature` (libs/federation signed.ts) that main checks
 * against the key the cluster registered. Errors are `{ error, reason, field? }` with a 4xx or 5xx.
 */
import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, Server, ServerResponse } from "node:http";
import swagger from "@fastify/swagger";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import {
  dials,
  encodeKey,
  mintLinkToken,
  mintTicket,
  openBox,
  pairId,
  type SigningKey,
  sealBox,
  signBody,
  tokenSealContext,
} from "@overworld/federation";
import { addHealthRoutes, type HealthCheck, type Logger } from "@overworld/service";
import Fastify, {
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  LogController,
} from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";
import { type PairKeyCache, TICKET_LIFETIME_MS } from "./broker.ts";
import type { ChildClusters, ClusterRecord, Directory, InstanceRecord } from "./directory.ts";
import { addMainPluginRoutes, addPendingRoute, type MainPlugins, type PluginOutbox } from "./main-plugins.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { addPackageRoutes, type PackageStore } from "./packages.ts";
import { type ParentLink, postJson, type RemotePeer } from "./parent.ts";
import { addPluginSetRoutes, type PluginSetStore } from "./plugin-sets.ts";
import {
  Cluster,
  ClusterList,
  type ErrorAnswer,
  ErrorAnswer as ErrorSchema,
  Health,
  Identity,
  MainMintBody,
  MainSyncBody,
  MainTokenBody,
  NameParams,
  PairParams,
  Policy,
  RegisterBody,
  Registered,
  RemotePeers,
  RevokeBody,
  SealedToken,
  TokenAnswer,
  TokenBody,
} from "./schemas.ts";
import { checkSignedOnce, type OnceCheck } from "./signatures.ts";

export const SERVICE = "signaling";
export const API_VERSION = "0.1.0";
const BODY_LIMIT_BYTES = 16 * 1024;

export interface SignalingDeps {
  readonly directory: Directory;
  readonly main: SigningKey;
  readonly name: string;
  readonly keys: PairKeyCache;
  /** The operator's bearer token. */
  readonly adminToken: string;
  /** Where link ends heartbeat and the relay listens (`ip:port`; "" for no relay). */
  readonly rendezvous: () => string;
  readonly relay: () => string;
  /** How long a link token may be used to connect, and the silence after which a link is lost. */
  readonly tokenSeconds: number;
  readonly timeoutSeconds: number;
  readonly metrics?: Registry;
  /** Main's counters on that registry, when the rest of main made them already. */
  readonly counters?: Metrics;
  readonly checks?: Record<string, HealthCheck>;
  readonly log?: Logger;
  readonly now?: () => number;
  /** What child mains tell of their clusters (main-main). */
  readonly children?: ChildClusters;
  /** This main's parent, when it has one. */
  readonly parent?: ParentLink;
  /** The relay's ticket key: links across child mains are relayed here. */
  readonly relayKey?: Uint8Array;
  /** Published plugins and assets (packages.ts), when main serves them. */
  readonly packages?: PackageStore;
  /** Plugin sets pushed to clusters (plugin-sets.ts), with `packages`. */
  readonly pluginSets?: PluginSetStore;
  /** Main-side plugins, by name (main-plugins.ts): what clusters and their clients send them. */
  readonly mainPlugins?: MainPlugins;
  /** What main's plugins send clusters first, until their link ends take it (main-plugins.ts). */
  readonly pluginOutbox?: PluginOutbox;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: ErrorAnswer["error"],
    message: string,
  ) {
    super(message);
  }
}

type App = FastifyInstance<Server, IncomingMessage, ServerResponse, FastifyBaseLogger, TypeBoxTypeProvider>;

export async function buildApp(deps: SignalingDeps): Promise<FastifyInstance> {
  const registry = deps.metrics ?? new Registry();
  registry.setDefaultLabels({ service: SERVICE });
  if (!deps.metrics) collectDefaultMetrics({ register: registry });
  const metrics = deps.counters ?? createMetrics(registry);
  const app = Fastify({
    ...(deps.log ? { loggerInstance: deps.log as FastifyBaseLogger } : { logger: false }),
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT_BYTES,
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();
  await app.register(swagger, {
    openapi: {
      openapi: "3.1.0",
      info: {
        title: "Overworld main (signaling)",
        version: API_VERSION,
        description:
          "The directory of clusters, the policy of who may link, and link tokens. Clusters sign their requests with their Ed25519 key; the operator uses a bearer token.",
      },
      components: { securitySchemes: { operator: { type: "http", scheme: "bearer" } } },
      tags: [
        { name: "clusters", description: "What clusters do: register, ask for link tokens" },
        { name: "operator", description: "The directory and the policy" },
        {
          name: "mains",
          description: "Main-main: child mains under this one, and this one under its parent",
        },
        { name: "operations", description: "Health and metrics" },
      ],
    },
  });
  app.setErrorHandler((error: FastifyError, request, reply) => answerError(error, request, reply));
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(problem("not_found", `no route ${request.method} ${request.url}`)),
  );
  addClusterRoutes(app, deps, metrics);
  addMainRoutes(app, deps, metrics);
  addOperatorRoutes(app, deps);
  if (deps.packages) {
    addPackageRoutes(app, {
      store: deps.packages,
      main: deps.main,
      operator: operatorCheck(deps.adminToken),
    });
    if (deps.pluginSets) {
      addPluginSetRoutes(app, {
        sets: deps.pluginSets,
        packages: deps.packages,
        directory: deps.directory,
        operator: operatorCheck(deps.adminToken),
        now: deps.now ?? Date.now,
      });
    }
  }
  addMainPluginRoutes(app, {
    plugins: deps.mainPlugins ?? {},
    directory: deps.directory,
    now: deps.now ?? Date.now,
  });
  if (deps.pluginOutbox) {
    addPendingRoute(app, { outbox: deps.pluginOutbox, directory: deps.directory, now: deps.now ?? Date.now });
  }
  addOperationRoutes(app, deps, registry);
  app.get("/openapi.json", { schema: { hide: true } }, async () => app.swagger());
  return app;
}

function addClusterRoutes(app: App, deps: SignalingDeps, metrics: Metrics): void {
  const now = deps.now ?? Date.now;
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema, 409: ErrorSchema };

  app.get(
    "/v1/identity",
    {
      schema: { tags: ["clusters"], summary: "Main's name, key and addresses", response: { 200: Identity } },
    },
    async () => ({
      name: deps.name,
      key: encodeKey(deps.main.publicKey),
      rendezvous: deps.rendezvous(),
      relay: deps.relay(),
    }),
  );

  app.post(
    "/v1/clusters",
    {
      schema: {
        tags: ["clusters"],
        summary: "Register a cluster (or a child main) under its name and key; signed with that key",
        body: RegisterBody,
        response: { 200: Registered, 201: Registered, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const signed = await checkSignedOnce(deps.directory, body.key, "register", body, now());
      if (!signed.ok) {
        metrics.registrations.inc({ result: signed.reason });
        throw new ApiError(401, signed.reason, signatureReason(signed.reason));
      }
      const result = await deps.directory.register({
        name: body.name,
        publicKey: body.key,
        kind: body.kind ?? "cluster",
        plugins: body.plugins,
        linkAddress: body.linkAddress ?? null,
        tags: body.tags ?? [],
      });
      if (!result.ok) {
        metrics.registrations.inc({ result: result.reason });
        if (result.reason === "revoked")
          throw new ApiError(403, "revoked", "this key was revoked by the operator");
        if (result.reason === "name_taken") {
          throw new ApiError(409, "name_taken", `the name "${body.name}" is registered under another key`);
        }
        throw new ApiError(409, "key_taken", "this key is registered under another name");
      }
      metrics.registrations.inc({ result: result.created ? "created" : "updated" });
      request.log.info({ cluster: body.name, created: result.created }, "cluster registered");
      return reply
        .code(result.created ? 201 : 200)
        .send({ name: body.name, created: result.created, main: encodeKey(deps.main.publicKey) });
    },
  );

  app.post(
    "/v1/links/token",
    {
      schema: {
        tags: ["clusters"],
        summary: "A link token for the dialing cluster to link to a peer; signed with the dialer's key",
        body: TokenBody,
        response: { 200: TokenAnswer, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      const refuse = (status: number, code: ErrorAnswer["error"], reason: string): never => {
        metrics.tokens.inc({ result: code });
        request.log.info({ cluster: body.cluster, peer: body.peer, code }, `link token refused: ${reason}`);
        throw new ApiError(status, code, reason);
      };
      const cluster = await deps.directory.find(body.cluster);
      if (cluster === undefined) return refuse(401, "not_registered", `${body.cluster} is not registered`);
      const signed = await checkSignedOnce(deps.directory, cluster.publicKey, "link-token", body, now());
      if (!signed.ok) return refuse(401, signed.reason, signatureReason(signed.reason));
      if (cluster.revokedAt !== null) return refuse(403, "revoked", `the key of ${body.cluster} is revoked`);
      const peer = await deps.directory.find(body.peer);
      const remote = peer === undefined ? deps.parent?.remotePeer(body.cluster, body.peer) : undefined;
      if (remote !== undefined) {
        // a cluster under another main: its main mints the token, through the parent
        if (!dials(body.cluster, body.peer)) {
          return refuse(403, "not_dialer", `${body.peer} dials ${body.cluster}, not the other way round`);
        }
        const token = await deps
          .parent!.remoteToken(body.cluster, cluster.publicKey, body.peer)
          .catch((error: unknown) =>
            refuse(403, "not_allowed", `the parent main minted no token: ${(error as Error).message}`),
          );
        const sealed = sealBox(
          deps.keys.get(cluster.publicKey).seal,
          token,
          tokenSealContext(body.cluster, body.peer),
        );
        metrics.tokens.inc({ result: "minted_remote" });
        request.log.info({ cluster: body.cluster, peer: body.peer }, "link token minted by the peer's main");
        return {
          sealed: Buffer.from(sealed).toString("base64"),
          peer: body.peer,
          peerKey: remote.key,
          expiresAt: new Date(now() + deps.tokenSeconds * 1000).toISOString(),
        };
      }
      if (peer === undefined || peer.revokedAt !== null) {
        return refuse(404, "not_found", `${body.peer} is not a registered cluster`);
      }
      if (!(await deps.directory.allowed(body.cluster, body.peer))) {
        return refuse(403, "not_allowed", `the operator does not let ${body.cluster} and ${body.peer} link`);
      }
      if (!dials(body.cluster, body.peer)) {
        return refuse(403, "not_dialer", `${body.peer} dials ${body.cluster}, not the other way round`);
      }
      const minted = mintLinkToken({
        dialer: body.cluster,
        dialerKey: new Uint8Array(Buffer.from(cluster.publicKey, "base64")),
        acceptor: body.peer,
        acceptorTokenKey: deps.keys.get(peer.publicKey).token,
        expireSeconds: deps.tokenSeconds,
        timeoutSeconds: deps.timeoutSeconds,
        nowSeconds: Math.floor(now() / 1000),
      });
      const sealed = sealBox(
        deps.keys.get(cluster.publicKey).seal,
        minted.token,
        tokenSealContext(body.cluster, body.peer),
      );
      metrics.tokens.inc({ result: "minted" });
      request.log.info({ cluster: body.cluster, peer: body.peer }, "link token minted");
      return {
        sealed: Buffer.from(sealed).toString("base64"),
        peer: peer.name,
        peerKey: peer.publicKey,
        expiresAt: new Date(minted.expiresAt).toISOString(),
      };
    },
  );
}

/**
 * Main-main (parent.ts): a child main tells its clusters and learns their remote peers (`sync`), asks for a
 * token to a cluster under another child (`token`), which this main has that cluster's main mint (`mint`,
 * asked of a child by its parent).
 */
function addMainRoutes(app: App, deps: SignalingDeps, metrics: Metrics): void {
  const now = deps.now ?? Date.now;
  /** This main's relay and a ticket for `cluster`'s side of its link with `peer`, when it runs one. */
  const crossMainRelay = (cluster: string, peer: string): { relay?: string; ticket?: string } => {
    const relay = deps.relay();
    if (!relay || deps.relayKey === undefined) return {};
    const side = dials(cluster, peer) ? 0 : 1;
    const ticket = mintTicket(deps.relayKey, {
      pair: pairId(cluster, peer),
      side,
      expiresAt: now() + TICKET_LIFETIME_MS,
    });
    return { relay, ticket: Buffer.from(ticket).toString("hex") };
  };
  const errors = { 400: ErrorSchema, 401: ErrorSchema, 403: ErrorSchema, 404: ErrorSchema };
  const childMain = async (name: string, purpose: string, body: { at: number; signature: string }) => {
    const child = await deps.directory.find(name);
    if (child === undefined || child.kind !== "main")
      throw new ApiError(401, "not_registered", `${name} is not a child main`);
    const signed = await checkSignedOnce(deps.directory, child.publicKey, purpose, body as never, now());
    if (!signed.ok) throw new ApiError(401, signed.reason, signatureReason(signed.reason));
    if (child.revokedAt !== null) throw new ApiError(403, "revoked", `the key of ${name} is revoked`);
    return child;
  };

  app.post(
    "/v1/mains/sync",
    {
      schema: {
        tags: ["mains"],
        summary: "A child main tells its clusters; the answer: their peers under other mains",
        body: MainSyncBody,
        response: { 200: RemotePeers, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      await childMain(body.main, "main-sync", body);
      const children = deps.children!;
      await children.sync(
        body.main,
        body.url,
        body.clusters.map((cluster) => ({
          name: cluster.name,
          publicKey: cluster.key,
          instances: cluster.instances,
        })),
      );
      const all = await children.all();
      const policy = await deps.directory.policy();
      const peers: RemotePeer[] = [];
      for (const mine of body.clusters) {
        for (const pair of policy) {
          if (pair.a !== mine.name && pair.b !== mine.name) continue;
          const other = all.find((cluster) => cluster.name === (pair.a === mine.name ? pair.b : pair.a));
          if (other === undefined || other.main === body.main || !other.fresh) continue;
          const live = other.instances.find((instance) => instance.live);
          peers.push({
            cluster: mine.name,
            peer: other.name,
            key: other.publicKey,
            address: live?.observed ?? "",
            ...crossMainRelay(mine.name, other.name),
          });
        }
      }
      return { peers };
    },
  );

  app.post(
    "/v1/mains/token",
    {
      schema: {
        tags: ["mains"],
        summary: "A child main asks for a link token to a cluster under another child main",
        body: MainTokenBody,
        response: { 200: SealedToken, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      const child = await childMain(body.main, "main-token", body);
      const children = deps.children!;
      const dialer = await children.find(body.dialer);
      if (dialer === undefined || dialer.main !== body.main || dialer.publicKey !== body.dialerKey) {
        throw new ApiError(403, "not_allowed", `${body.dialer} is not a cluster of ${body.main}`);
      }
      const acceptor = await children.find(body.acceptor);
      if (acceptor === undefined || acceptor.main === body.main) {
        throw new ApiError(404, "not_found", `${body.acceptor} is not a cluster under another main`);
      }
      if (!(await deps.directory.allowed(body.dialer, body.acceptor))) {
        throw new ApiError(
          403,
          "not_allowed",
          `the operator does not let ${body.dialer} and ${body.acceptor} link`,
        );
      }
      if (!dials(body.dialer, body.acceptor))
        throw new ApiError(403, "not_dialer", `${body.acceptor} dials, not ${body.dialer}`);
      const acceptorMain = await deps.directory.find(acceptor.main);
      if (acceptorMain === undefined || acceptorMain.revokedAt !== null) {
        throw new ApiError(404, "not_found", `the main of ${body.acceptor} is not registered`);
      }
      const context = tokenSealContext(body.dialer, body.acceptor);
      const minted = await postJson<{ sealed: string }>(
        acceptor.mainUrl,
        "/v1/mains/mint",
        signBody(deps.main, "main-mint", {
          dialer: body.dialer,
          dialerKey: body.dialerKey,
          acceptor: body.acceptor,
        }),
      );
      const token = openBox(
        deps.keys.get(acceptorMain.publicKey).seal,
        Buffer.from(minted.sealed, "base64"),
        context,
      );
      if (token === null)
        throw new ApiError(403, "not_allowed", `the token of ${acceptor.main} did not open`);
      metrics.tokens.inc({ result: "relayed_to_child" });
      return {
        sealed: Buffer.from(sealBox(deps.keys.get(child.publicKey).seal, token, context)).toString("base64"),
      };
    },
  );

  app.post(
    "/v1/mains/mint",
    {
      schema: {
        tags: ["mains"],
        summary: "The parent main asks this main to mint a token to one of its clusters for a remote dialer",
        body: MainMintBody,
        response: { 200: SealedToken, ...errors },
      },
    },
    async (request) => {
      const body = request.body;
      const parent = deps.parent;
      if (parent === undefined) throw new ApiError(404, "not_found", "this main has no parent");
      const signed = await checkSignedOnce(deps.directory, parent.parentKey, "main-mint", body, now());
      if (!signed.ok) throw new ApiError(401, signed.reason, signatureReason(signed.reason));
      const acceptor = await deps.directory.find(body.acceptor);
      if (acceptor === undefined || acceptor.revokedAt !== null) {
        throw new ApiError(404, "not_found", `${body.acceptor} is not a cluster of this main`);
      }
      const minted = mintLinkToken({
        dialer: body.dialer,
        dialerKey: new Uint8Array(Buffer.from(body.dialerKey, "base64")),
        acceptor: body.acceptor,
        acceptorTokenKey: deps.keys.get(acceptor.publicKey).token,
        expireSeconds: deps.tokenSeconds,
        timeoutSeconds: deps.timeoutSeconds,
        nowSeconds: Math.floor(now() / 1000),
      });
      metrics.tokens.inc({ result: "minted_for_parent" });
      const sealed = sealBox(parent.keys.seal, minted.token, tokenSealContext(body.dialer, body.acceptor));
      return { sealed: Buffer.from(sealed).toString("base64") };
    },
  );
}

/** An `onRequest` hook that refuses (401) a request without the operator's bearer token. */
function operatorCheck(adminToken: string): (request: FastifyRequest) => Promise<void> {
  const expected = Buffer.from(`Bearer ${adminToken}`);
  return async (request: FastifyRequest) => {
    const given = Buffer.from(request.headers.authorization ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new ApiError(
        401,
        "unauthorized",
        "the operator's routes need Authorization: Bearer <ADMIN_TOKEN>",
      );
    }
  };
}

function addOperatorRoutes(app: App, deps: SignalingDeps): void {
  const operator = operatorCheck(deps.adminToken);
  const security = [{ operator: [] }];
  const errors = { 401: ErrorSchema, 404: ErrorSchema };

  const describe = async (clusters: ClusterRecord[]) => {
    const instances = await deps.directory.instances(clusters.map((cluster) => cluster.name));
    return clusters.map((cluster) => clusterView(cluster, instances));
  };

  app.get(
    "/v1/clusters",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary: "The directory",
        security,
        response: { 200: ClusterList, ...errors },
      },
    },
    async () => ({ clusters: await describe(await deps.directory.list()) }),
  );

  app.get(
    "/v1/clusters/:name",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary: "One cluster",
        security,
        params: NameParams,
        response: { 200: Cluster, ...errors },
      },
    },
    async (request) => {
      const cluster = await deps.directory.find(request.params.name);
      if (cluster === undefined) throw new ApiError(404, "not_found", `no cluster ${request.params.name}`);
      return (await describe([cluster]))[0]!;
    },
  );

  app.post(
    "/v1/clusters/:name/revoke",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary:
          "Revoke a cluster's key: it can no longer register, heartbeat or link, and its links come down",
        security,
        params: NameParams,
        body: RevokeBody,
        response: { 200: Cluster, ...errors },
      },
    },
    async (request) => {
      const reason = request.body?.reason ?? "revoked by the operator";
      const cluster = await deps.directory.revoke(request.params.name, reason);
      if (cluster === undefined) throw new ApiError(404, "not_found", `no cluster ${request.params.name}`);
      request.log.warn({ cluster: cluster.name, reason }, "cluster key revoked");
      return (await describe([cluster]))[0]!;
    },
  );

  app.get(
    "/v1/policy",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary: "The pairs of clusters allowed to link",
        security,
        response: { 200: Policy, ...errors },
      },
    },
    async () => ({
      links: (await deps.directory.policy()).map((pair) => ({
        ...pair,
        createdAt: pair.createdAt.toISOString(),
      })),
    }),
  );

  app.put(
    "/v1/policy/:a/:b",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary: "Let two clusters link",
        security,
        params: PairParams,
        response: { 204: { type: "null" }, 400: ErrorSchema, ...errors },
      },
    },
    async (request, reply) => {
      const { a, b } = request.params;
      if (a === b) throw new ApiError(400, "invalid_request", "a cluster does not link with itself");
      await deps.directory.allow(a, b);
      request.log.info({ a, b }, "link allowed");
      return reply.code(204).send(null);
    },
  );

  app.delete(
    "/v1/policy/:a/:b",
    {
      onRequest: operator,
      schema: {
        tags: ["operator"],
        summary: "Stop two clusters linking (their link comes down at their next heartbeat)",
        security,
        params: PairParams,
        response: { 204: { type: "null" }, ...errors },
      },
    },
    async (request, reply) => {
      const { a, b } = request.params;
      if (!(await deps.directory.deny(a, b)))
        throw new ApiError(404, "not_found", `${a} and ${b} were not allowed to link`);
      request.log.info({ a, b }, "link denied");
      return reply.code(204).send(null);
    },
  );
}

function clusterView(cluster: ClusterRecord, instances: readonly InstanceRecord[]) {
  return {
    name: cluster.name,
    key: cluster.publicKey,
    kind: cluster.kind,
    plugins: [...cluster.plugins],
    linkAddress: cluster.linkAddress,
    tags: [...cluster.tags],
    registeredAt: cluster.registeredAt.toISOString(),
    revoked: cluster.revokedAt !== null,
    revokedReason: cluster.revokedReason,
    instances: instances
      .filter((instance) => instance.cluster === cluster.name)
      .map((instance) => ({
        instance: instance.instance,
        observed: instance.observed,
        load: instance.load,
        live: instance.live,
        lastSeen: instance.lastSeen.toISOString(),
        links: instance.links.map((link) => ({ ...link })),
      })),
  };
}

function addOperationRoutes(app: App, deps: SignalingDeps, registry: Registry): void {
  const checks: Record<string, HealthCheck> = { postgres: () => deps.directory.ping(), ...deps.checks };
  addHealthRoutes(app, {
    service: SERVICE,
    checks,
    schema: {
      healthz: { tags: ["operations"], response: { 200: Health, 503: Health } },
      livez: { tags: ["operations"] },
    },
  });
  app.get("/metrics", { schema: { tags: ["operations"] } }, async (_request, reply) =>
    reply.header("content-type", registry.contentType).send(await registry.metrics()),
  );
}

function signatureReason(reason: Exclude<OnceCheck, { ok: true }>["reason"]): string {
  if (reason === "bad_signature") return "the signature is not the registered key's over this request";
  if (reason === "stale_signature")
    return "the signature's time (at) is more than 60 s away from main's clock";
  return "main took this signed request before: sign each request anew (a replay is refused)";
}

function problem(error: ErrorAnswer["error"], reason: string, field?: string): ErrorAnswer {
  return field === undefined ? { error, reason } : { error, reason, field };
}

function answerError(error: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof ApiError) return reply.code(error.status).send(problem(error.code, error.message));
  if (error.validation && error.validation.length > 0) {
    const issue = error.validation[0]!;
    const params = issue.params as Record<string, unknown>;
    const field =
      issue.keyword === "required"
        ? String(params.missingProperty)
        : issue.keyword === "additionalProperties"
          ? String(params.additionalProperty)
          : issue.instancePath.split("/").filter(Boolean).join(".");
    const reason =
      issue.keyword === "additionalProperties"
        ? `${field}: not a member of this request`
        : `${field || "the body"}: ${issue.keyword === "required" ? "required" : (issue.message ?? "is not valid")}`;
    return reply.code(400).send(problem("invalid_request", reason, field || undefined));
  }
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500)
    return reply.code(status).send(problem("invalid_request", error.message));
  request.log.error({ err: error, url: request.url }, "request failed");
  return reply.code(500).send(problem("internal", "main failed to answer; it has been logged"));
}

import Fastify, { type FastifyInstance } from "fastify";
import { collectDefaultMetrics, Registry } from "prom-client";

/** The ops server's app, for a service's own routes (`startOpsServer`'s `routes`). */
export type OpsApp = FastifyInstance;

/** What `/healthz` reports: each dependency the service needs, and whether it answers. */
export type HealthCheck = () => Promise<boolean> | boolean;

export interface OpsServer {
  readonly app: FastifyInstance;
  readonly metrics: Registry;
  /** The port it listens on (useful when HTTP_PORT=0 picks a free one). */
  readonly port: number;
  close(): Promise<void>;
}

/**
 * The operations endpoint every service has: `GET /healthz` and `GET /livez` (`addHealthRoutes`) and
 * `GET /metrics` in Prometheus text format.
 */
export async function startOpsServer(options: {
  service: string;
  port: number;
  host?: string;
  checks: Record<string, HealthCheck>;
  metrics?: Registry;
  /** More to say on /healthz (e.g. a replica's role); merged into the body, never failing it. */
  details?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
  /** More routes of the service's own (e.g. zone AI's `/scripts`), added before it listens. */
  routes?: (app: FastifyInstance) => void;
}): Promise<OpsServer> {
  const metrics = options.metrics ?? new Registry();
  metrics.setDefaultLabels({ service: options.service });
  collectDefaultMetrics({ register: metrics });
  const app = Fastify({ logger: false });
  addHealthRoutes(app, options);
  app.get("/metrics", async (_request, reply) => {
    return reply.header("content-type", metrics.contentType).send(await metrics.metrics());
  });
  options.routes?.(app);
  await app.listen({ port: options.port, host: options.host ?? "127.0.0.1" });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : options.port;
  return { app, metrics, port, close: () => app.close() };
}

/**
 * `GET /healthz`: 200 when every check passes, 503 naming the failing ones (a check that throws fails):
 * the readiness probe. `GET /livez`: 200 while the process answers at all: the liveness probe, which must
 * not fail because a dependency is down (every service would be restarted through a NATS outage, and a
 * client agent restarted drops its players). For the ops server and for services with an API of their own.
 */
export function addHealthRoutes(
  app: FastifyInstance,
  options: {
    service: string;
    checks: Record<string, HealthCheck>;
    details?: () => Promise<Record<string, unknown>> | Record<string, unknown>;
    /** The routes' schemas, for an API's OpenAPI document. */
    schema?: { healthz?: object; livez?: object };
  },
): void {
  app.get("/healthz", { schema: options.schema?.healthz ?? {} }, async (_request, reply) => {
    const results = await Promise.all(
      Object.entries(options.checks).map(async ([name, check]) => {
        try {
          return [name, await check()] as const;
        } catch {
          return [name, false] as const;
        }
      }),
    );
    const failing = results.filter(([, ok]) => !ok).map(([name]) => name);
    const details = await Promise.resolve()
      .then(() => options.details?.() ?? {})
      .catch((error: unknown) => ({ detailsError: (error as Error).message }));
    const body = {
      service: options.service,
      ok: failing.length === 0,
      ...details,
      checks: Object.fromEntries(results),
    };
    return reply.code(failing.length === 0 ? 200 : 503).send(body);
  });
  app.get("/livez", { schema: options.schema?.livez ?? {} }, async () => ({
    service: options.service,
    ok: true,
  }));
}

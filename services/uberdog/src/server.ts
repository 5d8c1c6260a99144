import {
  Closers,
  connectPostgres,
  connectRedis,
  createLogger,
  type Logger,
  type Pool,
  type Redis,
} from "@overworld/service";
import type { FastifyInstance } from "fastify";
import { PostgresAccounts } from "./accounts.ts";
import { buildApp, SERVICE, type UberdogDeps } from "./app.ts";
import { instanceIdOf, type UberdogConfig } from "./config.ts";
import { migrate } from "./migrations.ts";
import { PasswordHasher } from "./passwords.ts";
import { LoginBackoff } from "./rate-limit.ts";
import { TokenIssuer } from "./tokens.ts";

export interface UberdogHandle {
  readonly instanceId: string;
  readonly app: FastifyInstance;
  /** The port the API (and /healthz, /metrics) listens on: useful when HTTP_PORT=0 picks a free one. */
  readonly port: number;
  readonly log: Logger;
  /** Stops taking requests, finishes those under way, closes the database pool. */
  stop(): Promise<void>;
}

const POSTGRES_POOL_SIZE = 8;

const MS_PER_SECOND = 1000;

/** Everything the app needs, made from the configuration, an open (migrated) Postgres pool and Redis. */
export function createDeps(config: UberdogConfig, pool: Pool, redis: Redis, log?: Logger): UberdogDeps {
  const keys = `${config.REDIS_PREFIX}uberdog:`;
  return {
    accounts: new PostgresAccounts(pool, config.DB_SCHEMA),
    passwords: new PasswordHasher(config.scrypt),
    tokens: new TokenIssuer({
      protocolId: config.NETCODE_PROTOCOL_ID,
      privateKey: config.NETCODE_PRIVATE_KEY,
      serverAddresses: config.CLIENT_AGENT_ADDRESSES,
      expireSeconds: config.TOKEN_EXPIRE_SECONDS,
      timeoutSeconds: config.TOKEN_TIMEOUT_SECONDS,
    }),
    limits: {
      redis,
      addressPrefix: `${keys}ip:`,
      loginsPerAddressPerMinute: config.LOGIN_IP_PER_MINUTE,
      registrationsPerAddressPerMinute: config.REGISTER_IP_PER_MINUTE,
      backoff: new LoginBackoff(redis, `${keys}pair:`, {
        freeFailures: config.LOGIN_BACKOFF_FREE_FAILURES,
        firstDelayMs: config.LOGIN_BACKOFF_FIRST_MS,
        maxDelayMs: config.LOGIN_BACKOFF_MAX_MS,
        forgetMs: config.LOGIN_BACKOFF_FORGET_SECONDS * MS_PER_SECOND,
      }),
    },
    checks: { redis: async () => (await redis.ping()) === "PONG" },
    trustProxy: config.TRUST_PROXY,
    webSockets: config.CLIENT_AGENT_WEBSOCKETS,
    ...(config.PLAY_DIR === undefined
      ? {}
      : { play: { dir: config.PLAY_DIR, version: config.CLUSTER_VERSION } }),
    ...(log ? { log } : {}),
  };
}

/**
 * Starts uberdog: connects to Postgres and Redis, migrates the accounts schema, and serves the API on
 * HTTP_PORT.
 * (It does not join the cluster yet: nothing it does needs the message director. When it does, join
 * here after Postgres, as the state server does, with role "uberdog", and leave in `stop`.)
 */
export async function startUberdog(config: UberdogConfig): Promise<UberdogHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    const pool = await connectPostgres(config.DATABASE_URL, `${SERVICE}:${instanceId}`, POSTGRES_POOL_SIZE);
    closers.push(() => pool.end());
    const applied = await migrate(pool, config.DB_SCHEMA);
    if (applied.length > 0) log.info({ schema: config.DB_SCHEMA, applied }, "db migrations applied");
    const redis = await connectRedis(config.REDIS_URL, `${SERVICE}:${instanceId}`);
    closers.push(() => redis.quit());

    const app = await buildApp(createDeps(config, pool, redis, log));
    closers.push(() => app.close());
    await app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.HTTP_PORT;
    log.info(
      {
        port,
        schema: config.DB_SCHEMA,
        clientAgents: config.CLIENT_AGENT_ADDRESSES.map((address) => address.key),
        webSockets: config.CLIENT_AGENT_WEBSOCKETS,
        play: config.PLAY_DIR,
        scrypt: config.scrypt,
      },
      "uberdog ready",
    );

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        log.info("uberdog stopping");
        // app.close() lets requests under way finish and answers new ones with 503
        await closers.closeAll();
        log.info("uberdog stopped");
      })();
      return stopping;
    };
    return { instanceId, app, port, log, stop };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

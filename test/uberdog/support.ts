/**
 * What the uberdog tests share: a configuration with its own Postgres schema and Redis prefix per test
 * file (named after the file and the process, dropped at the end), cheap scrypt parameters (the default
 * cost is tested on its own), and an app built on the real database and Redis, driven with `app.inject`.
 */
import { randomBytes } from "node:crypto";
import { connectPostgres, connectRedis, type Pool, type Redis } from "@overworld/service";
import {
  buildApp,
  createDeps,
  loadUberdogConfig,
  migrate,
  type UberdogConfig,
  type UberdogDeps,
} from "../../services/uberdog/src/main.ts";
import { dropRedisKeys } from "../support/cleanup.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { DATABASE_URL, REDIS_URL } from "../support/services.ts";

/** The fastify app uberdog builds. */
export type App = Awaited<ReturnType<typeof buildApp>>;

export const CLIENT_AGENTS = "127.0.0.1:40000,[::1]:40001";
export const PRIVATE_KEY_HEX = randomBytes(32).toString("hex");
export const PROTOCOL_ID = "0x1122334455667788";

/**
 * An environment that loads: cheap scrypt so each test file stays within a few seconds, and rate limits
 * out of the way (the tests of the limits set their own).
 */
export function testEnv(schema: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DATABASE_URL,
    DB_SCHEMA: schema,
    DC_FILES: DC_FIXTURES.astronTest,
    CLUSTER_VERSION: "test-uberdog",
    CLIENT_AGENT_ADDRESSES: CLIENT_AGENTS,
    NETCODE_PRIVATE_KEY: PRIVATE_KEY_HEX,
    NETCODE_PROTOCOL_ID: PROTOCOL_ID,
    SCRYPT_LOG_N: "10",
    LOG_LEVEL: "silent",
    REDIS_PREFIX: `owt:${schema}:`,
    LOGIN_IP_PER_MINUTE: "1000",
    REGISTER_IP_PER_MINUTE: "1000",
    LOGIN_BACKOFF_FREE_FAILURES: "1000",
    ...extra,
  };
}

/** A schema name for one test file: lower-case, unique per process. */
export function schemaFor(name: string): string {
  return `test_uberdog_${name}_${process.pid}`;
}

/** A test file's Postgres schema and its Redis keys (under `owt:<schema>:`, as testEnv names them). */
export interface TestDatabase {
  readonly pool: Pool;
  readonly schema: string;
  readonly redis: Redis;
  drop(): Promise<void>;
}

export async function openDatabase(schema: string): Promise<TestDatabase> {
  const pool = await connectPostgres(DATABASE_URL, `test:${schema}`, 4);
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await migrate(pool, schema);
  const redis = await connectRedis(REDIS_URL, `test:${schema}`);
  await dropRedisKeys(`owt:${schema}:`);
  return {
    pool,
    schema,
    redis,
    drop: async () => {
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
      redis.disconnect();
      await dropRedisKeys(`owt:${schema}:`);
    },
  };
}

/** An app on the test database; `change` adjusts its dependencies (a clock, tighter limits). */
export async function appOn(
  database: TestDatabase,
  extraEnv: Record<string, string> = {},
  change: (deps: UberdogDeps, config: UberdogConfig) => UberdogDeps = (deps) => deps,
): Promise<{ app: App; config: UberdogConfig }> {
  const config = loadUberdogConfig(testEnv(database.schema, extraEnv));
  const app = await buildApp(change(createDeps(config, database.pool, database.redis), config));
  return { app, config };
}

/** A JSON POST through `app.inject`, from a chosen client address. */
export function post(app: App, url: string, body: unknown, remoteAddress = "127.0.0.1") {
  return app.inject({ method: "POST", url, payload: body as object, remoteAddress });
}

export { DATABASE_URL };

import { Redis } from "ioredis";
import pg from "pg";
import { untilReachable } from "./retry.ts";

/** Connects to Redis; the error names REDIS_URL when it does not answer. */
export function connectRedis(url: string, name: string): Promise<Redis> {
  return untilReachable(`Redis at ${url}`, () => tryRedis(url, name));
}

async function tryRedis(url: string, name: string): Promise<Redis> {
  const redis = new Redis(url, { connectionName: name, lazyConnect: true, maxRetriesPerRequest: 3 });
  try {
    await redis.connect();
  } catch (error) {
    redis.disconnect();
    throw new Error(
      `cannot reach Redis at ${url} (${(error as Error).message}); is redis-server running? (REDIS_URL)`,
    );
  }
  return redis;
}

/** Keys a SCAN step asks Redis for when dropping keys. */
const SCAN_COUNT = 500;

/** Deletes every Redis key that starts with `prefix` (what a test or a local run left under its names). */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = await connectRedis(url, "cleanup");
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", SCAN_COUNT);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
}

/** A Postgres pool; the first query proves the database answers, naming DATABASE_URL if it does not. */
export function connectPostgres(url: string, name: string, max = 10): Promise<pg.Pool> {
  return untilReachable(`Postgres at ${url}`, () => tryPostgres(url, name, max));
}

async function tryPostgres(url: string, name: string, max: number): Promise<pg.Pool> {
  const pool = new pg.Pool({ connectionString: url, application_name: name, max });
  try {
    await pool.query("SELECT 1");
  } catch (error) {
    await pool.end();
    throw new Error(
      `cannot reach Postgres at ${url} (${(error as Error).message}); is PostgreSQL running? (DATABASE_URL)`,
    );
  }
  return pool;
}

export type { Redis } from "ioredis";
export type { Pool } from "pg";

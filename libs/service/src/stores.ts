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

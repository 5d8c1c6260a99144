/**
 * Removing what a test's namespace left in the real services: Redis keys under its prefix, its Postgres
 * schema, its JetStream streams. Each test file isolates itself in a namespace of its own; these leave the
 * shared services as they found them.
 */
import { connectPostgres, dropRedisKeys as dropKeys } from "@overworld/service";
import { connectOperator } from "./nats.ts";
import { DATABASE_URL, REDIS_URL } from "./services.ts";

/** How long JetStream may take to answer a stream deletion before the clean-up moves on. */
const STREAM_DELETE_TIMEOUT_MS = 2000;

/** Deletes every Redis key that starts with `prefix`. */
export function dropRedisKeys(prefix: string, redisUrl = REDIS_URL): Promise<void> {
  return dropKeys(redisUrl, prefix);
}

/** Drops a Postgres schema and everything in it, if it exists. */
export async function dropSchema(schema: string): Promise<void> {
  const pool = await connectPostgres(DATABASE_URL, "test-cleanup", 1);
  await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).finally(() => pool.end());
}

/** Deletes JetStream streams by name; one that does not exist is no error. */
export async function deleteStreams(streams: readonly string[]): Promise<void> {
  if (streams.length === 0) return;
  const nc = await connectOperator("test-cleanup");
  try {
    // The JetStream API by hand: the tests do not depend on the JetStream client package.
    for (const stream of streams) {
      await nc
        .request(`$JS.API.STREAM.DELETE.${stream}`, undefined, { timeout: STREAM_DELETE_TIMEOUT_MS })
        .catch(() => {});
    }
  } finally {
    await nc.close();
  }
}

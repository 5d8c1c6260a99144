import { clusterConfig, commonConfig, defaultInstanceId, loadConfig } from "@overworld/service";
import { z } from "zod";

const MAX_BATCH_WINDOW_MS = 50;

/**
 * The state server's environment. Beyond the common variables:
 * - DC_FILES: comma-separated `.dc` paths, loaded in order (required);
 * - SUBJECT_ROOT: the first token of every NATS subject (`ow`), so several clusters or tests can share
 *   one NATS server;
 * - REDIS_PREFIX: prepended to every Redis key; DB_SCHEMA: the Postgres schema of the stored objects;
 * - DB_BATCH_MS / DB_BATCH_MAX_ROWS: db writes arriving within this window (or up to this many rows)
 *   are committed in one transaction;
 * - CLUSTER_VERSION: the version this state server runs; the message director refuses it unless it is
 *   the cluster's (and unless the hash of DC_FILES is the cluster's schema hash);
 * - DOID_BLOCK: how many doIds one replica takes from the message director's allocator at a time;
 * - REDIS_WAIT_REPLICAS / REDIS_WAIT_MS: before answering a change that is acknowledged (a create, a
 *   move, a set of fields, an update of a required field...), wait until this many replicas of each
 *   Redis master hold it (Redis WAIT), at most this long; 0 replicas: no wait (see the README).
 */
export const stateServerConfigShape = {
  ...commonConfig,
  ...clusterConfig,
  REDIS_PREFIX: z.string().max(64).default("ow:"),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "a lower-case SQL identifier (letters, digits, '_')")
    .default("overworld"),
  DB_BATCH_MS: z.coerce.number().min(0).max(MAX_BATCH_WINDOW_MS).default(2),
  DB_BATCH_MAX_ROWS: z.coerce.number().int().min(1).max(100_000).default(5000),
  DOID_BLOCK: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(16).default(0),
  REDIS_WAIT_MS: z.coerce.number().int().min(1).max(60_000).default(100),
};

export type StateServerConfig = z.infer<z.ZodObject<typeof stateServerConfigShape>>;

/** Reads and validates the state server's configuration; errors name the variable. */
export function loadStateServerConfig(env: NodeJS.ProcessEnv = process.env): StateServerConfig {
  return loadConfig(stateServerConfigShape, env);
}

export function instanceIdOf(config: StateServerConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId("state-server");
}

import calculateSlot from "cluster-key-slot";
import { Cluster, type ClusterNode, Redis as SingleRedis } from "ioredis";
import pg from "pg";
import { untilReachable } from "./retry.ts";

/**
 * A Redis connection: one Redis server, or a Redis Cluster (ioredis's Cluster client, which routes each
 * command to the master of its key's slot and follows failovers). Code that runs against both declares
 * every key a script touches and keeps a script's keys in one slot (hash tags); see `isCluster`.
 */
export type Redis = SingleRedis | Cluster;

/** The URL scheme that names a Redis Cluster: `redis-cluster://[user:password@]host:port,host:port,...`. */
export const REDIS_CLUSTER_SCHEME = "redis-cluster:";

/** A REDIS_URL read: one server's URL, or the seed nodes of a cluster. */
export type RedisTarget =
  | { readonly kind: "single"; readonly url: string }
  | {
      readonly kind: "cluster";
      readonly nodes: readonly { host: string; port: number }[];
      readonly username?: string;
      readonly password?: string;
    };

/**
 * Reads a REDIS_URL: `redis://host:port[/db]` (or `rediss://`) names one server;
 * `redis-cluster://[user:password@]host:port,host:port` names a Redis Cluster by some of its nodes
 * (any node will do: the client learns the others from it).
 */
export function parseRedisUrl(url: string): RedisTarget {
  if (!url.startsWith(`${REDIS_CLUSTER_SCHEME}//`)) return { kind: "single", url };
  let rest = url.slice(REDIS_CLUSTER_SCHEME.length + 2).replace(/\/+$/, "");
  let username: string | undefined;
  let password: string | undefined;
  const at = rest.lastIndexOf("@");
  if (at >= 0) {
    const auth = rest.slice(0, at);
    rest = rest.slice(at + 1);
    const colon = auth.indexOf(":");
    if (colon >= 0) {
      username = decodeURIComponent(auth.slice(0, colon)) || undefined;
      password = decodeURIComponent(auth.slice(colon + 1));
    } else {
      password = decodeURIComponent(auth);
    }
  }
  const nodes = rest.split(",").map((part) => {
    const match = /^([^:,/]+):(\d{1,5})$/.exec(part.trim());
    if (!match) {
      throw new Error(
        `bad Redis Cluster URL ${url}: each node must be host:port, as in redis-cluster://127.0.0.1:7000,127.0.0.1:7001 (REDIS_URL)`,
      );
    }
    return { host: match[1]!, port: Number(match[2]) };
  });
  return {
    kind: "cluster",
    nodes,
    ...(username === undefined ? {} : { username }),
    ...(password === undefined ? {} : { password }),
  };
}

/** True when `redis` talks to a Redis Cluster. */
export function isCluster(redis: Redis): redis is Cluster {
  return redis instanceof Cluster;
}

/** Connects to Redis (one server or a cluster, see parseRedisUrl); the error names REDIS_URL when it does not answer. */
export function connectRedis(url: string, name: string): Promise<Redis> {
  const target = parseRedisUrl(url);
  return untilReachable(`Redis at ${url}`, () =>
    target.kind === "single" ? tryRedis(url, name) : tryCluster(url, target, name),
  );
}

async function tryRedis(url: string, name: string): Promise<Redis> {
  const redis = new SingleRedis(url, { connectionName: name, lazyConnect: true, maxRetriesPerRequest: 3 });
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

/**
 * How long a command waits, retrying, while the cluster has no master for its slot (a failover: the
 * cluster needs its node timeout and an election to promote a replica).
 */
const CLUSTER_RETRY_DELAY_MS = 100;
const CLUSTER_MAX_REDIRECTIONS = 100;
const CLUSTER_SLOTS_REFRESH_MS = 1000;

async function tryCluster(
  url: string,
  target: Extract<RedisTarget, { kind: "cluster" }>,
  name: string,
): Promise<Redis> {
  const seeds: ClusterNode[] = target.nodes.map(({ host, port }) => ({ host, port }));
  const cluster = new Cluster(seeds, {
    lazyConnect: true,
    // commands issued in one tick leave as one pipeline per node (what a pipeline is to one Redis)
    enableAutoPipelining: true,
    maxRedirections: CLUSTER_MAX_REDIRECTIONS,
    retryDelayOnFailover: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnClusterDown: CLUSTER_RETRY_DELAY_MS,
    retryDelayOnTryAgain: CLUSTER_RETRY_DELAY_MS,
    // a master that died is noticed by its replica's promotion: look at the slots often
    slotsRefreshInterval: CLUSTER_SLOTS_REFRESH_MS,
    redisOptions: {
      connectionName: name,
      maxRetriesPerRequest: 3,
      ...(target.username === undefined ? {} : { username: target.username }),
      ...(target.password === undefined ? {} : { password: target.password }),
    },
  });
  try {
    await cluster.connect();
  } catch (error) {
    cluster.disconnect();
    throw new Error(
      `cannot reach the Redis Cluster at ${url} (${(error as Error).message}); are its nodes running and is the cluster created (redis-cli --cluster create)? (REDIS_URL)`,
    );
  }
  return cluster;
}

/** Keys a SCAN step asks Redis for when dropping keys. */
const SCAN_COUNT = 500;

/** Every key that starts with `prefix`, on one server or on every master of a cluster. */
export async function scanKeys(redis: Redis, prefix: string): Promise<string[]> {
  const servers = isCluster(redis) ? redis.nodes("master") : [redis];
  const out: string[] = [];
  for (const server of servers) {
    let cursor = "0";
    do {
      const [next, keys] = await server.scan(cursor, "MATCH", `${prefix}*`, "COUNT", SCAN_COUNT);
      out.push(...keys);
      cursor = next;
    } while (cursor !== "0");
  }
  return out;
}

/** Deletes these keys (one by one on a cluster, where one DEL may not span slots). */
export async function deleteKeys(redis: Redis, keys: readonly string[]): Promise<void> {
  if (keys.length === 0) return;
  if (!isCluster(redis)) {
    for (let i = 0; i < keys.length; i += SCAN_COUNT) await redis.del(...keys.slice(i, i + SCAN_COUNT));
    return;
  }
  await Promise.all(keys.map((key) => redis.del(key)));
}

/** Deletes every Redis key that starts with `prefix` (what a test or a local run left under its names). */
export async function dropRedisKeys(url: string, prefix: string): Promise<void> {
  const redis = await connectRedis(url, "cleanup");
  try {
    await deleteKeys(redis, await scanKeys(redis, prefix));
  } finally {
    redis.disconnect();
  }
}

/**
 * Waits until `replicas` replicas hold the writes this connection sent before (Redis's WAIT): what narrows
 * the writes a failover can lose (see the README's "Redis Cluster"). On a cluster it asks the masters of
 * `keys` (every master when no keys are given). Resolves with the fewest replicas a master reached within
 * `timeoutMs`; 0 replicas asked: resolves at once. Fails when a master does not answer (a write it took
 * may be lost: the caller must not acknowledge it).
 */
export async function waitForReplicas(
  redis: Redis,
  replicas: number,
  timeoutMs: number,
  keys?: readonly string[],
): Promise<number> {
  if (replicas <= 0) return 0;
  let servers: SingleRedis[];
  if (!isCluster(redis)) {
    servers = [redis];
  } else {
    const masters = redis.nodes("master");
    const byAddress = new Map(masters.map((node) => [`${node.options.host}:${node.options.port}`, node]));
    const chosen = new Set<SingleRedis>();
    for (const key of keys ?? []) {
      const node = byAddress.get(redis.slots[calculateSlot(key)]?.[0] ?? "");
      if (node) chosen.add(node);
      else for (const master of masters) chosen.add(master);
    }
    servers = keys === undefined ? masters : [...chosen];
  }
  if (servers.length === 0) return replicas;
  const reached = await Promise.all(servers.map((server) => server.wait(replicas, timeoutMs)));
  return Math.min(...reached);
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

export type { Cluster } from "ioredis";
export type { Pool } from "pg";

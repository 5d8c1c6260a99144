/**
 * A Redis Cluster of local `redis-server` processes (cluster mode, masters and their replicas on loopback
 * ports), made with `redis-cli --cluster create`: what the Redis Cluster tests and `pnpm bench:cluster
 * --redis-cluster` run. The binaries are `REDIS_SERVER_BIN` and `REDIS_CLI_BIN`, else `redis-server` and
 * `redis-cli` on the PATH.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { Redis as SingleRedis } from "ioredis";

const run = promisify(execFile);

const READY_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;

export interface RunningRedisCluster {
  /** The cluster's REDIS_URL: `redis-cluster://host:port,...` with every node. */
  readonly url: string;
  readonly host: string;
  /** Every node's client port, in the order given. */
  readonly ports: readonly number[];
  /** The process ids of the nodes still running (for CPU accounting). */
  pids(): number[];
  /** The client ports of the masters now (after a failover, the promoted replicas among them). */
  masters(): Promise<number[]>;
  /** The port of a replica of the master on `port`, if it has one. */
  replicaOf(port: number): Promise<number | undefined>;
  /** kill -9 of the node on `port`; resolves once it exited. */
  kill(port: number): Promise<void>;
  /**
   * Resolves once every slot is served by a live master the nodes agree on (cluster_state:ok everywhere,
   * no master down): after a kill, once the replica is promoted.
   */
  untilHealthy(timeoutMs?: number): Promise<void>;
  /** Stops every node (SIGTERM, then SIGKILL); the caller removes `dir`. */
  stop(): Promise<void>;
}

/** The redis-server and redis-cli binaries to run. */
export function redisBinaries(env: NodeJS.ProcessEnv = process.env): { server: string; cli: string } {
  return { server: env.REDIS_SERVER_BIN ?? "redis-server", cli: env.REDIS_CLI_BIN ?? "redis-cli" };
}

/**
 * Starts one `redis-server --cluster-enabled yes` per port (node `i` listens on `ports[i]`, its cluster bus
 * on `busPorts[i]`, its files under `dir/<port>`), joins them with `redis-cli --cluster create` with
 * `replicas` replicas per master, and waits until the cluster serves every slot. Nothing is saved to disk
 * (no RDB, no AOF): the nodes are for tests and benchmarks. `nodeTimeoutMs` is the cluster node timeout,
 * after which a master that does not answer is failed over to its replica.
 */
export async function startRedisCluster(
  dir: string,
  options: {
    host: string;
    ports: readonly number[];
    busPorts: readonly number[];
    replicas?: number;
    nodeTimeoutMs?: number;
    onLine?: (port: number, line: string) => void;
  },
): Promise<RunningRedisCluster> {
  const { host, ports, busPorts } = options;
  const replicas = options.replicas ?? 1;
  if (busPorts.length !== ports.length) {
    throw new RangeError(`startRedisCluster: ${ports.length} nodes need ${ports.length} bus ports`);
  }
  if (ports.length < 3 * (replicas + 1)) {
    throw new RangeError(
      `startRedisCluster: a cluster needs at least 3 masters: ${3 * (replicas + 1)} nodes for ${replicas} replica(s) each, got ${ports.length}`,
    );
  }
  const binaries = redisBinaries();
  const masterCount = ports.length / (replicas + 1);
  const children = new Map<number, ChildProcess>();
  const exits = new Map<number, Promise<void>>();
  ports.forEach((port, i) => {
    const nodeDir = join(dir, String(port));
    mkdirSync(nodeDir, { recursive: true });
    const child = spawn(
      binaries.server,
      [
        "--port",
        String(port),
        "--bind",
        host,
        "--cluster-enabled",
        "yes",
        "--cluster-port",
        String(busPorts[i]),
        "--cluster-config-file",
        join(nodeDir, "nodes.conf"),
        "--cluster-node-timeout",
        String(options.nodeTimeoutMs ?? 1000),
        "--cluster-replica-validity-factor",
        "0",
        "--dir",
        nodeDir,
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const stream of [child.stdout, child.stderr]) {
      stream?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) if (line) options.onLine?.(port, line);
      });
    }
    children.set(port, child);
    exits.set(port, new Promise<void>((done) => child.once("exit", () => done())));
  });

  const stopOne = async (port: number, signal: NodeJS.Signals) => {
    const child = children.get(port)!;
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill(signal);
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exits.get(port);
    clearTimeout(force);
  };
  const stop = async () => {
    await Promise.all(ports.map((port) => stopOne(port, "SIGTERM")));
  };
  const query = async <T>(port: number, ask: (redis: SingleRedis) => Promise<T>): Promise<T> => {
    const redis = new SingleRedis({
      host,
      port,
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await redis.connect();
      return await ask(redis);
    } finally {
      redis.disconnect();
    }
  };
  const alive = (port: number) => {
    const child = children.get(port)!;
    return child.exitCode === null && child.signalCode === null;
  };
  const nodesOf = async (): Promise<{ port: number; role: string; id: string; master: string }[]> => {
    for (const port of ports.filter(alive)) {
      try {
        const text = (await query(port, (redis) => redis.call("CLUSTER", "NODES"))) as string;
        return text
          .trim()
          .split("\n")
          .map((line) => line.split(" "))
          .filter((words) => !words[2]!.includes("fail"))
          .map((words) => ({
            id: words[0]!,
            port: Number(words[1]!.split("@")[0]!.split(":").pop()),
            role: words[2]!.includes("master") ? "master" : "replica",
            master: words[3]!,
          }));
      } catch {
        // ask the next node
      }
    }
    throw new Error("startRedisCluster: no node of the Redis Cluster answers CLUSTER NODES");
  };
  const untilHealthy = async (timeoutMs = READY_TIMEOUT_MS) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const states = await Promise.all(
        ports
          .filter(alive)
          .map((port) =>
            query(port, (redis) => redis.call("CLUSTER", "INFO") as Promise<string>).catch(() => ""),
          ),
      );
      if (states.every((info) => info.includes("cluster_state:ok"))) {
        // and no master the cluster counts on is a node that is down (it notices after its node timeout)
        const masters = (await nodesOf().catch(() => [])).filter((node) => node.role === "master");
        if (masters.length === masterCount && masters.every((node) => alive(node.port))) return;
      }
      if (Date.now() > deadline) {
        throw new Error(
          `the Redis Cluster on ${host}:${ports.join(",")} is not healthy after ${timeoutMs} ms (cluster_state not ok on every node)`,
        );
      }
      await new Promise((wake) => setTimeout(wake, 100));
    }
  };

  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (const port of ports) {
      for (;;) {
        if (!alive(port)) {
          throw new Error(
            `redis-server (${binaries.server}) on ${host}:${port} exited at start; is the port (or its bus port) free? set REDIS_SERVER_BIN to the binary`,
          );
        }
        const up = await query(port, (redis) => redis.ping()).catch(() => "");
        if (up === "PONG") break;
        if (Date.now() > deadline) throw new Error(`redis-server on ${host}:${port} did not answer PING`);
        await new Promise((wake) => setTimeout(wake, 50));
      }
    }
    await run(binaries.cli, [
      "--cluster",
      "create",
      ...ports.map((port) => `${host}:${port}`),
      "--cluster-replicas",
      String(replicas),
      "--cluster-yes",
    ]).catch((error: Error & { stdout?: string }) => {
      throw new Error(
        `redis-cli (${binaries.cli}) --cluster create failed: ${error.message}\n${error.stdout ?? ""}; set REDIS_CLI_BIN to the binary`,
      );
    });
    await untilHealthy();
    // every master has its replica attached before the cluster is handed out (a failover needs one)
    for (const deadline2 = Date.now() + READY_TIMEOUT_MS; ; ) {
      const nodes = await nodesOf();
      if (
        nodes.filter((node) => node.role === "replica").length ===
        ports.length - ports.length / (replicas + 1)
      )
        break;
      if (Date.now() > deadline2) throw new Error("the Redis Cluster's replicas did not attach in time");
      await new Promise((wake) => setTimeout(wake, 100));
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    url: `redis-cluster://${ports.map((port) => `${host}:${port}`).join(",")}`,
    host,
    ports,
    pids: () => ports.filter(alive).map((port) => children.get(port)!.pid ?? 0),
    masters: async () => (await nodesOf()).filter((node) => node.role === "master").map((node) => node.port),
    replicaOf: async (port) => {
      const nodes = await nodesOf();
      const master = nodes.find((node) => node.port === port);
      return nodes.find((node) => node.role === "replica" && node.master === master?.id)?.port;
    },
    kill: (port) => stopOne(port, "SIGKILL"),
    untilHealthy,
    stop,
  };
}

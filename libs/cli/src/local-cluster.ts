/**
 * A whole cluster with a game's own classes and zone logic, as local processes, for a game's tests
 * (`import { startLocalCluster } from "@overworld/cli/cluster"`): a NATS of its own with credentials (a
 * temporary trust), the message director, the state server, uberdog, a client agent and zone-AI replicas
 * running the game's plugin, each on ports the OS picks, with Redis keys, Postgres schemas and an event
 * stream of the run's own name on the machine's Redis and PostgreSQL (REDIS_URL, DATABASE_URL, else the
 * local ones). `stop()` stops every process and removes what the run left in Redis and PostgreSQL.
 * `overworld start` runs the same services for people, on fixed ports.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  connectPostgres,
  connectRedis,
  DEFAULT_DATABASE_URL,
  ensureNatsTrust,
  serviceNatsEnv,
  startNatsServer,
} from "@overworld/service";
import {
  ClusterProcesses,
  freeTcpPort,
  freeUdpPort,
  type ProcessSpec,
  roleOf,
  type ServiceName,
  serviceEntry,
} from "./cluster-processes.ts";

const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/** The last lines of each process kept, to explain a service that did not come up. */
const KEPT_LINES = 40;
const SCAN_COUNT = 500;
/**
 * The services in the order they start: the director first (everyone joins through it), the zone AI last
 * (it creates objects through the state server); those in between need only the director.
 */
const STAGES: readonly (readonly ServiceName[])[] = [
  ["message-director"],
  ["state-server", "uberdog", "client-agent"],
  ["zone-ai"],
];

export interface LocalClusterOptions {
  /** The game's `.dc` files, in order (the clients must load the same classes: the schema hash). */
  readonly dcFiles: readonly string[];
  /** The zone-AI plugin: a module exporting a ZonePlugin as `plugin` or default (TypeScript or JavaScript). */
  readonly plugin: string;
  /** The cluster's version, which clients must say in their hello (default "dev"). */
  readonly version?: string;
  /** Zone-AI replicas (default 1). */
  readonly zoneAis?: number;
  /** Every line a service logs (JSON), with its label (`zone-ai-1`); none by default. */
  readonly onLine?: (label: string, line: string) => void;
  /** More environment for every service (LOG_LEVEL, TICK_HZ, ...). */
  readonly env?: Readonly<Record<string, string>>;
}

export interface LocalCluster {
  /** Uberdog's REST API (register, login): `http://127.0.0.1:PORT`. */
  readonly uberdog: string;
  /** The client agent's UDP address, `127.0.0.1:PORT`, which connect tokens name. */
  readonly clientAgent: string;
  readonly version: string;
  /** The run's name: its Redis keys are under `ow:NAME:`, its Postgres schemas `ow_NAME_*`. */
  readonly name: string;
  /** Stops every process, the last started first, and removes the run's keys, schemas and trust. */
  stop(): Promise<void>;
}

export async function startLocalCluster(options: LocalClusterOptions): Promise<LocalCluster> {
  const name = `local-${randomBytes(4).toString("hex")}`;
  const sql = name.replaceAll("-", "_");
  const version = options.version ?? "dev";
  const redisUrl = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
  const databaseUrl = process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const trust = mkdtempSync(join(tmpdir(), "overworld-nats-"));
  const lines = new Map<string, string[]>();
  const exits: string[] = [];
  const cluster = new ClusterProcesses({
    onLine: (label, line) => {
      const kept = lines.get(label) ?? [];
      kept.push(line);
      if (kept.length > KEPT_LINES) kept.shift();
      lines.set(label, kept);
      options.onLine?.(label, line);
    },
    onUnaskedExit: (label, code, signal) => exits.push(`${label} exited (${signal ?? `code ${code}`})`),
  });
  let nats: Awaited<ReturnType<typeof startNatsServer>> | undefined;
  const stop = async () => {
    await cluster.stop();
    await nats?.stop();
    rmSync(trust, { recursive: true, force: true });
    await dropRun(name, sql, redisUrl, databaseUrl);
  };
  try {
    const natsPort = await freeTcpPort();
    await ensureNatsTrust(trust, { host: "127.0.0.1", port: natsPort });
    nats = await startNatsServer(trust, { host: "127.0.0.1", port: natsPort });
    const natsUrl = nats.url;
    const agentAddress = `127.0.0.1:${await freeUdpPort()}`;
    const uberdogPort = await freeTcpPort();
    const common: NodeJS.ProcessEnv = {
      ...process.env,
      DC_FILES: options.dcFiles.map((path) => resolve(path)).join(","),
      PLUGIN: resolve(options.plugin),
      CLUSTER_VERSION: version,
      NETCODE_PRIVATE_KEY: randomBytes(32).toString("hex"),
      CLIENT_AGENT_ADDRESSES: agentAddress,
      EVENT_STREAM: `OW_EVENTS_${sql.toUpperCase()}`,
      ...options.env,
    };
    const spec = async (service: ServiceName, replica: number): Promise<ProcessSpec> => {
      const label = `${service}-${replica}`;
      const httpPort = service === "uberdog" ? uberdogPort : await freeTcpPort();
      return {
        label,
        entry: serviceEntry(service),
        env: {
          ...common,
          ...serviceNatsEnv(trust, natsUrl, roleOf(service)),
          REDIS_PREFIX: service === "message-director" ? `ow:${name}:md:` : `ow:${name}:`,
          DB_SCHEMA: `ow_${sql}_${service.replaceAll("-", "_")}`,
          ...(service === "client-agent"
            ? { UDP_PORT: agentAddress.split(":")[1] ?? "", PUBLIC_ADDRESS: agentAddress }
            : {}),
          HTTP_PORT: String(httpPort),
          INSTANCE_ID: `${name}-${label}`,
        },
        healthPort: httpPort,
      };
    };
    for (const stage of STAGES) {
      const group: ProcessSpec[] = [];
      for (const service of stage) {
        const replicas = service === "zone-ai" ? (options.zoneAis ?? 1) : 1;
        for (let i = 1; i <= replicas; i++) group.push(await spec(service, i));
      }
      const late = await cluster.launchGroup(group);
      const failed = late[0]?.spec.label ?? exits[0];
      if (failed !== undefined) {
        const said = (lines.get(failed.split(" ")[0] ?? "") ?? []).join("\n");
        throw new Error(`${failed}: the service did not come up; its last lines:\n${said}`);
      }
    }
    return { uberdog: `http://127.0.0.1:${uberdogPort}`, clientAgent: agentAddress, version, name, stop };
  } catch (error) {
    await stop().catch(() => undefined);
    throw error;
  }
}

/** Removes the run's Redis keys and Postgres schemas. */
async function dropRun(name: string, sql: string, redisUrl: string, databaseUrl: string): Promise<void> {
  const redis = await connectRedis(redisUrl, `${name}-cleanup`);
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `ow:${name}:*`, "COUNT", SCAN_COUNT);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  const pool = await connectPostgres(databaseUrl, `${name}-cleanup`, 1);
  try {
    const { rows } = await pool.query<{ name: string }>(
      "SELECT schema_name AS name FROM information_schema.schemata WHERE schema_name LIKE $1",
      [`ow\\_${sql}\\_%`],
    );
    for (const row of rows) await pool.query(`DROP SCHEMA IF EXISTS "${row.name}" CASCADE`);
  } finally {
    await pool.end();
  }
}

/**
 * A whole cluster of local processes under names of its own, for the benchmarks (bench/) and the chaos
 * harness (scripts/chaos): every service a process (ClusterProcesses, as `pnpm overworld start` runs
 * them) with the demo world, against a NATS of its own with credentials and either the local Redis or a
 * redis-server of its own (that a harness can kill and start again), and the local Postgres. What it
 * names is its own (subject root, Redis key prefix, Postgres schemas, free HTTP and UDP ports, netcode
 * key), so it runs beside a started cluster or the tests. `stop()` stops the processes (last started
 * first), the NATS and its Redis, and removes everything the run made.
 *
 * A Redis of its own persists with an append-only file (`appendonly yes`, `appendfsync` as given, no RDB
 * snapshots): with `everysec` every write is in the file (the kernel's page cache) before Redis answers
 * it and fsync'ed once a second, so a kill -9 of redis-server loses no acknowledged write, except when a
 * slow disk kept the previous fsync running for over a second (then up to 2 s of writes); a crash of the
 * machine loses what was not fsync'ed yet.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  connectMinted,
  connectPostgres,
  DEFAULT_DATABASE_URL,
  dropRedisKeys,
  EVERYWHERE,
  ensureNatsTrust,
  type RunningNatsCluster,
  serviceNatsEnv,
  startNatsCluster,
  streamReplicaCounts,
} from "@overworld/service";
import {
  ClusterProcesses,
  freeTcpPort,
  freeUdpPort,
  type ManagedProcess,
  type ProcessSpec,
  roleOf,
  SERVICE_ORDER,
  type ServiceName,
  serviceEntry,
} from "./cluster-processes.ts";

export const DEMO_DC = resolve(import.meta.dirname, "../../../examples/demo/demo.dc");
const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
const NETCODE_KEY_BYTES = 32;
/** Lines kept per process, shown when it dies. */
const TAIL_LINES = 40;
/**
 * Login costs nothing to what a run measures, but at uberdog's default scrypt cost (2^15) hundreds of
 * bots logging in at once would take minutes of CPU: a local cluster hashes at 2^10, as the tests do.
 */
const SCRYPT_LOG_N = "10";
const REDIS_READY_TIMEOUT_MS = 15_000;
const POLL_MS = 50;

/** What a run names, so that it shares nothing with anything else. */
export interface Namespace {
  readonly tag: string;
  readonly root: string;
  readonly prefix: string;
  readonly schemas: Readonly<Record<"director" | "stateServer" | "uberdog", string>>;
}

/** Names for a run called `name` (its subject root, prefix, schemas and log file hold it). */
export function namespace(name: string): Namespace {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  return {
    tag,
    root: `owl${tag}`,
    prefix: `owl:${tag}:`,
    schemas: { director: `owl_${tag}_md`, stateServer: `owl_${tag}_ss`, uberdog: `owl_${tag}_ud` },
  };
}

export interface LocalClusterOptions {
  /** Names the run (its namespace, its log file) and is the cluster version the bots say hello with. */
  readonly name: string;
  /** The cluster's `.dc` files (default: the demo world's). */
  readonly dcFiles?: readonly string[];
  /** Variables of the zone-AI replicas: the demo world's map and NPCs (DEMO_GRID, DEMO_NPCS_PER_ZONE). */
  readonly zoneAiEnv: Readonly<Record<string, string>>;
  /** Client slots of the client agent (the most bots a run will log in). */
  readonly maxClients: number;
  /** Replicas per service (1 each by default; zone AI needs two to fail over). */
  readonly replicas?: Partial<Readonly<Record<ServiceName, number>>>;
  /** Variables of one service more (a test's shorter timeouts). */
  readonly env?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
  /** Options for node in every service (a benchmark's `--cpu-prof DIR`). */
  readonly nodeArgs?: readonly string[];
  /**
   * Nodes of the run's NATS (default 1): with several, a NATS cluster on loopback ports, JetStream
   * clustered, and the services' streams with as many replicas as nodes, up to three (the services see
   * the cluster in the server's INFO: libs/service/src/streams.ts).
   */
  readonly natsNodes?: number;
  /** A redis-server of the run's own with this `appendfsync`, instead of the local Redis. */
  readonly ownRedis?: { readonly appendfsync: "always" | "everysec" | "no" };
  /**
   * A service that exits on its own: `fail` leaves it down and sets `failure` (a benchmark must not
   * measure a cluster that lost a service); `respawn` starts it again at once and counts it in `crashes`
   * (the chaos harness: a death it did not cause is a finding, and the run goes on).
   */
  readonly onCrash: "fail" | "respawn";
  readonly databaseUrl?: string;
}

export class LocalCluster {
  readonly ns: Namespace;
  readonly version: string;
  readonly dcFiles: readonly string[];
  readonly databaseUrl: string;
  /** Set when a service exited on its own under `onCrash: "fail"`: the run is void. */
  failure: Error | undefined;
  /** Services that exited without being killed, by label (under `onCrash: "respawn"`). */
  readonly crashes = new Map<string, number>();
  readonly processes: ClusterProcesses;
  /** Each service's replicas, in order. */
  readonly services = new Map<ServiceName, ManagedProcess[]>();
  /** The run's NATS (one node or several), with its trust and JetStream in `natsDir`. */
  nats: RunningNatsCluster | undefined;
  redis: ChildProcess | undefined;
  /** The first client agent's UDP port (the players' address); `udpPorts` has every agent's. */
  udpPort = 0;
  udpPorts: number[] = [];
  /** The NATS nodes' client ports, and their route ports when there are several. */
  natsPorts: number[] = [];
  natsClusterPorts: number[] = [];
  redisPort = 0;
  /** The run's directory: the NATS's trust and JetStream, its own Redis's files, the services' log. */
  readonly dir: string;
  readonly natsDir: string;
  /** Every line the services write goes here. */
  readonly logPath: string;
  protected readonly killed = new Set<ManagedProcess>();
  private readonly httpPorts = new Map<ManagedProcess, number>();
  private readonly tails = new Map<string, string[]>();
  private readonly listeners = new Map<string, (line: string) => void>();
  private readonly log: WriteStream;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(readonly options: LocalClusterOptions) {
    this.ns = namespace(options.name);
    this.version = options.name;
    this.dcFiles = options.dcFiles?.map((path) => resolve(path)) ?? [DEMO_DC];
    this.databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    this.dir = mkdtempSync(join(tmpdir(), `overworld-${options.name}-`));
    this.natsDir = join(this.dir, "nats");
    this.logPath = join(this.dir, "services.log");
    this.log = createWriteStream(this.logPath);
    this.processes = new ClusterProcesses({
      onLine: (label, line) => this.line(label, line),
      onUnaskedExit: (label, code, signal) => this.exited(label, code, signal),
    });
  }

  get redisUrl(): string {
    return this.options.ownRedis
      ? `redis://127.0.0.1:${this.redisPort}`
      : (process.env.REDIS_URL ?? DEFAULT_REDIS_URL);
  }

  get uberdogUrl(): string {
    return `http://127.0.0.1:${this.httpPort("uberdog")}`;
  }

  get nodeArgs(): readonly string[] | undefined {
    return this.options.nodeArgs;
  }

  replicas(service: ServiceName): ManagedProcess[] {
    return this.services.get(service) ?? [];
  }

  /** The HTTP port (/healthz, /metrics) of a replica, or of a service's first one. */
  httpPort(which: ServiceName | ManagedProcess): number {
    const managed = typeof which === "string" ? this.replicas(which)[0] : which;
    return managed ? (this.httpPorts.get(managed) ?? 0) : 0;
  }

  /** The pid of a service's first replica. */
  pid(service: ServiceName): number {
    return this.replicas(service)[0]?.pid ?? 0;
  }

  /** The last lines a process wrote. */
  tail(label: string): string {
    return (this.tails.get(label) ?? []).join("\n");
  }

  /** Calls `listener` with each line the process of that label writes (they go to the log too). */
  listen(label: string, listener: (line: string) => void): () => void {
    this.listeners.set(label, listener);
    return () => this.listeners.delete(label);
  }

  /** Starts the NATS (and its Redis), then the services in order, each once the ones before are healthy. */
  async start(): Promise<void> {
    const { ns, options } = this;
    for (let agent = 0; agent < (options.replicas?.["client-agent"] ?? 1); agent++)
      this.udpPorts.push(await freeUdpPort());
    this.udpPort = this.udpPorts[0]!;
    const natsNodes = options.natsNodes ?? 1;
    for (let node = 0; node < natsNodes; node++) {
      this.natsPorts.push(await freeTcpPort());
      if (natsNodes > 1) this.natsClusterPorts.push(await freeTcpPort());
    }
    if (options.ownRedis) {
      this.redisPort = await freeTcpPort();
      mkdirSync(join(this.dir, "redis"));
      await this.startRedis();
    }
    await ensureNatsTrust(this.natsDir, { host: "127.0.0.1", port: this.natsPorts[0]! });
    await this.startNats();
    const agentAddresses = this.udpPorts.map((port) => `127.0.0.1:${port}`);
    const shared: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: this.redisUrl,
      DATABASE_URL: this.databaseUrl,
      DC_FILES: this.dcFiles.join(","),
      CLUSTER_VERSION: this.version,
      SUBJECT_ROOT: ns.root,
      LOG_LEVEL: "warn",
      HTTP_HOST: "127.0.0.1",
      NETCODE_PRIVATE_KEY: randomBytes(NETCODE_KEY_BYTES).toString("hex"),
      // several agents: uberdog's tokens name them all, the least loaded first
      CLIENT_AGENT_ADDRESSES: agentAddresses.join(","),
    };
    const own: Record<ServiceName, Record<string, string>> = {
      "message-director": { REDIS_PREFIX: `${ns.prefix}md:`, DB_SCHEMA: ns.schemas.director },
      "state-server": { REDIS_PREFIX: ns.prefix, DB_SCHEMA: ns.schemas.stateServer },
      // uberdog's and the client agent's limits are the defaults: each bot logs in and plays from an
      // address of its own (127.0.1.1, ...; see libs/bots), and a successful login resets its back-off
      uberdog: { REDIS_PREFIX: ns.prefix, DB_SCHEMA: ns.schemas.uberdog, SCRYPT_LOG_N },
      "client-agent": {
        REDIS_PREFIX: ns.prefix,
        MAX_CLIENTS: String(options.maxClients),
      },
      "zone-ai": { REDIS_PREFIX: ns.prefix, ...options.zoneAiEnv },
    };
    for (const service of SERVICE_ORDER) {
      if (this.failure) throw this.failure;
      const specs: ProcessSpec[] = [];
      const ports: number[] = [];
      for (let i = 0; i < (options.replicas?.[service] ?? 1); i++) {
        const port = await freeTcpPort();
        const label = `${service}-${i + 1}`;
        ports.push(port);
        specs.push({
          label,
          entry: serviceEntry(service),
          env: {
            ...shared,
            ...serviceNatsEnv(this.natsDir, this.nats!.url, roleOf(service)),
            ...own[service],
            ...options.env?.[service],
            ...(service === "client-agent"
              ? { UDP_PORT: String(this.udpPorts[i]), PUBLIC_ADDRESS: agentAddresses[i]! }
              : {}),
            HTTP_PORT: String(port),
            INSTANCE_ID: `${ns.tag}-${label}`,
          },
          nodeArgs: options.nodeArgs,
          healthPort: port,
        });
      }
      const late = await this.processes.launchGroup(specs);
      const launched = this.processes.processes.slice(-specs.length);
      for (const [index, managed] of launched.entries()) this.httpPorts.set(managed, ports[index]!);
      this.services.set(service, launched);
      if (this.failure) throw this.failure;
      if (late.length > 0) {
        const label = late[0]!.spec.label;
        throw new Error(`${label} was not healthy in time; its last lines:\n${this.tail(label)}`);
      }
    }
  }

  /** The client agents' /metrics, as sums per metric name (over all label sets and every agent). */
  async agentMetrics(): Promise<Map<string, number>> {
    const sums = new Map<string, number>();
    for (const agent of this.replicas("client-agent")) {
      const response = await fetch(`http://127.0.0.1:${this.httpPort(agent)}/metrics`);
      if (!response.ok)
        throw new Error(`client agent ${agent.spec.label} /metrics answered ${response.status}`);
      for (const [name, value] of sumByName(await response.text()))
        sums.set(name, (sums.get(name) ?? 0) + value);
    }
    return sums;
  }

  /** kill -9 of a service replica; it stays down until `restart`. */
  kill(managed: ManagedProcess): void {
    this.killed.add(managed);
    managed.child.kill("SIGKILL");
  }

  /** Waits for a killed replica's exit, then starts it again. */
  async restart(managed: ManagedProcess): Promise<void> {
    await exitOf(managed.child);
    this.killed.delete(managed);
    this.processes.respawn(managed);
  }

  /** kill -9 of every NATS node, then the same nodes (trust, ports, JetStream directories) started again. */
  async restartNats(): Promise<void> {
    const nats = this.nats!;
    await Promise.all(nats.nodes.map((_, node) => nats.kill(node)));
    await Promise.all(nats.nodes.map((_, node) => nats.start(node)));
  }

  /** kill -9 of one NATS node (of several), then the same node started again, as a supervisor would. */
  async restartNatsNode(node: number): Promise<void> {
    const nats = this.nats!;
    await nats.kill(node);
    await nats.start(node);
  }

  /** kill -9 of the run's own redis-server, then started again on the same append-only file. */
  async restartRedis(): Promise<void> {
    if (!this.options.ownRedis) throw new Error("restartRedis: this cluster uses the local Redis (ownRedis)");
    const child = this.redis;
    child?.kill("SIGKILL");
    if (child) await exitOf(child);
    await this.startRedis();
  }

  /** The run's JetStream streams (the zone journal, the event log, the snapshot bucket) and their replicas. */
  async streamReplicas(): Promise<Map<string, number>> {
    const nc = await connectMinted(this.natsDir, this.nats!.url, `${this.options.name} streams`, EVERYWHERE);
    try {
      return await streamReplicaCounts(nc);
    } finally {
      await nc.close();
    }
  }

  /** The players each client agent holds (its /healthz), in order; 0 for one that does not answer. */
  async agentClients(): Promise<number[]> {
    return Promise.all(
      this.replicas("client-agent").map(async (managed) => {
        try {
          const response = await fetch(`http://127.0.0.1:${this.httpPort(managed)}/healthz`);
          return Number(((await response.json()) as { clients?: number }).clients ?? 0);
        } catch {
          return 0;
        }
      }),
    );
  }

  /** True when every replica answers /healthz with 200. */
  async healthy(): Promise<boolean> {
    const all = [...this.services.values()].flat();
    const answers = await Promise.all(
      all.map(async (managed) => {
        try {
          const response = await fetch(`http://127.0.0.1:${this.httpPort(managed)}/healthz`);
          await response.arrayBuffer();
          return response.ok;
        } catch {
          return false;
        }
      }),
    );
    return answers.every(Boolean);
  }

  /**
   * Stops the processes, the NATS and its Redis, and removes what the run made: its directory (unless
   * `keepDir`: the log stays for a report), the Redis keys under its prefix, its Postgres schemas. Runs
   * once, whatever happened; a step that fails is reported and the next runs anyway.
   */
  stop(keepDir = false): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      await step("stop the processes", () => this.processes.stop());
      await step("stop the NATS", async () => await this.nats?.stop());
      if (this.options.ownRedis) {
        await step("stop the Redis", async () => {
          const child = this.redis;
          if (child && child.exitCode === null && child.signalCode === null) {
            child.kill("SIGKILL");
            await exitOf(child);
          }
        });
      } else {
        await step(`delete the Redis keys ${this.ns.prefix}*`, () =>
          dropRedisKeys(this.redisUrl, this.ns.prefix),
        );
      }
      await step(`drop the Postgres schemas ${Object.values(this.ns.schemas).join(", ")}`, async () => {
        const pool = await connectPostgres(this.databaseUrl, `${this.options.name}-cleanup`, 1);
        try {
          for (const schema of Object.values(this.ns.schemas))
            await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        } finally {
          await pool.end();
        }
      });
      await new Promise<void>((done) => this.log.end(done));
      if (!keepDir) rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  private async startNats(): Promise<void> {
    this.nats = await startNatsCluster(this.natsDir, {
      host: "127.0.0.1",
      ports: this.natsPorts,
      clusterPorts: this.natsClusterPorts,
      name: this.ns.tag,
      onLine: (node, line) => this.line(this.natsPorts.length > 1 ? `nats-${node + 1}` : "nats", line),
    });
  }

  private async startRedis(): Promise<void> {
    const child = spawn(
      "redis-server",
      [
        ...["--port", String(this.redisPort), "--bind", "127.0.0.1", "--dir", join(this.dir, "redis")],
        ...["--appendonly", "yes", "--appendfsync", this.options.ownRedis!.appendfsync, "--save", ""],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const stream of [child.stdout, child.stderr])
      stream?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) if (line) this.line("redis", line);
      });
    this.redis = child;
    const deadline = Date.now() + REDIS_READY_TIMEOUT_MS;
    while (!(await redisLoaded(this.redisPort))) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server did not start on port ${this.redisPort}:\n${this.tail("redis")}`);
      await new Promise((wake) => setTimeout(wake, POLL_MS));
    }
  }

  private exited(label: string, code: number | null, signal: NodeJS.Signals | null): void {
    const managed = this.processes.processes.find((each) => each.spec.label === label);
    if (managed === undefined || this.stopping || this.killed.has(managed)) return;
    if (this.options.onCrash === "fail") {
      this.failure ??= new Error(
        `${label} exited on its own (${signal ?? `code ${code}`}); its last lines:\n${this.tail(label)}`,
      );
      return;
    }
    this.crashes.set(label, (this.crashes.get(label) ?? 0) + 1);
    this.line(label, `exited on its own (${signal ?? `code ${code}`}); starting it again`);
    this.processes.respawn(managed);
  }

  private line(label: string, line: string): void {
    this.listeners.get(label)?.(line);
    this.log.write(`[${label}] ${line}\n`);
    let tail = this.tails.get(label);
    if (!tail) this.tails.set(label, (tail = []));
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  }
}

/** Parses Prometheus text into sums per metric name (every label set of a name added up). */
export function sumByName(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) out.set(match[1]!, (out.get(match[1]!) ?? 0) + value);
  }
  return out;
}

/** One step of the clean-up: a failure is reported and the next step runs anyway. */
async function step(what: string, work: () => Promise<unknown>): Promise<void> {
  try {
    await work();
  } catch (error) {
    process.stderr.write(`  clean-up: could not ${what}: ${(error as Error).message}\n`);
  }
}

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once("exit", () => done()));
}

/** True once Redis answers PING with PONG (it answers LOADING while it replays its append-only file). */
function redisLoaded(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.once("connect", () => socket.write("PING\r\n"));
    socket.once("data", (data) => {
      socket.destroy();
      done(data.toString().startsWith("+PONG"));
    });
    socket.once("error", () => done(false));
  });
}

/** What a game's tests start: its classes and its zone plugin. */
export interface GameClusterOptions {
  /** The game's `.dc` files, in order (its clients load the same classes: the schema hash). */
  readonly dcFiles: readonly string[];
  /** Its zone-AI plugin: a module exporting a ZonePlugin as `plugin` or default, TypeScript or JavaScript. */
  readonly plugin: string;
  /** Names the run; also the cluster version the game's clients say in their hello (default "game"). */
  readonly name?: string;
  /** Zone-AI replicas (default 1). */
  readonly zoneAis?: number;
  /** The most clients the client agent takes (default 64). */
  readonly maxClients?: number;
}

/**
 * A game's cluster for its tests (`import { startLocalCluster } from "@overworld/cli/cluster"`, as the
 * project `overworld new` makes does): every service a local process, zone AI running the game's plugin,
 * under names and ports of the run's own. It needs nats-server (PATH or /usr/sbin), and Redis and
 * PostgreSQL (REDIS_URL, DATABASE_URL, else the local ones). Resolves once every service is healthy
 * (`uberdogUrl` to register and log in, `version` for the hello); `stop()` removes what the run made.
 */
export async function startLocalCluster(options: GameClusterOptions): Promise<LocalCluster> {
  const cluster = new LocalCluster({
    name: options.name ?? "game",
    dcFiles: options.dcFiles,
    zoneAiEnv: { PLUGIN: resolve(options.plugin) },
    maxClients: options.maxClients ?? 64,
    replicas: { "zone-ai": options.zoneAis ?? 1 },
    onCrash: "fail",
  });
  try {
    await cluster.start();
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

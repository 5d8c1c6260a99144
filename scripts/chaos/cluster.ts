/**
 * The chaos harness's cluster: every service a process of its own (ClusterProcesses, as
 * `pnpm overworld start` runs them) with the demo world, against a NATS and a Redis of its own that the
 * harness can kill and start again, and the local Postgres, under names of its own (subject root, Redis
 * prefix, Postgres schemas, ports), so that it runs beside anything else on the machine.
 *
 * Redis persists with an append-only file (`appendonly yes`, `appendfsync everysec`, no RDB snapshots):
 * every write is in the file (write(2), the kernel's page cache) before Redis answers it, and fsync'ed
 * once a second. A kill -9 of redis-server loses no acknowledged write (the kernel keeps what was
 * written), except when a slow disk kept the previous fsync running for over a second: then Redis goes
 * on answering while it holds back its writes, up to 2 s of them. A crash of the machine (or the power)
 * loses what was not fsync'ed yet: up to the last second (2 s in the slow-disk case). `always` would
 * lose nothing acknowledged in either case, at the cost of an fsync per write; Redis 7.0 has no WAITAOF
 * to ask for it per write.
 *
 * A service the harness kills stays down until the harness starts it again (`restart`), at once, as a
 * supervisor would; a service that dies on its own is started again too, and counted (`crashes`).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
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
} from "../../libs/cli/src/cluster-processes.ts";
import {
  connectPostgres,
  ensureNatsTrust,
  type RunningNats,
  serviceNatsEnv,
  startNatsServer,
} from "../../libs/service/src/index.ts";

const REPO = resolve(import.meta.dirname, "../..");
export const DEMO_DC = resolve(REPO, "examples/demo/demo.dc");
export const CLUSTER_VERSION = "chaos";
const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres";
const NETCODE_KEY_BYTES = 32;
const TAIL_LINES = 40;
/** The bots log in again after each agent death: uberdog hashes at 2^10, as the tests and benchmarks do. */
const SCRYPT_LOG_N = "10";
const READY_TIMEOUT_MS = 15_000;
const POLL_MS = 50;
/** How Redis persists (see the head of this file). */
export const APPENDFSYNC = "everysec";

/** What the harness can break: each service, the NATS and the Redis. */
export type Target = ServiceName | "nats" | "redis";

export interface ChaosClusterOptions {
  /** Replicas per service (zone AI needs two to fail over). */
  readonly replicas: Readonly<Record<ServiceName, number>>;
  /** The demo world: DEMO_GRID, DEMO_NPCS_PER_ZONE. */
  readonly grid: string;
  readonly npcsPerZone: number;
  readonly maxClients: number;
  readonly databaseUrl?: string;
  /** Variables of one service more (a test's shorter timeouts). */
  readonly env?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
}

export class ChaosCluster {
  readonly tag = `chaos${process.pid}${Date.now().toString(36)}`;
  readonly root = `owc${this.tag}`;
  readonly prefix = `owc:${this.tag}:`;
  readonly schemas = {
    director: `owc_${this.tag}_md`,
    stateServer: `owc_${this.tag}_ss`,
    uberdog: `owc_${this.tag}_ud`,
  };
  readonly databaseUrl: string;
  readonly dir = mkdtempSync(join(tmpdir(), "overworld-chaos-"));
  readonly natsDir = join(this.dir, "nats");
  readonly logPath = join(this.dir, "services.log");
  readonly processes: ClusterProcesses;
  /** Each service's replicas, and the HTTP port of each. */
  readonly services = new Map<ServiceName, ManagedProcess[]>();
  readonly httpPorts = new Map<ManagedProcess, number>();
  /** Services that exited without the harness killing them, by label. */
  readonly crashes = new Map<string, number>();
  readonly dcFiles = [DEMO_DC];
  readonly version = CLUSTER_VERSION;
  udpPort = 0;
  natsPort = 0;
  redisPort = 0;
  nats: RunningNats | undefined;
  redis: ChildProcess | undefined;
  /** Lines of a process go here instead of only to the log (the bots' progress). */
  readonly listeners = new Map<string, (line: string) => void>();
  private readonly killed = new Set<ManagedProcess>();
  private readonly tails = new Map<string, string[]>();
  private readonly log: WriteStream;
  private stopping = false;
  private stopped: Promise<void> | undefined;

  constructor(private readonly options: ChaosClusterOptions) {
    this.databaseUrl = options.databaseUrl ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    this.log = createWriteStream(this.logPath);
    this.processes = new ClusterProcesses({
      onLine: (label, line) => this.line(label, line),
      onUnaskedExit: (label, code, signal) => this.exited(label, code, signal),
    });
  }

  get redisUrl(): string {
    return `redis://127.0.0.1:${this.redisPort}`;
  }

  get uberdogUrl(): string {
    return `http://127.0.0.1:${this.port(this.replicas("uberdog")[0]!)}`;
  }

  replicas(service: ServiceName): ManagedProcess[] {
    return this.services.get(service) ?? [];
  }

  port(managed: ManagedProcess): number {
    return this.httpPorts.get(managed) ?? 0;
  }

  /** The last lines a process wrote. */
  tail(label: string): string {
    return (this.tails.get(label) ?? []).join("\n");
  }

  async start(): Promise<void> {
    this.udpPort = await freeUdpPort();
    this.natsPort = await freeTcpPort();
    this.redisPort = await freeTcpPort();
    mkdirSync(join(this.dir, "redis"));
    await this.startRedis();
    await ensureNatsTrust(this.natsDir, { host: "127.0.0.1", port: this.natsPort });
    await this.startNats();
    const agentAddress = `127.0.0.1:${this.udpPort}`;
    const shared: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL: this.redisUrl,
      DATABASE_URL: this.databaseUrl,
      DC_FILES: this.dcFiles.join(","),
      CLUSTER_VERSION,
      SUBJECT_ROOT: this.root,
      LOG_LEVEL: "warn",
      HTTP_HOST: "127.0.0.1",
      NETCODE_PRIVATE_KEY: randomBytes(NETCODE_KEY_BYTES).toString("hex"),
      CLIENT_AGENT_ADDRESSES: agentAddress,
    };
    const own: Record<ServiceName, Record<string, string>> = {
      "message-director": { REDIS_PREFIX: `${this.prefix}md:`, DB_SCHEMA: this.schemas.director },
      "state-server": { REDIS_PREFIX: this.prefix, DB_SCHEMA: this.schemas.stateServer },
      uberdog: { REDIS_PREFIX: this.prefix, DB_SCHEMA: this.schemas.uberdog, SCRYPT_LOG_N },
      "client-agent": {
        REDIS_PREFIX: this.prefix,
        UDP_PORT: String(this.udpPort),
        PUBLIC_ADDRESS: agentAddress,
        MAX_CLIENTS: String(this.options.maxClients),
      },
      "zone-ai": {
        REDIS_PREFIX: this.prefix,
        DEMO_GRID: this.options.grid,
        DEMO_NPCS_PER_ZONE: String(this.options.npcsPerZone),
      },
    };
    for (const service of SERVICE_ORDER) {
      const specs: ProcessSpec[] = [];
      const ports: number[] = [];
      for (let i = 0; i < this.options.replicas[service]; i++) {
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
            ...this.options.env?.[service],
            HTTP_PORT: String(port),
            INSTANCE_ID: `${this.tag}-${label}`,
          },
          healthPort: port,
        });
      }
      const late = await this.processes.launchGroup(specs);
      const launched = this.processes.processes.slice(-specs.length);
      for (const [index, managed] of launched.entries()) this.httpPorts.set(managed, ports[index]!);
      this.services.set(service, launched);
      if (late.length > 0) {
        const label = late[0]!.spec.label;
        throw new Error(`${label} was not healthy in time; its last lines:\n${this.tail(label)}`);
      }
    }
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

  /** kill -9 of the NATS server, then the same server (trust, port, JetStream directory) started again. */
  async restartNats(): Promise<void> {
    const child = this.nats?.process;
    child?.kill("SIGKILL");
    if (child) await exitOf(child);
    await this.startNats();
  }

  /** kill -9 of redis-server, then started again on the same append-only file. */
  async restartRedis(): Promise<void> {
    const child = this.redis;
    child?.kill("SIGKILL");
    if (child) await exitOf(child);
    await this.startRedis();
  }

  /** True when every replica answers /healthz with 200. */
  async healthy(): Promise<boolean> {
    const all = [...this.services.values()].flat();
    const answers = await Promise.all(
      all.map(async (managed) => {
        try {
          const response = await fetch(`http://127.0.0.1:${this.port(managed)}/healthz`);
          await response.arrayBuffer();
          return response.ok;
        } catch {
          return false;
        }
      }),
    );
    return answers.every(Boolean);
  }

  /** Stops the processes, NATS and Redis, and removes what the run made (unless `keep`: its logs). */
  stop(keep = false): Promise<void> {
    this.stopped ??= (async () => {
      this.stopping = true;
      await this.processes.stop().catch(() => {});
      await this.nats?.stop().catch(() => {});
      if (this.redis && this.redis.exitCode === null && this.redis.signalCode === null) {
        this.redis.kill("SIGKILL");
        await exitOf(this.redis);
      }
      const pool = await connectPostgres(this.databaseUrl, "chaos-cleanup", 1);
      for (const schema of Object.values(this.schemas))
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`).catch(() => {});
      await pool.end();
      await new Promise<void>((done) => this.log.end(done));
      if (!keep) rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.stopped;
  }

  private async startNats(): Promise<void> {
    this.nats = await startNatsServer(this.natsDir, {
      host: "127.0.0.1",
      port: this.natsPort,
      onLine: (line) => this.line("nats", line),
    });
  }

  private async startRedis(): Promise<void> {
    const child = spawn(
      "redis-server",
      [
        ...["--port", String(this.redisPort), "--bind", "127.0.0.1", "--dir", join(this.dir, "redis")],
        ...["--appendonly", "yes", "--appendfsync", APPENDFSYNC, "--save", ""],
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    for (const stream of [child.stdout, child.stderr])
      stream?.on("data", (chunk: Buffer) => {
        for (const line of chunk.toString("utf8").split("\n")) if (line) this.line("redis", line);
      });
    this.redis = child;
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await redisLoaded(this.redisPort))) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`redis-server did not start on port ${this.redisPort}:\n${this.tail("redis")}`);
      await new Promise((wake) => setTimeout(wake, POLL_MS));
    }
  }

  private exited(label: string, code: number | null, signal: NodeJS.Signals | null): void {
    const managed = this.processes.processes.find((each) => each.spec.label === label);
    if (managed === undefined || this.stopping || this.killed.has(managed)) return;
    // died on its own: a finding; started again so that the run goes on
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

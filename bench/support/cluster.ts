/**
 * A cluster for a benchmark: every service as a process of its own (ClusterProcesses, as
 * `pnpm overworld start` runs them) with the demo world, against a NATS of its own with credentials (as
 * `pnpm overworld start` runs it) and the local Redis and Postgres, under names of its own so it can run
 * beside a started cluster or the tests: its own subject root, Redis key prefix, Postgres schemas, ports
 * (HTTP and UDP, free ones picked at start) and netcode key. `stop()` stops the processes (last started
 * first) and the NATS, and removes everything the run created: the NATS's directory (its trust and
 * JetStream), the Redis keys under its prefix and its Postgres schemas.
 */
import { randomBytes } from "node:crypto";
import { createWriteStream, mkdtempSync, rmSync, type WriteStream } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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
  ensureNatsTrust,
  type RunningNats,
  serviceNatsEnv,
  startNatsServer,
} from "../../libs/service/src/index.ts";
// the local services and their clean-up, as the test suite reaches them
import { dropRedisKeys, dropSchema } from "../../test/support/cleanup.ts";
import { DATABASE_URL, REDIS_URL } from "../../test/support/services.ts";

export const DEMO_DC = fileURLToPath(new URL("../../examples/demo/demo.dc", import.meta.url));
export const CLUSTER_VERSION = "bench";

const NETCODE_KEY_BYTES = 32;
/** Lines kept per process, shown when it dies. */
const TAIL_LINES = 40;
/**
 * Login costs nothing to what a benchmark measures (CPU is counted once every bot walks), but at
 * uberdog's default scrypt cost (2^15) hundreds of bots logging in at once would take minutes of CPU on
 * this machine: the benchmark hashes at 2^10, as the tests do.
 */
const BENCH_SCRYPT_LOG_N = "10";

export interface BenchClusterOptions {
  /** Variables of the zone-AI replica: the demo world's map and NPCs (DEMO_GRID, DEMO_NPCS_PER_ZONE). */
  readonly zoneAiEnv: Readonly<Record<string, string>>;
  /** Client slots of the client agent (the most bots a run will log in). */
  readonly maxClients: number;
  /** Options for node in every service and bots process (the benchmarks' `--cpu-prof DIR`). */
  readonly nodeArgs?: readonly string[];
}

/** What a run of the benchmark names, so that it shares nothing with anything else. */
export interface Namespace {
  readonly tag: string;
  readonly root: string;
  readonly prefix: string;
  readonly schemas: Readonly<Record<"director" | "stateServer" | "uberdog", string>>;
}

/** Names for a run of the benchmark `name` (its subject root, prefix, schemas and log file hold it). */
export function namespace(name: string): Namespace {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  return {
    tag,
    root: `owb${tag}`,
    prefix: `owb:${tag}:`,
    schemas: { director: `owb_${tag}_md`, stateServer: `owb_${tag}_ss`, uberdog: `owb_${tag}_ud` },
  };
}

export class BenchCluster {
  /** Set when a service exited on its own: the run is void. */
  failure: Error | undefined;
  private readonly tails = new Map<string, string[]>();
  private readonly listeners = new Map<string, (line: string) => void>();
  private readonly log: WriteStream;
  private stopped: Promise<void> | undefined;
  readonly processes: ClusterProcesses;
  readonly services = new Map<ServiceName, ManagedProcess>();
  readonly httpPorts = new Map<ServiceName, number>();
  /** The demo world's .dc file, and the cluster version the bots say hello with. */
  readonly dcFiles = [DEMO_DC];
  readonly version = CLUSTER_VERSION;
  udpPort = 0;
  /** The run's NATS, with its trust and JetStream in `natsDir`. */
  nats: RunningNats | undefined;
  private readonly natsDir = mkdtempSync(join(tmpdir(), "overworld-bench-nats-"));
  /** Every line the services write goes here. */
  readonly logPath: string;

  constructor(
    readonly ns: Namespace,
    private readonly options: BenchClusterOptions,
  ) {
    this.logPath = join(tmpdir(), `overworld-bench-${ns.tag}.log`);
    this.log = createWriteStream(this.logPath);
    this.processes = new ClusterProcesses({
      onLine: (label, line) => this.line(label, line),
      onUnaskedExit: (label, code, signal) => {
        const tail = (this.tails.get(label) ?? []).join("\n");
        this.failure ??= new Error(
          `${label} exited on its own (${signal ?? `code ${code}`}); its last lines:\n${tail}`,
        );
      },
    });
  }

  get uberdogUrl(): string {
    return `http://127.0.0.1:${this.httpPorts.get("uberdog")}`;
  }

  /** Options for node in the bots processes too. */
  get nodeArgs(): readonly string[] | undefined {
    return this.options.nodeArgs;
  }

  /** The pid of each service's process. */
  pid(service: ServiceName): number {
    return this.services.get(service)?.pid ?? 0;
  }

  /** Calls `listener` with each line the process of that label writes (instead of the log file). */
  listen(label: string, listener: (line: string) => void): () => void {
    this.listeners.set(label, listener);
    return () => this.listeners.delete(label);
  }

  /** Starts the services in order, each once the ones before it are healthy. */
  async start(): Promise<void> {
    const { ns } = this;
    this.udpPort = await freeUdpPort();
    const agentAddress = `127.0.0.1:${this.udpPort}`;
    const natsPort = await freeTcpPort();
    await ensureNatsTrust(this.natsDir, { host: "127.0.0.1", port: natsPort });
    this.nats = await startNatsServer(this.natsDir, { host: "127.0.0.1", port: natsPort });
    const shared: NodeJS.ProcessEnv = {
      ...process.env,
      REDIS_URL,
      DATABASE_URL,
      DC_FILES: this.dcFiles.join(","),
      CLUSTER_VERSION,
      SUBJECT_ROOT: ns.root,
      LOG_LEVEL: "warn",
      HTTP_HOST: "127.0.0.1",
      NETCODE_PRIVATE_KEY: randomBytes(NETCODE_KEY_BYTES).toString("hex"),
      CLIENT_AGENT_ADDRESSES: agentAddress,
    };
    const own: Record<ServiceName, Record<string, string>> = {
      "message-director": { REDIS_PREFIX: `${ns.prefix}md:`, DB_SCHEMA: ns.schemas.director },
      "state-server": { REDIS_PREFIX: ns.prefix, DB_SCHEMA: ns.schemas.stateServer },
      // uberdog's and the client agent's limits are the defaults: each bot logs in and plays from an
      // address of its own (127.0.1.1, ...; see libs/bots), and a successful login resets its back-off
      uberdog: {
        REDIS_PREFIX: ns.prefix,
        DB_SCHEMA: ns.schemas.uberdog,
        SCRYPT_LOG_N: BENCH_SCRYPT_LOG_N,
      },
      "client-agent": {
        REDIS_PREFIX: ns.prefix,
        UDP_PORT: String(this.udpPort),
        PUBLIC_ADDRESS: agentAddress,
        MAX_CLIENTS: String(this.options.maxClients),
      },
      "zone-ai": { REDIS_PREFIX: ns.prefix, ...this.options.zoneAiEnv },
    };
    for (const service of SERVICE_ORDER) {
      if (this.failure) throw this.failure;
      const port = await freeTcpPort();
      const label = `${service}-1`;
      const spec: ProcessSpec = {
        label,
        entry: serviceEntry(service),
        env: {
          ...shared,
          ...serviceNatsEnv(this.natsDir, this.nats.url, roleOf(service)),
          ...own[service],
          HTTP_PORT: String(port),
          INSTANCE_ID: `${ns.tag}-${label}`,
        },
        nodeArgs: this.options.nodeArgs,
        healthPort: port,
      };
      this.httpPorts.set(service, port);
      const [late] = await this.processes.launchGroup([spec]);
      this.services.set(service, this.processes.processes.at(-1)!);
      if (this.failure) throw this.failure;
      if (late) {
        const tail = (this.tails.get(label) ?? []).join("\n");
        throw new Error(`${label} was not healthy in time; its last lines:\n${tail}`);
      }
    }
  }

  /** The client agent's /metrics, as sums per metric name (over all label sets). */
  async agentMetrics(): Promise<Map<string, number>> {
    const response = await fetch(`http://127.0.0.1:${this.httpPorts.get("client-agent")}/metrics`);
    if (!response.ok) throw new Error(`client agent /metrics answered ${response.status}`);
    return sumByName(await response.text());
  }

  /** Stops the processes and removes what the run created; runs once, whatever happened. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await step("stop the processes", () => this.processes.stop());
      await step("stop the NATS and remove its directory", async () => {
        await this.nats?.stop();
        rmSync(this.natsDir, { recursive: true, force: true });
      });
      await step(`delete the Redis keys ${this.ns.prefix}*`, () => dropRedisKeys(this.ns.prefix));
      await step(`drop the Postgres schemas ${Object.values(this.ns.schemas).join(", ")}`, () =>
        Promise.all(Object.values(this.ns.schemas).map((schema) => dropSchema(schema))),
      );
      await new Promise<void>((done) => this.log.end(done));
    })();
    return this.stopped;
  }

  private line(label: string, line: string): void {
    const listener = this.listeners.get(label);
    if (listener) {
      listener(line);
      return;
    }
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

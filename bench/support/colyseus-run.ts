/**
 * The Colyseus side of the players benchmark: the Colyseus server (bench/colyseus/server.ts) started
 * once among the benchmark's processes, as the Overworld cluster is, and for each run the clients
 * process (bench/colyseus/clients.ts) run to its end like the bots (support/load-run.ts), with the same
 * CPU accounting from /proc over the clients' measured window and the server's counters read twice a
 * second beside it. Between runs the server is idle: no room, no client.
 */
import { fileURLToPath } from "node:url";
import type { ManagedProcess } from "../../libs/cli/src/cluster-processes.ts";
import { freeTcpPort } from "../../libs/cli/src/cluster-processes.ts";
import { type LocalCluster, sumByName } from "../../libs/cli/src/local-cluster.ts";
import { type ClientsReport, SERVER_METRICS } from "../colyseus/shared.ts";
import { clusterCpuGroups } from "./bot-run.ts";
import { cpuUsPer1000, median } from "./figures.ts";
import { runLoadProcess, waitUntilNoClients, windowFigures } from "./load-run.ts";

const SERVER_ENTRY = fileURLToPath(new URL("../colyseus/server.ts", import.meta.url));
const CLIENTS_ENTRY = fileURLToPath(new URL("../colyseus/clients.ts", import.meta.url));
const SERVER_LABEL = "colyseus-server";
const MS_PER_SECOND = 1000;

/** The CPU groups of a Colyseus run, as coresBetween reports them. */
export const COLYSEUS_CPU_GROUPS = {
  server: "colyseus-server",
  clients: "clients",
  /** The Overworld cluster standing by (its services, NATS, Redis, Postgres): not the Colyseus side's. */
  idleCluster: "overworld-idle",
} as const;

export interface ColyseusRunOptions {
  readonly count: number;
  /** Moves per client per second. */
  readonly rate: number;
  readonly durationSeconds: number;
  readonly warmupSeconds: number;
  /** Clients started per second. */
  readonly ramp: number;
  /** The map the clients walk, as the Overworld bots' grid ("1x1@400"). */
  readonly grid: string;
  /** Prefixes the relayed progress lines. */
  readonly label: string;
}

/** The server's counters, per second over the window. */
export type ServerRates = { readonly [K in keyof typeof SERVER_METRICS]: number };

export interface ColyseusRunResult {
  readonly report: ClientsReport;
  readonly sampledSeconds: number;
  /** Cores used over the window by each of COLYSEUS_CPU_GROUPS, `others` and `machine` (see coresBetween). */
  readonly cores: Readonly<Record<string, number>>;
  readonly server: ServerRates;
}

export class ColyseusServer {
  private process: ManagedProcess | undefined;
  private port = 0;
  private httpPort = 0;

  constructor(private readonly cluster: LocalCluster) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Starts the server among the cluster's processes (stopped with them) and waits until it answers. */
  async start(): Promise<void> {
    this.port = await freeTcpPort();
    this.httpPort = await freeTcpPort();
    const [late] = await this.cluster.processes.launchGroup([
      {
        label: SERVER_LABEL,
        entry: SERVER_ENTRY,
        env: { ...process.env, COLYSEUS_PORT: String(this.port), HTTP_PORT: String(this.httpPort) },
        nodeArgs: this.cluster.nodeArgs,
        healthPort: this.httpPort,
      },
    ]);
    this.process = this.cluster.processes.processes.find((managed) => managed.spec.label === SERVER_LABEL);
    if (this.cluster.failure) throw this.cluster.failure;
    if (late) throw new Error(`the Colyseus server was not healthy in time; see ${this.cluster.logPath}`);
  }

  /** The server's counters (SERVER_METRICS). */
  async metrics(): Promise<Map<string, number>> {
    const response = await fetch(`http://127.0.0.1:${this.httpPort}/metrics`);
    if (!response.ok) throw new Error(`the Colyseus server's /metrics answered ${response.status}`);
    return sumByName(await response.text());
  }

  /** Waits until the last run's clients have left and their room is gone. */
  waitForIdle(): Promise<void> {
    return waitUntilNoClients(
      "the Colyseus server",
      async () => (await this.metrics()).get(SERVER_METRICS.clients) ?? 0,
      () => this.cluster.failure,
    );
  }

  /** The clients process, its report, and the window's CPU and server figures. */
  async run(options: ColyseusRunOptions): Promise<ColyseusRunResult> {
    const server = this.process;
    if (server === undefined) throw new Error("the Colyseus server is not started: call start() first");
    const { report, samples } = await runLoadProcess<ClientsReport>(this.cluster, {
      kind: "clients",
      label: options.label,
      entry: CLIENTS_ENTRY,
      args: [
        ...["--url", this.url, "--count", String(options.count), "--rate", String(options.rate)],
        ...["--duration", String(options.durationSeconds), "--warmup", String(options.warmupSeconds)],
        ...["--ramp", String(options.ramp), "--grid", options.grid],
      ],
      env: process.env,
      nodeArgs: this.cluster.nodeArgs,
      plannedMs:
        (options.count / options.ramp + options.warmupSeconds + options.durationSeconds) * MS_PER_SECOND,
      groups: (clients) => {
        const idle = Object.values(clusterCpuGroups(this.cluster));
        return {
          [COLYSEUS_CPU_GROUPS.server]: () => [server.pid],
          [COLYSEUS_CPU_GROUPS.clients]: () => [clients.pid],
          [COLYSEUS_CPU_GROUPS.idleCluster]: () => idle.flatMap((pids) => pids()),
        };
      },
      counters: () => this.metrics(),
    });
    const window = windowFigures(report, samples, Object.values(SERVER_METRICS));
    const rates = Object.fromEntries(
      Object.entries(SERVER_METRICS).map(([key, name]) => [key, window.rates[name] ?? 0]),
    ) as ServerRates;
    return { report, sampledSeconds: window.sampledSeconds, cores: window.cores, server: rates };
  }
}

/** What the players benchmark reports of a Colyseus run. */
export interface ColyseusFigures {
  readonly count: number;
  readonly stepsSent: number;
  /** N x rate x the measured window's seconds. */
  readonly stepsPlanned: number;
  readonly sentPerSecond: number;
  readonly deliveredPerSecond: number;
  readonly fanOut: number;
  /** One clock (sender and receiver are clients of one process). */
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** WebSocket message payload bytes the server sent per delivered update (see SERVER_METRICS). */
  readonly bytesPerUpdate: number;
  /** The same with the WebSocket frame headers. */
  readonly framedBytesPerUpdate: number;
  /** WebSocket messages the server sent per second. */
  readonly messagesPerSecond: number;
  /** The Colyseus server, CPU µs per 1,000 delivered updates. */
  readonly serverUsPer1000: number;
  /** The server and the clients process, CPU µs per 1,000 delivered updates. */
  readonly machineUsPer1000: number;
  readonly cores: Readonly<Record<string, number>>;
  readonly clientsLoopDelayP99Ms: number;
  readonly bitChecked: number;
  readonly bitMismatched: number;
  readonly failedToJoin: number;
  readonly disconnects: number;
  readonly movesRefusedPerSecond: number;
  readonly ok: boolean;
  readonly problems: readonly string[];
}

export function colyseusFiguresOf(run: ColyseusRunResult): ColyseusFigures {
  const { report, cores, server } = run;
  const delivered = report.updates.deliveredPerSecond;
  const per = (value: number) => (delivered > 0 ? value / delivered : 0);
  const usPer1000 = (groupCores: number) => cpuUsPer1000(groupCores, delivered);
  const serverCores = cores[COLYSEUS_CPU_GROUPS.server] ?? 0;
  const clientsCores = cores[COLYSEUS_CPU_GROUPS.clients] ?? 0;
  const tally = (record: ClientsReport["disconnects"]) =>
    Object.values(record).reduce((sum, entry) => sum + entry.count, 0);
  return {
    count: report.options.count,
    stepsSent: report.updates.sent,
    stepsPlanned: report.options.count * report.options.rate * report.measuredSeconds,
    sentPerSecond: report.updates.sentPerSecond,
    deliveredPerSecond: delivered,
    fanOut: report.updates.fanOut,
    p50Ms: report.latencyMs.p50,
    p99Ms: report.latencyMs.p99,
    bytesPerUpdate: per(server.sentBytes),
    framedBytesPerUpdate: per(server.sentBytes + server.frameHeaderBytes),
    messagesPerSecond: server.sentMessages,
    serverUsPer1000: usPer1000(serverCores),
    machineUsPer1000: usPer1000(serverCores + clientsCores),
    cores,
    clientsLoopDelayP99Ms: report.process.eventLoopDelayP99Ms,
    bitChecked: report.bitCheck.checked,
    bitMismatched: report.bitCheck.mismatched,
    failedToJoin: report.clients.failed,
    disconnects: tally(report.disconnects),
    movesRefusedPerSecond: server.movesRefused,
    ok: report.ok,
    problems: report.problems,
  };
}

/** Each figure's median over the runs (figure by figure); ok only if every run was ok; problems of all. */
export function medianOfColyseus(runs: readonly ColyseusFigures[]): ColyseusFigures {
  const of = (pick: (run: ColyseusFigures) => number) => median(runs.map(pick));
  const worst = (pick: (run: ColyseusFigures) => number) => Math.max(...runs.map(pick));
  const first = runs[0];
  if (first === undefined) throw new Error("no Colyseus run to take medians of");
  return {
    count: first.count,
    stepsSent: of((r) => r.stepsSent),
    stepsPlanned: of((r) => r.stepsPlanned),
    sentPerSecond: of((r) => r.sentPerSecond),
    deliveredPerSecond: of((r) => r.deliveredPerSecond),
    fanOut: of((r) => r.fanOut),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
    bytesPerUpdate: of((r) => r.bytesPerUpdate),
    framedBytesPerUpdate: of((r) => r.framedBytesPerUpdate),
    messagesPerSecond: of((r) => r.messagesPerSecond),
    serverUsPer1000: of((r) => r.serverUsPer1000),
    machineUsPer1000: of((r) => r.machineUsPer1000),
    cores: Object.fromEntries(Object.keys(first.cores).map((key) => [key, of((r) => r.cores[key] ?? 0)])),
    clientsLoopDelayP99Ms: of((r) => r.clientsLoopDelayP99Ms),
    bitChecked: runs.reduce((sum, r) => sum + r.bitChecked, 0),
    bitMismatched: runs.reduce((sum, r) => sum + r.bitMismatched, 0),
    failedToJoin: worst((r) => r.failedToJoin),
    disconnects: worst((r) => r.disconnects),
    movesRefusedPerSecond: worst((r) => r.movesRefusedPerSecond),
    ok: runs.every((r) => r.ok),
    problems: [...new Set(runs.flatMap((r) => r.problems))],
  };
}

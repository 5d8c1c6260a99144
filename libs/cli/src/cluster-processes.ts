/**
 * The cluster as local processes: each service a `node --import tsx <its main module>` child
 * with an environment of its own, ready once its /healthz answers 200, stopped in the reverse of the
 * order it started (so each service still finds the message director when it says goodbye).
 * `pnpm overworld start` runs the cluster with it, and so do the benchmarks under bench/ (with names and
 * ports of their own, so they can run beside a started cluster).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import { pathToFileURL } from "node:url";
import type { Role } from "@overworld/protocol";
import { REPO } from "./repo.ts";

/**
 * Finds the services, this command and tsx as packages: the workspace's sources in the repository, the
 * built JavaScript of the installed packages in a game's project.
 */
const require = createRequire(import.meta.url);
/** tsx's loader, by URL: a game's plugin and schema are TypeScript, whatever the cwd. */
export const TSX_LOADER = pathToFileURL(require.resolve("tsx")).href;
const DEFAULT_HEALTH_TIMEOUT_MS = 30_000;
const HEALTH_POLL_MS = 200;
const DEFAULT_STOP_GRACE_MS = 5_000;
const FIRST_RESTART_DELAY_MS = 500;
const MAX_RESTART_DELAY_MS = 10_000;

/** The services of a cluster, in the order they start (and the reverse of the order they stop). */
export const SERVICE_ORDER = [
  "message-director",
  "state-server",
  "uberdog",
  "client-agent",
  "zone-ai",
] as const;

export type ServiceName = (typeof SERVICE_ORDER)[number];

/**
 * The role each service joins the cluster with (its NATS credentials): its own name, except uberdog,
 * which joins as `admin` for its admin API (the role the catalogue gives operators' actions).
 */
export function roleOf(name: ServiceName): Role {
  return name === "uberdog" ? "admin" : name;
}

/** The main module of a service (or of the link end). */
export function serviceEntry(name: ServiceName | "link" | "signaling"): string {
  return require.resolve(`@overworld/${name}/main`);
}

/** The `overworld` command's main module (`bots`, `start`, ...), for running it as a child process. */
export const CLI_ENTRY = require.resolve("@overworld/cli/main");

export interface ProcessSpec {
  /** Names the process in log lines and messages, e.g. `state-server-1`. */
  readonly label: string;
  /** The module node runs, through tsx. */
  readonly entry: string;
  readonly args?: readonly string[];
  /** Options for node itself, before the module (e.g. `--cpu-prof`). */
  readonly nodeArgs?: readonly string[];
  /** The process's whole environment. */
  readonly env: NodeJS.ProcessEnv;
  /** The port of its /healthz, which says when it is ready; none for a process without one. */
  readonly healthPort?: number;
  /**
   * In a process group of its own (default true), so that a terminal's Ctrl-C reaches only this
   * process, which then stops the children in order.
   */
  readonly detached?: boolean;
  /** This process's own policy when it exits unasked (default: the one of ClusterProcessesOptions). */
  readonly onUnaskedExit?: UnaskedExitPolicy;
}

/** What happens when a process exits without being asked to. */
export type UnaskedExitPolicy =
  /** Start it again after a delay that doubles each time (500 ms to 10 s), as `pnpm overworld start` does. */
  | "restart"
  /** Leave it down and say so (a benchmark fails rather than measure a cluster that lost a service). */
  | ((label: string, code: number | null, signal: NodeJS.Signals | null) => void);

export interface ClusterProcessesOptions {
  /** Every line a process writes, on stdout or stderr, without its line end. */
  readonly onLine: (label: string, line: string) => void;
  readonly onUnaskedExit: UnaskedExitPolicy;
  readonly cwd?: string;
  readonly healthTimeoutMs?: number;
  /** How long a stopped process has after SIGTERM before SIGKILL. */
  readonly stopGraceMs?: number;
}

export interface ManagedProcess {
  readonly spec: ProcessSpec;
  /** The running child (a new one after each restart). */
  readonly child: ChildProcess;
  readonly pid: number;
  readonly restarts: number;
}

class Managed implements ManagedProcess {
  child!: ChildProcess;
  restarts = 0;

  constructor(readonly spec: ProcessSpec) {}

  get pid(): number {
    return this.child.pid ?? 0;
  }
}

export class ClusterProcesses {
  private readonly running: Managed[] = [];
  private stopping: Promise<void> | undefined;
  private readonly killOnExit = () => this.killAll();

  constructor(private readonly options: ClusterProcessesOptions) {
    // if this process dies anyway, its children (in their own process groups) go with it
    process.on("exit", this.killOnExit);
  }

  /** The processes launched so far, in launch order. */
  get processes(): readonly ManagedProcess[] {
    return this.running;
  }

  /** Starts a process; it runs until `stop()` (and, under the "restart" policy, comes back if it dies). */
  launch(spec: ProcessSpec): ManagedProcess {
    if (this.stopping) throw new Error(`not starting ${spec.label}: the processes are being stopped`);
    const managed = new Managed(spec);
    this.running.push(managed);
    this.spawn(managed);
    return managed;
  }

  /**
   * Launches processes together (replicas of one service) and waits until each is healthy. Resolves
   * with those that were not within the health timeout (none when all are up).
   */
  async launchGroup(specs: readonly ProcessSpec[]): Promise<ManagedProcess[]> {
    const launched = specs.map((spec) => this.launch(spec));
    const healthy = await Promise.all(launched.map((each) => this.waitHealthy(each)));
    return launched.filter((_, index) => !healthy[index]);
  }

  /** True once its /healthz answers 200 (at once for a process without one); false after the timeout or if it is stopped. */
  async waitHealthy(managed: ManagedProcess): Promise<boolean> {
    const port = managed.spec.healthPort;
    if (port === undefined) return true;
    const deadline = Date.now() + (this.options.healthTimeoutMs ?? DEFAULT_HEALTH_TIMEOUT_MS);
    while (Date.now() < deadline && !this.stopping) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/healthz`);
        await response.arrayBuffer();
        if (response.ok) return true;
      } catch {
        // not listening yet
      }
      await new Promise((wake) => setTimeout(wake, HEALTH_POLL_MS));
    }
    return false;
  }

  /** Stops every process, the last launched first: SIGTERM, then SIGKILL after the grace period. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const grace = this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
      for (const managed of [...this.running].reverse()) {
        const child = managed.child;
        if (hasExited(child)) continue;
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        child.kill("SIGTERM");
        const force = setTimeout(() => child.kill("SIGKILL"), grace);
        await exited;
        clearTimeout(force);
      }
      process.off("exit", this.killOnExit);
    })();
    return this.stopping;
  }

  /**
   * Starts a process that exited again, at once, as the same managed process (its spec, label and
   * ports): a supervisor of its own (the chaos harness, whose exit policy leaves a killed process down)
   * restarts it with this.
   */
  respawn(managed: ManagedProcess): void {
    const own = this.running.find((each) => each === managed);
    if (own === undefined) throw new Error(`${managed.spec.label} is not one of these processes`);
    if (!hasExited(own.child)) throw new Error(`${managed.spec.label} is still running (pid ${own.pid})`);
    if (this.stopping) return;
    own.restarts++;
    this.spawn(own);
  }

  /** SIGKILL to every process at once (when this process is going away and cannot wait). */
  killAll(): void {
    for (const managed of this.running) if (!hasExited(managed.child)) managed.child.kill("SIGKILL");
  }

  private spawn(managed: Managed): void {
    const { spec } = managed;
    const child = spawn(
      process.execPath,
      [...(spec.nodeArgs ?? []), "--import", TSX_LOADER, spec.entry, ...(spec.args ?? [])],
      {
        cwd: this.options.cwd ?? REPO ?? process.cwd(),
        env: spec.env,
        stdio: ["ignore", "pipe", "pipe"],
        detached: spec.detached ?? true,
      },
    );
    managed.child = child;
    forwardLines(child, (line) => this.options.onLine(spec.label, line));
    child.on("exit", (code, signal) => {
      if (this.stopping) return;
      const policy = spec.onUnaskedExit ?? this.options.onUnaskedExit;
      if (policy !== "restart") {
        policy(spec.label, code, signal);
        return;
      }
      const delay = Math.min(MAX_RESTART_DELAY_MS, FIRST_RESTART_DELAY_MS * 2 ** managed.restarts++);
      this.options.onLine(spec.label, `exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
      setTimeout(() => {
        if (!this.stopping) this.spawn(managed);
      }, delay);
    });
  }
}

/** Hands each whole line of the child's stdout and stderr to `onLine` (empty lines left out). */
function forwardLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream?.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString("utf8")).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line) onLine(line);
    });
  }
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/** A TCP port free on loopback now (the OS picks it; it stays free unless someone takes it meanwhile). */
export function freeTcpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A UDP port free on loopback now (as freeTcpPort). */
export function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, "127.0.0.1", () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

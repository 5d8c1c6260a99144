import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";

/**
 * `pnpm overworld start`: the whole cluster as local processes against the local NATS, Redis and
 * Postgres (started first if they are down), with the demo world's classes. Each service's log lines
 * are prefixed with its name; a service that dies is restarted with a growing delay; Ctrl-C stops
 * everything (SIGTERM, then SIGKILL after a grace period).
 */

const REPO = resolve(import.meta.dirname, "../../../..");
const FIRST_HTTP_PORT = 7100;
const HEALTH_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const MAX_RESTART_DELAY_MS = 10_000;

/** Uberdog's HTTP API (login, accounts, /healthz, /metrics) listens here, so clients know where to log in. */
const UBERDOG_PORT = 8000;
/** Where the client agent listens for players (UDP); written into uberdog's connect tokens. */
const CLIENT_AGENT_UDP_PORT = 40000;
const CLIENT_AGENT_ADDRESSES = `127.0.0.1:${CLIENT_AGENT_UDP_PORT}`;
const NETCODE_KEY_BYTES = 32;

interface ServiceSpec {
  readonly name: string;
  readonly replicas: number;
  /** A fixed HTTP port (one replica only); otherwise the next free one from FIRST_HTTP_PORT. */
  readonly port?: number;
  /** Variables of this service only. */
  readonly env?: Readonly<Record<string, string>>;
}

/** Uberdog's per-address limits are for the internet; a local cluster with bots logs in hundreds at once. */
const LOCAL_LOGIN_LIMITS = {
  LOGIN_IP_BURST: "100000",
  LOGIN_IP_PER_MINUTE: "100000",
  REGISTER_IP_BURST: "100000",
  REGISTER_IP_PER_MINUTE: "100000",
};

/** The services `start` runs, in start order. */
const SERVICES: readonly ServiceSpec[] = [
  { name: "message-director", replicas: 1 },
  { name: "state-server", replicas: 1 },
  { name: "uberdog", replicas: 1, port: UBERDOG_PORT, env: LOCAL_LOGIN_LIMITS },
  {
    name: "client-agent",
    replicas: 1,
    env: { UDP_PORT: String(CLIENT_AGENT_UDP_PORT), PUBLIC_ADDRESS: CLIENT_AGENT_ADDRESSES },
  },
  { name: "zone-ai", replicas: 1 },
];

/** Bots walk for this long unless the cluster is stopped first (a day). */
const BOTS_FOREVER_SECONDS = 86_400;

const START_USAGE = `usage: pnpm overworld start [--bots N] [--zone-ais N] [--state-servers N] [--directors N] [--dc FILE,...]

Starts the cluster as local processes with the demo world (examples/demo: its classes, and its zone
logic run by the zone-AI replicas).
  --bots N             also start N bots walking the world (pnpm overworld bots), until Ctrl-C
  --zone-ais N         zone-AI replicas (default 1); the zones are spread over them
  --state-servers N    state-server replicas (default 1)
  --directors N        message-director replicas (default 1; one acts, the others stand by)
  --dc FILES           .dc files to load, comma-separated (default examples/demo/demo.dc)

Uberdog's login API listens on http://127.0.0.1:8000. Its connect tokens name CLIENT_AGENT_ADDRESSES
(default 127.0.0.1:40000) and are sealed with NETCODE_PRIVATE_KEY (default: a fresh key each run).
`;

interface Running {
  readonly label: string;
  readonly port: number;
  child?: ChildProcess;
  restarts: number;
}

function parseStartArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      dc: { type: "string" },
      "state-servers": { type: "string" },
      directors: { type: "string" },
      "zone-ais": { type: "string" },
      bots: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}

export async function runStartCommand(argv: readonly string[]): Promise<number> {
  let values: ReturnType<typeof parseStartArgs>;
  try {
    values = parseStartArgs(argv);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${START_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(START_USAGE);
    return 0;
  }
  const dcFiles = (values.dc ?? "examples/demo/demo.dc").split(",").map((path) => resolve(REPO, path));
  const missing = dcFiles.find((path) => !existsSync(path));
  if (missing) {
    process.stderr.write(`error: cannot read ${missing}: no such file\n`);
    return 1;
  }
  let replicas: Record<string, number>;
  let bots: number;
  try {
    replicas = {
      "message-director": positive("--directors", values.directors, 1),
      "state-server": positive("--state-servers", values["state-servers"], 1),
      "zone-ai": positive("--zone-ais", values["zone-ais"], 1),
    };
    bots = values.bots === undefined ? 0 : positive("--bots", values.bots, 0);
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }

  console.log("starting the local NATS, Redis and PostgreSQL if they are down");
  spawnSync("bash", [resolve(REPO, "scripts/services-up.sh")], { stdio: "inherit" });

  const env = {
    ...process.env,
    DC_FILES: dcFiles.join(","),
    CLUSTER_VERSION: clusterVersion(),
    // the key uberdog seals connect tokens with, shared with the client agents: fresh for each run
    // unless given, so tokens from an earlier run are worthless
    NETCODE_PRIVATE_KEY: process.env.NETCODE_PRIVATE_KEY ?? randomBytes(NETCODE_KEY_BYTES).toString("hex"),
    CLIENT_AGENT_ADDRESSES: process.env.CLIENT_AGENT_ADDRESSES ?? CLIENT_AGENT_ADDRESSES,
  };
  const running: Running[] = [];
  let port = FIRST_HTTP_PORT;
  let stopping = false;
  for (const spec of SERVICES) {
    const entry = resolve(REPO, "services", spec.name, "src/main.ts");
    if (!existsSync(entry)) {
      console.log(`skipping ${spec.name}: ${entry} does not exist yet`);
      continue;
    }
    for (let i = 0; i < (replicas[spec.name] ?? spec.replicas); i++) {
      const fixed = spec.port !== undefined && i === 0 ? spec.port : undefined;
      const service: Running = { label: `${spec.name}-${i + 1}`, port: fixed ?? port++, restarts: 0 };
      running.push(service);
      const launch = () => {
        service.child = spawn(process.execPath, ["--import", "tsx", entry], {
          cwd: REPO,
          env: { ...env, ...spec.env, HTTP_PORT: String(service.port), INSTANCE_ID: service.label },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true, // a terminal's Ctrl-C reaches only this process, which stops them in order
        });
        prefixLines(service.child, service.label);
        service.child.on("exit", (code, signal) => {
          if (stopping) return;
          const delay = Math.min(MAX_RESTART_DELAY_MS, 500 * 2 ** service.restarts++);
          console.log(`[${service.label}] exited (${signal ?? `code ${code}`}); restarting in ${delay} ms`);
          setTimeout(launch, delay);
        });
      };
      launch();
    }
    await Promise.all(running.filter((s) => s.label.startsWith(spec.name)).map((s) => waitHealthy(s)));
  }

  console.log("\ncluster is up:");
  for (const service of running)
    console.log(`  ${service.label.padEnd(24)} http://127.0.0.1:${service.port}/healthz`);
  const uberdog = running.find((service) => service.label.startsWith("uberdog"));
  if (uberdog) {
    console.log(
      `\nlog in at http://127.0.0.1:${uberdog.port}/v1/login (API: /openapi.json); tokens name ${env.CLIENT_AGENT_ADDRESSES}`,
    );
  }
  if (running.some((service) => service.label.startsWith("client-agent"))) {
    console.log(`players connect over UDP to ${CLIENT_AGENT_ADDRESSES} (the client agent)`);
  }
  if (bots > 0) {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        resolve(REPO, "libs/cli/src/main.ts"),
        "bots",
        "--count",
        String(bots),
        "--duration",
        String(BOTS_FOREVER_SECONDS),
        "--uberdog",
        `http://127.0.0.1:${UBERDOG_PORT}`,
        "--version",
        env.CLUSTER_VERSION,
        "--dc",
        dcFiles.join(","),
      ],
      { cwd: REPO, env, stdio: ["ignore", "pipe", "pipe"] },
    );
    prefixLines(child, "bots");
    running.push({ label: "bots", port: 0, child, restarts: 0 });
    console.log(`${bots} bots are walking the demo world (their progress is prefixed [bots])`);
  }
  console.log("press Ctrl-C to stop\n");

  await new Promise<void>((done) => {
    // the last started stops first, so that each service still finds the director when it says goodbye
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log("\nstopping the cluster");
      for (const service of [...running].reverse()) {
        service.child?.kill("SIGTERM");
        const force = setTimeout(() => service.child?.kill("SIGKILL"), STOP_GRACE_MS);
        await exited(service.child);
        clearTimeout(force);
      }
      done();
    };
    // if this process dies anyway, its children (in their own process groups) go with it
    process.on("exit", () => {
      for (const service of running) service.child?.kill("SIGKILL");
    });
    process.on("SIGINT", () => void stop());
    process.on("SIGTERM", () => void stop());
  });
  return 0;
}

function positive(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${option} takes a whole number of 1 or more, not '${text}'`);
  return value;
}

function clusterVersion(): string {
  return process.env.CLUSTER_VERSION ?? "dev";
}

function prefixLines(child: ChildProcess, label: string): void {
  for (const stream of [child.stdout, child.stderr]) {
    let pending = "";
    stream?.on("data", (chunk: Buffer) => {
      const lines = (pending + chunk.toString("utf8")).split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) if (line) process.stdout.write(`[${label}] ${line}\n`);
    });
  }
}

async function waitHealthy(service: Running): Promise<void> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${service.port}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((wake) => setTimeout(wake, 200));
  }
  console.log(`[${service.label}] not healthy after ${HEALTH_TIMEOUT_MS / 1000} s; see its log lines above`);
}

function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => child.once("exit", () => done()));
}

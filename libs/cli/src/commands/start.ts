import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { isClusterName } from "@overworld/federation";
import { DEFAULT_DATABASE_URL, ensureNatsTrust, serviceNatsEnv, startNatsServer } from "@overworld/service";
import { makeApiKey } from "@overworld/uberdog";
import { arenaZone, demoOptionsFromEnv } from "../../../../examples/demo/plugin.ts";
import {
  CLI_ENTRY,
  ClusterProcesses,
  type ProcessSpec,
  roleOf,
  SERVICE_ORDER,
  type ServiceName,
  serviceEntry,
} from "../cluster-processes.ts";
import { logLineFormatter } from "../log-lines.ts";
import { REPO } from "../repo.ts";
import { type ClusterLayout, clusterKeyFile, clusterLayout, runFederationDemo } from "./federation.ts";

/**
 * `pnpm overworld start`: the whole cluster as local processes against a NATS of its own with
 * credentials (its trust in .overworld/nats, made once and kept) and the local Redis and Postgres
 * (started first if they are down), with the demo world's classes. Each service's log lines
 * are prefixed with its name; a service that dies is restarted with a growing delay; Ctrl-C stops
 * everything (SIGTERM, then SIGKILL after a grace period). The processes are run by ClusterProcesses
 * (../cluster-processes.ts), which the benchmarks use too.
 */

/** The cluster's own NATS (the machine's, if any, on 4222, is not used: it has no credentials). */
const NATS_PORT = Number(process.env.OVERWORLD_NATS_PORT ?? 4223);

const NETCODE_KEY_BYTES = 32;
/** The demo world's browser client, built by `pnpm build:web`; uberdog serves it at /play/ (in the repository). */
const DEMO_WEB_CLIENT = REPO === undefined ? undefined : resolve(REPO, "examples/demo/web/dist");

interface ServiceSpec {
  readonly replicas: number;
  /** A fixed HTTP port (one replica only); otherwise the next free one from FIRST_HTTP_PORT. */
  readonly port?: number;
  /** Variables of this service only. */
  readonly env?: Readonly<Record<string, string>>;
}

/** How `start` runs each service (they start in SERVICE_ORDER), on a cluster's ports (federation.ts). */
function servicesOf(layout: ClusterLayout): Readonly<Record<ServiceName, ServiceSpec>> {
  const agentAddress = `127.0.0.1:${layout.clientAgentUdpPort}`;
  // browsers reach the client agent over WebSocket on the same port number as its UDP, over TCP
  const webSocketPort = String(layout.clientAgentUdpPort);
  return {
    "message-director": { replicas: 1 },
    "state-server": { replicas: 1 },
    // the limits per address are the production ones: the bots each log in and play from an address of their own
    uberdog: {
      replicas: 1,
      port: layout.uberdogPort,
      env: {
        CLIENT_AGENT_WEBSOCKETS: `ws://127.0.0.1:${webSocketPort}`,
        ...(DEMO_WEB_CLIENT === undefined ? {} : { PLAY_DIR: DEMO_WEB_CLIENT }),
      },
    },
    "client-agent": {
      replicas: 1,
      env: {
        UDP_PORT: String(layout.clientAgentUdpPort),
        PUBLIC_ADDRESS: agentAddress,
        WS_PORT: webSocketPort,
        WS_ORIGINS: `http://127.0.0.1:${layout.uberdogPort},http://localhost:${layout.uberdogPort}`,
      },
    },
    "zone-ai": { replicas: 1 },
  };
}

/** Bots walk for this long unless the cluster is stopped first (a day). */
const BOTS_FOREVER_SECONDS = 86_400;

const START_USAGE = `usage: pnpm overworld start [--dc FILE,... --plugin FILE] [--bots N] [--zone-ais N] [--state-servers N] [--directors N]

Starts the cluster as local processes with the demo world (examples/demo: its classes, and its zone
logic run by the zone-AI replicas), or with a game's own classes and zone logic (--dc and --plugin; in a
project made by overworld new, outside the repository, both are needed).
  --dc FILES           .dc files to load, comma-separated (default examples/demo/demo.dc)
  --plugin FILE        the zone-AI plugin the replicas run: a module exporting a ZonePlugin as \`plugin\` or
                       default, TypeScript or JavaScript (default: the demo world, examples/demo/plugin.ts)
  --bots N             also start N bots walking the world (pnpm overworld bots), until Ctrl-C
  --zone-ais N         zone-AI replicas (default 1); the zones are spread over them
  --state-servers N    state-server replicas (default 1)
  --directors N        message-director replicas (default 1; one acts, the others stand by)
  --cluster NAME       one of several clusters on this machine: its own NATS, Redis keys, Postgres schemas
                       and ports (--port-offset N: NATS 4223+N, uberdog 8000+N, players' UDP 40000+N,
                       link UDP 41000+N, operations ports from 7100+20N)
  --signaling URL      with --cluster: register with main at URL and link to the clusters it allows (a link
                       end runs, reflecting the shared boss); start main with pnpm overworld signaling
  --federation-demo    main, two linked clusters (east, west), bots and boss fighters on both (--help)

Uberdog's login API listens on http://127.0.0.1:8000, and serves the demo's browser client at
http://127.0.0.1:8000/play/ (built first with pnpm build:web). Its connect tokens name
CLIENT_AGENT_ADDRESSES (default 127.0.0.1:40000; browsers use the agent's WebSocket on the same port
number, over TCP) and are sealed with NETCODE_PRIVATE_KEY (default: a fresh key each run).
The cluster's NATS runs on 127.0.0.1:4223 (OVERWORLD_NATS_PORT) with credentials: each service gets
its role's, made in .overworld/nats (pnpm overworld nats init).
`;

function parseStartArgs(argv: readonly string[]) {
  return parseArgs({
    args: [...argv],
    options: {
      dc: { type: "string" },
      plugin: { type: "string" },
      "state-servers": { type: "string" },
      directors: { type: "string" },
      "zone-ais": { type: "string" },
      bots: { type: "string" },
      cluster: { type: "string" },
      signaling: { type: "string" },
      "port-offset": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}

/** `label=http://127.0.0.1:port/metrics` for each service started before `self`: uberdog's METRICS_URLS. */
function metricsUrls(ports: ReadonlyMap<string, number>, self: string): string {
  return [...ports]
    .filter(([label]) => label !== self)
    .map(([label, port]) => `${label}=http://127.0.0.1:${port}/metrics`)
    .join(",");
}

export async function runStartCommand(argv: readonly string[]): Promise<number> {
  if (argv.includes("--federation-demo")) return runFederationDemo(argv);
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
  if (REPO === undefined && (values.dc === undefined || values.plugin === undefined)) {
    process.stderr.write(
      "error: outside the Overworld repository there is no demo world: name your game's --dc files and --plugin\n",
    );
    return 2;
  }
  const base = REPO ?? process.cwd();
  const dcFiles = (values.dc ?? "examples/demo/demo.dc").split(",").map((path) => resolve(base, path));
  const plugin = values.plugin === undefined ? undefined : resolve(base, values.plugin);
  const missing = [...dcFiles, ...(plugin === undefined ? [] : [plugin])].find((path) => !existsSync(path));
  if (missing) {
    process.stderr.write(`error: cannot read ${missing}: no such file\n`);
    return 1;
  }
  let replicas: Record<string, number>;
  let bots: number;
  let offset = 0;
  try {
    replicas = {
      "message-director": positive("--directors", values.directors, 1),
      "state-server": positive("--state-servers", values["state-servers"], 1),
      "zone-ai": positive("--zone-ais", values["zone-ais"], 1),
    };
    bots = values.bots === undefined ? 0 : positive("--bots", values.bots, 0);
    offset = values["port-offset"] === undefined ? 0 : Number(values["port-offset"]);
    if (!Number.isInteger(offset) || offset < 0 || offset > 99) {
      throw new Error(`--port-offset takes a whole number from 0 to 99, not '${values["port-offset"]}'`);
    }
    if (values.signaling !== undefined && values.cluster === undefined) {
      throw new Error("--signaling needs --cluster NAME: the name the cluster registers under");
    }
    if (values.cluster !== undefined && !isClusterName(values.cluster)) {
      throw new Error(
        `--cluster takes lower-case letters, digits and '-' (at most 32), not '${values.cluster}'`,
      );
    }
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 2;
  }

  const layout = clusterLayout(values.cluster, offset, NATS_PORT);
  const SERVICES = servicesOf(layout);
  const NATS_TRUST_DIR = layout.natsTrustDir;
  const CLIENT_AGENT_ADDRESSES = `127.0.0.1:${layout.clientAgentUdpPort}`;
  if (REPO !== undefined) {
    console.log("building the browser client (pnpm build:web)");
    if (spawnSync("pnpm", ["-s", "build:web"], { cwd: REPO, stdio: "inherit" }).status !== 0) {
      process.stderr.write("error: pnpm build:web failed (see above)\n");
      return 1;
    }
    console.log("starting the local Redis and PostgreSQL if they are down");
    spawnSync("bash", [resolve(REPO, "scripts/services-up.sh")], { stdio: "inherit" });
  }
  await ensureNatsTrust(NATS_TRUST_DIR, { host: "127.0.0.1", port: layout.natsPort });
  let nats: Awaited<ReturnType<typeof startNatsServer>>;
  try {
    nats = await startNatsServer(NATS_TRUST_DIR, {
      host: "127.0.0.1",
      port: layout.natsPort,
      onLine: (line) => {
        if (/\[(ERR|WRN|FTL)\]/.test(line)) process.stdout.write(`[nats] ${line}\n`);
      },
    });
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
  console.log(`NATS with credentials on ${nats.url} (trust in ${NATS_TRUST_DIR})`);

  const env = {
    ...process.env,
    DC_FILES: dcFiles.join(","),
    ...(plugin === undefined ? {} : { PLUGIN: plugin }),
    // the demo world's TypeScript schema: the client agents run its validators (say: not blank)
    // and its service objects, which uberdog answers
    ...(values.dc === undefined && REPO !== undefined
      ? {
          SCHEMA_MODULE: resolve(REPO, "examples/demo/schema.ts"),
          SERVICES: resolve(REPO, "examples/demo/services.ts"),
        }
      : {}),
    CLUSTER_VERSION: clusterVersion(),
    // the key uberdog seals connect tokens with, shared with the client agents: fresh for each run
    // unless given, so tokens from an earlier run are worthless
    NETCODE_PRIVATE_KEY: process.env.NETCODE_PRIVATE_KEY ?? randomBytes(NETCODE_KEY_BYTES).toString("hex"),
    CLIENT_AGENT_ADDRESSES: process.env.CLIENT_AGENT_ADDRESSES ?? CLIENT_AGENT_ADDRESSES,
  };
  const format = logLineFormatter(process.stdout.isTTY === true);
  const cluster = new ClusterProcesses({
    onLine: (label, line) => process.stdout.write(`${format(label, line)}\n`),
    onUnaskedExit: "restart",
  });
  const ports = new Map<string, number>();
  let port = layout.firstHttpPort;
  for (const name of SERVICE_ORDER) {
    const spec = SERVICES[name];
    const entry = serviceEntry(name);
    if (!existsSync(entry)) {
      console.log(`skipping ${name}: ${entry} does not exist yet`);
      continue;
    }
    const group: ProcessSpec[] = [];
    for (let i = 0; i < (replicas[name] ?? spec.replicas); i++) {
      const fixed = spec.port !== undefined && i === 0 ? spec.port : undefined;
      const label = `${name}-${i + 1}`;
      const httpPort = fixed ?? port++;
      ports.set(label, httpPort);
      group.push({
        label,
        entry,
        env: {
          ...env,
          ...serviceNatsEnv(NATS_TRUST_DIR, nats.url, roleOf(name)),
          ...layout.env(name),
          ...spec.env,
          // the dashboard's charts read the services started before uberdog (the state servers' counters)
          ...(name === "uberdog" ? { METRICS_URLS: metricsUrls(ports, label) } : {}),
          HTTP_PORT: String(httpPort),
          INSTANCE_ID: label,
        },
        healthPort: httpPort,
      });
    }
    for (const late of await cluster.launchGroup(group)) {
      console.log(`[${late.spec.label}] not healthy after 30 s; see its log lines above`);
    }
  }

  if (values.signaling !== undefined && values.cluster !== undefined) {
    // the link end: registers the cluster with main and keeps the links main allows
    const linkPort = port++;
    ports.set("link-1", linkPort);
    const late = await cluster.launchGroup([
      linkProcess(values.cluster, values.signaling, layout, {
        ...env,
        ...serviceNatsEnv(NATS_TRUST_DIR, nats.url, "link"),
        ...layout.env("link"),
        HTTP_PORT: String(linkPort),
        INSTANCE_ID: `${values.cluster}-link-1`,
      }),
    ]);
    for (const each of late)
      console.log(`[${each.spec.label}] not healthy after 30 s; see its log lines above`);
  }

  console.log("\ncluster is up:");
  for (const [label, httpPort] of ports)
    console.log(`  ${label.padEnd(24)} http://127.0.0.1:${httpPort}/healthz`);
  const uberdog = [...ports].find(([label]) => label.startsWith("uberdog"));
  if (uberdog) {
    const base = `http://127.0.0.1:${uberdog[1]}`;
    console.log(`\nlog in at ${base}/v1/login; tokens name ${env.CLIENT_AGENT_ADDRESSES}`);
    console.log(`admin API at ${base}/v1/admin (browse it at ${base}/docs; OpenAPI: ${base}/openapi.json)`);
    const schema = layout.env("uberdog").DB_SCHEMA;
    const grant = `${schema ? `DB_SCHEMA=${schema} ` : ""}pnpm overworld admin grant USERNAME admin`;
    console.log(
      `dashboard: ${base}/dashboard/ (admins and moderators log in with their game account; make one: ${grant})`,
    );
    try {
      // a key for this run, replacing the previous run's: Authorization: Bearer <key>
      const key = await makeApiKey(
        process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL,
        layout.env("uberdog").DB_SCHEMA ?? "uberdog",
        {
          name: "pnpm overworld start",
          role: "admin",
          replace: true,
        },
      );
      console.log(`admin key for this run: ${key}`);
    } catch (error) {
      console.log(
        `no admin key for this run (${(error as Error).message}); make one: pnpm overworld admin key --name NAME`,
      );
    }
  }
  if ([...ports.keys()].some((label) => label.startsWith("client-agent"))) {
    console.log(
      `players connect over UDP to ${CLIENT_AGENT_ADDRESSES} (the client agent), browsers over WebSocket to ws://127.0.0.1:${layout.clientAgentUdpPort}`,
    );
  }
  if (uberdog) {
    const grid = process.env.DEMO_GRID ? `?grid=${process.env.DEMO_GRID}` : "";
    console.log(`play in a browser: http://127.0.0.1:${uberdog[1]}/play/${grid}`);
  }
  if (bots > 0) {
    cluster.launch({
      label: "bots",
      entry: CLI_ENTRY,
      args: [
        "bots",
        "--count",
        String(bots),
        "--duration",
        String(BOTS_FOREVER_SECONDS),
        "--uberdog",
        `http://127.0.0.1:${layout.uberdogPort}`,
        "--version",
        env.CLUSTER_VERSION,
        "--dc",
        dcFiles.join(","),
      ],
      env,
      detached: false,
      onUnaskedExit: () => {}, // a bot run that ends (or fails) is not started again
    });
    console.log(`${bots} bots are walking the demo world (their progress is prefixed [bots])`);
  }
  console.log("press Ctrl-C to stop\n");

  await new Promise<void>((done) => {
    // the last started stops first, so that each service still finds the director when it says goodbye
    let stopping = false;
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      console.log("\nstopping the cluster");
      await cluster.stop();
      await nats.stop();
      done();
    };
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

/** The link end of cluster `name`, registering with main at `signaling` and reflecting the shared boss. */
function linkProcess(
  name: string,
  signaling: string,
  layout: ClusterLayout,
  env: NodeJS.ProcessEnv,
): ProcessSpec {
  const demo = demoOptionsFromEnv();
  return {
    label: "link-1",
    entry: serviceEntry("link"),
    env: {
      ...env,
      CLUSTER_KEY_FILE: clusterKeyFile(name),
      SIGNALING_URL: signaling,
      LINK_UDP_PORT: String(layout.linkUdpPort),
      SHARED_ZONES: `${demo.worldId}:${arenaZone(demo.grid)}`,
      PLUGINS: "demo-world@0.1.0",
    },
    healthPort: Number(env.HTTP_PORT),
  };
}

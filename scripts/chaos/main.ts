/**
 * `pnpm chaos`: the demo world with bots playing, and faults one after another: kill -9 of each service
 * (a replica at a time), kill -9 and restart of the cluster's NATS and of its Redis. After each fault the
 * harness waits for the cluster to recover, within a bound, and checks the invariants:
 * - no acknowledged write lost (ledger.ts: the harness's own db and ram writes, read back);
 * - no ghost (an avatar whose session is gone) and no duplicate (world.ts);
 * - every bot connected again and walking (the bots resume: `pnpm overworld bots --resume`).
 * It prints a progress line a second, then a table of the faults, their recovery times and the
 * invariants, and exits 1 if any invariant was violated. `--canary drop-acked` deletes one acknowledged
 * write behind the cluster's back after the first fault: the checker must report it.
 */
import { parseArgs } from "node:util";
import { CLI_ENTRY, type ManagedProcess, type ServiceName } from "../../libs/cli/src/cluster-processes.ts";
import { APPENDFSYNC, ChaosCluster, type Target } from "./cluster.ts";
import { Ledger } from "./ledger.ts";
import { checked, type FaultRow, formatTable, type Invariant } from "./report.ts";
import { checkWorld } from "./world.ts";

const USAGE = `usage: pnpm chaos [--bots N] [--rounds R] [--bound S] [--faults LIST] [--nats-nodes K] [--canary drop-acked]

Runs the demo world with N bots (default 100) and injects each fault R times (default 3), one after
another: kill -9 of the message director, a state server, the client agent, a zone-AI replica (of two),
uberdog, and kill -9 then restart of the cluster's NATS and Redis. After each fault it waits up to S
seconds (default 60) for the cluster to recover and checks: no acknowledged write lost, no ghost, no
duplicate, every bot connected again. Prints a table of faults and invariants; exit status 1 if one was
violated.
  --bots N           bots playing (default 100)
  --rounds R         times each fault is injected (default 3)
  --bound S          seconds a fault may take to recover (default 60)
  --faults LIST      comma-separated, of ${"message-director,state-server,client-agent,zone-ai,uberdog,nats,nats-node,redis"}
                     (nats-node: kill -9 of one NATS node, in turn, then started again; needs --nats-nodes 3 or
                     more; players must stay connected through it)
  --nats-nodes K     the cluster's NATS as K nodes (default 1): a NATS cluster, streams with 3 replicas
  --agents K         client agents (default 1): uberdog's tokens name them all, the least loaded first; a
                     killed agent's players log in again and go to another
  --rate HZ          walk steps per bot per second (default 5)
  --canary drop-acked  after the first fault, delete one acknowledged write behind the cluster's back:
                     the run must report it (exit 1)
  --keep-logs        keep the services' log lines (their path is printed) even when all held
`;

/** The faults of a run without --faults. */
const DEFAULT_FAULTS: readonly Target[] = [
  "message-director",
  "state-server",
  "client-agent",
  "zone-ai",
  "uberdog",
  "nats",
  "redis",
];
const ALL_FAULTS: readonly Target[] = [...DEFAULT_FAULTS, "nats-node"];
/** Nodes a NATS cluster needs for a stream of three replicas to keep its quorum with one node down. */
const MIN_NODES_FOR_NODE_FAULT = 3;
const GRID = "8x8@50";
const ZONES = 64;
const NPCS_PER_ZONE = 2;
const LEDGER_OBJECTS_PER_KIND = 8;
const POLL_MS = 500;
const SETTLE_MS = 2000;
const MS_PER_SECOND = 1000;
const BOT_RAMP = 20;

interface BotFigures {
  walking: number;
  connected: number;
  disconnected: number;
  failed: number;
}

async function main(): Promise<number> {
  let values: ReturnType<typeof parse>;
  try {
    values = parse();
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  const bots = whole("--bots", values.bots, 100);
  const rounds = whole("--rounds", values.rounds, 3);
  const boundMs = whole("--bound", values.bound, 60) * MS_PER_SECOND;
  const rate = Number(values.rate ?? 5);
  const natsNodes = whole("--nats-nodes", values["nats-nodes"], 1);
  const agents = whole("--agents", values.agents, 1);
  const faults = (values.faults?.split(",") ??
    (natsNodes >= MIN_NODES_FOR_NODE_FAULT ? ALL_FAULTS : DEFAULT_FAULTS)) as Target[];
  const unknown = faults.find((fault) => !ALL_FAULTS.includes(fault));
  if (unknown !== undefined)
    throw new Error(`--faults: no fault ${unknown}; the faults: ${ALL_FAULTS.join(", ")}`);
  if (faults.includes("nats-node") && natsNodes < MIN_NODES_FOR_NODE_FAULT)
    throw new Error(
      `--faults nats-node: a NATS of ${natsNodes} node(s) has no node to spare; run with --nats-nodes ${MIN_NODES_FOR_NODE_FAULT}`,
    );
  if (values.canary !== undefined && values.canary !== "drop-acked")
    throw new Error(`--canary: the only canary is drop-acked, not ${values.canary}`);

  const cluster = new ChaosCluster({
    replicas: { "message-director": 1, "state-server": 1, uberdog: 1, "client-agent": agents, "zone-ai": 2 },
    grid: GRID,
    npcsPerZone: NPCS_PER_ZONE,
    maxClients: bots * 2 + 16,
    natsNodes,
  });
  let stopping = false;
  let streams: string[] = [];
  let playersPerAgent: number[] = [];
  const ledger = new Ledger(cluster);
  const rows = new Map<Target, FaultRow>(faults.map((fault) => [fault, emptyRow(fault)]));
  const violations: string[] = [];
  const started = Date.now();
  let status = "starting the cluster";
  const figures: BotFigures = { walking: 0, connected: 0, disconnected: 0, failed: 0 };
  const progress = setInterval(() => {
    const seconds = String(Math.round((Date.now() - started) / MS_PER_SECOND)).padStart(4);
    process.stderr.write(
      `[${seconds} s] ${status}  bots walking ${figures.walking}/${bots}  writes acked ${ledger.acked} (unanswered ${ledger.failed})  violations ${violations.length}\n`,
    );
  }, MS_PER_SECOND);
  const cleanUp = async (code: number) => {
    clearInterval(progress);
    await ledger.close().catch(() => {});
    const keep = code !== 0 || values["keep-logs"] === true;
    await cluster.stop(keep);
    if (keep) process.stderr.write(`the services' log lines: ${cluster.logPath}\n`);
    return code;
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      process.stderr.write(`\n${signal}: stopping the cluster and cleaning up\n`);
      void cleanUp(130).then((code) => process.exit(code));
    });

  try {
    process.stderr.write(
      `chaos: ${bots} bots, ${rounds} round(s) of ${faults.join(", ")}; recovery bound ${boundMs / MS_PER_SECOND} s; ` +
        `NATS ${natsNodes === 1 ? "one node" : `${natsNodes} nodes clustered, streams with ${Math.min(3, natsNodes)} replicas`}; ` +
        `Redis with appendonly yes, appendfsync ${APPENDFSYNC}\n`,
    );
    await cluster.start();
    streams = [...(await cluster.streamReplicas())].map(([name, replicas]) => `${name} R${replicas}`);
    process.stderr.write(`JetStream streams: ${streams.join(", ")}\n`);
    await ledger.open(LEDGER_OBJECTS_PER_KIND);
    ledger.startWriting();
    status = `starting ${bots} bots`;
    cluster.listen("bots", (line) => readBotLine(line, figures));
    cluster.processes.launch({
      label: "bots",
      entry: CLI_ENTRY,
      args: [
        "bots",
        ...["--count", String(bots), "--rate", String(rate), "--ramp", String(BOT_RAMP)],
        ...["--duration", "86400", "--resume", String(boundMs / MS_PER_SECOND)],
        ...["--uberdog", cluster.uberdogUrl, "--version", cluster.version, "--dc", cluster.dcFiles.join(",")],
        ...["--grid", GRID, "--prefix", `c${cluster.ns.tag.slice(-6)}b`],
      ],
      env: { ...process.env, LOG_LEVEL: "warn" },
      detached: false,
      onUnaskedExit: (_label, code, signal) => violations.push(`the bots process exited (${signal ?? code})`),
    });
    const rampMs = (bots / BOT_RAMP) * MS_PER_SECOND + boundMs;
    const baseline = await recover(cluster, ledger, figures, bots, Date.now(), rampMs, () => true);
    if (baseline.failed.size > 0) {
      for (const [invariant, detail] of baseline.failed)
        violations.push(`before any fault: ${invariant}: ${detail}`);
      throw new Error(`the cluster did not settle with ${bots} bots walking before the first fault`);
    }
    playersPerAgent = await cluster.agentClients();
    process.stderr.write(`players per client agent: ${playersPerAgent.join(", ")}\n`);

    let canaryDropped = values.canary === undefined;
    for (let round = 0; round < rounds && !stopping; round++) {
      for (const fault of faults) {
        if (stopping) break;
        const row = rows.get(fault)!;
        status = `round ${round + 1}/${rounds}: ${fault}`;
        const before = { ...figures };
        const injectedAt = Date.now();
        await inject(cluster, fault, round);
        row.injected++;
        if (!canaryDropped) {
          const dropped = await ledger.dropOneAcked();
          process.stderr.write(`canary drop-acked: ${dropped}\n`);
          canaryDropped = true;
        }
        // the client agent's death is seen once every bot on it lost its connection (with one agent, every
        // bot that walked; with several, those the killed one held)
        const victims = agents === 1 ? before.walking : (playersPerAgent[round % agents] ?? 1);
        const seen = () =>
          fault !== "client-agent" || figures.disconnected - before.disconnected >= Math.max(1, victims);
        status = `round ${round + 1}/${rounds}: ${fault} injected, recovering`;
        const outcome = await recover(cluster, ledger, figures, bots, injectedAt, boundMs, seen);
        if (checked("players stayed", fault) && figures.disconnected > before.disconnected) {
          outcome.failed.set(
            "players stayed",
            `${figures.disconnected - before.disconnected} bot(s) lost their connection`,
          );
        }
        if (outcome.failed.size === 0) row.recoveryMs.push(outcome.atMs);
        for (const [invariant, detail] of outcome.failed) {
          row.violated.set(invariant, (row.violated.get(invariant) ?? 0) + 1);
          violations.push(`${fault} (round ${round + 1}): ${invariant}: ${detail}`);
          process.stderr.write(`VIOLATED: ${violations.at(-1)}\n`);
        }
        await new Promise((wake) => setTimeout(wake, SETTLE_MS));
      }
    }
  } catch (error) {
    violations.push(`the run stopped: ${(error as Error).message}`);
  }
  for (const [label, count] of cluster.crashes) violations.push(`${label} died on its own ${count} time(s)`);
  clearInterval(progress);
  process.stdout.write(`\n${formatTable([...rows.values()], bots, boundMs)}\n`);
  process.stdout.write(
    `acknowledged writes: ${ledger.acked} (db and ram, ${LEDGER_OBJECTS_PER_KIND * 2} objects); unanswered: ${ledger.failed}\n`,
  );
  process.stdout.write(
    `NATS: ${natsNodes} node(s); JetStream streams: ${streams.join(", ") || "none seen"}\n` +
      `players per client agent before the first fault: ${playersPerAgent.join(", ") || "-"}\n` +
      `Redis: appendonly yes, appendfsync ${APPENDFSYNC}; crashes of services not injected: ${cluster.crashes.size === 0 ? "none" : [...cluster.crashes].map(([l, c]) => `${l} ${c}`).join(", ")}\n`,
  );
  if (violations.length > 0) {
    process.stdout.write(
      `\nVIOLATIONS (${violations.length}):\n${violations.map((line) => `  ${line}`).join("\n")}\n`,
    );
  } else {
    process.stdout.write("\nall invariants held\n");
  }
  return cleanUp(violations.length > 0 ? 1 : 0);
}

async function inject(cluster: ChaosCluster, fault: Target, round: number): Promise<void> {
  if (fault === "nats") return cluster.restartNats();
  if (fault === "nats-node") return cluster.restartNatsNode(round % cluster.natsPorts.length);
  if (fault === "redis") return cluster.restartRedis();
  const replicas = cluster.replicas(fault as ServiceName);
  const victim: ManagedProcess = replicas[round % replicas.length]!;
  cluster.kill(victim);
  await cluster.restart(victim);
}

interface Outcome {
  /** Invariants that did not hold at the bound, with what was wrong. */
  readonly failed: Map<Invariant, string>;
  /** When everything held, from the injection. */
  readonly atMs: number;
}

/**
 * Polls until every service is healthy, every bot walks, the world has no ghost and no duplicate and
 * every acknowledged write reads back (and `seen()`: the fault's effect was observed); or until the bound.
 * A lost acknowledged write is a violation for good (it will not come back); the others are still
 * waited for.
 */
async function recover(
  cluster: ChaosCluster,
  ledger: Ledger,
  figures: BotFigures,
  bots: number,
  fromMs: number,
  boundMs: number,
  seen: () => boolean,
): Promise<Outcome> {
  const failed = new Map<Invariant, string>();
  const ackedBefore = ledger.acked;
  let last = new Map<Invariant, string>();
  while (Date.now() - fromMs < boundMs) {
    const now = new Map<Invariant, string>();
    if (!(await cluster.healthy())) now.set("services healthy", "a service is not healthy");
    if (figures.walking < bots || !seen())
      now.set("bots back", `${figures.walking} of ${bots} bots walking (${figures.failed} failed to start)`);
    const written = await ledger.check();
    if (written.lost.length > 0) failed.set("acked writes", written.lost.join("; "));
    else if (written.unreadable > 0)
      now.set("acked writes", `${written.unreadable} ledger objects unreadable`);
    else if (ledger.acked === ackedBefore)
      now.set("acked writes", "no write acknowledged since the fault yet");
    try {
      const world = await checkWorld(
        ledger.tool,
        ledger.dc,
        ZONES,
        NPCS_PER_ZONE,
        cluster.replicas("client-agent").length,
      );
      if (world.ghosts.length > 0) now.set("no ghosts", world.ghosts.slice(0, 5).join("; "));
      if (world.duplicates.length > 0) now.set("no duplicates", world.duplicates.slice(0, 5).join("; "));
    } catch (error) {
      now.set("no ghosts", `the world could not be read: ${(error as Error).message}`);
    }
    if (now.size === 0) return { failed, atMs: Date.now() - fromMs };
    last = now;
    await new Promise((wake) => setTimeout(wake, POLL_MS));
  }
  if (last.size === 0) last.set("services healthy", "the bound passed before the first look");
  for (const [invariant, detail] of last) if (!failed.has(invariant)) failed.set(invariant, detail);
  return { failed, atMs: boundMs };
}

/** The bots' progress line: `... connected 98/100  walking 97  failed 0 ... disconnected 12`. */
function readBotLine(line: string, figures: BotFigures): void {
  const number = (name: string) => {
    const match = new RegExp(`\\b${name} (\\d+)`).exec(line);
    return match ? Number(match[1]) : undefined;
  };
  const walking = number("walking");
  if (walking === undefined) return;
  figures.walking = walking;
  figures.connected = number("connected") ?? figures.connected;
  figures.disconnected = number("disconnected") ?? figures.disconnected;
  figures.failed = number("failed") ?? figures.failed;
}

function emptyRow(fault: Target): FaultRow {
  return { fault, injected: 0, recoveryMs: [], violated: new Map() };
}

function parse() {
  return parseArgs({
    options: {
      bots: { type: "string" },
      rounds: { type: "string" },
      bound: { type: "string" },
      faults: { type: "string" },
      rate: { type: "string" },
      canary: { type: "string" },
      "nats-nodes": { type: "string" },
      agents: { type: "string" },
      "keep-logs": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }).values;
}

function whole(option: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`${option} takes a whole number of 1 or more, not '${text}'`);
  return value;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`chaos: ${(error as Error).message}\n`);
    process.exit(2);
  },
);

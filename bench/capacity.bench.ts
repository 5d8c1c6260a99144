/**
 * Capacity model (issue 16 item 5): fits each process's unit costs (cores per player, per move, per
 * delivered update, per datagram out and in: bench/support/capacity-model.ts) to bot runs against one
 * client agent, predicts a run held out of the fit (two client agents, more players than any fit run)
 * before it is made, measures it, prints predicted against measured, and sizes a world like the demo
 * for 10k, 100k and 1M players from the fitted costs.
 *
 *   pnpm bench:capacity                                # fit 60x10,100x10,150x6,150x2,220x4; hold out 300x2 on 2 agents
 *   pnpm bench:capacity --fit 60x10,150x2 --hold-out 200x2 --agents 2 --json out.json
 *
 * Each run is N bots in one place (everyone sees everyone, as in bench:players) at R moves a second
 * ("NxR"). The prediction of the held-out run knows only N, R, the agents' tick and the wire's shape
 * from the fit runs; it passes when the server processes' cores are within 25% of the measured ones.
 */
import { writeFileSync } from "node:fs";
import { LocalCluster } from "../libs/cli/src/local-cluster.ts";
import { runBotProcess, waitForIdleAgent, waitForQuietMachine } from "./support/bot-run.ts";
import {
  type Drivers,
  driversOf,
  fitCosts,
  type Load,
  MODEL_DRIVERS,
  type Observation,
  predictCores,
  SERVER_GROUPS,
  type UnitCosts,
  type WireShape,
  wireShapeOf,
} from "./support/capacity-model.ts";
import {
  answerHelp,
  argValue,
  figuresOf,
  fixed,
  integerArg,
  numberArg,
  pathArg,
  rate,
  table,
} from "./support/figures.ts";

answerHelp(`usage: pnpm bench:capacity [--fit 60x10,100x10,150x6,150x2,220x4] [--hold-out 300x2] [--agents 2]
                           [--duration S] [--json FILE] [--visible 50] [--move-hz 10] [--quiet-wait 300]
Fits the capacity model to runs of N bots at R moves/s ("NxR") against one client agent, predicts the
held-out run (on --agents client agents) before making it, and prints predicted against measured, then
the cores a world of 10k, 100k and 1M players needs, each seeing --visible others and moving --move-hz
times a second (docs/capacity.md).
`);
const NAME = "capacity model";
const FIT = runsArg("--fit", "60x10,100x10,150x6,150x2,220x4");
const [HELD_OUT] = runsArg("--hold-out", "300x2");
const AGENTS = integerArg("--agents", 2);
const DURATION_SECONDS = numberArg("--duration", 10);
const WARMUP_SECONDS = 3;
/** The uncounted run each fresh cluster starts with. */
const WARM_UP_SECONDS = 8;
const RAMP = 50;
const GRID = "1x1@400";
const TICK_HZ = 20;
const VISIBLE = integerArg("--visible", 50);
const MOVE_HZ = numberArg("--move-hz", 10);
const JSON_OUT = pathArg("--json");
/** Before each run: wait up to this many seconds until the rest of the machine uses under 0.3 cores. */
const QUIET_WAIT_SECONDS = numberArg("--quiet-wait", 300);
/** The held-out prediction passes within this share of the measured server cores. */
const TOLERANCE = 0.25;
/** A Node service replica uses one core; sized to run at most this busy. */
const TARGET_BUSY = 0.7;
/** Payload of a full datagram: netcode's 1,200-byte packets less headers and MAC. */
const DATAGRAM_BYTES = 1_150;
/** Players a client agent carries in the sizing (its MAX_CLIENTS default is 1,024). */
const PLAYERS_PER_AGENT = 1_000;

function runsArg(flag: string, fallback: string): { count: number; rate: number }[] {
  return (argValue(flag) ?? fallback).split(",").map((text) => {
    const match = /^(\d+)x(\d+(?:\.\d+)?)$/.exec(text.trim());
    if (!match) throw new Error(`${flag}: "${text}" is not N x rate, e.g. 150x2`);
    return { count: Number(match[1]), rate: Number(match[2]) };
  });
}

interface Measured extends Observation {
  readonly label: string;
  readonly bytesPerUpdate: number;
  readonly p99Ms: number;
}

/** One bot run of `count` bots moving `moveRate` times a second, in one place. */
function botRun(cluster: LocalCluster, count: number, moveRate: number, seconds: number, label: string) {
  return runBotProcess(cluster, {
    count,
    rate: moveRate,
    durationSeconds: seconds,
    warmupSeconds: WARMUP_SECONDS,
    ramp: RAMP,
    grid: GRID,
    workers: 1,
    label,
  });
}

/** A fresh cluster's first run pays for compiling its hot paths: one short run first, not counted. */
async function warmUp(cluster: LocalCluster, count: number): Promise<void> {
  await waitForIdleAgent(cluster);
  process.stderr.write(`${NAME}: warming up (${count} bots, not counted)\n`);
  await botRun(cluster, count, 5, WARM_UP_SECONDS, "warm-up");
}

async function measure(cluster: LocalCluster, count: number, moveRate: number): Promise<Measured> {
  const label = `${count} bots x ${moveRate} Hz on ${cluster.replicas("client-agent").length} agent(s)`;
  await waitForIdleAgent(cluster);
  await waitForQuietMachine(cluster, 0.3, QUIET_WAIT_SECONDS);
  process.stderr.write(`${NAME}: ${label}\n`);
  const figures = figuresOf(await botRun(cluster, count, moveRate, DURATION_SECONDS, label));
  if (!figures.ok) process.stderr.write(`${NAME}: ${label}: PROBLEMS: ${figures.problems.join("; ")}\n`);
  return {
    label,
    drivers: {
      one: 1,
      agents: cluster.replicas("client-agent").length,
      players: count,
      movesPerS: figures.sentPerSecond,
      deliveredPerS: figures.deliveredPerSecond,
      datagramsOutPerS: figures.datagramsSentPerSecond,
      datagramsInPerS: figures.datagramsReceivedPerSecond,
    },
    cores: figures.cores,
    bytesPerUpdate: figures.bytesPerUpdate,
    p99Ms: figures.p99Ms,
  };
}

async function withCluster<T>(
  agents: number,
  maxClients: number,
  work: (cluster: LocalCluster) => Promise<T>,
) {
  const cluster = new LocalCluster({
    name: `capacity${agents}`,
    onCrash: "fail",
    zoneAiEnv: { DEMO_GRID: GRID, DEMO_NPCS_PER_ZONE: "0" },
    maxClients: Math.max(1024, maxClients),
    replicas: { "client-agent": agents },
    // a Redis of the run's own, so its CPU is this run's alone on a shared machine
    ownRedis: { appendfsync: "everysec" },
  });
  const stop = () => void cluster.stop().finally(() => process.exit(130));
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    await cluster.start();
    return await work(cluster);
  } finally {
    await cluster.stop();
    process.off("SIGINT", stop);
    process.off("SIGTERM", stop);
  }
}

const serverCores = (cores: Readonly<Record<string, number>>) =>
  SERVER_GROUPS.reduce((sum, group) => sum + (cores[group] ?? 0), 0);

function printCosts(costs: UnitCosts): void {
  const unit: Record<string, [string, number]> = {
    one: ["µs/s at rest", 1e6],
    agents: ["µs/s at rest per agent", 1e6],
    players: ["µs/s per player", 1e6],
    movesPerS: ["µs per move", 1e6],
    deliveredPerS: ["µs per delivered update", 1e6],
    datagramsOutPerS: ["µs per datagram out", 1e6],
    datagramsInPerS: ["µs per datagram in", 1e6],
  };
  table(
    ["process", "unit costs (CPU)"],
    Object.entries(costs).map(([group, perUnit]) => [
      group,
      Object.entries(perUnit)
        .map(([driver, cost]) => `${fixed(cost! * unit[driver]![1], 2)} ${unit[driver]![0]}`)
        .join(" + ") || "(none measurable)",
    ]),
  );
}

function printDrivers(label: string, drivers: Drivers): void {
  process.stdout.write(
    `${label}: ${drivers.players} players, ${rate(drivers.movesPerS)} moves/s, ${rate(drivers.deliveredPerS)} delivered/s, ` +
      `${rate(drivers.datagramsOutPerS)} datagrams/s out, ${rate(drivers.datagramsInPerS)} in\n`,
  );
}

/** The cores a world needs, and how many replicas (or what saturates) for each process. */
function sizing(costs: UnitCosts, wire: WireShape): void {
  const loadOf = (players: number): Load => ({
    players,
    moveHz: MOVE_HZ,
    visible: VISIBLE,
    tickHz: TICK_HZ,
    agents: Math.ceil(players / PLAYERS_PER_AGENT),
  });
  const rows: string[][] = [];
  for (const players of [10_000, 100_000, 1_000_000]) {
    const cores = predictCores(costs, driversOf(loadOf(players), wire));
    const total = serverCores(cores);
    const cells = SERVER_GROUPS.map((group) => {
      const need = cores[group] ?? 0;
      if (group === "redis" || group === "nats") return `${fixed(need, 1)} cores`;
      return `${fixed(need, 1)} (${Math.max(1, Math.ceil(need / TARGET_BUSY))})`;
    });
    rows.push([
      rate(players),
      ...cells,
      fixed(total, 0),
      String(Math.ceil(total / (32 * TARGET_BUSY))),
      String(Math.ceil(total / (64 * TARGET_BUSY))),
    ]);
  }
  process.stdout.write(
    `\nA world like the demo: each player moves ${MOVE_HZ} times a second and sees ${VISIBLE} others; ` +
      `cores each process needs (Node replicas at ${TARGET_BUSY * 100}% busy in brackets):\n\n`,
  );
  table(["players", ...SERVER_GROUPS, "server cores", "32-core boxes", "64-core boxes"], rows);
  const perPlayer = predictCores(costs, { ...driversOf(loadOf(1), wire), one: 0, agents: 0 });
  process.stdout.write(
    `\nOne Redis uses one core: it saturates at ${rate(1 / (perPlayer.redis ?? Infinity))} players ` +
      `(a Redis Cluster spreads the objects' slots); one NATS node's share: ${fixed((perPlayer.nats ?? 0) * 1e6, 1)} µs/s a player.\n`,
  );
}

async function main(): Promise<void> {
  const fitRuns = await withCluster(1, Math.max(...FIT.map((r) => r.count)), async (cluster) => {
    const runs: Measured[] = [];
    await warmUp(cluster, Math.max(...FIT.map((r) => r.count)));
    for (const { count, rate: moveRate } of FIT) runs.push(await measure(cluster, count, moveRate));
    return runs;
  });
  const costs = fitCosts(fitRuns);
  const wire = wireShapeOf(fitRuns, DATAGRAM_BYTES);
  process.stdout.write(`\nFitted to ${fitRuns.length} runs on one client agent:\n\n`);
  table(
    ["fit run", "moves/s", "delivered/s", "datagrams out/s", "in/s", "server cores", "model", "p99 ms"],
    fitRuns.map((run) => [
      run.label,
      rate(run.drivers.movesPerS),
      rate(run.drivers.deliveredPerS),
      rate(run.drivers.datagramsOutPerS),
      rate(run.drivers.datagramsInPerS),
      fixed(serverCores(run.cores), 2),
      fixed(serverCores(predictCores(costs, run.drivers)), 2),
      fixed(run.p99Ms, 0),
    ]),
  );
  process.stdout.write("\n");
  printCosts(costs);
  process.stdout.write(
    `\nwire: ${fixed(wire.bytesPerUpdate, 2)} payload bytes per update; datagrams in: ${fixed(wire.datagramsInPerMove, 2)} a move ` +
      `and ${fixed(wire.datagramsInPerPlayerS, 2)} a second a player\n\n`,
  );

  const { count, rate: moveRate } = HELD_OUT!;
  const predictedDrivers = driversOf(
    { players: count, moveHz: moveRate, visible: count - 1, tickHz: TICK_HZ, agents: AGENTS },
    wire,
  );
  const predicted = predictCores(costs, predictedDrivers);
  printDrivers(
    `predicted, before the held-out run (${count} x ${moveRate} Hz on ${AGENTS} agents)`,
    predictedDrivers,
  );
  const held = await withCluster(AGENTS, count, async (cluster) => {
    await warmUp(cluster, count);
    return measure(cluster, count, moveRate);
  });
  printDrivers("measured", held.drivers);
  const rows = [...SERVER_GROUPS, "bots"].map((group) => [
    group,
    fixed(predicted[group] ?? 0, 3),
    fixed(held.cores[group] ?? 0, 3),
    `${fixed((100 * ((predicted[group] ?? 0) - (held.cores[group] ?? 0))) / Math.max(1e-9, held.cores[group] ?? 0), 0)}%`,
  ]);
  // the model on the load the run reached, for when the bots fell short of the plan
  const given = serverCores(predictCores(costs, held.drivers));
  const predictedServer = serverCores(predicted);
  const measuredServer = serverCores(held.cores);
  const error = (predictedServer - measuredServer) / measuredServer;
  rows.push([
    "server processes",
    fixed(predictedServer, 3),
    fixed(measuredServer, 3),
    `${fixed(100 * error, 0)}%`,
  ]);
  process.stdout.write("\n");
  table(["process (cores)", "predicted", "measured", "error"], rows);
  const pass = Math.abs(error) <= TOLERANCE;
  process.stdout.write(
    `\nheld-out run: server cores predicted within ${fixed(100 * Math.abs(error), 0)}% ` +
      `(${pass ? "within" : "OUTSIDE"} ${TOLERANCE * 100}%); on the load the run reached, ${fixed(given, 3)} cores ` +
      `(${fixed((100 * (given - measuredServer)) / measuredServer, 0)}%)\n`,
  );
  sizing(costs, wire);
  if (JSON_OUT) {
    writeFileSync(
      JSON_OUT,
      `${JSON.stringify({ drivers: MODEL_DRIVERS, costs, wire, fitRuns, heldOut: { predicted, predictedDrivers, measured: held, error } }, null, 2)}\n`,
    );
  }
  if (!pass) process.exitCode = 1;
}

main().catch((error: unknown) => {
  process.stderr.write(`${NAME} failed: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});

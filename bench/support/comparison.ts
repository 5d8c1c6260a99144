/**
 * Overworld and Colyseus side by side: the figures both sides of the players benchmark report under
 * the same names (those of its --json output), their medians over the runs, and the table that prints
 * them with the ratio Overworld / Colyseus.
 */
import type { ColyseusFigures } from "./colyseus-run.ts";
import { fixed, median, micros, ms, type RunFigures, rate, table, withRuns } from "./figures.ts";

/** The figures of one side, as the --json output names them. */
export interface SideFigures {
  /** Server processes only, CPU µs per 1,000 delivered updates: the five services; the Colyseus server. */
  readonly servicesCpuUsPer1000: number;
  /**
   * Every process of the side, CPU µs per 1,000 delivered updates: the services, the bots process,
   * NATS, Redis and Postgres; the Colyseus server and the clients process.
   */
  readonly machineCpuUsPer1000: number;
  /**
   * Payload bytes the server side sent per delivered update: the client agent's UDP payloads (whole
   * netcode packets); the Colyseus server's WebSocket message payloads.
   */
  readonly bytesPerUpdate: number;
  readonly deliveredPerS: number;
  /** Moves sent in the measured window, and N x 10 Hz x the window's seconds. */
  readonly stepsSent: number;
  readonly stepsPlanned: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/** What --json writes for each N. */
export interface Comparison {
  readonly n: number;
  readonly overworld: SideFigures;
  readonly colyseus: SideFigures;
}

export function overworldSide(figures: RunFigures): SideFigures {
  return {
    servicesCpuUsPer1000: figures.serverUsPer1000,
    machineCpuUsPer1000: figures.machineUsPer1000,
    bytesPerUpdate: figures.bytesPerUpdate,
    deliveredPerS: figures.deliveredPerSecond,
    stepsSent: figures.stepsSent,
    stepsPlanned: figures.stepsPlanned,
    p50Ms: figures.p50Ms,
    p99Ms: figures.p99Ms,
  };
}

export function colyseusSide(figures: ColyseusFigures): SideFigures {
  return {
    servicesCpuUsPer1000: figures.serverUsPer1000,
    machineCpuUsPer1000: figures.machineUsPer1000,
    bytesPerUpdate: figures.bytesPerUpdate,
    deliveredPerS: figures.deliveredPerSecond,
    stepsSent: figures.stepsSent,
    stepsPlanned: figures.stepsPlanned,
    p50Ms: figures.p50Ms,
    p99Ms: figures.p99Ms,
  };
}

/** Each figure's median over the runs. */
export function medianSide(runs: readonly SideFigures[]): SideFigures {
  const of = (pick: (run: SideFigures) => number) => median(runs.map(pick));
  return {
    servicesCpuUsPer1000: of((r) => r.servicesCpuUsPer1000),
    machineCpuUsPer1000: of((r) => r.machineCpuUsPer1000),
    bytesPerUpdate: of((r) => r.bytesPerUpdate),
    deliveredPerS: of((r) => r.deliveredPerS),
    stepsSent: of((r) => r.stepsSent),
    stepsPlanned: of((r) => r.stepsPlanned),
    p50Ms: of((r) => r.p50Ms),
    p99Ms: of((r) => r.p99Ms),
  };
}

/** One N's runs of both sides. */
export interface ComparedRuns {
  readonly count: number;
  readonly overworld: readonly SideFigures[];
  readonly colyseus: readonly SideFigures[];
}

export function comparisonOf(runs: ComparedRuns): Comparison {
  return { n: runs.count, overworld: medianSide(runs.overworld), colyseus: medianSide(runs.colyseus) };
}

const ROWS: readonly {
  readonly figure: string;
  readonly pick: (side: SideFigures) => number;
  readonly show: (value: number) => string;
}[] = [
  { figure: "delivered updates/s", pick: (s) => s.deliveredPerS, show: rate },
  { figure: "moves sent, measured window", pick: (s) => s.stepsSent, show: rate },
  { figure: "  of moves planned (N x 10 Hz)", pick: (s) => s.stepsPlanned, show: rate },
  { figure: "latency p50 ms", pick: (s) => s.p50Ms, show: ms },
  { figure: "latency p99 ms", pick: (s) => s.p99Ms, show: ms },
  { figure: "bytes per delivered update (payload)", pick: (s) => s.bytesPerUpdate, show: (v) => fixed(v, 2) },
  { figure: "server CPU µs per 1,000 delivered", pick: (s) => s.servicesCpuUsPer1000, show: micros },
  { figure: "machine CPU µs per 1,000 delivered", pick: (s) => s.machineCpuUsPer1000, show: micros },
];

/** Prints the side-by-side table: per N, each figure's median (runs in brackets) and the ratio. */
export function printComparison(compared: readonly ComparedRuns[]): void {
  const rows: string[][] = [];
  for (const runs of compared) {
    const { overworld, colyseus } = comparisonOf(runs);
    for (const { figure, pick, show } of ROWS) {
      const theirs = pick(colyseus);
      rows.push([
        String(runs.count),
        figure,
        withRuns(runs.overworld, pick, show),
        withRuns(runs.colyseus, pick, show),
        theirs > 0 ? `${fixed(pick(overworld) / theirs, 2)}x` : "-",
      ]);
    }
  }
  table(["N", "figure", "Overworld", "Colyseus 0.18", "Overworld / Colyseus"], rows);
}

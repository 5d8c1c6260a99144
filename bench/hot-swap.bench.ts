/**
 * Hot-swap benchmark (issue 13 item 4): how long a plugin version swap pauses a replica's zone ticks.
 * N zones' runtimes tick at 20 Hz on one timer, as a zone-AI replica ticks them, each with a state of E
 * records; after a second of ticking, the plugin is swapped to a version with a `migrate` (a copy of
 * every record with a field added), as `Replica.switchCode` and the zones' next tick do it:
 *
 * 1. the dry run: every zone's `migrate` tried on a copy of its state, one zone at a time, the ticks
 *    going on in between;
 * 2. the switch: each zone's switch entry given to it, applied at its next tick (the migration again,
 *    for real, and the new hooks taken), in groups whose migrations fit half a tick, a tick apart (as
 *    Replica.switchCode groups the entries it appends), or all at once with --all-at-once.
 *
 * The journal's part (appending the switch entries to JetStream and reading them back, a round trip of
 * about a millisecond, during which the zones tick on with the old code) is not counted: it does not
 * hold ticks up. Reported: the dry run's time, the switching tick's time against a median tick, and
 * the longest gap between two tick starts in the second after the swap against the second before.
 *
 *   pnpm bench:hot-swap                                # 64 zones of 1000 records, 3 runs
 *   pnpm bench:hot-swap --zones 256 --entries 200 --runs 5
 */
import { ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { demo } from "../examples/demo/schema.ts";
import { definePlugin, type ZoneHooks } from "../services/zone-ai/src/plugin.ts";
import { switchGroups } from "../services/zone-ai/src/plugins/switch-entry.ts";
import { ZoneRuntime } from "../services/zone-ai/src/zone-runtime.ts";
import { answerHelp, integerArg, median, table } from "./support/figures.ts";

answerHelp(`usage: pnpm bench:hot-swap [--zones 64] [--entries 1000] [--runs 3] [--all-at-once]
How long a plugin version swap pauses N zones ticking at 20 Hz, each with a state of E records.
  --all-at-once  every zone's switch in one tick (not in groups that fit half a tick)`);
const ZONES = integerArg("--zones", 64);
const ENTRIES = integerArg("--entries", 1000);
const RUNS = integerArg("--runs", 3);
const TICK_MS = 50;
const BEFORE_MS = 1000;
const AFTER_MS = 1000;
const ALL_AT_ONCE = process.argv.includes("--all-at-once");

interface BenchState {
  ticks: number;
  records: { id: number; x: number; y: number; name: string; version?: number }[];
}

function kind(version: number): ZoneHooks<BenchState> {
  return {
    init: () => ({
      ticks: 0,
      records: Array.from({ length: ENTRIES }, (_, id) => ({
        id,
        x: id % 50,
        y: id % 7,
        name: `record ${id}`,
      })),
    }),
    tick: (_zone, state) => {
      state.ticks += 1;
      const record = state.records[state.ticks % state.records.length]!;
      record.x = (record.x + 1) % 50;
    },
    ...(version > 1
      ? {
          migrate: (state: unknown) => {
            const old = state as BenchState;
            return { ticks: old.ticks, records: old.records.map((record) => ({ ...record, version })) };
          },
        }
      : {}),
  };
}

interface RunResult {
  /** The longest dry run of one zone. */
  dryRunMs: number;
  /** From the swap's start to the end of the dry runs (ticks in between included). */
  dryRunTotalMs: number;
  /** The groups the switches went in. */
  groups: number;
  /** From the first group's entries to the last group's (ms). */
  switchTotalMs: number;
  switchTickMs: number;
  medianTickMs: number;
  gapBeforeMs: number;
  gapAfterMs: number;
}

async function run(): Promise<RunResult> {
  const plugin = definePlugin({
    name: "bench",
    schema: demo,
    zones: async () => [],
    kinds: { bench: kind(1) },
  });
  const v2 = kind(2) as ZoneHooks<unknown>;
  const runtimes = Array.from({ length: ZONES }, (_, index) => {
    const runtime = new ZoneRuntime({
      spec: { parent: 1000, zone: index + 1, kind: "bench" },
      channel: ZONE_CHANNEL_BASE + index + 1,
      dc: demo.file,
      hooks: plugin.kinds.bench!,
      code: "bench@1.0.0",
      channelOf: (zone) => ZONE_CHANNEL_BASE + zone,
      log: { info: () => {}, warn: (message) => console.warn(message) },
    });
    runtime.begin([], undefined, Date.now());
    return runtime;
  });
  const starts: number[] = [];
  const durations: number[] = [];
  const timer = setInterval(() => {
    const start = performance.now();
    starts.push(start);
    for (const runtime of runtimes) runtime.tick(Date.now());
    const took = performance.now() - start;
    durations.push(took);
  }, TICK_MS);
  await new Promise((resolve) => setTimeout(resolve, BEFORE_MS));
  const swapAt = performance.now();
  // 1. the dry run, one zone at a time between ticks (as Replica.trySwitch: a tick due runs in between)
  let dryRunMs = 0;
  const costs: [string, number][] = [];
  for (const [index, runtime] of runtimes.entries()) {
    const start = performance.now();
    const problem = runtime.trySwitch(v2);
    if (problem) throw problem;
    const took = performance.now() - start;
    costs.push([String(index), took]);
    dryRunMs = Math.max(dryRunMs, took);
    await new Promise((resolve) => setImmediate(resolve));
  }
  const dryRunTotalMs = performance.now() - swapAt;
  // 2. the switch entries, in groups that fit half a tick (as Replica.switchCode), a tick apart; or all
  // at once (--all-at-once), each applied by its zone's next tick
  const groups = ALL_AT_ONCE ? [costs.map(([key]) => key)] : switchGroups(costs, TICK_MS / 2);
  const switchStart = performance.now();
  const firstTick = durations.length;
  for (const [index, group] of groups.entries()) {
    if (index > 0) await new Promise((resolve) => setTimeout(resolve, TICK_MS));
    for (const key of group) {
      const runtime = runtimes[Number(key)]!;
      runtime.receiveSwitch({ seq: runtime.seq + 1, to: "bench@2.0.0", hooks: v2 });
    }
  }
  await new Promise((resolve) => setTimeout(resolve, TICK_MS * 2));
  const switchTickMs = Math.max(...durations.slice(firstTick));
  const switchTotalMs = performance.now() - switchStart - TICK_MS * 2;
  await new Promise((resolve) => setTimeout(resolve, AFTER_MS));
  clearInterval(timer);
  for (const runtime of runtimes) {
    if (runtime.code !== "bench@2.0.0") throw new Error(`a zone runs ${runtime.code} after the swap`);
  }
  const gaps = (from: number, to: number) =>
    starts
      .map((start, i) => (i === 0 ? 0 : start - starts[i - 1]!))
      .filter((_, i) => starts[i]! > from && starts[i]! <= to);
  return {
    dryRunMs,
    dryRunTotalMs,
    groups: groups.length,
    switchTotalMs,
    switchTickMs,
    medianTickMs: median(durations),
    gapBeforeMs: Math.max(...gaps(swapAt - BEFORE_MS + TICK_MS * 2, swapAt)),
    gapAfterMs: Math.max(...gaps(swapAt, swapAt + AFTER_MS)),
  };
}

const results: RunResult[] = [];
for (let i = 0; i < RUNS; i++) results.push(await run());
const ms = (value: number) => `${value.toFixed(2)} ms`;
const column = (pick: (result: RunResult) => number, unit = ms) => [
  unit(median(results.map(pick))),
  results.map((result) => pick(result).toFixed(2)).join(", "),
];
console.log(
  `${ZONES} zones of ${ENTRIES} records each, ticking every ${TICK_MS} ms; medians of ${RUNS} runs\n`,
);
table(
  ["what", "median", "runs (ms)"],
  [
    ["dry run of one zone's migrate, longest", ...column((r) => r.dryRunMs)],
    ["dry runs of every zone, ticks between them", ...column((r) => r.dryRunTotalMs)],
    ["switch groups, a tick apart", ...column((r) => r.groups, String)],
    ["the longest switching tick (migrations + new hooks)", ...column((r) => r.switchTickMs)],
    ["a tick, median", ...column((r) => r.medianTickMs)],
    ["longest gap between ticks, second before", ...column((r) => r.gapBeforeMs)],
    ["longest gap between ticks, second after", ...column((r) => r.gapAfterMs)],
  ],
);

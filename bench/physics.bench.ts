/**
 * Physics benchmark (issue 12 item 3): physics steps per second of one physics zone with 200 bodies,
 * alone and with border neighbours, as a zone-AI replica runs it (the zone's runtime, its inputs as
 * journal entries, one `physics:clock` input and one step per tick) but without the cluster around it.
 *
 * - alone: 200 balls bouncing inside the zone's walls (no damping, elastic, so none falls asleep).
 * - with neighbours: the same zone among its 8 bordering zones: each step it sends each neighbour the
 *   bodies within the margin of its area (the bodies near its walls), and each neighbour sends it its
 *   own 25 bodies near the border (200 ghosts in all, 3 to 7 units outside its walls), which it
 *   simulates with its own and puts back where their owners say each step.
 *
 *   pnpm bench:physics                       # 3 runs of 5 s per case, medians
 *   pnpm bench:physics --seconds 10 --runs 5
 */
import { ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { demo } from "../examples/demo/schema.ts";
import { type Area, BORDER_EVENT, CLOCK_EVENT, physicsZone } from "../services/zone-ai/src/physics.ts";
import { definePlugin, type ZoneHooks } from "../services/zone-ai/src/plugin.ts";
import { packFields, ZoneRuntime } from "../services/zone-ai/src/zone-runtime.ts";
import { answerHelp, integerArg, median, numberArg, table } from "./support/figures.ts";

answerHelp(`usage: pnpm bench:physics [--bodies 200] [--seconds 5] [--runs 3]
Physics steps per second of one zone with N bodies, alone and with its 8 border neighbours.`);
const BODIES = integerArg("--bodies", 200);
const SECONDS = numberArg("--seconds", 5);
const RUNS = integerArg("--runs", 3);
const WARMUP_STEPS = 300;
const SIZE = 50;
const STEP_MS = 100;
const MARGIN = 8;
const GHOSTS_PER_NEIGHBOUR = 25;
const CENTER = 5;
const { DistributedCrate } = demo;

/** The 3x3 zones of 50 units, numbered 1..9 row by row; the benchmark's zone is the middle one. */
const areaOf = (zone: number): Area => {
  const x0 = ((zone - 1) % 3) * SIZE;
  const y0 = Math.floor((zone - 1) / 3) * SIZE;
  return { x0, y0, x1: x0 + SIZE, y1: y0 + SIZE };
};
const zoneAt = (x: number, y: number) =>
  1 + Math.min(2, Math.max(0, Math.floor(y / SIZE))) * 3 + Math.min(2, Math.max(0, Math.floor(x / SIZE)));
const AROUND = [1, 2, 3, 4, 6, 7, 8, 9];

/** A deterministic generator, so that every run simulates the same bodies. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), s | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 0x1_0000_0000;
  };
}

function hooks(withNeighbours: boolean): ZoneHooks<unknown> {
  return physicsZone<object>({
    stepMs: STEP_MS,
    margin: MARGIN,
    bounds: areaOf(CENTER), // walls around the zone keep its own bodies in it
    neighbours: () => (withNeighbours ? AROUND : []),
    area: areaOf,
    zoneAt,
    body: (object) => {
      if (!object.is(DistributedCrate)) return undefined;
      const [x, y, angle, vx, vy, spin] = object.get("setMotion") ?? [0, 0, 0, 0, 0, 0];
      return {
        type: "dynamic",
        shape: { ball: 0.8 },
        x,
        y,
        angle,
        vx,
        vy,
        spin,
        restitution: 1,
        friction: 0,
      };
    },
    write: () => {}, // the fields' writes are the runtime's work, measured elsewhere; here the steps
    game: { init: () => ({}) },
  }) as ZoneHooks<unknown>;
}

/** Steps per second of one run. */
function run(withNeighbours: boolean): { stepsPerSecond: number; borderEvents: number } {
  const plugin = definePlugin({
    name: "physics-bench",
    schema: demo,
    zones: async () => [],
    kinds: { bench: hooks(withNeighbours) },
  });
  const runtime = new ZoneRuntime({
    spec: { parent: 1000, zone: CENTER, kind: "bench" },
    channel: ZONE_CHANNEL_BASE + CENTER,
    dc: demo.file,
    hooks: plugin.kinds.bench!,
    channelOf: (zone) => ZONE_CHANNEL_BASE + zone,
    log: { info: () => {}, warn: (message) => console.warn(message) },
  });
  runtime.begin([], undefined, 0);
  const next = random(42);
  const area = areaOf(CENTER);
  let seq = 0;
  let time = 0;
  const input = (message: Parameters<ZoneRuntime["receive"]>[0]["message"]) =>
    runtime.receive({ seq: ++seq, time, message });
  for (let i = 0; i < BODIES; i++) {
    const fields = packFields(DistributedCrate, {
      setShape: [0, 0.8],
      setMotion: [
        area.x0 + 2 + next() * (SIZE - 4),
        area.y0 + 2 + next() * (SIZE - 4),
        0,
        (next() - 0.5) * 20,
        (next() - 0.5) * 20,
        0,
      ],
    });
    const object = {
      doId: 10_000 + i,
      classId: DistributedCrate.dclass.id,
      parentId: 1000,
      zoneId: CENTER,
      fields,
    };
    input({ kind: "enter-ai", sender: 4001, object });
  }
  runtime.tick(time);
  /** Each neighbour's bodies near the border, moving along it. */
  const ghosts = AROUND.map((zone, n) => {
    const b = areaOf(zone);
    const bodies = Array.from({ length: GHOSTS_PER_NEIGHBOUR }, (_, i) => {
      // in the neighbour, 3 to MARGIN - 1 units from this zone (clear of its walls, which are 2 thick)
      const band = () => 3 + next() * (MARGIN - 4);
      const along = (low: number, high: number, near0: number, near1: number) =>
        high <= near0 ? near0 - band() : low >= near1 ? near1 + band() : near0 + next() * SIZE;
      const x = along(b.x0, b.x1, area.x0, area.x1);
      const y = along(b.y0, b.y1, area.y0, area.y1);
      return [20_000 + n * 100 + i, { type: "dynamic", ball: 0.8 }, [x, y, 0, next() - 0.5, next() - 0.5, 0]];
    });
    return { zone, bodies };
  });
  let origin = 0;
  let borderEvents = 0;
  const step = () => {
    time += STEP_MS;
    input({
      kind: "zone-event",
      sender: ZONE_CHANNEL_BASE + CENTER,
      name: CLOCK_EVENT,
      target: 0,
      data: null,
      origin: [++origin, 0],
    });
    if (withNeighbours) {
      for (const { zone, bodies } of ghosts) {
        const data = { zone, step: Math.floor(time / STEP_MS) - 1, bodies };
        input({
          kind: "zone-event",
          sender: ZONE_CHANNEL_BASE + zone,
          name: BORDER_EVENT,
          target: 0,
          data,
          origin: [++origin, 0],
        });
      }
    }
    for (const output of runtime.tick(time))
      if (output.op === "event" && output.name === BORDER_EVENT) borderEvents += 1;
  };
  for (let i = 0; i < WARMUP_STEPS; i++) step();
  borderEvents = 0;
  const started = performance.now();
  let steps = 0;
  while (performance.now() - started < SECONDS * 1000) {
    step();
    steps += 1;
  }
  const seconds = (performance.now() - started) / 1000;
  return { stepsPerSecond: steps / seconds, borderEvents: borderEvents / steps };
}

const rows: string[][] = [];
for (const withNeighbours of [false, true]) {
  const runs = Array.from({ length: RUNS }, () => run(withNeighbours));
  const rates = runs.map((r) => r.stepsPerSecond);
  const middle = median(rates);
  rows.push([
    withNeighbours
      ? `${BODIES} bodies, 8 neighbours (${8 * GHOSTS_PER_NEIGHBOUR} ghosts)`
      : `${BODIES} bodies, alone`,
    `${middle.toFixed(0)} steps/s`,
    `${(1000 / middle).toFixed(2)} ms`,
    rates.map((r) => r.toFixed(0)).join(", "),
    median(runs.map((r) => r.borderEvents)).toFixed(1),
  ]);
}
table(["zone", "steps per second (median)", "per step", "runs", "border events sent per step"], rows);

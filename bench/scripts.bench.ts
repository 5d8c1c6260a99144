/**
 * World scripts benchmark (issue 13 item 5): what running zone logic in a script's sandbox (QuickJS in
 * WASM, services/zone-ai/src/scripts) costs against the same logic as a native plugin hook, per call,
 * as a zone's runtime calls it (no cluster around it: ticks are called directly, back to back).
 *
 * - empty tick: a tick hook that does nothing, native and as a script: the cost of crossing into the
 *   sandbox and back (the budget armed, the call, the result read).
 * - wander: the demo's NPC wander script (examples/demo/scripts/npc-wander.ts) stepping N NPCs every tick,
 *   sandboxed, against the very same module imported and run natively over a host-side ScriptZone.
 *
 *   pnpm bench:scripts                       # 3 runs of 3 s per case, medians
 *   pnpm bench:scripts --npcs 20 --seconds 5 --runs 5
 */
import { packField, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { demo } from "../examples/demo/schema.ts";
import * as wander from "../examples/demo/scripts/npc-wander.ts";
import type { Zone, ZoneHooks } from "../services/zone-ai/src/plugin.ts";
import {
  compileScript,
  compileScriptFile,
  loadScript,
  type ScriptZone,
  scriptHooks,
} from "../services/zone-ai/src/scripts/index.ts";
import { describe } from "../services/zone-ai/src/scripts/sandbox.ts";
import { lineage, ZoneRuntime } from "../services/zone-ai/src/zone-runtime.ts";
import { answerHelp, integerArg, median, micros, numberArg, table } from "./support/figures.ts";

answerHelp(`usage: pnpm bench:scripts [--npcs 10] [--seconds 3] [--runs 3]
Per-call cost of a sandboxed world script against the same logic as a native hook.`);
const NPCS = integerArg("--npcs", 10);
const SECONDS = numberArg("--seconds", 3);
const RUNS = integerArg("--runs", 3);
const WARMUP_TICKS = 500;
const CONFIG = { width: 1, cellSize: 50, stepTicks: 1, stepUnits: 1 };
const { DistributedNpc } = demo;

/** The fixed-point helpers as the sandbox's prelude has them, for the native run. */
function nativeFx(random: () => number): ScriptZone["fx"] {
  const ONE = 65536;
  const isqrt = (n: number) => Math.floor(Math.sqrt(n));
  return {
    ONE,
    from: (value) => Math.round(value * ONE),
    toNumber: (value) => value / ONE,
    mul: (a, b) => Math.trunc((a * b) / ONE),
    div: (a, b) => Math.trunc((a * ONE) / b),
    hypot: (dx, dy) => isqrt(dx * dx + dy * dy),
    toward: (x, y, tx, ty, step) => {
      const dx = tx - x;
      const dy = ty - y;
      const d = isqrt(dx * dx + dy * dy);
      if (d <= step) return [tx, ty];
      return [x + Math.trunc((dx * step) / d), y + Math.trunc((dy * step) / d)];
    },
    random: (lo, hi) => lo + Math.floor(random() * (hi - lo)),
  };
}

/** The script API over a zone, in the host: what the script's module gets when it runs natively. */
function scriptZoneOf(zone: Zone): ScriptZone {
  return {
    parent: zone.parent,
    zone: zone.zone,
    kind: zone.kind,
    get now() {
      return zone.now;
    },
    config: CONFIG,
    random: () => zone.random(),
    objects: (dclass, fields) =>
      [...zone.objects.values()]
        .filter(
          (object) => dclass === undefined || lineage(object.dclass).some((each) => each.name === dclass),
        )
        .sort((a, b) => a.doId - b.doId)
        .map((object) => ({
          ...describe(object),
          fields: Object.fromEntries((fields ?? []).map((f) => [f, object.get(f as never)])),
        })),
    get: (doId, field) => zone.find(doId)?.get(field as never),
    set: (doId, field, value) => zone.set(zone.find(doId)!, field as never, value as never),
    spawn: () => 0,
    move: () => {},
    delete: () => {},
    sendEvent: () => {},
    after: () => {},
    log: () => {},
    fx: nativeFx(() => zone.random()),
  };
}

const nativeWander: ZoneHooks<unknown> = {
  init: () => wander.init(),
  tick: (zone, state) => wander.tick(scriptZoneOf(zone), state as ReturnType<typeof wander.init>),
};
const nativeEmpty: ZoneHooks<unknown> = { init: () => ({}), tick: () => {} };

function zoneWith(hooks: ZoneHooks<unknown>, npcs: number): ZoneRuntime {
  const runtime = new ZoneRuntime({
    spec: { parent: 1000, zone: 1, kind: "field" },
    channel: ZONE_CHANNEL_BASE + 1,
    dc: demo.file,
    hooks,
    channelOf: (zone) => ZONE_CHANNEL_BASE + zone,
    log: { info: () => {}, warn: (message) => console.error(message) },
  });
  runtime.addIds(9000, 100);
  const xy = DistributedNpc.field("setXY");
  const objects = Array.from({ length: npcs }, (_, i) => ({
    doId: 500 + i,
    classId: DistributedNpc.dclass.id,
    parent: 1000,
    zone: 1,
    owner: 0,
    fields: [[xy.id, packField(xy, [5 + i, 5 + i])] as [number, Uint8Array]],
  }));
  runtime.begin(objects, undefined, 0);
  return runtime;
}

/** µs per tick over SECONDS of back-to-back ticks. */
function measure(hooks: ZoneHooks<unknown>, npcs: number): number {
  const zone = zoneWith(hooks, npcs);
  let now = 0;
  for (let i = 0; i < WARMUP_TICKS; i++) zone.tick((now += 100));
  let ticks = 0;
  const start = performance.now();
  const end = start + SECONDS * 1000;
  while (performance.now() < end) {
    for (let i = 0; i < 100; i++) zone.tick((now += 100));
    ticks += 100;
  }
  return ((performance.now() - start) * 1000) / ticks;
}

const limits = { steps: 10_000, deadlineMs: 1000 };
const sandboxedEmpty = scriptHooks(
  await loadScript(compileScript("empty", "export function tick() {}"), { schema: demo, limits }),
) as ZoneHooks<unknown>;
const wanderScript = await loadScript(
  await compileScriptFile(new URL("../examples/demo/scripts/npc-wander.ts", import.meta.url)),
  { schema: demo, limits, config: CONFIG },
);
const sandboxedWander = scriptHooks(wanderScript) as ZoneHooks<unknown>;

const cases: [string, ZoneHooks<unknown>, ZoneHooks<unknown>, number][] = [
  ["empty tick", nativeEmpty, sandboxedEmpty, 0],
  [`wander, ${NPCS} NPCs a tick`, nativeWander, sandboxedWander, NPCS],
  [`wander, ${NPCS * 10} NPCs a tick`, nativeWander, sandboxedWander, NPCS * 10],
];
const rows: string[][] = [];
for (const [name, native, sandboxed, npcs] of cases) {
  const nativeRuns: number[] = [];
  const sandboxRuns: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    nativeRuns.push(measure(native, npcs));
    sandboxRuns.push(measure(sandboxed, npcs));
  }
  const n = median(nativeRuns);
  const s = median(sandboxRuns);
  rows.push([
    name,
    `${micros(n)} µs (${nativeRuns.map(micros).join(", ")})`,
    `${micros(s)} µs (${sandboxRuns.map(micros).join(", ")})`,
    `${micros(s - n)} µs`,
    `${(s / n).toFixed(1)}x`,
  ]);
}
console.log(
  `node ${process.version}; ${RUNS} runs of ${SECONDS} s per case; µs per zone tick (the runtime's own work included)`,
);
table(["case", "native hook", "sandboxed script", "overhead", "ratio"], rows);

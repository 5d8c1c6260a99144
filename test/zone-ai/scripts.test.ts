/**
 * World scripts in their sandbox, run by a zone's runtime as the replica runs it (no services): a script
 * that loops forever, allocates without bound, or reaches for the host's `process`, `require`, `fetch` is
 * stopped (or refused when it loads) while the zone next door, running a good script, goes on; the same
 * inputs give the same outputs, twice and across a snapshot and a resume; a script receives its inputs
 * in the canonical order whatever order they arrived in; its clock and random numbers are the zone's.
 */
import { type messages, packField, unpackField, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneHooks } from "../../services/zone-ai/src/plugin.ts";
import {
  compileScript,
  loadScript,
  publishedScripts,
  type Script,
  type ScriptsState,
  scriptHooks,
  scriptMetrics,
  scriptStops,
  withScript,
} from "../../services/zone-ai/src/scripts/index.ts";
import {
  type ZoneInput,
  type ZoneOutput,
  ZoneRuntime,
  type ZoneSnapshot,
} from "../../services/zone-ai/src/zone-runtime.ts";

const { DistributedNpc, DistributedAvatar } = demo;
const channelOf = (zone: number) => ZONE_CHANNEL_BASE + zone;
const NPC = 500;
const AVATAR = 600;
const CLIENT = 77;
const LIMITS = { steps: 50, memoryBytes: 2 * 1024 * 1024, deadlineMs: 2000 };

/** A walker: each tick its NPCs step 1 unit (fixed point) towards a random waypoint; says what it hears. */
const WALKER = `
import type { ScriptZone, ScriptObject } from "@overworld/zone-ai/scripts";
interface State { ticks: number; goals: Record<string, [number, number]>; heard: string[] }
export function init(zone: ScriptZone): State {
  return { ticks: 0, goals: {}, heard: [] };
}
export function tick(zone: ScriptZone, state: State, dt: number): void {
  state.ticks += 1;
  const { fx } = zone;
  for (const npc of zone.objects("DistributedNpc")) {
    const [x, y] = zone.get(npc.doId, "setXY") as [number, number];
    let goal = state.goals[npc.doId];
    if (goal === undefined) goal = state.goals[npc.doId] = [fx.random(0, fx.from(50)), fx.random(0, fx.from(50))];
    const [nx, ny] = fx.toward(fx.from(x), fx.from(y), goal[0], goal[1], fx.ONE);
    if (nx === goal[0] && ny === goal[1]) delete state.goals[npc.doId];
    zone.set(npc.doId, "setXY", [fx.toNumber(nx), fx.toNumber(ny)]);
  }
}
export function leave(zone: ScriptZone, state: State, object: ScriptObject): void {
  delete state.goals[object.doId];
}
export const fields = {
  "DistributedAvatar.say": (zone: ScriptZone, state: State, avatar: ScriptObject, [text]: [string], sender: number) => {
    state.heard.push(\`\${zone.now}:\${sender}:\${text}\`);
    zone.set(avatar.doId, "chat", [avatar.doId, \`\${text} (heard at \${Date.now()}, \${Math.random().toFixed(6)})\`]);
  },
};
`;

async function script(name: string, source: string, language: "ts" | "js" = "js"): Promise<Script> {
  return loadScript(compileScript(name, source, language), { schema: demo, limits: LIMITS });
}

const warnings: string[] = [];

function runtime(zone: number, hooks: ZoneHooks<unknown>): ZoneRuntime {
  return new ZoneRuntime({
    spec: { parent: 1000, zone, kind: "field" },
    channel: channelOf(zone),
    dc: demo.file,
    hooks,
    channelOf,
    log: { info: () => {}, warn: (message) => warnings.push(message) },
  });
}

const xy = DistributedNpc.field("setXY");
const say = DistributedAvatar.field("say");
function objects(zone: number) {
  return [
    {
      doId: NPC,
      classId: DistributedNpc.dclass.id,
      parent: 1000,
      zone,
      owner: 0,
      fields: [[xy.id, packField(xy, [10, 10])] as [number, Uint8Array]],
    },
    { doId: AVATAR, classId: DistributedAvatar.dclass.id, parent: 1000, zone, owner: CLIENT, fields: [] },
  ];
}

function begun(zone: number, hooks: ZoneHooks<unknown>, snapshot?: ZoneSnapshot, now = 0): ZoneRuntime {
  const made = runtime(zone, hooks);
  made.addIds(9000, 100);
  made.begin(objects(zone), snapshot, now);
  return made;
}

const sayInput = (seq: number, time: number, sender: number, text: string): ZoneInput => ({
  seq,
  time,
  message: {
    kind: "update",
    sender: 1,
    updates: [[AVATAR, say.id, packField(say, [text]), sender]],
  } as messages.ZoneChannelMessage,
});

/** The field updates of outputs, decoded: [doId, field name, value]. */
function written(outputs: readonly ZoneOutput[]): [number, string, unknown][] {
  return outputs
    .flatMap((output) => (output.op === "updates" ? output.updates : []))
    .map(([doId, fieldId, bytes]) => {
      const field = demo.file.fieldById(fieldId)!;
      return [doId, field.name, unpackField(field, bytes)];
    });
}

function npcAt(outputs: readonly ZoneOutput[]): unknown {
  return written(outputs).find(([doId, name]) => doId === NPC && name === "setXY")?.[2];
}

/** A game's own hook beside the script: counts ticks, to show the zone goes on when its script stops. */
interface Counted {
  ticks: number;
}
const counting: ZoneHooks<Counted> = {
  init: () => ({ ticks: 0 }),
  tick: (_zone, state) => void (state.ticks += 1),
};

describe("a world script in its sandbox", () => {
  it("runs a TypeScript script's tick and field handlers in a zone, and publishes its source", async () => {
    const walker = await script("walker", WALKER, "ts");
    const zone = begun(1, scriptHooks(walker) as ZoneHooks<unknown>);
    const first = npcAt(zone.tick(100)) as [number, number];
    expect(first).not.toEqual([10, 10]);
    expect(Math.hypot(first[0] - 10, first[1] - 10)).toBeCloseTo(1, 3);
    zone.receive(sayInput(1, 150, CLIENT, "hello"));
    const chat = written(zone.tick(200)).find(([, name]) => name === "chat");
    expect(chat?.[2]).toEqual([AVATAR, expect.stringMatching(/^hello \(heard at 150, 0\.\d{6}\)$/)]);
    const state = zone.snapshot().state as ScriptsState;
    expect(JSON.parse(state.scripts.walker!.saved!)).toMatchObject({
      ticks: 2,
      heard: [`150:${CLIENT}:hello`],
    });
    const published = publishedScripts().find((each) => each.name === "walker");
    expect(published).toMatchObject({ language: "ts", source: WALKER });
    expect(published?.hash).toMatch(/^[0-9a-f]{64}$/);
  });

  it("stops a script that loops forever, allocates without bound or reaches for the host; its neighbours go on", async () => {
    const walker = await script("good-neighbour", WALKER, "ts");
    const bad = {
      loops: await script("loops", "export function tick() { for (;;) {} }"),
      allocates: await script(
        "allocates",
        "const kept = []; export function tick() { for (;;) kept.push({ n: kept.length, xy: [1, 2] }); }",
      ),
      process: await script("process", "export function tick() { process.exit(1); }"),
      fetch: await script("fetch", "export function tick() { fetch('http://127.0.0.1/'); }"),
      global: await script("global", "export function tick() { globalThis.process.env.HOME; }"),
      require: await script("late-require", "export function tick() { require('node:fs'); }"),
      catches: await script(
        "catches",
        "export function tick() { for (;;) { try { for (;;) {} } catch (e) {} } }",
      ),
      "bad-value": await script(
        "bad-value",
        "export function tick(zone) { zone.set(500, 'setXY', ['far', 'away']); }",
      ),
      "not-here": await script(
        "not-here",
        "export function tick(zone) { zone.set(99999, 'setXY', [1, 2]); }",
      ),
      "bad-class": await script(
        "bad-class",
        "export function tick(zone) { zone.spawn('DistributedNothing', {}); }",
      ),
    };
    const neighbour = begun(1, scriptHooks(walker) as ZoneHooks<unknown>);
    const zones = Object.entries(bad).map(([name, each], index) => ({
      name,
      zone: begun(10 + index, withScript(each, counting) as ZoneHooks<unknown>),
    }));
    let moved = 0;
    for (let tick = 1; tick <= 3; tick++) {
      for (const { zone } of zones) zone.tick(tick * 100); // each call returns: the replica goes on
      if (npcAt(neighbour.tick(tick * 100)) !== undefined) moved += 1;
    }
    expect(moved).toBe(3);
    const stops = Object.fromEntries(
      scriptStops()
        .filter((stop) => stop.script in bad || stop.script === "late-require")
        .map((stop) => [stop.script, stop]),
    );
    expect(stops.loops).toMatchObject({ reason: "budget", zone: "1000.10" });
    expect(stops.allocates).toMatchObject({ reason: "memory" });
    expect(stops.process?.message).toMatch(/'process' is not defined/);
    expect(stops.fetch?.message).toMatch(/'fetch' is not defined/);
    expect(stops.global?.message).toMatch(/cannot read property 'env' of undefined/i);
    expect(stops["late-require"]?.message).toMatch(/imports nothing/);
    // the interrupt cannot be caught; what a script hands the zone is checked like any input
    expect(stops.catches).toMatchObject({ reason: "budget" });
    expect(stops["bad-value"]?.message).toMatch(/setXY/);
    expect(stops["not-here"]?.message).toMatch(
      /cannot set a field of object 99999: this zone neither runs it nor sees it/,
    );
    expect(stops["bad-class"]?.message).toMatch(/there is no class DistributedNothing to spawn/);
    for (const { name, zone } of zones) {
      const state = zone.snapshot().state as Counted & ScriptsState;
      expect(state.ticks, `${name}'s zone ticks on`).toBe(3);
      const data = Object.values(state.scripts)[0]!;
      expect(data.stopped, name).not.toBeNull();
    }
    expect(warnings.some((warning) => /script loops stopped \(budget\)/.test(warning))).toBe(true);
    const metrics = await scriptMetrics.metrics();
    expect(metrics).toMatch(/ow_zone_script_stops_total\{script="loops",reason="budget"\} 1/);
    expect(metrics).toMatch(/ow_zone_script_stops_total\{script="allocates",reason="memory"\} 1/);
    // a stopped script stays stopped in a zone resumed from the snapshot
    const loops = zones[0]!.zone.snapshot();
    const resumed = begun(
      10,
      withScript(bad.loops, counting) as ZoneHooks<unknown>,
      structuredClone(loops),
      300,
    );
    resumed.tick(400);
    expect((resumed.snapshot().state as ScriptsState).scripts.loops!.stopped).toBe("budget");
  });

  it("refuses a script whose top level imports a module, reaches for the host or does not compile", async () => {
    await expect(
      script("imports", "import { readFileSync } from 'node:fs'; export function tick() {}"),
    ).rejects.toThrow(/script imports is refused: .*imports nothing/);
    await expect(script("top-process", "const env = process.env;")).rejects.toThrow(
      /'process' is not defined/,
    );
    await expect(script("broken", "export function tick( {")).rejects.toThrow(/does not compile/);
    await expect(
      script("bad-field", "export const fields = { 'DistributedNpc.fly': () => {} };"),
    ).rejects.toThrow(/names no field/);
    expect(() => compileScript("../escape", "")).toThrow(/script name/);
  });

  it("gives the same outputs for the same inputs, twice and across a snapshot and a resume", async () => {
    const walker = await script("walker", WALKER, "ts");
    const hooks = scriptHooks(walker) as ZoneHooks<unknown>;
    const inputs = [
      sayInput(1, 120, CLIENT, "a"),
      sayInput(2, 350, CLIENT, "b"),
      sayInput(3, 730, CLIENT + 1, "c"),
    ];
    const run = (zone: ZoneRuntime, from: number, to: number) => {
      const out: unknown[] = [];
      for (let tick = from; tick <= to; tick++) {
        for (const input of inputs)
          if (input.time <= tick * 100 && input.time > (tick - 1) * 100) zone.receive(input);
        out.push(written(zone.tick(tick * 100)));
      }
      return out;
    };
    const once = run(begun(1, hooks), 1, 10);
    const twice = run(begun(1, hooks), 1, 10);
    expect(twice).toEqual(once);
    expect(JSON.stringify(once)).toContain("heard at 730");

    const first = begun(1, hooks);
    const before = run(first, 1, 4);
    const snapshot = structuredClone(first.snapshot());
    // resumed elsewhere: the NPC where the zone had put it, the inputs replayed from the journal
    const resumed = runtime(1, hooks);
    const last = before
      .flat()
      .filter((row) => (row as [number, string])[1] === "setXY")
      .at(-1) as [number, string, [number, number]];
    resumed.begin(
      [{ ...objects(1)[0]!, fields: [[xy.id, packField(xy, last[2])]] }, objects(1)[1]!],
      snapshot,
      400,
    );
    const after = run(resumed, 5, 10);
    expect([...before, ...after]).toEqual(once);
  });

  it("runs the demo's wander script in its field kind the same across a snapshot and a resume", () => {
    const plugin = demoWorld({
      grid: { width: 1, height: 1, cellSize: 50 },
      worldId: 1000,
      npcsPerZone: 0,
      cratesPerZone: 0,
      dungeonEntrance: false,
    });
    const hooks = plugin.kinds.field as ZoneHooks<unknown>;
    const ticks = (zone: ZoneRuntime, from: number, to: number) => {
      const out: unknown[] = [];
      for (let tick = from; tick <= to; tick++) out.push(written(zone.tick(tick * 100)));
      return out;
    };
    const whole = ticks(begun(1, hooks), 1, 16);
    const moves = whole.flat().filter((row) => (row as [number, string])[1] === "setXY");
    expect(moves).toHaveLength(3); // a step every 5 ticks
    const first = begun(1, hooks);
    const before = ticks(first, 1, 7);
    const resumed = runtime(1, hooks);
    const [, , at] = before
      .flat()
      .filter((row) => (row as [number, string])[1] === "setXY")
      .at(-1) as [number, string, [number, number]];
    resumed.begin(
      [{ ...objects(1)[0]!, fields: [[xy.id, packField(xy, at)]] }, objects(1)[1]!],
      structuredClone(first.snapshot()),
      700,
    );
    expect([...before, ...ticks(resumed, 8, 16)]).toEqual(whole);
  });

  it("receives its inputs in the canonical order (time, sender, sequence) whatever order they came in", async () => {
    const order = await script(
      "order",
      `export function init() { return { seen: [] }; }
       export const fields = { "DistributedAvatar.say": (zone, state, avatar, [text], sender) => state.seen.push(text) };`,
    );
    const hooks = scriptHooks(order) as ZoneHooks<unknown>;
    const inputs = [
      sayInput(4, 100, 30, "t100-s30"),
      sayInput(2, 100, 20, "t100-s20-q2"),
      sayInput(3, 90, 90, "t90"),
      sayInput(1, 100, 20, "t100-s20-q1"),
    ];
    for (const arrival of [inputs, [...inputs].reverse(), [inputs[2]!, inputs[0]!, inputs[3]!, inputs[1]!]]) {
      const zone = begun(1, hooks);
      for (const input of arrival) zone.receive(input);
      zone.tick(200);
      const state = zone.snapshot().state as ScriptsState;
      expect(JSON.parse(state.scripts.order!.saved!).seen).toEqual([
        "t90",
        "t100-s20-q1",
        "t100-s20-q2",
        "t100-s30",
      ]);
    }
  });
});

/**
 * Physics as its own sim: the demo world's zones (two side by side, 50 units each, the border at x = 50)
 * run as pure logic over their journals. Crates owned by two zones collide at the border: each zone
 * reports only its own crate's hit. A crate rolls across the border: its zone hands it to the zone it
 * rolled into, which goes on simulating the same body. A zone killed mid-motion and resumed from its
 * snapshot and journal reaches bit-identical bodies to a zone that followed the same journal without
 * stopping. A forged border event changes nothing.
 */
import { type Field, type messages, packField, unpackField } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { arenaZone, demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import { BORDER_EVENT, bodiesOf, type PhysicsState } from "../../services/zone-ai/src/physics.ts";
import type { ZoneSnapshot } from "../../services/zone-ai/src/zone-runtime.ts";
import { channelOf, Journals } from "./physics-journals.ts";

const grid = { width: 2, height: 1, cellSize: 50 };
const plugin = demoWorld({ grid, worldId: 1000, npcsPerZone: 0, cratesPerZone: 0 });
const kindOf = (zone: number) => (zone === arenaZone(grid) ? "arena" : "field");
const { DistributedCrate: crate, DistributedAvatar: avatar } = demo;
const TICK_MS = 100;

function crateFields(x: number, y: number, vx: number, vy: number, kind = 0): [number, Uint8Array][] {
  return [
    [crate.field("setShape").id, packField(crate.field("setShape"), [kind, 2])],
    [crate.field("setMotion").id, packField(crate.field("setMotion"), [x, y, 0, vx, vy, 0])],
  ];
}

/** The demo's two zones, running. */
function twoZones(shadow = false): Journals {
  const sim = new Journals(plugin, kindOf);
  sim.start(1, undefined, shadow);
  sim.start(2);
  return sim;
}

/** Every update of one field the zones sent, in order: which zone, which object, the value. */
function updatesOf(sim: Journals, field: Field) {
  return sim.outputs.flatMap(({ zone, output }) =>
    output.op === "updates"
      ? output.updates
          .filter(([, fieldId]) => fieldId === field.id)
          .map(([doId, , value]) => ({ zone, doId, value: unpackField(field, value) as number[] }))
      : [],
  );
}

/** A crate's motion as the cluster stores it: [x, y, angle, vx, vy, spin]. */
function motion(sim: Journals, doId: number): number[] {
  const field = crate.field("setMotion");
  return unpackField(field, sim.objects.get(doId)!.fields.get(field.id)!) as number[];
}

function bodies(snapshot: ZoneSnapshot) {
  return bodiesOf(snapshot.state as PhysicsState<object>);
}

describe("physics zones", () => {
  it("report a collision across the border by ownership: each zone only its own body's hit", () => {
    const sim = twoZones();
    const a = sim.create(crate.dclass.id, 1, crateFields(44, 25, 10, 0));
    const b = sim.create(crate.dclass.id, 2, crateFields(56, 25, -10, 0));
    for (let i = 0; i < 20; i++) sim.tick(TICK_MS);

    const bumps = updatesOf(sim, crate.field("bump"));
    const seen = new Set(bumps.map(({ zone, doId, value }) => `zone ${zone}: ${doId} hit by ${value}`));
    expect([...seen].sort()).toEqual([`zone 1: ${a} hit by ${b}`, `zone 2: ${b} hit by ${a}`]);
    // they bounced: each went back the way it came, in its own zone
    const [ax, , , avx] = motion(sim, a);
    const [bx, , , bvx] = motion(sim, b);
    expect(ax).toBeLessThan(50);
    expect(avx).toBeLessThan(0);
    expect(bx).toBeGreaterThan(50);
    expect(bvx).toBeGreaterThan(0);
  });

  it("hand a crate rolling across the border to the zone it rolled into, which goes on with the same body", () => {
    const sim = twoZones();
    const c = sim.create(crate.dclass.id, 1, crateFields(40, 25, 20, 0));
    for (let i = 0; i < 30; i++) sim.tick(TICK_MS);

    const moves = sim.outputs.filter(({ output }) => output.op === "move");
    expect(moves).toEqual([{ zone: 1, output: expect.objectContaining({ op: "move", doId: c, zone: 2 }) }]);
    expect(sim.objects.get(c)?.zone).toBe(2);
    // zone 1 wrote its motion up to the hand-off, zone 2 from then on, with no jump between them
    const motions = updatesOf(sim, crate.field("setMotion")).filter(({ doId }) => doId === c);
    const handoff = motions.findIndex(({ zone }) => zone === 2);
    expect(handoff).toBeGreaterThan(0);
    expect(motions.slice(handoff).every(({ zone }) => zone === 2)).toBe(true);
    const [x0 = 0] = motions[handoff - 2]!.value;
    const [x1 = 0] = motions[handoff - 1]!.value;
    const [x2 = 0] = motions[handoff]!.value;
    expect(x1).toBeGreaterThanOrEqual(50);
    // two steps apart (zone 2 runs a step ahead of zone 1's word), each shorter than the one before it
    expect(x2 - x1).toBeGreaterThan(0);
    expect(x2 - x1).toBeLessThan(2 * (x1 - x0));
    const [x] = motion(sim, c);
    expect(x).toBeGreaterThan(60); // it rolled on, in zone 2
    // zone 1 simulated it as zone 2's ghost while it was near, then let it go
    const inZone1 = bodies(sim.snapshot(1)).find((body) => body.doId === c);
    expect(inZone1 === undefined || inZone1.owner === 2).toBe(true);
  });

  it("resumes a zone killed mid-motion to bodies bit-identical to a zone that never stopped", () => {
    const sim = twoZones(true);
    const crates = [
      sim.create(crate.dclass.id, 1, crateFields(10, 10, 12, 7, 1)),
      sim.create(crate.dclass.id, 1, crateFields(30, 12, -9, 11)),
      sim.create(crate.dclass.id, 1, crateFields(20, 40, 5, -14, 1)),
      sim.create(crate.dclass.id, 1, crateFields(44, 30, 16, 2)),
      sim.create(crate.dclass.id, 2, crateFields(58, 28, -15, 1, 1)),
    ];
    const player = 700001;
    const walker = sim.create(
      avatar.dclass.id,
      1,
      [[avatar.field("setSmXYH").id, packField(avatar.field("setSmXYH"), [5, 25, 0, 0])]],
      player,
    );
    /** The player walks through the crates, one step a tick. */
    const walk = (i: number) =>
      sim.update(walker, avatar.field("setSmXYH"), [5 + i * 1.5, 25 - i * 0.5, 0, i], player);
    let i = 0;
    for (; i < 10; i++) {
      walk(i);
      sim.tick(TICK_MS);
    }
    const snapshot = sim.snapshot(1);
    for (; i < 15; i++) {
      walk(i);
      sim.tick(TICK_MS);
    }
    sim.kill(1); // killed -9: its journal goes on filling (the player walks, zone 2 speaks), nobody runs it
    for (; i < 20; i++) {
      walk(i);
      sim.tick(TICK_MS);
    }
    sim.start(1, snapshot); // another replica: the snapshot, then the journal after it
    for (; i < 40; i++) {
      if (i < 30) walk(i);
      sim.tick(TICK_MS);
    }

    const resumed = sim.snapshot(1);
    const uninterrupted = sim.snapshot(1, "shadow");
    expect(resumed.seq).toBe(uninterrupted.seq);
    const world = (s: ZoneSnapshot) => Buffer.from((s.state as PhysicsState<object>).physics.world!);
    expect(world(resumed).equals(world(uninterrupted))).toBe(true);
    const bits = (s: ZoneSnapshot) =>
      bodies(s).map(({ doId, owner, motion }) => [
        doId,
        owner,
        Buffer.from(new Float64Array(Object.values(motion)).buffer).toString("hex"),
      ]);
    expect(bits(resumed)).toEqual(bits(uninterrupted));
    // and something happened: the crates moved, the walker pushed, some crossed or bounced
    expect(bodies(resumed).length).toBeGreaterThanOrEqual(crates.length);
    expect(updatesOf(sim, crate.field("bump")).length).toBeGreaterThan(0);
  });

  it("ignores a border event from a zone that does not border it, and one about its own bodies", () => {
    const sim = new Journals(
      demoWorld({
        grid: { width: 3, height: 1, cellSize: 50 },
        worldId: 1000,
        npcsPerZone: 0,
        cratesPerZone: 0,
      }),
      (zone) => (zone === 2 ? "arena" : "field"),
    );
    sim.start(1);
    const mine = sim.create(crate.dclass.id, 1, crateFields(25, 25, 0, 0));
    sim.tick(TICK_MS);
    let origin = 0;
    const forged = (from: number, bodiesData: unknown): messages.ZoneEvent => ({
      kind: "zone-event",
      sender: channelOf(from),
      name: BORDER_EVENT,
      target: 0,
      data: { zone: from, step: 0, bodies: bodiesData },
      origin: [++origin, 0],
    });
    const def = { type: "dynamic", ball: 2 };
    sim.append(1, forged(3, [[777, def, [20, 20, 0, 0, 0, 0]]])); // zone 3 is not zone 1's neighbour
    sim.append(1, forged(2, [[mine, def, [5, 5, 0, 40, 40, 0]]])); // zone 2 speaks of zone 1's own crate
    sim.append(1, forged(2, "not a list"));
    for (let i = 0; i < 5; i++) sim.tick(TICK_MS);
    const here = bodies(sim.snapshot(1));
    expect(here.map((body) => body.doId)).toEqual([mine]);
    expect(here[0]!.motion).toMatchObject({ x: 25, y: 25, vx: 0, vy: 0 });
    expect(sim.warnings.map((w) => w.message)).toEqual([
      expect.stringContaining("not a neighbour's bodies"),
      expect.stringContaining("not a neighbour's bodies"),
    ]);
  });
});

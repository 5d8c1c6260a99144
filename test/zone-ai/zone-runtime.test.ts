/**
 * A zone as pure logic over its journal (no services): the demo world's boss zone fed damage events.
 * The same inputs in any arrival order give the same state and the same outputs; a zone resumed from a
 * snapshot and the inputs after it reaches the state of the zone that never stopped; a resumed sender's
 * repeated events are dropped.
 */

import { type messages, packField, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { arenaZone, BOSS_HP, demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneHooks } from "../../services/zone-ai/src/plugin.ts";
import {
  type ZoneInput,
  type ZoneOutput,
  ZoneRuntime,
  type ZoneUpdate,
} from "../../services/zone-ai/src/zone-runtime.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const plugin = demoWorld({ grid, worldId: 1000, npcsPerZone: 0 });
const ARENA = arenaZone(grid);
const BOSS = 5000;
const channelOf = (zone: number) => ZONE_CHANNEL_BASE + zone;
const boss = demo.DistributedBoss;

/** The boss's zone's runtime, not begun. */
function arenaRuntime(): ZoneRuntime {
  return new ZoneRuntime({
    spec: { parent: 1000, zone: ARENA, kind: "arena" },
    channel: channelOf(ARENA),
    dc: demo.file,
    hooks: plugin.kinds.arena as ZoneHooks<unknown>,
    channelOf,
    log: { info: () => {}, warn: () => {} },
  });
}

/** The boss's zone, begun fresh with its boss. */
function arena(): ZoneRuntime {
  const runtime = arenaRuntime();
  runtime.addIds(9000, 100);
  const fields: [number, Uint8Array][] = [
    [boss.field("setXY").id, packField(boss.field("setXY"), [75, 75])],
    [boss.field("setH").id, packField(boss.field("setH"), [0])],
    [boss.field("hp").id, packField(boss.field("hp"), BOSS_HP)],
  ];
  runtime.begin(
    [{ doId: BOSS, classId: boss.dclass.id, parent: 1000, zone: ARENA, owner: 0, fields }],
    undefined,
    0,
  );
  return runtime;
}

/** A damage event from a zone (sender), as the journal holds it. */
function hit(seq: number, time: number, fromZone: number, attacker: number, origin: number): ZoneInput {
  const message: messages.ZoneEvent = {
    kind: "zone-event",
    sender: channelOf(fromZone),
    name: "damage",
    target: BOSS,
    data: { attacker, amount: 10 },
    origin: [origin, 0],
  };
  return { seq, time, message };
}

function bossUpdates(outputs: readonly ZoneOutput[]): ZoneUpdate[] {
  return outputs.flatMap((output) => (output.op === "updates" ? output.updates : []));
}

const inputs: ZoneInput[] = [
  hit(1, 100, 1, 11, 1),
  hit(2, 100, 2, 22, 1),
  hit(3, 100, 1, 11, 2),
  hit(4, 101, 4, 44, 1),
  hit(5, 101, 2, 22, 2),
  hit(6, 101, 2, 22, 3),
];

describe("a zone's runtime", () => {
  it("reaches the same state and outputs whatever order its inputs arrived in", () => {
    const reference = arena();
    for (const input of inputs) reference.receive(input);
    const expected = bossUpdates(reference.tick(200));
    expect(reference.snapshot().state).toMatchObject({ damage: { 11: 20, 22: 30, 44: 10 } });
    fc.assert(
      fc.property(fc.shuffledSubarray(inputs, { minLength: inputs.length }), (shuffled) => {
        const runtime = arena();
        for (const input of shuffled) runtime.receive(input);
        expect(bossUpdates(runtime.tick(200))).toEqual(expected);
        expect(runtime.snapshot()).toEqual(reference.snapshot());
      }),
    );
  });

  it("resumes from a snapshot and the inputs after it to the state of the zone that never stopped", () => {
    const whole = arena();
    for (const input of inputs) whole.receive(input);
    whole.tick(200);

    const first = arena();
    for (const input of inputs.slice(0, 3)) first.receive(input);
    first.tick(150);
    const snapshot = structuredClone(first.snapshot());

    const resumed = arenaRuntime();
    const bossFields: [number, Uint8Array][] = [
      [boss.field("hp").id, packField(boss.field("hp"), BOSS_HP - 30)],
    ];
    resumed.begin(
      [{ doId: BOSS, classId: boss.dclass.id, parent: 1000, zone: ARENA, owner: 0, fields: bossFields }],
      snapshot,
      160,
    );
    // the journal from the snapshot's sequence on; the entries it includes are ignored if given again
    for (const input of inputs) resumed.receive(input);
    resumed.tick(200);
    // what inputs decide is the same (the tick counter is time's, not the inputs')
    const { damage, boss: target } = whole.snapshot().state as { damage: object; boss: number };
    expect(resumed.snapshot().state).toMatchObject({ damage, boss: target });
    expect(resumed.seq).toBe(6);
  });

  it("drops the events a resumed sender makes again", () => {
    const runtime = arena();
    runtime.receive(hit(1, 100, 1, 11, 7));
    runtime.receive(hit(2, 100, 1, 11, 8));
    runtime.tick(150);
    // zone 1 died and was resumed from an earlier snapshot: it replays and sends origins 7 and 8 again
    runtime.receive(hit(3, 160, 1, 11, 7));
    runtime.receive(hit(4, 160, 1, 11, 8));
    runtime.receive(hit(5, 160, 1, 11, 9));
    runtime.tick(200);
    expect(runtime.snapshot().state).toMatchObject({ damage: { 11: 30 } });
  });

  it("asks for spawn ids until it holds enough, counting the blocks given ahead", () => {
    const runtime = arenaRuntime();
    expect(runtime.idsLow).toBe(true);
    runtime.addIds(1000, 20);
    expect(runtime.idsLow).toBe(true);
    runtime.addIds(2000, 20); // kept for when the first block runs out
    expect(runtime.idsLow).toBe(false);
  });
});

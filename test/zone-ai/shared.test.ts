/**
 * The shared-object API game logic uses (@overworld/zone-ai/shared): each cluster writes its own slot,
 * a peer's slot is recorded as it comes (its own coming back is ignored), slots not heard lately are
 * stale, and a field's rule (the game's merge, or the owner cluster's slot) gives its value.
 */
import { describe, expect, it } from "vitest";
import { mergeDamage } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { Zone, ZoneObject } from "../../services/zone-ai/src/plugin.ts";
import { type Slots, sharedField } from "../../services/zone-ai/src/shared.ts";

type DamageSlot = [number, readonly { readonly attacker: number; readonly total: number }[]];

function fakeZone() {
  const writes: [number, string, unknown][] = [];
  const zone = {
    now: 1000,
    set: (object: ZoneObject, name: string, value: unknown) => writes.push([object.doId, name, value]),
  };
  return { zone: zone as unknown as Zone & { now: number }, writes };
}

const boss = { doId: 7 } as ZoneObject;

describe("a shared field", () => {
  it("writes this cluster's slot, records peers' slots, and merges the fresh ones by the game's rule", () => {
    const damage = sharedField(demo.DistributedBoss, "setClusterDamage", {
      cluster: "east",
      rule: { rule: "merge", merge: mergeDamage },
      staleAfterMs: 1500,
    });
    const { zone, writes } = fakeZone();
    const slots: Slots<DamageSlot> = {};
    damage.write(zone, boss, slots, [0, [{ attacker: 1, total: 30 }]]);
    expect(writes).toEqual([[7, "setClusterDamage", ["east", 0, [{ attacker: 1, total: 30 }]]]]);

    const handler = damage.handler((state) => (state as { slots: Slots<DamageSlot> }).slots);
    const state = { slots };
    handler.handle(zone, state, boss, ["west", 0, [{ attacker: 9, total: 40 }]], 123);
    handler.handle(zone, state, boss, ["east", 0, [{ attacker: 1, total: 9999 }]], 123); // its own, coming back
    expect(damage.resolve(zone, slots, "fresh")).toEqual({
      epoch: 0,
      dealt: 70,
      top: { cluster: "west", attacker: 9, total: 40 },
    });

    zone.now += 2000; // west silent for 2 s: stale for the target, still known for the damage
    expect(damage.freshPeers(zone, slots)).toEqual([]);
    expect(damage.resolve(zone, slots, "fresh")).toMatchObject({ dealt: 30, top: { cluster: "east" } });
    expect(damage.resolve(zone, slots, "known")).toMatchObject({ dealt: 70, top: { cluster: "west" } });
    expect(damage.refresh(zone, boss, slots)).toBe(true); // this cluster's slot is written again for the peers
  });

  it("can take the owner cluster's slot, and refuses a field that is not shared", () => {
    const owned = sharedField(demo.DistributedBoss, "setClusterDamage", {
      cluster: "west",
      rule: { rule: "owner", owner: "east" },
    });
    const slots: Slots<DamageSlot> = {
      east: { value: [0, [{ attacker: 1, total: 5 }]], at: 0 },
      west: { value: [0, []], at: 0 },
    };
    expect(owned.resolve(fakeZone().zone, slots)).toEqual([0, [{ attacker: 1, total: 5 }]]);
    expect(() =>
      sharedField(demo.DistributedBoss, "hp" as never, { cluster: "x", rule: { rule: "owner", owner: "x" } }),
    ).toThrow(/not a shared field/);
  });
});

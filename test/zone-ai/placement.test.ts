/**
 * Zone placement over the live zone-AI replicas (rendezvous hashing): every zone has exactly one
 * replica, the zones are spread evenly, and a replica joining or leaving moves only the zones it must.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  assign,
  hashString,
  moves,
  ownerOf,
  Placement,
  zoneKey,
} from "../../services/zone-ai/src/placement.ts";

/** A 10 x 10 grid of zones under one parent, as the demo world has. */
const ZONES = Array.from({ length: 100 }, (_, i) => zoneKey(4000, 1000 + i));
const REPLICAS = ["zone-ai-7f3a", "zone-ai-09c1", "zone-ai-d2e8"];

function zonesOf(placement: Map<string, string[]>): string[] {
  return [...placement.values()].flat();
}

describe("placement", () => {
  it.each([1, 2, 3])("over %i replica(s) gives every zone to exactly one replica", (count) => {
    const replicas = REPLICAS.slice(0, count);
    const placement = assign(ZONES, replicas);
    expect([...placement.keys()].sort()).toEqual([...replicas].sort());
    expect(zonesOf(placement).sort()).toEqual([...ZONES].sort());
    for (const [replica, zones] of placement) {
      for (const zone of zones) expect(ownerOf(zone, replicas)).toBe(replica);
    }
  });

  it("is balanced within reason: 100 zones over 2 and 3 replicas", () => {
    for (const count of [2, 3]) {
      const sizes = [...assign(ZONES, REPLICAS.slice(0, count)).values()].map((zones) => zones.length);
      const fair = ZONES.length / count;
      // A binomial spread: 3 standard deviations of 100 draws is about 15 zones.
      for (const size of sizes) expect(Math.abs(size - fair)).toBeLessThanOrEqual(15);
    }
  });

  it("is balanced over many zones and replicas (within 10% of fair for 10,000 zones over 8)", () => {
    const zones = Array.from({ length: 10_000 }, (_, i) => zoneKey(1 + (i % 3), i));
    const replicas = Array.from({ length: 8 }, (_, i) => `zone-ai-${i}`);
    const sizes = [...assign(zones, replicas).values()].map((list) => list.length);
    for (const size of sizes) expect(Math.abs(size - zones.length / 8)).toBeLessThan(125);
  });

  it("moves only about a third of the zones when a third replica joins, all of them to it", () => {
    const moved = moves(ZONES, REPLICAS.slice(0, 2), REPLICAS);
    expect(moved.length).toBeGreaterThanOrEqual(20);
    expect(moved.length).toBeLessThanOrEqual(47);
    for (const move of moved) expect(move.to).toBe(REPLICAS[2]);
    // Everything else stayed where it was.
    const before = assign(ZONES, REPLICAS.slice(0, 2));
    const after = assign(ZONES, REPLICAS);
    const movedZones = new Set(moved.map((move) => move.zone));
    for (const replica of REPLICAS.slice(0, 2)) {
      expect(after.get(replica)).toEqual(before.get(replica)!.filter((zone) => !movedZones.has(zone)));
    }
  });

  it("moves only the zones of a replica that leaves", () => {
    for (const leaving of REPLICAS) {
      const remaining = REPLICAS.filter((replica) => replica !== leaving);
      const moved = moves(ZONES, REPLICAS, remaining);
      expect(moved.map((move) => move.zone).sort()).toEqual(
        [...assign(ZONES, REPLICAS).get(leaving)!].sort(),
      );
      for (const move of moved) {
        expect(move.from).toBe(leaving);
        expect(remaining).toContain(move.to);
      }
    }
  });

  it("does not depend on the order replicas are listed in, nor on repeats", () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.string({ maxLength: 12 }), { maxLength: 30 }),
        fc.nat(),
        (replicas, zones, seed) => {
          const shuffled = [...replicas, replicas[seed % replicas.length]!].sort(
            (a, b) => hashString(a, seed) - hashString(b, seed),
          );
          const owners = zones.map((zone) => ownerOf(zone, replicas));
          expect(zones.map((zone) => ownerOf(zone, shuffled))).toEqual(owners);
          for (const owner of owners) expect(replicas).toContain(owner);
        },
      ),
    );
  });

  it("with no replica, has no owner and an empty placement", () => {
    expect(ownerOf(ZONES[0]!, [])).toBeUndefined();
    expect(assign(ZONES, []).size).toBe(0);
    expect(moves(ZONES.slice(0, 3), [], ["a"]).map((move) => move.from)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
  });

  it("gives every replica of a placement an entry, even when it runs nothing", () => {
    const placement = new Placement(["a", "b", "c", "d"]).assign(["1.1"]);
    expect([...placement.keys()]).toEqual(["a", "b", "c", "d"]);
    expect(zonesOf(placement)).toEqual(["1.1"]);
  });
});

/**
 * The server seeds only what peers cannot: it serves a chunk no peer of the requester's swarm has (and
 * hands each such chunk to one peer, not to all who ask at once), answers "ask-peers" otherwise, serves a
 * direct request after a failure within a budget, ignores peers the requester banned; in a simulated swarm
 * of 20 clients it sends about the asset once, where serving everyone would be 20 times.
 */
import { ManualClock, proximityGroup, proximityRank, SeedPolicy, type SwarmView } from "@overworld/swarm";
import { simulate } from "@overworld/swarm/sim";
import { describe, expect, it } from "vitest";

function view(holdings: Record<string, number[]>): SwarmView {
  const peers = Object.keys(holdings);
  return {
    neighbours: () => peers,
    has: (peer, chunk) => holdings[peer]?.includes(chunk) ?? false,
  };
}

describe("the seed policy", () => {
  it("serves what no peer holds, once, and sends the rest to the peers", () => {
    const clock = new ManualClock();
    const policy = new SeedPolicy(view({ a: [], b: [0], c: [] }), 8, clock);
    expect(policy.decide("a", 0, false)).toBe("ask-peers"); // b has it
    expect(policy.decide("a", 1, false)).toBe("serve"); // nobody has it
    expect(policy.decide("c", 1, false)).toBe("ask-peers"); // a was just handed it
    clock.advance(10_001);
    expect(policy.decide("c", 1, false)).toBe("serve"); // a never announced it: it counts no more
    policy.peerLeft("c");
    expect(policy.decide("a", 2, false)).toBe("serve");
    expect(policy.decide("b", 2, false)).toBe("ask-peers");
  });

  it("serves a direct request after a failure elsewhere within a budget, and ignores banned peers", () => {
    const clock = new ManualClock();
    // 8 chunks, a quarter direct: 2 direct requests per requester
    const policy = new SeedPolicy(view({ a: [], liar: [0, 1, 2, 3, 4, 5, 6, 7] }), 8, clock);
    expect(policy.decide("a", 0, true)).toBe("serve");
    expect(policy.decide("a", 1, true)).toBe("serve");
    expect(policy.decide("a", 2, true)).toBe("ask-peers");
    expect(policy.decide("a", 2, false)).toBe("ask-peers");
    policy.peerBanned("a", "liar");
    expect(policy.decide("a", 2, false)).toBe("serve");
  });

  it("lets 20 clients fetch an asset while the seed sends it about once", () => {
    const result = simulate({ peers: 20, assetBytes: 8 * 1024 * 1024, chunkSize: 64 * 1024, seed: 2 });
    expect(result.allFinished).toBe(true);
    expect(result.seedRatio).toBeLessThanOrEqual(1.5);
    const fromPeers = result.peers.reduce((sum, peer) => sum + peer.fromPeers, 0);
    expect(fromPeers).toBeGreaterThan(15 * result.assetBytes);
  });

  it("holds across several seeds of one cluster sharing one view", () => {
    const result = simulate({
      peers: 12,
      seeds: 3,
      assetBytes: 4 * 1024 * 1024,
      chunkSize: 64 * 1024,
      seed: 8,
    });
    expect(result.allFinished).toBe(true);
    expect(result.seedRatio).toBeLessThanOrEqual(1.5);
    const bySeed = new Map<string, number>();
    for (const peer of result.peers) {
      for (const [source, bytes] of peer.sources) {
        if (source.startsWith("seed")) bySeed.set(source, (bySeed.get(source) ?? 0) + bytes);
      }
    }
    expect([...bySeed.keys()].sort()).toEqual(["seed", "seed-1", "seed-2"]);
  });
});

describe("proximity", () => {
  it("ranks the same zone cell first, then neighbouring cells, then by round trip", () => {
    const me = { cell: [3, 3] as const };
    expect(proximityGroup(me, { cell: [3, 3] })).toBe(0);
    expect(proximityGroup(me, { cell: [4, 2] })).toBe(1);
    expect(proximityGroup(me, { cell: [6, 3] })).toBe(2);
    expect(proximityGroup(me, {})).toBe(2);
    const ranked = [
      { name: "far, quick", cell: [9, 9] as const, rttMs: 5 },
      { name: "near, slow", cell: [3, 4] as const, rttMs: 80 },
      { name: "same", cell: [3, 3] as const, rttMs: 200 },
      { name: "near, quick", cell: [2, 2] as const, rttMs: 10 },
    ].sort((a, b) => proximityRank(me, a) - proximityRank(me, b));
    expect(ranked.map((peer) => peer.name)).toEqual(["same", "near, quick", "near, slow", "far, quick"]);
  });

  it("makes peers of one zone cell fetch more from each other than from the other cell", () => {
    // two cells of six; without cells a peer's sources would be 5 of 11 near (45%)
    const cellOf = (id: string) => (Number(id.slice(5)) < 6 ? 0 : 1);
    const nearShare = (withCells: boolean) => {
      const result = simulate({
        peers: 12,
        assetBytes: 4 * 1024 * 1024,
        chunkSize: 64 * 1024,
        seed: 6,
        ...(withCells
          ? { cells: (peer: number) => (peer < 6 ? ([0, 0] as const) : ([10, 10] as const)) }
          : {}),
      });
      expect(result.allFinished).toBe(true);
      let near = 0;
      let far = 0;
      for (const peer of result.peers) {
        for (const [source, bytes] of peer.sources) {
          if (source === "seed") continue;
          if (cellOf(source) === cellOf(peer.id)) near += bytes;
          else far += bytes;
        }
      }
      return near / (near + far);
    };
    const without = nearShare(false);
    const within = nearShare(true);
    expect(without).toBeLessThan(0.5);
    expect(within).toBeGreaterThan(without + 0.08);
  });
});

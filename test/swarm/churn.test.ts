/**
 * Peers leaving mid-transfer do not stall the others: what was asked of them goes back to the pool when
 * their neighbours notice, and the chunks only they had come from the seed.
 */
import { simulate } from "@overworld/swarm/sim";
import { describe, expect, it } from "vitest";

const ASSET = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

describe("a peer leaving mid-transfer", () => {
  it("does not stall the others", () => {
    const calm = simulate({ peers: 12, assetBytes: ASSET, chunkSize: CHUNK, seed: 5 });
    expect(calm.allFinished).toBe(true);
    // three peers leave for good at about a third of the way, with requests of others outstanding
    const leaveAt = calm.p50Ms / 3;
    const churned = simulate({
      peers: 12,
      assetBytes: ASSET,
      chunkSize: CHUNK,
      seed: 5,
      departures: [0, 1, 2].map((peer) => ({ peer, atMs: leaveAt })),
    });
    const stayed = churned.peers.filter((peer) => !["peer-0", "peer-1", "peer-2"].includes(peer.id));
    expect(stayed.every((peer) => peer.finishedAt !== undefined)).toBe(true);
    const slowest = Math.max(...stayed.map((peer) => peer.finishedAt! - peer.startedAt));
    // they finish in about the same time (fewer uploaders: allowed up to twice), not after time-outs pile up
    expect(slowest).toBeLessThan(2 * calm.p99Ms);
    expect(churned.seedRatio).toBeLessThan(2);
  });

  it("with loss and random churn, every peer still finishes", () => {
    const result = simulate({
      peers: 15,
      assetBytes: ASSET,
      chunkSize: CHUNK,
      seed: 9,
      loss: 0.05,
      churn: { share: 0.3, withinMs: 3000, awayMs: 2000 },
    });
    expect(result.allFinished).toBe(true);
    expect(result.seedRatio).toBeLessThan(2.5);
  });
});

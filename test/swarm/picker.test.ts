/**
 * Rarest first, as properties over random swarms (fast-check): a download never asks a peer for a chunk
 * that peer did not advertise, nor one it has; each chunk it asks an ordinary peer for is one of the rarest
 * that peer could give; the server is asked only for what no peer has; the same seed gives the same picks.
 */
import { ChunkSet, Download, ManualClock, PiecePicker, Random, virtualTable } from "@overworld/swarm";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

const swarm = fc.record({
  size: fc.integer({ min: 1, max: 60 }),
  seed: fc.integer(),
  peers: fc.array(fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }), { minLength: 1, maxLength: 8 }),
  have: fc.array(fc.boolean(), { minLength: 60, maxLength: 60 }),
  withServer: fc.boolean(),
});

function setOf(size: number, bits: readonly boolean[]): ChunkSet {
  return ChunkSet.of(
    size,
    bits.slice(0, size).flatMap((bit, index) => (bit ? [index] : [])),
  );
}

describe("the piece picker", () => {
  it("never asks for a chunk nobody advertises, prefers the rarest, and asks the server only for what no peer has", () => {
    fc.assert(
      fc.property(swarm, ({ size, seed, peers, have, withServer }) => {
        const table = virtualTable(size * 1000, 1000);
        const mine = setOf(size, have);
        const download = new Download({
          table,
          clock: new ManualClock(),
          random: new Random(seed),
          have: mine,
        });
        const sets = peers.map((bits) => setOf(size, bits));
        for (const [index, has] of sets.entries()) download.addPeer(`p${index}`, { has });
        if (withServer) download.addPeer("server", { has: ChunkSet.full(size), server: true });
        const availability = (chunk: number) => sets.filter((has) => has.has(chunk)).length;
        const requests = download.requests();
        const asked = new Set<number>();
        for (const request of requests) {
          expect(mine.has(request.chunk)).toBe(false);
          if (request.peer === "server") {
            expect(availability(request.chunk)).toBe(0);
            continue;
          }
          const has = sets[Number(request.peer.slice(1))]!;
          expect(has.has(request.chunk)).toBe(true);
          // rarest: no chunk this peer could have been asked instead (missing, not asked yet) is rarer
          for (let chunk = 0; chunk < size; chunk++) {
            if (has.has(chunk) && !mine.has(chunk) && !asked.has(chunk)) {
              expect(availability(chunk)).toBeGreaterThanOrEqual(availability(request.chunk));
            }
          }
          asked.add(request.chunk);
        }
        // no peer is left idle with a chunk it could give that nobody was asked for
        const askedNow = new Set(requests.map((request) => request.chunk));
        sets.forEach((has, index) => {
          if (download.pipeline.outstanding(`p${index}`) >= 2) return;
          for (const chunk of has) expect(mine.has(chunk) || askedNow.has(chunk)).toBe(true);
        });
      }),
      { numRuns: 300 },
    );
  });

  it("breaks ties at random, the same way for the same seed", () => {
    const picks = (seed: number) => {
      const picker = new PiecePicker(100, new Random(seed));
      return Array.from({ length: 20 }, () => picker.pick(() => true));
    };
    expect(picks(1)).toEqual(picks(1));
    expect(new Set(picks(1)).size).toBeGreaterThan(10);
    expect(picks(1)).not.toEqual(picks(2));
  });

  it("in endgame asks a second peer for chunks already asked, at most twice each", () => {
    const table = virtualTable(4000, 1000);
    const download = new Download({ table, clock: new ManualClock(), random: new Random(1) });
    download.addPeer("a", { has: ChunkSet.full(4) });
    const first = download.requests();
    expect(first.map((request) => request.peer)).toEqual(["a", "a"]);
    download.addPeer("b", { has: ChunkSet.full(4) });
    download.addPeer("c", { has: ChunkSet.full(4) });
    const second = download.requests();
    // two chunks were not asked yet: b and c take those first, then (endgame) duplicate a's
    const byChunk = new Map<number, number>();
    for (const request of [...first, ...second])
      byChunk.set(request.chunk, (byChunk.get(request.chunk) ?? 0) + 1);
    expect([...byChunk.keys()].sort()).toEqual([0, 1, 2, 3]);
    expect(Math.max(...byChunk.values())).toBe(2);
    for (const request of second)
      download.received(request.peer, request.chunk, { size: 1000, intact: true });
    for (const request of first)
      expect(["verified", "duplicate"]).toContain(
        download.received("a", request.chunk, { size: 1000, intact: true }),
      );
    expect(download.done).toBe(true);
  });
});

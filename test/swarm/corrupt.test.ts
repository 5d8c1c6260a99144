/**
 * A peer serving corrupt chunks: each bad chunk fails its SHA-256, is dropped, costs its sender, and is
 * fetched from someone else; after the threshold the sender is banned. In a simulated swarm carrying real
 * bytes, every honest peer still ends with the asset byte for byte.
 */
import { ChunkSet, Download, ManualClock, Random } from "@overworld/swarm";
import { simulate } from "@overworld/swarm/sim";
import { describe, expect, it } from "vitest";
import { chunkBytes, realAsset } from "./support.ts";

describe("a peer serving corrupt chunks", () => {
  it("is penalised, banned after the threshold, and its chunks are fetched from someone else", () => {
    const { bytes, table } = realAsset(16 * 1024, 1024);
    const download = new Download({ table, clock: new ManualClock(), random: new Random(3) });
    download.addPeer("liar", { has: ChunkSet.full(16) });
    download.addPeer("honest", { has: ChunkSet.full(16) });

    const first = download.requests();
    const fromLiar = first.filter((request) => request.peer === "liar");
    expect(fromLiar.length).toBeGreaterThanOrEqual(2);
    const [bad1, bad2] = fromLiar;
    const flipped = chunkBytes(bytes, table, bad1!.chunk);
    flipped[0]! ^= 1;
    expect(download.received("liar", bad1!.chunk, flipped)).toBe("corrupt");
    expect(download.have.has(bad1!.chunk)).toBe(false);
    expect(download.scores.score("liar")).toBeLessThan(0);
    expect(download.scores.banned("liar")).toBe(false);

    // the chunk goes to someone else: the liar is never asked for it again
    for (const request of first.filter((request) => request.peer === "honest")) {
      download.received("honest", request.chunk, chunkBytes(bytes, table, request.chunk));
    }
    const next = download.requests();
    expect(next.some((request) => request.peer === "liar" && request.chunk === bad1!.chunk)).toBe(false);
    for (const request of next.filter((request) => request.peer === "honest")) {
      download.received("honest", request.chunk, chunkBytes(bytes, table, request.chunk));
    }

    // a second corrupt chunk (a wrong length this time) bans it: dropped from the download
    expect(download.received("liar", bad2!.chunk, new Uint8Array(10))).toBe("corrupt");
    expect(download.scores.banned("liar")).toBe(true);
    expect(download.peers()).toEqual(["honest"]);
    // what it says now is ignored, and it cannot come back
    download.addPeer("liar", { has: ChunkSet.full(16) });
    expect(download.peers()).toEqual(["honest"]);

    for (let rounds = 0; !download.done && rounds < 100; rounds++) {
      for (const request of download.requests()) {
        expect(request.peer).toBe("honest");
        download.received("honest", request.chunk, chunkBytes(bytes, table, request.chunk));
      }
    }
    expect(download.done).toBe(true);
    expect(download.progress()).toMatchObject({ bytesDone: 16 * 1024, wasted: 1024 + 10 });
  });

  it("is avoided in a swarm: every honest peer ends with the asset byte for byte", () => {
    const { bytes } = realAsset(512 * 1024, 8 * 1024);
    const result = simulate({ peers: 10, bytes, chunkSize: 8 * 1024, corrupt: [0, 1], seed: 11 });
    expect(result.allFinished).toBe(true);
    expect(result.identical).toBe(true);
    const honest = result.peers.filter((peer) => !peer.corrupt);
    // some honest peers were fed corrupt chunks, dropped them and banned the liars
    expect(honest.some((peer) => peer.wasted > 0)).toBe(true);
    const banned = new Set(honest.flatMap((peer) => peer.banned));
    expect([...banned].sort()).toEqual(["peer-0", "peer-1"]);
    for (const peer of honest) {
      for (const id of peer.banned) expect(["peer-0", "peer-1"]).toContain(id);
    }
  });
});

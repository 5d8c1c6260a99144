/**
 * Nothing a peer sends is trusted: a have-set of the wrong length or with bits past the asset's end is
 * refused, an announcement of a chunk that does not exist is ignored, a chunk nobody asked that peer for is
 * dropped unused (it cannot fill a hole with bytes it chose), and a refusal for a request never made
 * changes nothing. The game sees progress events: bytes, peers, rate.
 */
import { ChunkSet, Download, ManualClock, type Progress, Random, virtualTable } from "@overworld/swarm";
import { describe, expect, it } from "vitest";
import { chunkBytes, realAsset } from "./support.ts";

describe("what peers send", () => {
  it("is checked before it counts", () => {
    expect(() => ChunkSet.fromBits(10, new Uint8Array(1))).toThrow(
      "a have-set of 10 chunks is 2 bytes, not 1",
    );
    expect(() => ChunkSet.fromBits(10, new Uint8Array([0xff, 0b00000111]))).toThrow(
      "a have-set of 10 chunks has bits set past its end",
    );
    expect([...ChunkSet.fromBits(10, new Uint8Array([0b101, 0b10]))]).toEqual([0, 2, 9]);
    expect(() => new ChunkSet(4).add(4)).toThrow("chunk 4 is not one of the 4 chunks");

    const { bytes, table } = realAsset(4 * 1024, 1024);
    const download = new Download({ table, clock: new ManualClock(), random: new Random(1) });
    expect(() => download.addPeer("odd", { has: ChunkSet.full(5) })).toThrow(
      "peer odd announced 5 chunks, the asset has 4",
    );
    download.addPeer("p", { has: new ChunkSet(4) });
    download.peerHas("p", 99);
    download.peerHas("p", -1);
    expect(download.availability(0)).toBe(0);
    expect(download.requests()).toEqual([]);

    // a chunk it was not asked for: dropped, even with the right bytes
    expect(download.received("p", 0, chunkBytes(bytes, table, 0))).toBe("unrequested");
    expect(download.received("stranger", 1, chunkBytes(bytes, table, 1))).toBe("unrequested");
    expect(download.have.count).toBe(0);
    download.refused("p", 2, "not-held");
    expect(download.pipeline.total).toBe(0);

    download.peerHas("p", 3);
    const [request] = download.requests();
    expect(request).toEqual({ peer: "p", chunk: 3, direct: false });
    // an answer for another chunk than the one asked is not the one asked
    expect(download.received("p", 2, chunkBytes(bytes, table, 2))).toBe("unrequested");
    expect(download.received("p", 3, chunkBytes(bytes, table, 3))).toBe("verified");
  });
});

describe("progress", () => {
  it("reports bytes, peers and the rate to the game", () => {
    const clock = new ManualClock();
    const events: Progress[] = [];
    const table = virtualTable(10_000, 1000);
    const download = new Download({
      table,
      clock,
      random: new Random(1),
      onProgress: (progress) => events.push(progress),
    });
    download.addPeer("a", { has: ChunkSet.full(10) });
    download.addPeer("b", { has: ChunkSet.full(10) });
    download.addPeer("seed", { has: ChunkSet.full(10), server: true });
    expect(events.at(-1)).toMatchObject({ peers: 2, bytesDone: 0, bytesTotal: 10_000, done: false });
    for (const request of download.requests()) {
      clock.advance(100);
      download.received(request.peer, request.chunk, { size: 1000, intact: true });
    }
    const last = events.at(-1)!;
    expect(last.chunksDone).toBe(4);
    expect(last.bytesDone).toBe(4000);
    expect(last.fromPeers).toBe(4000);
    // 4,000 bytes within the last two seconds
    expect(last.rate).toBe(2000);
    clock.advance(5000);
    expect(download.progress().rate).toBe(0);
    download.removePeer("b");
    expect(events.at(-1)!.peers).toBe(1);
  });
});

/**
 * Resume: a download's state is the chunks on disk that verify. A download stopped halfway and started
 * again (a new process: nothing but the files) asks only for what is missing, and for a chunk changed on
 * disk since; in a swarm, a peer that leaves and comes back fetches only what it did not have.
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkSet, Download, FileChunkStore, ManualClock, Random, verifiedChunks } from "@overworld/swarm";
import { simulate } from "@overworld/swarm/sim";
import { afterAll, describe, expect, it } from "vitest";
import { chunkBytes, realAsset } from "./support.ts";

const root = mkdtempSync(join(tmpdir(), "overworld-swarm-resume-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("resume after an interruption", () => {
  it("fetches only the chunks missing or damaged on disk", async () => {
    const { bytes, table } = realAsset(40 * 1024 + 100, 1024);
    const count = table.chunks.length;
    const store = new FileChunkStore(join(root, "download"), table);

    const first = new Download({ table, clock: new ManualClock(), random: new Random(1) });
    first.addPeer("seed", { has: ChunkSet.full(count), server: true });
    first.addPeer("peer", { has: ChunkSet.full(count) });
    let stored = 0;
    outer: for (;;) {
      for (const request of first.requests()) {
        const chunk = chunkBytes(bytes, table, request.chunk);
        expect(first.received(request.peer, request.chunk, chunk)).toBe("verified");
        await store.write(table.chunks[request.chunk]!, chunk);
        if (++stored === 25) break outer;
      }
    }
    // the process stops; one stored chunk is damaged on disk meanwhile
    const damaged = [...first.have][3]!;
    const fd = openSync(join(root, "download", "asset.bin"), "r+");
    writeSync(fd, Buffer.from("garbage"), 0, 7, table.chunks[damaged]!.offset);
    closeSync(fd);

    const have = await verifiedChunks(table, store);
    expect(have.count).toBe(24);
    expect(have.has(damaged)).toBe(false);
    const second = new Download({ table, clock: new ManualClock(), random: new Random(2), have });
    expect(second.progress().bytesDone).toBe(
      [...have].reduce((sum, index) => sum + table.chunks[index]!.size, 0),
    );
    second.addPeer("peer", { has: ChunkSet.full(count) });
    const asked: number[] = [];
    while (!second.done) {
      const requests = second.requests();
      expect(requests.length).toBeGreaterThan(0);
      for (const request of requests) {
        asked.push(request.chunk);
        const chunk = chunkBytes(bytes, table, request.chunk);
        expect(second.received(request.peer, request.chunk, chunk)).toBe("verified");
        await store.write(table.chunks[request.chunk]!, chunk);
      }
    }
    const missing = table.chunks.map((chunk) => chunk.index).filter((index) => !have.has(index));
    expect(asked.sort((a, b) => a - b)).toEqual(missing);
    expect(missing).toContain(damaged);
    expect(Buffer.from(readFileSync(join(root, "download", "asset.bin"))).equals(Buffer.from(bytes))).toBe(
      true,
    );
  });

  it("writes chunks in any order, at once, into the asset's files; refuses a path that leaves its folder", async () => {
    const { bytes, table } = realAsset(9 * 1024 + 7, 1024);
    const store = new FileChunkStore(join(root, "concurrent", "nested"), table);
    await Promise.all(
      [...table.chunks].reverse().map((chunk) => store.write(chunk, chunkBytes(bytes, table, chunk.index))),
    );
    expect(
      Buffer.from(readFileSync(join(root, "concurrent", "nested", "asset.bin"))).equals(Buffer.from(bytes)),
    ).toBe(true);
    expect((await verifiedChunks(table, store)).complete).toBe(true);
    const escaping = { ...table, chunks: [{ ...table.chunks[0]!, path: "../outside.bin" }] };
    expect(() => new FileChunkStore(join(root, "x"), escaping)).toThrow(
      "the asset's path '../outside.bin' would leave",
    );
  });

  it("in a swarm: a peer that leaves and comes back asks only for what it did not hold", () => {
    const { bytes } = realAsset(1024 * 1024, 16 * 1024);
    const calm = simulate({ peers: 6, bytes, chunkSize: 16 * 1024, seed: 4 });
    const away = calm.p50Ms / 2;
    const result = simulate({
      peers: 6,
      bytes,
      chunkSize: 16 * 1024,
      seed: 4,
      departures: [{ peer: 2, atMs: away, backAtMs: away + 1500 }],
    });
    expect(result.allFinished).toBe(true);
    expect(result.identical).toBe(true);
    const peer = result.peers[2]!;
    expect(peer.resumes).toHaveLength(1);
    const { held, askedFrom } = peer.resumes[0]!;
    expect(held.length).toBeGreaterThan(0);
    expect(held.length).toBeLessThan(64);
    const askedAfter = new Set(peer.asked.slice(askedFrom));
    expect(held.filter((index) => askedAfter.has(index))).toEqual([]);
    // after coming back it took in exactly the chunks it lacked
    expect(peer.fromPeers + peer.fromServer).toBe((64 - held.length) * 16 * 1024);
  });
});

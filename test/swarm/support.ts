/** What the swarm tests share: a real asset's bytes and chunk table, and a download driven by hand. */
import { randomBytes } from "node:crypto";
import { describeBytes, type Manifest } from "@overworld/manifest";
import { type ChunkTable, chunkTable, type Download } from "@overworld/swarm";

export function realAsset(size: number, chunkSize: number): { bytes: Uint8Array; table: ChunkTable } {
  const bytes = new Uint8Array(randomBytes(size));
  const manifest: Manifest = {
    format: 1,
    kind: "asset",
    name: "test-asset",
    version: "1.0.0",
    chunkSize,
    files: [describeBytes("asset.bin", bytes, chunkSize)],
  };
  return { bytes, table: chunkTable(manifest) };
}

export function chunkBytes(bytes: Uint8Array, table: ChunkTable, index: number): Uint8Array {
  const chunk = table.chunks[index]!;
  return bytes.slice(chunk.offset, chunk.offset + chunk.size);
}

/** Answers every request of `download` from `bytes` until it is done (or `stopAfter` chunks); what was asked. */
export function serveAll(
  download: Download,
  bytes: Uint8Array,
  stopAfter = Number.POSITIVE_INFINITY,
): number[] {
  const asked: number[] = [];
  let served = 0;
  for (;;) {
    const requests = download.requests();
    if (requests.length === 0) return asked;
    for (const request of requests) {
      asked.push(request.chunk);
      if (served >= stopAfter) return asked;
      download.received(request.peer, request.chunk, chunkBytes(bytes, download.table, request.chunk));
      served++;
    }
  }
}

/**
 * Resume: a download's state is the set of chunks on disk that verify, nothing else (no journal to fall
 * out of step with the files). A restarted download reads each chunk back, keeps those whose SHA-256 is the
 * manifest's and fetches the rest; a chunk half-written when it stopped, or changed since, is fetched again.
 */
import { sha256 } from "@overworld/manifest";
import { type Chunk, ChunkSet, type ChunkTable } from "./chunks.ts";
import type { ChunkStore } from "./store.ts";

/** True when `bytes` are `chunk` as the manifest describes it. */
export function chunkVerifies(chunk: Chunk, bytes: Uint8Array): boolean {
  return bytes.length === chunk.size && sha256(bytes) === chunk.sha256;
}

/** The chunks `store` already holds intact. */
export async function verifiedChunks(table: ChunkTable, store: ChunkStore): Promise<ChunkSet> {
  const have = new ChunkSet(table.chunks.length);
  for (const chunk of table.chunks) {
    const bytes = await store.read(chunk);
    if (bytes !== undefined && chunkVerifies(chunk, bytes)) have.add(chunk.index);
  }
  return have;
}

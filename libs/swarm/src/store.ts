/**
 * Where a download keeps its chunks: in memory (a simulation, a test, a browser), or in the asset's files on
 * disk, each chunk written at its offset (the files are made at their full size, sparse, so a chunk can
 * land before those ahead of it). A store holds no other state: what a download has is what verifies
 * (resume.ts).
 */
import { mkdir, open } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { Chunk, ChunkTable } from "./chunks.ts";

export interface ChunkStore {
  read(chunk: Chunk): Promise<Uint8Array | undefined>;
  write(chunk: Chunk, bytes: Uint8Array): Promise<void>;
}

export class MemoryChunkStore implements ChunkStore {
  readonly chunks = new Map<number, Uint8Array>();

  async read(chunk: Chunk): Promise<Uint8Array | undefined> {
    return this.chunks.get(chunk.index);
  }

  async write(chunk: Chunk, bytes: Uint8Array): Promise<void> {
    this.chunks.set(chunk.index, bytes);
  }
}

/** The asset's files under `dir`, as the manifest names them. */
export class FileChunkStore implements ChunkStore {
  constructor(
    readonly dir: string,
    private readonly table: ChunkTable,
  ) {}

  #file(chunk: Chunk): string {
    return join(this.dir, ...chunk.path.split("/"));
  }

  async read(chunk: Chunk): Promise<Uint8Array | undefined> {
    const handle = await open(this.#file(chunk), "r").catch(() => undefined);
    if (handle === undefined) return undefined;
    try {
      const bytes = Buffer.alloc(chunk.size);
      const { bytesRead } = await handle.read(bytes, 0, chunk.size, chunk.offset);
      return bytesRead === chunk.size ? new Uint8Array(bytes) : undefined;
    } finally {
      await handle.close();
    }
  }

  async write(chunk: Chunk, bytes: Uint8Array): Promise<void> {
    const file = this.#file(chunk);
    await mkdir(dirname(file), { recursive: true });
    const handle = await open(file, "r+").catch(() => open(file, "wx+"));
    try {
      const size = this.#fileSize(chunk.path);
      if ((await handle.stat()).size < size) await handle.truncate(size);
      await handle.write(bytes, 0, bytes.length, chunk.offset);
    } finally {
      await handle.close();
    }
  }

  #fileSize(path: string): number {
    let size = 0;
    for (const chunk of this.table.chunks) if (chunk.path === path) size = chunk.offset + chunk.size;
    return size;
  }
}

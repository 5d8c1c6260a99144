/**
 * Where a download keeps its chunks: in memory (a simulation, a test, a browser), or in the asset's files on
 * disk, each chunk written at its offset (the files are made at their full size, sparse, so a chunk can
 * land before those ahead of it). A store holds no other state: what a download has is what verifies
 * (resume.ts).
 */
import { mkdir, open } from "node:fs/promises";
import { dirname, isAbsolute, join } from "node:path";
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
  /** path -> the file's full size */
  readonly #sizes = new Map<string, number>();

  constructor(
    readonly dir: string,
    table: ChunkTable,
  ) {
    for (const chunk of table.chunks) {
      // a verified manifest's paths never leave DIR; a table made otherwise is checked here too
      const segments = chunk.path.split("/");
      if (
        segments.some((segment) => segment === "" || segment === "." || segment === "..") ||
        isAbsolute(chunk.path)
      ) {
        throw new Error(
          `the asset's path '${chunk.path}' would leave ${dir}: a path is relative, without '.' or '..'`,
        );
      }
      this.#sizes.set(chunk.path, chunk.offset + chunk.size);
    }
  }

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
    // made if missing (by whichever of two concurrent writes gets there first)
    const handle = await open(file, "r+").catch(() => open(file, "wx+").catch(() => open(file, "r+")));
    try {
      const size = this.#sizes.get(chunk.path) ?? 0;
      if ((await handle.stat()).size < size) await handle.truncate(size);
      await handle.write(bytes, 0, bytes.length, chunk.offset);
    } finally {
      await handle.close();
    }
  }
}

/**
 * An asset as the swarm sees it: one flat list of chunks over the manifest's files (the files in manifest
 * order, each file's chunks in order), each with its SHA-256, and sets of chunk indexes (what a peer has).
 */
import type { Manifest } from "@overworld/manifest";

export interface Chunk {
  readonly index: number;
  /** The manifest file it belongs to, and where in it. */
  readonly path: string;
  readonly offset: number;
  readonly size: number;
  /** Its SHA-256 as the manifest says (64 hex digits); empty in a simulation without real bytes. */
  readonly sha256: string;
}

export interface ChunkTable {
  readonly chunks: readonly Chunk[];
  readonly totalBytes: number;
}

/** The chunks of a (verified) manifest. */
export function chunkTable(manifest: Manifest): ChunkTable {
  const chunks: Chunk[] = [];
  let totalBytes = 0;
  for (const file of manifest.files) {
    file.chunks.forEach((sha256, at) => {
      const offset = at * manifest.chunkSize;
      chunks.push({
        index: chunks.length,
        path: file.path,
        offset,
        size: Math.min(manifest.chunkSize, file.size - offset),
        sha256,
      });
    });
    totalBytes += file.size;
  }
  return { chunks, totalBytes };
}

/** A table of `size` bytes in chunks of `chunkSize`, without hashes (a simulation's virtual asset). */
export function virtualTable(size: number, chunkSize: number, path = "asset.bin"): ChunkTable {
  const chunks: Chunk[] = [];
  for (let offset = 0; offset < size; offset += chunkSize) {
    chunks.push({ index: chunks.length, path, offset, size: Math.min(chunkSize, size - offset), sha256: "" });
  }
  return { chunks, totalBytes: size };
}

/** A set of chunk indexes below `size`, as a bit field (what a peer has, announced as such). */
export class ChunkSet {
  readonly #bits: Uint8Array;
  #count = 0;

  constructor(readonly size: number) {
    this.#bits = new Uint8Array(Math.ceil(size / 8));
  }

  static full(size: number): ChunkSet {
    const set = new ChunkSet(size);
    for (let index = 0; index < size; index++) set.add(index);
    return set;
  }

  static of(size: number, indexes: Iterable<number>): ChunkSet {
    const set = new ChunkSet(size);
    for (const index of indexes) set.add(index);
    return set;
  }

  /** The set a peer announced as a bit field; throws if it does not fit `size` chunks. */
  static fromBits(size: number, bits: Uint8Array): ChunkSet {
    if (bits.length !== Math.ceil(size / 8)) {
      throw new Error(`a have-set of ${size} chunks is ${Math.ceil(size / 8)} bytes, not ${bits.length}`);
    }
    const set = new ChunkSet(size);
    for (let index = 0; index < size; index++) if ((bits[index >> 3]! >> (index & 7)) & 1) set.add(index);
    if (bits.length > 0 && size % 8 !== 0 && bits[bits.length - 1]! >> (size % 8) !== 0) {
      throw new Error(`a have-set of ${size} chunks has bits set past its end`);
    }
    return set;
  }

  get count(): number {
    return this.#count;
  }

  get complete(): boolean {
    return this.#count === this.size;
  }

  has(index: number): boolean {
    return index >= 0 && index < this.size && ((this.#bits[index >> 3]! >> (index & 7)) & 1) === 1;
  }

  /** Adds `index`; false if it was there already. */
  add(index: number): boolean {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) {
      throw new RangeError(`chunk ${index} is not one of the ${this.size} chunks`);
    }
    if (this.has(index)) return false;
    this.#bits[index >> 3]! |= 1 << (index & 7);
    this.#count++;
    return true;
  }

  delete(index: number): boolean {
    if (!this.has(index)) return false;
    this.#bits[index >> 3]! &= ~(1 << (index & 7));
    this.#count--;
    return true;
  }

  *[Symbol.iterator](): IterableIterator<number> {
    for (let index = 0; index < this.size; index++) if (this.has(index)) yield index;
  }

  /** The bit field to announce. */
  bits(): Uint8Array {
    return this.#bits.slice();
  }

  clone(): ChunkSet {
    return ChunkSet.fromBits(this.size, this.#bits);
  }
}

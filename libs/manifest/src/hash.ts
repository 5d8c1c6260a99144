/** SHA-256 (libsodium) of files and their chunks, as manifests list them. */
import { open } from "node:fs/promises";
import sodium from "sodium-native";
import type { ManifestFile } from "./manifest.ts";

/** The SHA-256 of `bytes`, 64 lower-case hex digits. */
export function sha256(bytes: Uint8Array): string {
  const out = Buffer.alloc(sodium.crypto_hash_sha256_BYTES);
  sodium.crypto_hash_sha256(out, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  return out.toString("hex");
}

/** SHA-256 over several pieces, in order, as if they were one. */
class Sha256 {
  readonly #state = Buffer.alloc(sodium.crypto_hash_sha256_STATEBYTES);
  constructor() {
    sodium.crypto_hash_sha256_init(this.#state);
  }
  update(bytes: Uint8Array): void {
    sodium.crypto_hash_sha256_update(
      this.#state,
      Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    );
  }
  digest(): string {
    const out = Buffer.alloc(sodium.crypto_hash_sha256_BYTES);
    sodium.crypto_hash_sha256_final(this.#state, out);
    return out.toString("hex");
  }
}

/** The manifest entry of a file held in memory. */
export function describeBytes(path: string, bytes: Uint8Array, chunkSize: number): ManifestFile {
  const chunks: string[] = [];
  for (let start = 0; start < bytes.length; start += chunkSize) {
    chunks.push(sha256(bytes.subarray(start, start + chunkSize)));
  }
  return { path, size: bytes.length, sha256: sha256(bytes), chunks };
}

/** The manifest entry of a file on disk, read one chunk at a time (assets may be large). */
export async function describeFile(path: string, file: string, chunkSize: number): Promise<ManifestFile> {
  const handle = await open(file, "r");
  try {
    const whole = new Sha256();
    const chunks: string[] = [];
    const buffer = Buffer.alloc(chunkSize);
    let size = 0;
    for (;;) {
      let filled = 0;
      while (filled < chunkSize) {
        const { bytesRead } = await handle.read(buffer, filled, chunkSize - filled, size + filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      if (filled === 0) break;
      const chunk = buffer.subarray(0, filled);
      whole.update(chunk);
      chunks.push(sha256(chunk));
      size += filled;
      if (filled < chunkSize) break;
    }
    return { path, size, sha256: whole.digest(), chunks };
  } finally {
    await handle.close();
  }
}

/**
 * What is wrong with `bytes` as the file `entry` describes (its size, a chunk, its whole hash), in words;
 * null when they match.
 */
export function fileMismatch(entry: ManifestFile, bytes: Uint8Array, chunkSize: number): string | null {
  if (bytes.length !== entry.size) {
    return `file ${entry.path} is ${bytes.length} bytes, the manifest says ${entry.size}`;
  }
  for (let index = 0; index < entry.chunks.length; index++) {
    const got = sha256(bytes.subarray(index * chunkSize, (index + 1) * chunkSize));
    if (got !== entry.chunks[index]) {
      return `file ${entry.path}: chunk ${index} has SHA-256 ${got}, the manifest says ${entry.chunks[index]}`;
    }
  }
  const got = sha256(bytes);
  if (got !== entry.sha256) return `file ${entry.path} has SHA-256 ${got}, the manifest says ${entry.sha256}`;
  return null;
}

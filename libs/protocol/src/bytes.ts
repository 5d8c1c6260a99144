/** True when the two hold the same bytes (whatever their buffers). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/** The bytes as lowercase hexadecimal. */
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

/** How much a slab holds: small copies share one allocation (and one garbage collection) in this much. */
const SLAB_BYTES = 64 * 1024;
const EMPTY_SLAB = new Uint8Array(0);

/**
 * Copies of small byte runs carved out of shared 64 KiB slabs, as Node's Buffer pool does: one allocation
 * for dozens of copies instead of one each (zero-filling and collecting typed arrays one by one is what a
 * per-packet path spends most on). A copy keeps its slab alive as long as it lives.
 */
export class ByteSlab {
  /** Allocated on the first copy: an owner that never copies (a session that only listens) costs nothing. */
  private slab = EMPTY_SLAB;
  private used = 0;

  /** A copy of `bytes`: a view of its own bytes, which nothing else ever writes. */
  copy(bytes: Uint8Array): Uint8Array {
    const copy = this.alloc(bytes.length);
    copy.set(bytes);
    return copy;
  }

  /**
   * `size` fresh zero bytes of their own for the caller to write (a packet sealed straight into them): no
   * part of a slab is ever handed out twice, so what the caller keeps or gives away (to a socket still
   * sending it) stays as written.
   */
  alloc(size: number): Uint8Array {
    if (size > SLAB_BYTES / 4) return new Uint8Array(size);
    if (this.used + size > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.used = 0;
    }
    const bytes = this.slab.subarray(this.used, this.used + size);
    this.used += size;
    return bytes;
  }
}

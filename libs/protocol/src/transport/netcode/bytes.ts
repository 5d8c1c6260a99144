/**
 * Little-endian cursors over fixed-size buffers. netcode layouts are fixed, so readers check a buffer's size
 * once before reading; the cursors still refuse to step outside their buffer (a RangeError is a bug in the
 * caller, never a reaction to network input).
 */

export class ByteWriter {
  readonly bytes: Uint8Array;
  private readonly view: DataView;
  private position = 0;

  /** A zero-filled buffer of `size` bytes; whatever is not written stays zero (the standard's padding). */
  constructor(size: number) {
    this.bytes = new Uint8Array(size);
    this.view = new DataView(this.bytes.buffer);
  }

  get offset(): number {
    return this.position;
  }

  u8(value: number): this {
    this.view.setUint8(this.claim(1), value);
    return this;
  }

  u16(value: number): this {
    this.view.setUint16(this.claim(2), value, true);
    return this;
  }

  u32(value: number): this {
    this.view.setUint32(this.claim(4), value >>> 0, true);
    return this;
  }

  u64(value: bigint): this {
    this.view.setBigUint64(this.claim(8), value, true);
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.bytes.set(bytes, this.claim(bytes.length));
    return this;
  }

  private claim(size: number): number {
    const at = this.position;
    if (at + size > this.bytes.length) {
      throw new RangeError(
        `cannot write ${size} bytes at offset ${at} of a ${this.bytes.length}-byte buffer`,
      );
    }
    this.position = at + size;
    return at;
  }
}

export class ByteReader {
  private readonly view: DataView;
  private position: number;

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.position = start;
  }

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  u8(): number {
    return this.view.getUint8(this.claim(1));
  }

  u16(): number {
    return this.view.getUint16(this.claim(2), true);
  }

  u32(): number {
    return this.view.getUint32(this.claim(4), true);
  }

  /** A uint32 field read as a signed 32-bit integer (the standard's timeout seconds: negative disables). */
  i32(): number {
    return this.view.getInt32(this.claim(4), true);
  }

  u64(): bigint {
    return this.view.getBigUint64(this.claim(8), true);
  }

  /** A copy of the next `size` bytes, so the result never aliases a reused network buffer. */
  raw(size: number): Uint8Array {
    const at = this.claim(size);
    return this.bytes.slice(at, at + size);
  }

  private claim(size: number): number {
    const at = this.position;
    if (at + size > this.bytes.length) {
      throw new RangeError(`cannot read ${size} bytes at offset ${at} of a ${this.bytes.length}-byte buffer`);
    }
    this.position = at + size;
    return at;
  }
}

export { bytesEqual } from "../../bytes.ts";

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

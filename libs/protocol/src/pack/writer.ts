/**
 * A growable little-endian byte buffer. Codecs append to it; services reuse one writer to pack many
 * updates into one datagram. The writer checks nothing about values: the codecs validate first.
 */

const INITIAL_CAPACITY = 256;
/** Strings at most this long are encoded by hand; longer ones go through TextEncoder. */
const SHORT_TEXT = 64;
/** Worst case UTF-8 bytes per UTF-16 code unit. */
const MAX_UTF8_PER_UNIT = 3;
/** A varuint carries 7 bits a byte; the high bit says another byte follows. */
const VARUINT_PAYLOAD = 0x7f;
const VARUINT_MORE = 0x80;
const VARUINT_SCALE = 0x80;
/** Enough bytes for any safe integer (53 bits, 7 a byte). */
const MAX_VARUINT_BYTES = 8;

const encoder = new TextEncoder();

export class DatagramWriter {
  private buffer: Uint8Array;
  private data: DataView;
  /** The number of bytes written so far (also where the next byte goes). */
  position = 0;

  constructor(capacity = INITIAL_CAPACITY) {
    this.buffer = new Uint8Array(Math.max(1, capacity));
    this.data = new DataView(this.buffer.buffer);
  }

  get length(): number {
    return this.position;
  }

  get capacity(): number {
    return this.buffer.length;
  }

  /** Forgets everything written, keeping the memory. */
  reset(): void {
    this.position = 0;
  }

  /** A copy of the bytes written (safe to keep after the writer is reused). */
  toBytes(): Uint8Array {
    return this.buffer.slice(0, this.position);
  }

  /** The bytes written, without copying; valid only until the writer is written to again or reset. */
  subarray(): Uint8Array {
    return this.buffer.subarray(0, this.position);
  }

  /** Makes room for `count` more bytes. */
  ensure(count: number): void {
    const needed = this.position + count;
    if (needed > this.buffer.length) this.grow(needed);
  }

  private grow(needed: number): void {
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const bigger = new Uint8Array(capacity);
    bigger.set(this.buffer.subarray(0, this.position));
    this.buffer = bigger;
    this.data = new DataView(bigger.buffer);
  }

  writeUint8(value: number): void {
    this.ensure(1);
    this.buffer[this.position++] = value;
  }

  writeInt8(value: number): void {
    this.ensure(1);
    this.data.setInt8(this.position++, value);
  }

  writeUint16(value: number): void {
    this.ensure(2);
    this.data.setUint16(this.position, value, true);
    this.position += 2;
  }

  writeInt16(value: number): void {
    this.ensure(2);
    this.data.setInt16(this.position, value, true);
    this.position += 2;
  }

  writeUint32(value: number): void {
    this.ensure(4);
    this.data.setUint32(this.position, value, true);
    this.position += 4;
  }

  writeInt32(value: number): void {
    this.ensure(4);
    this.data.setInt32(this.position, value, true);
    this.position += 4;
  }

  writeBigUint64(value: bigint): void {
    this.ensure(8);
    this.data.setBigUint64(this.position, value, true);
    this.position += 8;
  }

  writeBigInt64(value: bigint): void {
    this.ensure(8);
    this.data.setBigInt64(this.position, value, true);
    this.position += 8;
  }

  writeFloat32(value: number): void {
    this.ensure(4);
    this.data.setFloat32(this.position, value, true);
    this.position += 4;
  }

  writeFloat64(value: number): void {
    this.ensure(8);
    this.data.setFloat64(this.position, value, true);
    this.position += 8;
  }

  /**
   * Appends an unsigned LEB128 integer: 7 bits a byte, low bits first, the high bit set on every
   * byte but the last (0-127 take one byte). `value` must be a non-negative safe integer.
   */
  writeVarUint(value: number): void {
    this.ensure(MAX_VARUINT_BYTES);
    const out = this.buffer;
    let at = this.position;
    let rest = value;
    while (rest > VARUINT_PAYLOAD) {
      out[at++] = (rest & VARUINT_PAYLOAD) | VARUINT_MORE;
      rest = Math.floor(rest / VARUINT_SCALE);
    }
    out[at++] = rest;
    this.position = at;
  }

  writeBytes(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buffer.set(bytes, this.position);
    this.position += bytes.length;
  }

  /** Appends `count` zero bytes and returns where they start (for a length prefix filled in later). */
  reserve(count: number): number {
    this.ensure(count);
    const at = this.position;
    this.buffer.fill(0, at, at + count);
    this.position += count;
    return at;
  }

  patchUint8(at: number, value: number): void {
    this.buffer[at] = value;
  }

  patchUint16(at: number, value: number): void {
    this.data.setUint16(at, value, true);
  }

  patchUint32(at: number, value: number): void {
    this.data.setUint32(at, value, true);
  }

  /**
   * Appends the UTF-8 encoding of `text` and returns its byte count. Lone surrogates become U+FFFD,
   * as TextEncoder does.
   */
  writeUtf8(text: string): number {
    this.ensure(text.length * MAX_UTF8_PER_UNIT);
    const start = this.position;
    if (text.length > SHORT_TEXT) {
      const { written } = encoder.encodeInto(text, this.buffer.subarray(start));
      this.position += written;
      return written;
    }
    const out = this.buffer;
    let at = start;
    for (let i = 0; i < text.length; i++) {
      let code = text.charCodeAt(i);
      if (code < 0x80) {
        out[at++] = code;
        continue;
      }
      if (code < 0x800) {
        out[at++] = 0xc0 | (code >> 6);
        out[at++] = 0x80 | (code & 0x3f);
        continue;
      }
      if (code >= 0xd800 && code <= 0xdfff) {
        const next = i + 1 < text.length ? text.charCodeAt(i + 1) : 0;
        if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          code = 0x10000 + ((code - 0xd800) << 10) + (next - 0xdc00);
          i++;
          out[at++] = 0xf0 | (code >> 18);
          out[at++] = 0x80 | ((code >> 12) & 0x3f);
          out[at++] = 0x80 | ((code >> 6) & 0x3f);
          out[at++] = 0x80 | (code & 0x3f);
          continue;
        }
        code = 0xfffd;
      }
      out[at++] = 0xe0 | (code >> 12);
      out[at++] = 0x80 | ((code >> 6) & 0x3f);
      out[at++] = 0x80 | (code & 0x3f);
    }
    this.position = at;
    return at - start;
  }
}

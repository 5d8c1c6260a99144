/**
 * The one byte writer of the protocol (Astron's Datagram): the packer, netcode, the reliable layer, the
 * client messages and the delta and frame wires all write with it. Little-endian values are appended at
 * `position`.
 *
 * Two kinds, one class:
 * - `new DatagramWriter(capacity)` owns a buffer that grows as needed; services reuse one writer to pack
 *   many updates into one datagram (`reset` keeps the memory).
 * - `new DatagramWriter(bytes, start)` writes into a caller's buffer from `start`, for send paths that
 *   build in preallocated memory; it never grows, and writing past the buffer's end throws a RangeError
 *   (a bug in the caller, which sizes the buffer first, never a reaction to input). `writeUtf8` asks for
 *   room for its worst case (3 bytes a UTF-16 unit) first.
 *
 * The writer checks nothing about values: the codecs validate first. `toBytes` returns a copy of what was
 * written; `subarray` a view, valid until the next write or reset. Integers are stored byte by byte, and
 * a DataView is made only for floats and 64-bit integers, once per buffer: writing allocates nothing.
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

/** How many bytes `writeVarUint(value)` takes. */
export function varUintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest > VARUINT_PAYLOAD; rest = Math.floor(rest / VARUINT_SCALE)) size += 1;
  return size;
}

export class DatagramWriter {
  private buffer: Uint8Array;
  /** A view of `buffer`'s ArrayBuffer, made on the first float or 64-bit write. */
  private view: DataView | undefined;
  /** Where `buffer` starts inside its ArrayBuffer (and so inside `view`). */
  private base: number;
  /** Where the written bytes start in `buffer` (0 unless writing into a caller's buffer). */
  private readonly start: number;
  /** False for a writer into a caller's buffer. */
  private readonly growable: boolean;
  /** Where the next byte goes in `buffer`. */
  position: number;

  /**
   * `capacity`: a growable buffer of that many bytes to start with; or a caller's buffer to fill from
   * `start`, never past its end.
   */
  constructor(capacity: number | Uint8Array = INITIAL_CAPACITY, start = 0) {
    const fixed = capacity instanceof Uint8Array;
    this.buffer = fixed ? capacity : new Uint8Array(Math.max(1, capacity));
    if (start < 0 || start > this.buffer.length) {
      throw new RangeError(`cannot write from offset ${start} of a ${this.buffer.length}-byte buffer`);
    }
    this.base = this.buffer.byteOffset;
    this.growable = !fixed;
    this.start = fixed ? start : 0;
    this.position = this.start;
  }

  /** The number of bytes written so far. */
  get length(): number {
    return this.position - this.start;
  }

  get capacity(): number {
    return this.buffer.length - this.start;
  }

  /** Bytes that fit before the buffer has to grow (or, writing into a caller's buffer, before its end). */
  get room(): number {
    return this.buffer.length - this.position;
  }

  /** Forgets everything written, keeping the memory. */
  reset(): void {
    this.position = this.start;
  }

  /** A copy of the bytes written (safe to keep after the writer is reused). */
  toBytes(): Uint8Array {
    return this.buffer.slice(this.start, this.position);
  }

  /** The bytes written, without copying; valid only until the writer is written to again or reset. */
  subarray(): Uint8Array {
    return this.buffer.subarray(this.start, this.position);
  }

  /** Makes room for `count` more bytes. */
  ensure(count: number): void {
    const needed = this.position + count;
    if (needed > this.buffer.length) this.grow(needed);
  }

  private grow(needed: number): void {
    if (!this.growable) {
      throw new RangeError(
        `cannot write ${needed - this.position} byte(s) at offset ${this.position} of a ${this.buffer.length}-byte buffer`,
      );
    }
    let capacity = this.buffer.length * 2;
    while (capacity < needed) capacity *= 2;
    const bigger = new Uint8Array(capacity);
    bigger.set(this.buffer.subarray(0, this.position));
    this.buffer = bigger;
    this.base = 0;
    this.view = undefined;
  }

  /** The DataView for floats and 64-bit integers (positions in `buffer` are offset by its byteOffset). */
  private dataView(): DataView {
    if (this.view === undefined) this.view = new DataView(this.buffer.buffer);
    return this.view;
  }

  writeUint8(value: number): void {
    this.ensure(1);
    this.buffer[this.position++] = value;
  }

  writeInt8(value: number): void {
    this.ensure(1);
    this.buffer[this.position++] = value;
  }

  /** Also writes int16s: the low 16 bits are the same. */
  writeUint16(value: number): void {
    this.ensure(2);
    const out = this.buffer;
    const at = this.position;
    out[at] = value;
    out[at + 1] = value >>> 8;
    this.position = at + 2;
  }

  writeInt16(value: number): void {
    this.writeUint16(value);
  }

  /** Also writes int32s: the low 32 bits are the same. */
  writeUint32(value: number): void {
    this.ensure(4);
    const out = this.buffer;
    const at = this.position;
    out[at] = value;
    out[at + 1] = value >>> 8;
    out[at + 2] = value >>> 16;
    out[at + 3] = value >>> 24;
    this.position = at + 4;
  }

  writeInt32(value: number): void {
    this.writeUint32(value);
  }

  writeBigUint64(value: bigint): void {
    this.ensure(8);
    this.dataView().setBigUint64(this.base + this.position, value, true);
    this.position += 8;
  }

  writeBigInt64(value: bigint): void {
    this.ensure(8);
    this.dataView().setBigInt64(this.base + this.position, value, true);
    this.position += 8;
  }

  writeFloat32(value: number): void {
    this.ensure(4);
    this.dataView().setFloat32(this.base + this.position, value, true);
    this.position += 4;
  }

  writeFloat64(value: number): void {
    this.ensure(8);
    this.dataView().setFloat64(this.base + this.position, value, true);
    this.position += 8;
  }

  /**
   * Appends an unsigned LEB128 integer: 7 bits a byte, low bits first, the high bit set on every
   * byte but the last (0-127 take one byte). `value` must be a non-negative safe integer.
   */
  writeVarUint(value: number): void {
    if (this.position + MAX_VARUINT_BYTES > this.buffer.length) this.ensure(varUintSize(value));
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
    this.buffer[at] = value;
    this.buffer[at + 1] = value >>> 8;
  }

  patchUint32(at: number, value: number): void {
    const out = this.buffer;
    out[at] = value;
    out[at + 1] = value >>> 8;
    out[at + 2] = value >>> 16;
    out[at + 3] = value >>> 24;
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

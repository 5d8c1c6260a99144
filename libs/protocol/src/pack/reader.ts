import { outOfRange, truncated, wrongType } from "./errors.ts";

/**
 * The one byte reader of the protocol (Astron's DatagramIterator): the packer, netcode, the reliable layer,
 * the client messages and the delta and frame wires all read with it. Little-endian values are read one
 * after another from `bytes[position, end)`.
 *
 * Contract:
 * - Every read checks that its bytes are there; one that is not throws a DcPackError with code
 *   `truncated` and moves nothing. A reader never looks past `end`, even when the buffer goes on.
 * - A varuint longer than its limit throws a DcPackError with code `out_of_range`.
 * - Nothing else throws: callers with their own contract (null, a drop reason, a decode failure) catch
 *   DcPackError where they read and translate it.
 * - `readView` returns a view into the bytes read (no copy: it is valid as long as those bytes are);
 *   `readBytes` returns a copy (safe to keep after a network buffer is reused).
 * - Reading allocates nothing but what it returns; integers are read byte by byte, and a DataView is
 *   made only for floats and 64-bit integers, once per ArrayBuffer.
 */

/** Texts at most this many bytes long are decoded by hand when they are plain ASCII. */
const SHORT_TEXT = 32;
const ASCII_LIMIT = 0x80;
const VARUINT_PAYLOAD = 0x7f;
const VARUINT_MORE = 0x80;
const VARUINT_SCALE = 0x80;
/** Varuints longer than this (values of 2^35 and more) are refused as corrupt, unless a read says less. */
export const MAX_VARUINT_BYTES = 5;

/** Lenient: invalid UTF-8 becomes U+FFFD instead of failing; a leading byte-order mark is kept. */
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export class DatagramReader {
  bytes: Uint8Array;
  /** A view of the whole ArrayBuffer behind `bytes`, made on the first float or 64-bit read. */
  private view: DataView | undefined;
  /** Where `bytes` starts inside its ArrayBuffer (and so inside `view`). */
  private base = 0;
  /** Where the next read starts, relative to `bytes`. */
  position = 0;
  /** Reads stop here. Codecs narrow it temporarily while reading a length-prefixed array. */
  end = 0;

  constructor(bytes: Uint8Array, start = 0, end = bytes?.length) {
    if (!(bytes instanceof Uint8Array)) throw wrongType("a Uint8Array to read from", bytes);
    this.bytes = bytes;
    this.reset(bytes, start, end);
  }

  /** Points the reader at new bytes; allocates nothing. */
  reset(bytes: Uint8Array, start = 0, end = bytes?.length): void {
    if (!(bytes instanceof Uint8Array)) throw wrongType("a Uint8Array to read from", bytes);
    if (this.view !== undefined && this.view.buffer !== bytes.buffer) this.view = undefined;
    this.bytes = bytes;
    this.base = bytes.byteOffset;
    this.end = Math.max(0, Math.min(end, bytes.length));
    this.position = Math.max(0, Math.min(start, this.end));
  }

  get remaining(): number {
    return this.end - this.position;
  }

  /** Throws unless `count` more bytes can be read. */
  need(count: number): void {
    if (this.end - this.position < count) {
      throw truncated(`expected ${count} more byte(s) but only ${this.end - this.position} remain`);
    }
  }

  /** Moves past the next `count` bytes. */
  skip(count: number): void {
    this.need(count);
    this.position += count;
  }

  readUint8(): number {
    this.need(1);
    return this.bytes[this.position++]!;
  }

  readInt8(): number {
    return (this.readUint8() << 24) >> 24;
  }

  readUint16(): number {
    this.need(2);
    const bytes = this.bytes;
    const at = this.position;
    this.position = at + 2;
    return bytes[at]! | (bytes[at + 1]! << 8);
  }

  readInt16(): number {
    return (this.readUint16() << 16) >> 16;
  }

  readUint32(): number {
    return this.readInt32() >>> 0;
  }

  readInt32(): number {
    this.need(4);
    const bytes = this.bytes;
    const at = this.position;
    this.position = at + 4;
    return bytes[at]! | (bytes[at + 1]! << 8) | (bytes[at + 2]! << 16) | (bytes[at + 3]! << 24);
  }

  readBigUint64(): bigint {
    this.need(8);
    const value = this.dataView().getBigUint64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  readBigInt64(): bigint {
    this.need(8);
    const value = this.dataView().getBigInt64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  readFloat32(): number {
    this.need(4);
    const value = this.dataView().getFloat32(this.base + this.position, true);
    this.position += 4;
    return value;
  }

  readFloat64(): number {
    this.need(8);
    const value = this.dataView().getFloat64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  /**
   * An unsigned LEB128 integer (see `DatagramWriter.writeVarUint`) of at most `maxBytes` bytes (5 by
   * default: values below 2^35); a longer one throws `out_of_range`.
   */
  readVarUint(maxBytes = MAX_VARUINT_BYTES): number {
    let value = 0;
    let scale = 1;
    for (let count = 0; count < maxBytes; count++) {
      if (this.position >= this.end) {
        throw truncated(`a varuint is cut off after ${count} byte(s): no bytes remain`);
      }
      const byte = this.bytes[this.position++]!;
      value += (byte & VARUINT_PAYLOAD) * scale;
      if ((byte & VARUINT_MORE) === 0) return value;
      scale *= VARUINT_SCALE;
    }
    throw outOfRange(`a varuint is longer than ${maxBytes} bytes`);
  }

  /** A view of the next `count` bytes: no copy, so it changes if the bytes under it do. */
  readView(count: number): Uint8Array {
    this.need(count);
    const start = this.position;
    this.position += count;
    return this.bytes.subarray(start, start + count);
  }

  /** A copy of the next `count` bytes (so the value outlives a reused network buffer). */
  readBytes(count: number): Uint8Array {
    this.need(count);
    const start = this.position;
    this.position += count;
    return this.bytes.slice(start, start + count);
  }

  /** The next `count` bytes decoded as UTF-8, leniently (see `decoder`). */
  readUtf8(count: number): string {
    this.need(count);
    const start = this.position;
    this.position += count;
    if (count <= SHORT_TEXT) {
      const ascii = asciiText(this.bytes, start, start + count);
      if (ascii !== undefined) return ascii;
    }
    return decoder.decode(this.bytes.subarray(start, start + count));
  }

  /** The DataView for floats and 64-bit integers: over the whole ArrayBuffer, so it survives a `reset`. */
  private dataView(): DataView {
    if (this.view === undefined) this.view = new DataView(this.bytes.buffer);
    return this.view;
  }
}

function asciiText(bytes: Uint8Array, start: number, end: number): string | undefined {
  let text = "";
  for (let i = start; i < end; i++) {
    const byte = bytes[i]!;
    if (byte >= ASCII_LIMIT) return undefined;
    text += String.fromCharCode(byte);
  }
  return text;
}

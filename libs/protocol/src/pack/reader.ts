import { outOfRange, truncated, wrongType } from "./errors.ts";

/**
 * Reads little-endian values one after another from a byte range. Every read checks that the bytes
 * are there and throws a `truncated` DcPackError if not: a reader never looks past `end`, even when
 * the underlying buffer goes on.
 */

/** Texts at most this many bytes long are decoded by hand when they are plain ASCII. */
const SHORT_TEXT = 32;
const ASCII_LIMIT = 0x80;
const VARUINT_PAYLOAD = 0x7f;
const VARUINT_MORE = 0x80;
const VARUINT_SCALE = 0x80;
/** Varuints longer than this (values of 2^35 and more) are refused as corrupt. */
const MAX_VARUINT_BYTES = 5;

/** Lenient: invalid UTF-8 becomes U+FFFD instead of failing; a leading byte-order mark is kept. */
const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

export class DatagramReader {
  bytes: Uint8Array;
  /** A view of the whole ArrayBuffer behind `bytes`, kept while the reader is pointed at the same buffer. */
  private data: DataView;
  /** Where `bytes` starts inside `data`. */
  private base: number;
  /** Where the next read starts, relative to `bytes`. */
  position = 0;
  /** Reads stop here. Codecs narrow it temporarily while reading a length-prefixed array. */
  end = 0;

  constructor(bytes: Uint8Array, start = 0, end = bytes?.length) {
    if (!(bytes instanceof Uint8Array)) throw wrongType("a Uint8Array to read from", bytes);
    this.bytes = bytes;
    this.data = new DataView(bytes.buffer);
    this.base = bytes.byteOffset;
    this.reset(bytes, start, end);
  }

  /** Points the reader at new bytes; cheap when they live in the same ArrayBuffer as before. */
  reset(bytes: Uint8Array, start = 0, end = bytes?.length): void {
    if (!(bytes instanceof Uint8Array)) throw wrongType("a Uint8Array to read from", bytes);
    if (bytes.buffer !== this.data.buffer) this.data = new DataView(bytes.buffer);
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
    this.need(1);
    return this.data.getInt8(this.base + this.position++);
  }

  readUint16(): number {
    this.need(2);
    const value = this.data.getUint16(this.base + this.position, true);
    this.position += 2;
    return value;
  }

  readInt16(): number {
    this.need(2);
    const value = this.data.getInt16(this.base + this.position, true);
    this.position += 2;
    return value;
  }

  readUint32(): number {
    this.need(4);
    const value = this.data.getUint32(this.base + this.position, true);
    this.position += 4;
    return value;
  }

  readInt32(): number {
    this.need(4);
    const value = this.data.getInt32(this.base + this.position, true);
    this.position += 4;
    return value;
  }

  readBigUint64(): bigint {
    this.need(8);
    const value = this.data.getBigUint64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  readBigInt64(): bigint {
    this.need(8);
    const value = this.data.getBigInt64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  readFloat32(): number {
    this.need(4);
    const value = this.data.getFloat32(this.base + this.position, true);
    this.position += 4;
    return value;
  }

  readFloat64(): number {
    this.need(8);
    const value = this.data.getFloat64(this.base + this.position, true);
    this.position += 8;
    return value;
  }

  /** An unsigned LEB128 integer (see `DatagramWriter.writeVarUint`) of at most 5 bytes. */
  readVarUint(): number {
    let value = 0;
    let scale = 1;
    for (let count = 0; count < MAX_VARUINT_BYTES; count++) {
      if (this.position >= this.end) {
        throw truncated(`a varuint is cut off after ${count} byte(s): no bytes remain`);
      }
      const byte = this.bytes[this.position++]!;
      value += (byte & VARUINT_PAYLOAD) * scale;
      if ((byte & VARUINT_MORE) === 0) return value;
      scale *= VARUINT_SCALE;
    }
    throw outOfRange(`a varuint is longer than ${MAX_VARUINT_BYTES} bytes`);
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

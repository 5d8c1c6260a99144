/**
 * Little-endian byte reading and writing for the reliable layer.
 *
 * `ByteReader` never throws and never reads past its end: a read that does not fit returns 0 (or an
 * empty slice) and records the failure in `error`; callers check `error` once after a group of reads.
 * `ByteWriter` writes into a buffer its caller has already sized, so it checks nothing.
 *
 * Variable-length unsigned integers (varuints) are LEB128: seven bits a byte, low group first, the
 * top bit set on every byte but the last. The layer's lengths never need more than two bytes.
 */

const BYTE_MASK = 0xff;
const BYTE_BITS = 8;
const VARUINT_PAYLOAD_MASK = 0x7f;
const VARUINT_CONTINUE = 0x80;
const VARUINT_GROUP_BITS = 7;
/** Two groups hold values up to 16383, more than any length this layer writes. */
export const MAX_VARUINT_BYTES = 2;
export const MAX_VARUINT_VALUE = (1 << (VARUINT_GROUP_BITS * MAX_VARUINT_BYTES)) - 1;

export type ReadError = "none" | "truncated" | "overlong_varuint";

export class ByteReader {
  private position: number;
  error: ReadError = "none";

  constructor(
    private readonly bytes: Uint8Array,
    start = 0,
  ) {
    this.position = start;
  }

  get offset(): number {
    return this.position;
  }

  get remaining(): number {
    return this.bytes.length - this.position;
  }

  get failed(): boolean {
    return this.error !== "none";
  }

  readU8(): number {
    if (!this.has(1)) return 0;
    const value = this.bytes[this.position]!;
    this.position += 1;
    return value;
  }

  readU16(): number {
    if (!this.has(2)) return 0;
    const value = this.bytes[this.position]! | (this.bytes[this.position + 1]! << BYTE_BITS);
    this.position += 2;
    return value;
  }

  /** Reads a varuint of at most MAX_VARUINT_BYTES bytes; a longer one is an `overlong_varuint` error. */
  readVarUint(): number {
    let value = 0;
    for (let index = 0; index < MAX_VARUINT_BYTES; index++) {
      const byte = this.readU8();
      if (this.failed) return 0;
      value |= (byte & VARUINT_PAYLOAD_MASK) << (VARUINT_GROUP_BITS * index);
      if ((byte & VARUINT_CONTINUE) === 0) return value;
    }
    this.fail("overlong_varuint");
    return 0;
  }

  /** A view (not a copy) of the next `length` bytes. */
  readSlice(length: number): Uint8Array {
    if (!this.has(length)) return new Uint8Array(0);
    const slice = this.bytes.subarray(this.position, this.position + length);
    this.position += length;
    return slice;
  }

  private has(count: number): boolean {
    if (this.failed) return false;
    if (this.bytes.length - this.position >= count) return true;
    this.fail("truncated");
    return false;
  }

  private fail(error: ReadError): void {
    if (this.error === "none") this.error = error;
  }
}

export class ByteWriter {
  position = 0;

  constructor(readonly bytes: Uint8Array) {}

  writeU8(value: number): void {
    this.bytes[this.position] = value & BYTE_MASK;
    this.position += 1;
  }

  writeU16(value: number): void {
    this.bytes[this.position] = value & BYTE_MASK;
    this.bytes[this.position + 1] = (value >>> BYTE_BITS) & BYTE_MASK;
    this.position += 2;
  }

  writeVarUint(value: number): void {
    let rest = value;
    while (rest > VARUINT_PAYLOAD_MASK) {
      this.writeU8((rest & VARUINT_PAYLOAD_MASK) | VARUINT_CONTINUE);
      rest >>>= VARUINT_GROUP_BITS;
    }
    this.writeU8(rest);
  }

  writeBytes(bytes: Uint8Array): void {
    this.bytes.set(bytes, this.position);
    this.position += bytes.length;
  }

  /** The bytes written so far, as a view. */
  written(): Uint8Array {
    return this.bytes.subarray(0, this.position);
  }
}

/** How many bytes `writeVarUint(value)` takes. */
export function varUintSize(value: number): number {
  let size = 1;
  for (let rest = value; rest > VARUINT_PAYLOAD_MASK; rest >>>= VARUINT_GROUP_BITS) size += 1;
  return size;
}

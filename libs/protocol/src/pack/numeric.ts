/**
 * Codecs for the numeric types, following Panda3D's DCSimpleParameter exactly:
 * - the value is multiplied by the divisor ("real value");
 * - a modulus (scaled by the divisor too) wraps the real value into [0, modulus);
 * - integer kinds then round with floor(real + 0.5);
 * - the packed integer is checked against the kind's limits and the declared ranges, which are scaled
 *   to packed units the same way (floor(bound * divisor + 0.5) for integers, bound * divisor for floats).
 * Unpacking checks the declared ranges on the packed value and divides by the divisor.
 *
 * Where we are stricter than Panda: an integer type without a divisor only takes integers (Panda
 * rounds a Python float silently), and every kind is checked against its limits (Panda skips int32).
 */

import type { FloatType, IntKind, IntType, NumericRange } from "../dc/types.ts";
import { INT_LIMITS, isBigIntValued, isDatetime, SCALAR_BYTES } from "../dc/types.ts";
import type { Codec } from "./codec.ts";
import { outOfRange, wrongType } from "./errors.ts";
import type { DatagramReader } from "./reader.ts";
import type { DatagramWriter } from "./writer.ts";

/** The largest finite float32, and the point from which a double rounds to float32 infinity. */
const FLOAT32_MAX = 3.4028234663852886e38;
const FLOAT32_BYTES = 4;
const BIGINT_BYTES = 8;

interface IntKindOps {
  /** Smallest packed value, and one past the largest (exact as doubles even for 64-bit kinds). */
  readonly min: number;
  readonly maxExclusive: number;
  /** Write a packed integer given as a number (64-bit kinds go through BigInt). */
  readonly put: (w: DatagramWriter, packed: number) => void;
  /** Read a packed integer as a number (64-bit kinds may lose precision past 2^53). */
  readonly get: (r: DatagramReader) => number;
}

const INT_OPS: Readonly<Record<IntKind, IntKindOps>> = {
  int8: { min: -(2 ** 7), maxExclusive: 2 ** 7, put: (w, n) => w.writeInt8(n), get: (r) => r.readInt8() },
  uint8: { min: 0, maxExclusive: 2 ** 8, put: (w, n) => w.writeUint8(n), get: (r) => r.readUint8() },
  int16: {
    min: -(2 ** 15),
    maxExclusive: 2 ** 15,
    put: (w, n) => w.writeInt16(n),
    get: (r) => r.readInt16(),
  },
  uint16: { min: 0, maxExclusive: 2 ** 16, put: (w, n) => w.writeUint16(n), get: (r) => r.readUint16() },
  int32: {
    min: -(2 ** 31),
    maxExclusive: 2 ** 31,
    put: (w, n) => w.writeInt32(n),
    get: (r) => r.readInt32(),
  },
  uint32: { min: 0, maxExclusive: 2 ** 32, put: (w, n) => w.writeUint32(n), get: (r) => r.readUint32() },
  int64: {
    min: -(2 ** 63),
    maxExclusive: 2 ** 63,
    put: (w, n) => w.writeBigInt64(BigInt(n)),
    get: (r) => Number(r.readBigInt64()),
  },
  uint64: {
    min: 0,
    maxExclusive: 2 ** 64,
    put: (w, n) => w.writeBigUint64(BigInt(n)),
    get: (r) => Number(r.readBigUint64()),
  },
};

/** Panda3D's rounding of a scaled value to the packed integer: half-way cases go up. */
export function roundPacked(real: number): number {
  return Math.floor(real + 0.5);
}

/** Panda3D's wrapping of a real (scaled) value into [0, modulus), as fmod does it. */
export function wrapReal(real: number, modulus: number): number {
  if (real < 0) {
    const wrapped = modulus - (-real % modulus);
    return wrapped === modulus ? 0 : wrapped;
  }
  return real % modulus;
}

/** Panda3D's integer wrapping (used when the value is already an integer and there is no divisor). */
function wrapInteger(value: number, modulus: number): number {
  return value < 0 ? modulus - 1 - ((-value - 1) % modulus) : value % modulus;
}

function wrapBigInt(value: bigint, modulus: bigint): bigint {
  return value < 0n ? modulus - 1n - ((-value - 1n) % modulus) : value % modulus;
}

function rangesText(ranges: readonly NumericRange[]): string {
  return ranges
    .map((range) => (range.min === range.max ? `${range.min}` : `${range.min}-${range.max}`))
    .join(", ");
}

function typeText(type: IntType | FloatType): string {
  let text: string = type.kind;
  if (type.modulus !== undefined) text += `%${type.modulus}`;
  if (type.divisor !== 1) text += `/${type.divisor}`;
  if (type.ranges && type.ranges.length > 0) text += `(${rangesText(type.ranges)})`;
  return type.alias ? `${type.alias} (${text})` : text;
}

/** Declared ranges in packed units, as flat [lo0, hi0, lo1, hi1, ...]. */
function scaledIntRanges(type: IntType): number[] {
  const bounds: number[] = [];
  for (const range of type.ranges ?? []) {
    bounds.push(roundPacked(range.min * type.divisor), roundPacked(range.max * type.divisor));
  }
  return bounds;
}

function inRanges(bounds: readonly number[], packed: number): boolean {
  for (let i = 0; i < bounds.length; i += 2) {
    if (packed >= bounds[i]! && packed <= bounds[i + 1]!) return true;
  }
  return false;
}

export function intCodec(type: IntType): Codec {
  if (isDatetime(type)) return datetimeCodec(bigIntCodec(type));
  return isBigIntValued(type) ? bigIntCodec(type) : numberIntCodec(type);
}

/** `t.datetime`: a `Date`, packed as the int64 of its Unix milliseconds. */
function datetimeCodec(int64: Codec): Codec {
  const read = (r: DatagramReader): Date => {
    const ms = int64.read(r) as bigint;
    if (ms > 8_640_000_000_000_000n || ms < -8_640_000_000_000_000n)
      throw outOfRange(`expected datetime within the range of a Date (±8.64e15 ms), read ${ms}`);
    return new Date(Number(ms));
  };
  return {
    write(w, value) {
      if (!(value instanceof Date) || Number.isNaN(value.getTime()))
        throw wrongType("a valid Date for datetime", value);
      int64.write(w, BigInt(value.getTime()));
    },
    read,
    skip: (r) => void read(r), // the range of a Date is checked on the value
  };
}

/** Integers seen as numbers: every int kind of up to 32 bits, and 64-bit kinds with a divisor. */
function numberIntCodec(type: IntType): Codec {
  const ops = INT_OPS[type.kind];
  const divisor = type.divisor;
  const bounds = scaledIntRanges(type);
  const hasRanges = bounds.length > 0;
  const realModulus = type.modulus === undefined ? undefined : type.modulus * divisor;
  const intModulus = realModulus === undefined ? undefined : roundPacked(realModulus);
  const described = typeText(type);
  const limits = INT_LIMITS[type.kind];

  const checkPacked = (packed: number, value: number): void => {
    if (packed < ops.min || packed >= ops.maxExclusive) {
      const scaled = packed === value ? "" : ` (it packs as ${packed})`;
      throw outOfRange(
        `expected ${described} within ${limits.min}..${limits.max} packed, got ${value}${scaled}`,
      );
    }
    if (hasRanges && !inRanges(bounds, packed)) {
      throw outOfRange(`expected ${described}: a value in ${rangesText(type.ranges ?? [])}, got ${value}`);
    }
  };

  const toPacked =
    divisor === 1
      ? (value: unknown): number => {
          if (typeof value !== "number" || !Number.isInteger(value))
            throw wrongType(`an integer for ${described}`, value);
          return intModulus === undefined || intModulus === 0 ? value : wrapInteger(value, intModulus);
        }
      : (value: unknown): number => {
          if (typeof value !== "number" || !Number.isFinite(value)) {
            throw wrongType(`a finite number for ${described}`, value);
          }
          const real = value * divisor;
          return roundPacked(realModulus === undefined ? real : wrapReal(real, realModulus));
        };

  const size = SCALAR_BYTES[type.kind];
  const read = (r: DatagramReader): number => {
    const packed = ops.get(r);
    if (hasRanges && !inRanges(bounds, packed)) {
      throw outOfRange(
        `expected ${described}: a value in ${rangesText(type.ranges ?? [])}, read packed ${packed}`,
      );
    }
    return divisor === 1 ? packed : packed / divisor;
  };
  return {
    write(w, value) {
      const packed = toPacked(value);
      checkPacked(packed, value as number);
      ops.put(w, packed);
    },
    read,
    // every packed integer of the kind is a value unless ranges are declared
    skip: hasRanges ? (r) => void read(r) : (r) => r.skip(size),
  };
}

/** int64 / uint64 without a divisor: bigints, exact over the whole 64-bit range. */
function bigIntCodec(type: IntType): Codec {
  const signed = type.kind === "int64";
  const limits = INT_LIMITS[type.kind];
  const bounds = (type.ranges ?? []).flatMap((range) => [
    BigInt(roundPacked(range.min)),
    BigInt(roundPacked(range.max)),
  ]);
  const modulus = type.modulus === undefined ? undefined : BigInt(roundPacked(type.modulus));
  const described = typeText(type);

  const inBigRanges = (packed: bigint): boolean => {
    for (let i = 0; i < bounds.length; i += 2) {
      if (packed >= bounds[i]! && packed <= bounds[i + 1]!) return true;
    }
    return false;
  };

  const read = (r: DatagramReader): bigint => {
    const packed = signed ? r.readBigInt64() : r.readBigUint64();
    if (bounds.length > 0 && !inBigRanges(packed)) {
      throw outOfRange(`expected ${described}: a value in ${rangesText(type.ranges ?? [])}, read ${packed}`);
    }
    return packed;
  };
  return {
    write(w, value) {
      if (typeof value !== "bigint") throw wrongType(`a bigint for ${described}`, value);
      const packed = modulus === undefined || modulus === 0n ? value : wrapBigInt(value, modulus);
      if (packed < limits.min || packed > limits.max) {
        throw outOfRange(`expected ${described} within ${limits.min}..${limits.max}, got ${value}`);
      }
      if (bounds.length > 0 && !inBigRanges(packed)) {
        throw outOfRange(`expected ${described}: a value in ${rangesText(type.ranges ?? [])}, got ${value}`);
      }
      if (signed) w.writeBigInt64(packed);
      else w.writeBigUint64(packed);
    },
    read,
    skip: bounds.length > 0 ? (r) => void read(r) : (r) => r.skip(BIGINT_BYTES),
  };
}

export function floatCodec(type: FloatType): Codec {
  const single = type.kind === "float32";
  const divisor = type.divisor;
  const realModulus = type.modulus === undefined ? undefined : type.modulus * divisor;
  const narrow = single ? Math.fround : (x: number) => x;
  // Bounds in packed units; for float32 rounded to float32 so what packs also unpacks.
  const bounds = (type.ranges ?? []).flatMap((range) => [
    narrow(range.min * divisor),
    narrow(range.max * divisor),
  ]);
  const hasRanges = bounds.length > 0;
  const described = typeText(type);

  if (single && divisor === 1 && realModulus === undefined && !hasRanges) return plainFloat32Codec(described);

  const read = (r: DatagramReader): number => {
    const packed = single ? r.readFloat32() : r.readFloat64();
    if (hasRanges && !inRanges(bounds, packed)) {
      throw outOfRange(`expected ${described}: a value in ${rangesText(type.ranges ?? [])}, read ${packed}`);
    }
    return divisor === 1 ? packed : packed / divisor;
  };
  const size = SCALAR_BYTES[type.kind];
  return {
    write(w, value) {
      if (typeof value !== "number") throw wrongType(`a number for ${described}`, value);
      let real = divisor === 1 ? value : value * divisor;
      if (realModulus !== undefined) real = wrapReal(real, realModulus);
      const packed = narrow(real);
      if (single && !Number.isFinite(packed) && Number.isFinite(real)) {
        throw outOfRange(`expected ${described} within ±${FLOAT32_MAX}, got ${value}`);
      }
      if (hasRanges && !inRanges(bounds, packed)) {
        throw outOfRange(`expected ${described}: a value in ${rangesText(type.ranges ?? [])}, got ${value}`);
      }
      if (single) w.writeFloat32(packed);
      else w.writeFloat64(packed);
    },
    read,
    // any bit pattern is a float (NaN and the infinities included) unless ranges are declared
    skip: hasRanges ? (r) => void read(r) : (r) => r.skip(size),
  };
}

/** The common `float32` with nothing attached: the hot path of position updates. */
function plainFloat32Codec(described: string): Codec {
  return {
    write(w, value) {
      if (typeof value !== "number") throw wrongType(`a number for ${described}`, value);
      if (value > FLOAT32_MAX || value < -FLOAT32_MAX) {
        if (Number.isFinite(value) && !Number.isFinite(Math.fround(value))) {
          throw outOfRange(`expected ${described} within ±${FLOAT32_MAX}, got ${value}`);
        }
      }
      w.writeFloat32(value);
    },
    read(r) {
      return r.readFloat32();
    },
    skip(r) {
      r.skip(FLOAT32_BYTES);
    },
  };
}

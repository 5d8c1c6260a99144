/**
 * The data types of the DC language: what a parameter can hold and how many bytes it packs into.
 *
 * Numbers with a divisor are fixed-point: the value `12.3` of an `int16/10` packs as the integer 123.
 * A modulus wraps the value into [0, modulus) before packing. Ranges and moduli are kept in the
 * units the game sees (before the divisor), as they are written in a `.dc` file.
 */

export type IntKind = "int8" | "int16" | "int32" | "int64" | "uint8" | "uint16" | "uint32" | "uint64";
export type FloatKind = "float32" | "float64";

/** An inclusive range of allowed values (numbers) or allowed lengths (strings, blobs, arrays). */
export interface NumericRange {
  readonly min: number;
  readonly max: number;
}

/**
 * The length rule of a string, blob or array:
 * - `fixed`: exactly n (bytes for strings/blobs, elements for arrays);
 * - otherwise variable, optionally ranged.
 * Whether a length prefix goes on the wire is the packer's business (see `packedSize`): a fixed
 * string, blob, or array of fixed-size elements has none; everything else has a uint16 byte-length
 * prefix (uint32 for blob32), as in Astron and Panda3D.
 */
export type Length = { readonly fixed: number } | { readonly range?: NumericRange };

interface TypeCommon {
  /** The typedef name this type was written as, if any (kept so printing gives back the same text). */
  readonly alias?: string;
  /**
   * A game's own checks of a value of this type (the TypeScript API's `.validate` and `.pattern`),
   * beyond what DC says (ranges, lengths): run where a value enters the cluster (`validateField`, in
   * the client agent), not by packing. They have no `.dc` syntax: printing and the schema hash ignore them.
   */
  readonly checks?: readonly ValueCheck[];
}

/** One of a game's checks of a value: true when the value passes, false or a reason when it does not. */
export interface ValueCheck {
  /** What it checks, for the reason of a refusal: "matches /^[a-z]+$/", "is even". */
  readonly description: string;
  readonly test: (value: never) => boolean | string;
}

export interface IntType extends TypeCommon {
  readonly kind: IntKind;
  readonly divisor: number;
  /**
   * An `int64` of Unix milliseconds that game code sees as a `Date` (the TypeScript API's
   * `t.datetime`); on the wire and in a `.dc` file it is a plain `int64`.
   */
  readonly datetime?: true;
  readonly modulus?: number;
  readonly ranges?: readonly NumericRange[];
}

export interface FloatType extends TypeCommon {
  readonly kind: FloatKind;
  readonly divisor: number;
  readonly modulus?: number;
  readonly ranges?: readonly NumericRange[];
}

/** One byte, seen by the game as a one-character string. */
export interface CharType extends TypeCommon {
  readonly kind: "char";
}

/** `string` (UTF-8 text) or `blob` / `blob32` (raw bytes). */
export interface BytesType extends TypeCommon {
  readonly kind: "string" | "blob" | "blob32";
  readonly length: Length;
}

/** `T[]`, `T[n]`, `T[min-max]`. An array of `char` is seen by the game as a string. */
export interface ArrayType extends TypeCommon {
  readonly kind: "array";
  readonly element: DcType;
  readonly length: Length;
}

/** A struct (or a dclass used as a parameter type), packed as its fields in order. */
export interface StructType extends TypeCommon {
  readonly kind: "struct";
  readonly name: string;
  /** Resolved lazily through the file so that a struct may be used before it is complete. */
  readonly target: () => import("./dclass.ts").DStruct | import("./dclass.ts").DClass;
}

export type NumericType = IntType | FloatType;
export type DcType = IntType | FloatType | CharType | BytesType | ArrayType | StructType;

export const INT_KINDS: readonly IntKind[] = [
  "int8",
  "int16",
  "int32",
  "int64",
  "uint8",
  "uint16",
  "uint32",
  "uint64",
];
export const FLOAT_KINDS: readonly FloatKind[] = ["float32", "float64"];

/** Byte widths of the fixed-size scalar kinds. */
export const SCALAR_BYTES: Readonly<Record<IntKind | FloatKind | "char", number>> = {
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
  uint8: 1,
  uint16: 2,
  uint32: 4,
  uint64: 8,
  float32: 4,
  float64: 8,
  char: 1,
};

/** The smallest and largest packed integer of each integer kind. */
export const INT_LIMITS: Readonly<Record<IntKind, { min: bigint; max: bigint }>> = {
  int8: { min: -(2n ** 7n), max: 2n ** 7n - 1n },
  int16: { min: -(2n ** 15n), max: 2n ** 15n - 1n },
  int32: { min: -(2n ** 31n), max: 2n ** 31n - 1n },
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n },
  uint8: { min: 0n, max: 2n ** 8n - 1n },
  uint16: { min: 0n, max: 2n ** 16n - 1n },
  uint32: { min: 0n, max: 2n ** 32n - 1n },
  uint64: { min: 0n, max: 2n ** 64n - 1n },
};

export function isIntKind(kind: string): kind is IntKind {
  return (INT_KINDS as readonly string[]).includes(kind);
}

export function isFloatKind(kind: string): kind is FloatKind {
  return kind === "float32" || kind === "float64";
}

export function isNumeric(type: DcType): type is NumericType {
  return isIntKind(type.kind) || isFloatKind(type.kind);
}

/** 64-bit integers without a divisor are bigints in TypeScript; everything numeric else is a number. */
export function isBigIntValued(type: DcType): boolean {
  return (type.kind === "int64" || type.kind === "uint64") && type.divisor === 1;
}

/** An `int64` that game code sees as a `Date` (see `IntType.datetime`). */
export function isDatetime(type: DcType): boolean {
  return type.kind === "int64" && type.datetime === true;
}

export function isFixedLength(length: Length): length is { readonly fixed: number } {
  return "fixed" in length;
}

/** Whether a value of this type is seen as a string by game code (string, char, char arrays). */
export function isTextual(type: DcType): boolean {
  return (
    type.kind === "string" || type.kind === "char" || (type.kind === "array" && type.element.kind === "char")
  );
}

export function int(kind: IntKind, options: Partial<Omit<IntType, "kind">> = {}): IntType {
  return { kind, divisor: 1, ...options };
}

export function float(kind: FloatKind, options: Partial<Omit<FloatType, "kind">> = {}): FloatType {
  return { kind, divisor: 1, ...options };
}

/**
 * The legacy 32-bit schema hash: the number Panda3D's dcparser (`DCFile::get_hash`) and Astron's
 * `legacy_hash` compute for a set of `.dc` files. Clients send it on connect so the server can refuse a
 * client built against a different schema, so it must match theirs bit for bit.
 *
 * The scheme: a running sum where the n-th integer fed in is multiplied by the n-th prime (the table
 * of the first 10,000 primes is reused cyclically), kept to its low 32 bits. What is fed in, and in
 * which order, is Panda3D's with its default configuration (multiple and virtual inheritance on,
 * inherited fields sorted by file order):
 *
 * - file: the marker 1 (that configuration), the number of classes and structs, then each of them in
 *   declaration order;
 * - class or struct: its name, the marker 1 for a struct, the number and the ids of its parents, its
 *   constructor (if any), the number of fields it declares itself, then each of those fields;
 * - atomic field: name, field number, number of arguments, each argument's type, then its keywords;
 * - molecular field: name, field number, number of atoms, then each atom as a whole field;
 * - parameter field (`uint32 hp ram;`, struct members): keywords if it has any, then its type
 *   (neither its name nor its number);
 * - keywords: the OR of the historical bit flags when all of them are historical; otherwise their
 *   count and their names in byte order. A historical keyword counts as custom in the fields that
 *   come after a `keyword broadcast;` declaration of it, as in Panda3D;
 * - types: see `hashType`.
 *
 * Two things Panda3D cannot parse follow Astron's emulation instead: a float32 contributes nothing,
 * and a constructor (`A(...)` inside `dclass A`) is hashed like an atomic field with the number the
 * model gave it (Astron numbers constructors in sequence; Panda3D rejects them in a dclass).
 */
import { BUILTIN_TYPES } from "./builtins.ts";
import type { DClass, DStruct, DType } from "./dclass.ts";
import type { Field } from "./field.ts";
import type { DcFile } from "./file.ts";
import { type HistoricalKeyword, isHistoricalKeyword, KW } from "./keywords.ts";
import type { DcType, FloatType, IntType, Length, NumericRange } from "./types.ts";

/** How many primes the generator cycles through (Panda3D's `max_prime_numbers`). */
export const HASH_PRIME_COUNT = 10_000;

/** Panda3D's `DCSubatomicType` numbers, which are what the hash records for each simple type. */
const SUBATOMIC = {
  int8: 0,
  int16: 1,
  int32: 2,
  int64: 3,
  uint8: 4,
  uint16: 5,
  uint32: 6,
  uint64: 7,
  float64: 8,
  string: 9,
  blob: 10,
  blob32: 11,
  int16array: 12,
  int32array: 13,
  uint16array: 14,
  uint32array: 15,
  int8array: 16,
  uint8array: 17,
  char: 19,
} as const;

/** The old built-in array types, which Panda3D hashes as simple types rather than as arrays. */
const LEGACY_ARRAY_NAMES: ReadonlySet<string> = new Set(
  Object.entries(BUILTIN_TYPES)
    .filter(([, type]) => type.kind === "array")
    .map(([name]) => name),
);

/** Added first when virtual inheritance and sorting inherited fields by file are on (the defaults). */
const DEFAULT_CONFIG_MARKER = 1;
/** Added after a struct's name, to tell it from a class of the same shape. */
const STRUCT_MARKER = 1;
/** A C `(int)` conversion of a double that does not fit gives this on x86 (the "integer indefinite"). */
const INT32_INDEFINITE = -0x8000_0000;
const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;
const UTF8 = new TextEncoder();

let primeTable: Int32Array | undefined;

/** The first `HASH_PRIME_COUNT` primes, computed once by a sieve. */
function primes(): Int32Array {
  if (primeTable) return primeTable;
  // The 10,000th prime is 104,729; sieve a little past it.
  const limit = 105_000;
  const composite = new Uint8Array(limit + 1);
  const table = new Int32Array(HASH_PRIME_COUNT);
  let found = 0;
  for (let n = 2; n <= limit && found < HASH_PRIME_COUNT; n++) {
    if (composite[n]) continue;
    table[found++] = n;
    for (let multiple = n * n; multiple <= limit; multiple += n) composite[multiple] = 1;
  }
  if (found < HASH_PRIME_COUNT)
    throw new Error(`prime sieve found only ${found} of ${HASH_PRIME_COUNT} primes`);
  primeTable = table;
  return table;
}

/**
 * Accumulates integers and strings into the legacy hash. `addInt` takes a C `int` (any number is
 * reduced to its low 32 bits, as C would when converting it); products and sums wrap modulo 2^32.
 */
export class HashGenerator {
  private sum = 0;
  private index = 0;

  addInt(value: number): void {
    const prime = primes()[this.index]!;
    this.sum = (this.sum + Math.imul(prime, toInt32(value))) | 0;
    this.index = (this.index + 1) % HASH_PRIME_COUNT;
  }

  /** The byte length, then every byte as a signed C `char` (text is taken as UTF-8). */
  addString(text: string): void {
    const bytes = UTF8.encode(text);
    this.addInt(bytes.length);
    for (const byte of bytes) this.addInt((byte << 24) >> 24);
  }

  /** The hash so far, as an unsigned 32-bit number. */
  get hash(): number {
    return this.sum >>> 0;
  }
}

/** The low 32 bits of an integer, as a signed 32-bit number (C's conversion to `int`). */
function toInt32(value: number): number {
  if (!Number.isFinite(value)) throw new RangeError(`cannot hash ${value}: not a finite number`);
  if (!Number.isInteger(value)) throw new RangeError(`cannot hash ${value}: not a whole number`);
  if (value >= INT32_MIN && value <= INT32_MAX) return value | 0;
  return Number(BigInt.asIntN(32, BigInt(value)));
}

/** C's `(int)` on a double: truncates toward zero; the x86 result when it does not fit. */
function truncateToInt(value: number): number {
  const truncated = Math.trunc(value);
  if (!Number.isFinite(truncated) || truncated < INT32_MIN || truncated > INT32_MAX) return INT32_INDEFINITE;
  return truncated;
}

/** Panda3D's rounding of a scaled integer range bound: `floor(x + 0.5)`, then the low 32 bits. */
function roundToInt(value: number): number {
  return toInt32(Math.floor(value + 0.5));
}

/** The legacy hash of a model (unsigned 32-bit), as Panda3D and Astron compute it. */
export function legacyHash(file: DcFile): number {
  const hashgen = new HashGenerator();
  new LegacyHasher(file, hashgen).hashFile();
  return hashgen.hash;
}

/** `0x` and eight lowercase hex digits, the way the hash is usually printed. */
export function formatHash(hash: number): string {
  return `0x${(hash >>> 0).toString(16).padStart(8, "0")}`;
}

class LegacyHasher {
  constructor(
    private readonly file: DcFile,
    private readonly hashgen: HashGenerator,
  ) {}

  hashFile(): void {
    this.hashgen.addInt(DEFAULT_CONFIG_MARKER);
    this.hashgen.addInt(this.file.types.length);
    for (const type of this.file.types) this.hashDType(type);
  }

  private hashDType(type: DType): void {
    if (type.kind === "class") this.hashClass(type);
    else this.hashStruct(type);
  }

  private hashClass(dclass: DClass): void {
    this.hashgen.addString(dclass.name);
    this.hashgen.addInt(dclass.parents.length);
    for (const parent of dclass.parents) this.hashgen.addInt(parent.id);
    if (dclass.constructorField) this.hashField(dclass.constructorField);
    this.hashgen.addInt(dclass.baseFields.length);
    for (const field of dclass.baseFields) this.hashField(field);
  }

  private hashStruct(struct: DStruct): void {
    this.hashgen.addString(struct.name);
    this.hashgen.addInt(STRUCT_MARKER);
    this.hashgen.addInt(0); // structs have no parents
    this.hashgen.addInt(struct.fields.length);
    for (const field of struct.fields) this.hashField(field);
  }

  private hashField(field: Field): void {
    switch (field.kind) {
      case "atomic":
        this.hashFieldIdentity(field);
        this.hashgen.addInt(field.elements.length);
        for (const param of field.elements) this.hashType(param.type);
        this.hashKeywords(field);
        return;
      case "molecular":
        this.hashFieldIdentity(field);
        this.hashgen.addInt(field.atoms.length);
        for (const atom of field.atoms) this.hashField(atom);
        return;
      case "parameter":
        if (field.keywords.length > 0) this.hashKeywords(field);
        this.hashType(field.param.type);
        return;
    }
  }

  private hashFieldIdentity(field: Field): void {
    this.hashgen.addString(field.name);
    this.hashgen.addInt(field.id);
  }

  private hashKeywords(field: Field): void {
    const unique = [...new Set(field.keywords)];
    const flagged = (word: string): word is HistoricalKeyword => this.hasLegacyFlag(word, field);
    if (unique.every(flagged)) {
      let flags = 0;
      for (const word of unique) flags |= KW[word];
      this.hashgen.addInt(flags);
      return;
    }
    this.hashgen.addInt(unique.length);
    for (const word of unique.sort(compareBytes)) this.hashgen.addString(word);
  }

  /** Whether a keyword of this field still counts by its historical bit flag. */
  private hasLegacyFlag(word: string, field: Field): boolean {
    if (!isHistoricalKeyword(word)) return false;
    const declaredAt = this.file.historicalKeywordsDeclaredAt.get(word);
    return declaredAt === undefined || field.id < declaredAt;
  }

  /**
   * A type, as Panda3D's parameter classes hash it:
   * - a simple type: its subatomic number, its divisor, its modulus (times the divisor, truncated)
   *   if it has one, then its ranges (times the divisor: rounded for integers, truncated for floats);
   *   strings and blobs take divisor 1 and hash their length rule as a range;
   * - an array: its element type, then its length rule as a range;
   * - a struct or dclass: the whole struct or class, as in the file.
   */
  private hashType(type: DcType): void {
    switch (type.kind) {
      case "int8":
      case "int16":
      case "int32":
      case "int64":
      case "uint8":
      case "uint16":
      case "uint32":
      case "uint64":
        this.hashInteger(type);
        return;
      case "float64":
        this.hashFloat(type);
        return;
      case "float32":
        return; // Panda3D has no float32; Astron's emulation adds nothing for it
      case "char":
        this.hashgen.addInt(SUBATOMIC.char);
        this.hashgen.addInt(1);
        return;
      case "string":
      case "blob":
      case "blob32":
        this.hashgen.addInt(SUBATOMIC[type.kind]);
        this.hashgen.addInt(1);
        this.hashLength(type.length);
        return;
      case "array":
        if (isLegacyArray(type)) {
          this.hashgen.addInt(SUBATOMIC[type.alias as keyof typeof SUBATOMIC]);
          this.hashgen.addInt(1);
          return;
        }
        this.hashType(type.element);
        this.hashLength(type.length);
        return;
      case "struct":
        this.hashDType(type.target());
        return;
    }
  }

  private hashInteger(type: IntType): void {
    this.hashgen.addInt(SUBATOMIC[type.kind]);
    this.hashgen.addInt(type.divisor);
    if (type.modulus !== undefined) this.hashgen.addInt(truncateToInt(type.modulus * type.divisor));
    this.hashRanges(type.ranges, (bound) => roundToInt(bound * type.divisor));
  }

  private hashFloat(type: FloatType): void {
    this.hashgen.addInt(SUBATOMIC.float64);
    this.hashgen.addInt(type.divisor);
    if (type.modulus !== undefined) this.hashgen.addInt(truncateToInt(type.modulus * type.divisor));
    this.hashRanges(type.ranges, (bound) => truncateToInt(bound * type.divisor));
  }

  /** A range list adds nothing when empty, else its size and each range's two bounds. */
  private hashRanges(ranges: readonly NumericRange[] | undefined, bound: (value: number) => number): void {
    if (!ranges || ranges.length === 0) return;
    this.hashgen.addInt(ranges.length);
    for (const range of ranges) {
      this.hashgen.addInt(bound(range.min));
      this.hashgen.addInt(bound(range.max));
    }
  }

  /** A fixed length n hashes as the range n-n; an unconstrained length adds nothing. */
  private hashLength(length: Length): void {
    if ("fixed" in length) this.hashRanges([{ min: length.fixed, max: length.fixed }], toInt32);
    else if (length.range) this.hashRanges([length.range], toInt32);
  }
}

/** An `int8array`-style built-in (kept by the parser as an unconstrained array with that alias). */
function isLegacyArray(type: DcType & { kind: "array" }): boolean {
  return (
    type.alias !== undefined &&
    LEGACY_ARRAY_NAMES.has(type.alias) &&
    !("fixed" in type.length) &&
    !type.length.range
  );
}

/** Orders like C++ `std::string` comparison: by UTF-8 bytes. */
function compareBytes(a: string, b: string): number {
  const left = UTF8.encode(a);
  const right = UTF8.encode(b);
  const shared = Math.min(left.length, right.length);
  for (let i = 0; i < shared; i++) {
    if (left[i] !== right[i]) return left[i]! - right[i]!;
  }
  return left.length - right.length;
}

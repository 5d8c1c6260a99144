/**
 * fast-check arbitraries for the packing tests: random DC types (nested arrays and structs) built into
 * a real DcFile, and values valid for any DC type or field (generated ones and the real .dc files').
 */

import {
  atomicField,
  type DClass,
  DcFile,
  type DcType,
  type DcValue,
  type DStruct,
  type Field,
  type FieldValue,
  type FloatKind,
  INT_KINDS,
  INT_LIMITS,
  type IntKind,
  type IntType,
  isBigIntValued,
  isFixedLength,
  type Length,
  parameterField,
} from "@overworld/protocol";
import fc from "fast-check";

// ---------------------------------------------------------------------------------------------
// Type specs: plain data that fast-check can shrink, turned into model types by `buildType`.

export type LengthSpec = { fixed: number } | { range?: [number, number] };

export type TypeSpec =
  | { t: "int"; kind: IntKind; divisor: number; modulus?: number; range?: [number, number] }
  | { t: "float"; kind: FloatKind; divisor: number; range?: [number, number] }
  | { t: "char" }
  | { t: "bytes"; kind: "string" | "blob" | "blob32"; length: LengthSpec }
  | { t: "array"; element: TypeSpec; length: LengthSpec }
  | { t: "struct"; members: TypeSpec[] };

const SMALL_DIVISORS = [1, 1, 1, 10, 100, 1000];
const FIXED_POINT_LIMIT = 2 ** 48;

/** The packed limits of an int kind as numbers, clipped to safe integers. */
export function safeLimits(kind: IntKind): [number, number] {
  const { min, max } = INT_LIMITS[kind];
  return [Math.max(Number(min), -Number.MAX_SAFE_INTEGER), Math.min(Number(max), Number.MAX_SAFE_INTEGER)];
}

const intSpecArb: fc.Arbitrary<TypeSpec> = fc
  .record({
    kind: fc.constantFrom(...INT_KINDS),
    divisor: fc.constantFrom(...SMALL_DIVISORS),
    extra: fc.nat(2),
  })
  .chain(({ kind, divisor, extra }) => {
    const [lo, hi] = safeLimits(kind);
    const base = { t: "int" as const, kind, divisor };
    if (extra === 1) {
      // A modulus M (in packed units) such that every wrapped value fits the kind.
      return fc
        .integer({ min: 1, max: Math.min(hi, 2 ** 31) })
        .map((m) => ({ ...base, modulus: m / divisor }));
    }
    if (extra === 2) {
      return fc
        .tuple(fc.integer({ min: Math.max(lo, -(2 ** 31)), max: Math.min(hi, 2 ** 31) }), fc.nat(5000))
        .map(([a, span]) => ({
          ...base,
          range: [a / divisor, Math.min(a + span, hi) / divisor] as [number, number],
        }));
    }
    return fc.constant(base);
  });

const floatSpecArb: fc.Arbitrary<TypeSpec> = fc
  .record({
    kind: fc.constantFrom<FloatKind>("float32", "float64"),
    divisor: fc.constantFrom(1, 1, 10, 100),
    range: fc.option(fc.tuple(fc.integer({ min: -1000, max: 1000 }), fc.nat(2000)), { nil: undefined }),
  })
  .map(({ kind, divisor, range }) => ({
    t: "float" as const,
    kind,
    // float64 with a divisor does not round-trip exactly (x / d * d may differ from x by an ulp).
    divisor: kind === "float64" ? 1 : divisor,
    ...(range ? { range: [range[0], range[0] + range[1]] as [number, number] } : {}),
  }));

/** Length rules that never make a zero-size type (so arrays of them can hold elements). */
const lengthSpecArb: fc.Arbitrary<LengthSpec> = fc.oneof(
  fc.constant({}),
  fc.integer({ min: 1, max: 5 }).map((fixed) => ({ fixed })),
  fc
    .tuple(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 0, max: 4 }))
    .map(([min, span]) => ({ range: [min, Math.max(1, min + span)] as [number, number] })),
);

const leafSpecArb: fc.Arbitrary<TypeSpec> = fc.oneof(
  intSpecArb,
  floatSpecArb,
  fc.constant({ t: "char" as const }),
  fc.record({
    t: fc.constant("bytes" as const),
    kind: fc.constantFrom("string", "blob", "blob32"),
    length: lengthSpecArb,
  }),
);

export const typeSpecArb: fc.Arbitrary<TypeSpec> = fc.letrec<{
  spec: TypeSpec;
  array: TypeSpec;
  struct: TypeSpec;
}>((tie) => ({
  spec: fc.oneof(
    { maxDepth: 3, depthIdentifier: "type" },
    leafSpecArb,
    leafSpecArb,
    tie("array"),
    tie("struct"),
  ),
  array: fc.record({ t: fc.constant("array" as const), element: tie("spec"), length: lengthSpecArb }),
  struct: fc.record({
    t: fc.constant("struct" as const),
    members: fc.array(tie("spec"), { minLength: 1, maxLength: 4 }),
  }),
})).spec;

function buildLength(spec: LengthSpec): Length {
  if ("fixed" in spec) return { fixed: spec.fixed };
  return spec.range ? { range: { min: spec.range[0], max: spec.range[1] } } : {};
}

/** Turns a spec into a model type; structs are added to `file`. */
export function buildType(spec: TypeSpec, file: DcFile): DcType {
  switch (spec.t) {
    case "int":
    case "float": {
      const ranges = spec.range ? [{ min: spec.range[0], max: spec.range[1] }] : undefined;
      const modulus = spec.t === "int" ? spec.modulus : undefined;
      return {
        kind: spec.kind,
        divisor: spec.divisor,
        ...(modulus !== undefined ? { modulus } : {}),
        ...(ranges ? { ranges } : {}),
      } as DcType;
    }
    case "char":
      return { kind: "char" };
    case "bytes":
      return { kind: spec.kind, length: buildLength(spec.length) };
    case "array":
      return { kind: "array", element: buildType(spec.element, file), length: buildLength(spec.length) };
    case "struct": {
      const struct = file.addStruct(`S${file.structs.length}`);
      spec.members.forEach((member, i) => {
        file.addField(parameterField(struct, { name: `m${i}`, type: buildType(member, file) }, []));
      });
      return { kind: "struct", name: struct.name, target: () => struct };
    }
  }
}

/** A fresh file with `dclass C { f(<type> p); }` for a spec; returns the field. */
export function fieldForSpec(spec: TypeSpec): Field {
  const file = new DcFile();
  const type = buildType(spec, file);
  const dclass = file.addClass("C");
  return file.addField(atomicField(dclass, "f", [{ name: "p", type }], []));
}

// ---------------------------------------------------------------------------------------------
// Values valid for a type.

/** How many elements / bytes beyond the minimum a generated variable-length value may have. */
const LENGTH_SPREAD = 6;

function lengthArb(length: Length): fc.Arbitrary<number> {
  if (isFixedLength(length)) return fc.constant(length.fixed);
  const min = length.range?.min ?? 0;
  const max = Math.min(length.range?.max ?? min + LENGTH_SPREAD, min + LENGTH_SPREAD);
  return fc.integer({ min, max });
}

const codePointArb = fc.oneof(
  fc.integer({ min: 0, max: 0x7f }),
  fc.integer({ min: 0x80, max: 0x7ff }),
  fc.integer({ min: 0x800, max: 0xffff }).filter((c) => c < 0xd800 || c > 0xdfff),
  fc.integer({ min: 0x10000, max: 0x10ffff }),
);

function utf8Size(codePoint: number): number {
  return codePoint < 0x80 ? 1 : codePoint < 0x800 ? 2 : codePoint < 0x10000 ? 3 : 4;
}

/** Well-formed text whose UTF-8 encoding is exactly `bytes` long. */
export function textOfBytes(bytes: number): fc.Arbitrary<string> {
  return fc.array(codePointArb, { maxLength: bytes }).map((codePoints) => {
    let text = "";
    let left = bytes;
    for (const codePoint of codePoints) {
      const size = utf8Size(codePoint);
      if (size > left) continue;
      text += String.fromCodePoint(codePoint);
      left -= size;
    }
    return text + "z".repeat(left);
  });
}

/** The packed integers an int type accepts, as inclusive intervals (64-bit ones clipped to safe integers). */
export function allowedPacked(type: IntType): [number, number][] {
  let [lo, hi] = safeLimits(type.kind);
  if (type.divisor !== 1) {
    // Past 2^48, value / divisor * divisor may miss the integer by more than the rounding can absorb.
    lo = Math.max(lo, -FIXED_POINT_LIMIT);
    hi = Math.min(hi, FIXED_POINT_LIMIT);
  }
  if (type.modulus !== undefined) {
    lo = Math.max(lo, 0);
    hi = Math.min(hi, Math.floor(type.modulus * type.divisor + 0.5) - 1);
  }
  const ranges = type.ranges?.length ? type.ranges : [{ min: lo / type.divisor, max: hi / type.divisor }];
  return ranges
    .map((r): [number, number] => [
      Math.max(lo, Math.floor(r.min * type.divisor + 0.5)),
      Math.min(hi, Math.floor(r.max * type.divisor + 0.5)),
    ])
    .filter(([a, b]) => a <= b);
}

function intValueArb(type: IntType): fc.Arbitrary<DcValue> {
  const intervals = allowedPacked(type);
  if (intervals.length === 0) throw new Error(`no value fits ${JSON.stringify(type)}`);
  const packed = fc.oneof(...intervals.map(([min, max]) => fc.integer({ min, max })));
  if (isBigIntValued(type)) {
    if (type.ranges?.length || type.modulus !== undefined) return packed.map((k) => BigInt(k));
    const { min, max } = INT_LIMITS[type.kind];
    return fc.bigInt({ min, max });
  }
  return type.divisor === 1 ? packed : packed.map((k) => k / type.divisor);
}

function floatValueArb(type: DcType & { kind: FloatKind }): fc.Arbitrary<DcValue> {
  const range = type.ranges?.[0];
  const single = type.kind === "float32";
  const d = type.divisor;
  let base: fc.Arbitrary<number>;
  if (range) {
    const min = single ? Math.fround(range.min * d) : range.min * d;
    const max = single ? Math.fround(range.max * d) : range.max * d;
    base = single ? fc.float({ min, max, noNaN: true }) : fc.double({ min, max, noNaN: true });
  } else {
    base = single ? fc.float() : fc.double();
  }
  return d === 1 ? base : base.map((packed) => packed / d);
}

function membersOf(target: DStruct | DClass): Field[] {
  const fields: Field[] = [];
  if (target.kind === "class" && target.constructorField) fields.push(target.constructorField);
  for (const field of target.fields) if (field.kind !== "molecular") fields.push(field);
  return fields;
}

/** Values valid for a type. */
export function valueArb(type: DcType): fc.Arbitrary<DcValue> {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "int64":
    case "uint8":
    case "uint16":
    case "uint32":
    case "uint64":
      return intValueArb(type);
    case "float32":
    case "float64":
      return floatValueArb(type);
    case "char":
      return fc.integer({ min: 0, max: 0xff }).map((code) => String.fromCharCode(code));
    case "string":
      return lengthArb(type.length).chain(textOfBytes);
    case "blob":
    case "blob32":
      return lengthArb(type.length).chain((n) => fc.uint8Array({ minLength: n, maxLength: n }));
    case "array":
      if (type.element.kind === "char") return lengthArb(type.length).chain(textOfBytes);
      return lengthArb(type.length).chain((n) =>
        fc.array(valueArb(type.element), { minLength: n, maxLength: n }),
      ) as fc.Arbitrary<DcValue>;
    case "struct": {
      const shape: Record<string, fc.Arbitrary<DcValue>> = {};
      for (const field of membersOf(type.target())) shape[field.name] = fieldValueArb(field);
      return fc.record(shape) as fc.Arbitrary<DcValue>;
    }
  }
}

/** Values valid for a field: one value for a parameter field, a tuple otherwise. */
export function fieldValueArb(field: Field): fc.Arbitrary<FieldValue> {
  if (field.kind === "parameter") return valueArb(field.param.type);
  return fc.tuple(...field.elements.map((param) => valueArb(param.type))) as fc.Arbitrary<FieldValue>;
}

/**
 * Compiles DC types and fields into codecs: closures that write a value into a DatagramWriter, read
 * one back from a DatagramReader, validating both ways, and skip one (checked as reading checks it,
 * without building the value: where a receiver only needs to know where a value ends). A codec is built once
 * per type or field object and cached in a WeakMap, so the model must be complete before the first
 * value is packed.
 *
 * The wire rules, as Astron and Panda3D pack them (little-endian throughout):
 * - `string`, `blob`, `char[]`: a uint16 byte count then the bytes; `blob32`: a uint32 byte count;
 *   a fixed length (`string(32)`, or a range with min = max) has no prefix and must match exactly;
 * - arrays: a uint16 prefix giving the BYTE length of the elements, then the elements; a fixed count
 *   of fixed-size elements has no prefix, but a fixed count of variable-size elements (`string[3]`)
 *   keeps the byte-length prefix, as both Astron and Panda3D do;
 * - structs: their fields in order; a dclass used as a type: its constructor (if any), then its
 *   non-molecular fields in field-id order, each packed as the field itself.
 */

import type { DClass, DStruct } from "../dc/dclass.ts";
import type { Field } from "../dc/field.ts";
import type { Parameter } from "../dc/parameter.ts";
import type { ArrayType, BytesType, DcType, Length } from "../dc/types.ts";
import { isFixedLength, SCALAR_BYTES } from "../dc/types.ts";
import type { DcValue } from "../dc/value.ts";
import { badLength, truncated, withPathPrefix, wrongType } from "./errors.ts";
import { floatCodec, intCodec } from "./numeric.ts";
import type { DatagramReader } from "./reader.ts";
import type { DatagramWriter } from "./writer.ts";

export interface Codec {
  /** Validates `value` and appends its packed form; throws DcPackError (path relative to the value). */
  readonly write: (w: DatagramWriter, value: unknown) => void;
  /** Reads one value, validating it; throws DcPackError on bad or missing bytes. */
  readonly read: (r: DatagramReader) => DcValue;
  /**
   * Moves past one value, checked as `read` checks it (the same DcPackError for the same bytes), without
   * building it: no allocation for numbers, text, bytes or arrays and structs of them.
   */
  readonly skip: (r: DatagramReader) => void;
}

const UINT16_MAX = 0xffff;
const UINT32_MAX = 0xffffffff;
const LATIN1_MAX = 0xff;
const PROTO_KEY = "__proto__";

const typeCodecs = new WeakMap<DcType, Codec>();
const structCodecs = new WeakMap<DStruct | DClass, Codec>();
const fieldCodecs = new WeakMap<Field, Codec>();

/** The (cached) codec of a type. */
export function typeCodec(type: DcType): Codec {
  let codec = typeCodecs.get(type);
  if (codec === undefined) {
    codec = compileType(type);
    typeCodecs.set(type, codec);
  }
  return codec;
}

/** The (cached) codec of a field: its value is a tuple for atomic and molecular fields. */
export function fieldCodec(field: Field): Codec {
  let codec = fieldCodecs.get(field);
  if (codec === undefined) {
    codec = withPath(`${field.owner.name}.${field.name}`, compileFieldBody(field));
    fieldCodecs.set(field, codec);
  }
  return codec;
}

function compileType(type: DcType): Codec {
  switch (type.kind) {
    case "int8":
    case "int16":
    case "int32":
    case "int64":
    case "uint8":
    case "uint16":
    case "uint32":
    case "uint64":
      return intCodec(type);
    case "float32":
    case "float64":
      return floatCodec(type);
    case "char":
      return charCodec();
    case "string":
      return textCodec(type.length, "string");
    case "blob":
    case "blob32":
      return blobCodec(type);
    case "array":
      return type.element.kind === "char" ? textCodec(type.length, "char array") : arrayCodec(type);
    case "struct":
      return structCodec(type.target());
  }
}

function compileFieldBody(field: Field): Codec {
  switch (field.kind) {
    case "parameter":
      return typeCodec(field.param.type);
    case "atomic":
      return tupleCodec(
        field.elements,
        field.elements.map((param, i) => elementLabel(param, i)),
      );
    case "molecular": {
      const labels = field.atoms.flatMap((atom) =>
        atom.kind === "parameter"
          ? [`.${atom.name}`]
          : atom.elements.map((p, i) => `.${atom.name}${elementLabel(p, i)}`),
      );
      return tupleCodec(field.elements, labels);
    }
  }
}

function elementLabel(param: Parameter, index: number): string {
  return param.name ? `.${param.name}` : `[${index}]`;
}

/** Wraps a codec so that errors passing through it get `segment` in front of their path. */
function withPath(segment: string, inner: Codec): Codec {
  return {
    write(w, value) {
      try {
        inner.write(w, value);
      } catch (error) {
        throw withPathPrefix(error, segment);
      }
    },
    read(r) {
      try {
        return inner.read(r);
      } catch (error) {
        throw withPathPrefix(error, segment);
      }
    },
    skip(r) {
      try {
        inner.skip(r);
      } catch (error) {
        throw withPathPrefix(error, segment);
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Length rules

interface LengthRule {
  /** Exact length with no prefix on the wire, if fixed. */
  readonly fixed: number | undefined;
  readonly min: number;
  readonly max: number;
  /** "exactly 32", "0-256", "any number of". */
  readonly text: string;
}

/** A length rule; a range whose min equals its max is a fixed length, as in Panda3D and Astron. */
function lengthRule(length: Length, prefixMax: number): LengthRule {
  if (isFixedLength(length))
    return { fixed: length.fixed, min: length.fixed, max: length.fixed, text: `exactly ${length.fixed}` };
  const range = length.range;
  if (range === undefined) return { fixed: undefined, min: 0, max: prefixMax, text: `0-${prefixMax}` };
  if (range.min === range.max)
    return { fixed: range.min, min: range.min, max: range.max, text: `exactly ${range.min}` };
  return {
    fixed: undefined,
    min: range.min,
    max: Math.min(range.max, prefixMax),
    text: `${range.min}-${range.max}`,
  };
}

function fitsRule(rule: LengthRule, length: number): boolean {
  return length >= rule.min && length <= rule.max;
}

// ---------------------------------------------------------------------------------------------
// Text and bytes

/** One byte, seen as a one-character string; characters U+0000-U+00FF map to their byte (Latin-1). */
function charCodec(): Codec {
  return {
    write(w, value) {
      if (typeof value !== "string") throw wrongType("a one-character string for char", value);
      if (value.length !== 1) throw badLength(`expected exactly one character for char, got ${value.length}`);
      const code = value.charCodeAt(0);
      if (code > LATIN1_MAX) throw wrongType("a character from U+0000 to U+00FF for char", value);
      w.writeUint8(code);
    },
    read(r) {
      return String.fromCharCode(r.readUint8());
    },
    skip(r) {
      r.skip(1);
    },
  };
}

/**
 * `string` and `char[]`: UTF-8 text whose length rule counts bytes. Decoding is lenient: invalid
 * UTF-8 becomes U+FFFD, so such bytes do not survive a round trip through a string.
 */
function textCodec(length: Length, what: string): Codec {
  const rule = lengthRule(length, UINT16_MAX);
  const fixed = rule.fixed;
  const expected = `${rule.text} bytes of UTF-8 for ${what}`;
  return {
    write(w, value) {
      if (typeof value !== "string") throw wrongType(`text for ${what}`, value);
      // UTF-8 never takes fewer bytes than UTF-16 code units: reject obviously long text up front.
      if (value.length > rule.max)
        throw badLength(`expected ${expected}, got at least ${value.length} bytes`);
      if (fixed !== undefined) {
        const count = w.writeUtf8(value);
        if (count !== fixed) throw badLength(`expected ${expected}, got ${count}`);
        return;
      }
      const at = w.reserve(2);
      const count = w.writeUtf8(value);
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, got ${count}`);
      w.patchUint16(at, count);
    },
    read(r) {
      const count = fixed ?? r.readUint16();
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, read a length of ${count}`);
      return r.readUtf8(count);
    },
    skip(r) {
      // decoding is lenient (any bytes are text), so the length is all there is to check
      const count = fixed ?? r.readUint16();
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, read a length of ${count}`);
      r.skip(count);
    },
  };
}

/** `blob` (uint16 byte count) and `blob32` (uint32 byte count): Uint8Array values, copied on read. */
function blobCodec(type: BytesType): Codec {
  const wide = type.kind === "blob32";
  const rule = lengthRule(type.length, wide ? UINT32_MAX : UINT16_MAX);
  const fixed = rule.fixed;
  const expected = `${rule.text} bytes for ${type.kind}`;
  return {
    write(w, value) {
      if (!(value instanceof Uint8Array)) throw wrongType(`a Uint8Array for ${type.kind}`, value);
      if (!fitsRule(rule, value.length)) throw badLength(`expected ${expected}, got ${value.length}`);
      if (fixed === undefined) {
        if (wide) w.writeUint32(value.length);
        else w.writeUint16(value.length);
      }
      w.writeBytes(value);
    },
    read(r) {
      const count = fixed ?? (wide ? r.readUint32() : r.readUint16());
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, read a length of ${count}`);
      return r.readBytes(count);
    },
    skip(r) {
      const count = fixed ?? (wide ? r.readUint32() : r.readUint16());
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, read a length of ${count}`);
      r.skip(count);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Arrays

function arrayCodec(type: ArrayType): Codec {
  const element = typeCodec(type.element);
  const elementSize = packedSize(type.element);
  // A uint16 byte length cannot hold more than 65535 elements (each takes at least one byte).
  const rule = lengthRule(type.length, UINT16_MAX);
  const fixedCount = rule.fixed;
  const prefixed = fixedCount === undefined || elementSize === undefined;
  const expected = `${rule.text} elements`;

  const writeElements = (w: DatagramWriter, items: readonly unknown[]): void => {
    for (let i = 0; i < items.length; i++) {
      try {
        element.write(w, items.at(i)); // not items[i]: see tupleCodec
      } catch (error) {
        throw withPathPrefix(error, `[${i}]`);
      }
    }
  };

  const readCount = (r: DatagramReader, count: number, out: DcValue[]): void => {
    for (let i = 0; i < count; i++) {
      try {
        out.push(element.read(r));
      } catch (error) {
        throw withPathPrefix(error, `[${i}]`);
      }
    }
  };

  const readUntil = (r: DatagramReader, end: number, out: DcValue[]): void => {
    const outerEnd = r.end;
    r.end = end;
    try {
      while (r.position < end) {
        try {
          out.push(element.read(r));
        } catch (error) {
          throw withPathPrefix(error, `[${out.length}]`);
        }
      }
    } finally {
      r.end = outerEnd;
    }
  };

  const skipCount = (r: DatagramReader, count: number): void => {
    for (let i = 0; i < count; i++) {
      try {
        element.skip(r);
      } catch (error) {
        throw withPathPrefix(error, `[${i}]`);
      }
    }
  };

  /** Skips the elements up to `end`; returns how many there were. */
  const skipUntil = (r: DatagramReader, end: number): number => {
    const outerEnd = r.end;
    r.end = end;
    let count = 0;
    try {
      while (r.position < end) {
        try {
          element.skip(r);
        } catch (error) {
          throw withPathPrefix(error, `[${count}]`);
        }
        count++;
      }
    } finally {
      r.end = outerEnd;
    }
    return count;
  };

  return {
    write(w, value) {
      if (!Array.isArray(value)) throw wrongType("an array", value);
      if (!fitsRule(rule, value.length)) throw badLength(`expected ${expected}, got ${value.length}`);
      if (!prefixed) {
        writeElements(w, value);
        return;
      }
      if (elementSize === 0 && value.length > 0) {
        throw badLength(`the elements of this array pack to 0 bytes, so only an empty array can be sent`);
      }
      const at = w.reserve(2);
      writeElements(w, value);
      const byteLength = w.position - at - 2;
      if (byteLength > UINT16_MAX) {
        throw badLength(
          `the elements pack to ${byteLength} bytes, more than the ${UINT16_MAX} a uint16 prefix allows`,
        );
      }
      w.patchUint16(at, byteLength);
    },
    read(r) {
      const out: DcValue[] = [];
      if (!prefixed) {
        r.need(fixedCount! * elementSize!); // fail at once rather than element by element
        readCount(r, fixedCount!, out);
        return out;
      }
      const byteLength = r.readUint16();
      if (byteLength > r.remaining) {
        throw truncated(`the array's length prefix says ${byteLength} bytes but only ${r.remaining} remain`);
      }
      if (elementSize === undefined) {
        readUntil(r, r.position + byteLength, out);
      } else if (elementSize === 0) {
        if (byteLength !== 0) throw badLength(`elements of 0 bytes cannot fill ${byteLength} bytes`);
      } else {
        if (byteLength % elementSize !== 0) {
          throw badLength(`${byteLength} bytes is not a whole number of ${elementSize}-byte elements`);
        }
        readCount(r, byteLength / elementSize, out);
      }
      if (!fitsRule(rule, out.length)) throw badLength(`expected ${expected}, read ${out.length}`);
      return out;
    },
    skip(r) {
      if (!prefixed) {
        r.need(fixedCount! * elementSize!);
        skipCount(r, fixedCount!);
        return;
      }
      const byteLength = r.readUint16();
      if (byteLength > r.remaining) {
        throw truncated(`the array's length prefix says ${byteLength} bytes but only ${r.remaining} remain`);
      }
      let count = 0;
      if (elementSize === undefined) {
        count = skipUntil(r, r.position + byteLength);
      } else if (elementSize === 0) {
        if (byteLength !== 0) throw badLength(`elements of 0 bytes cannot fill ${byteLength} bytes`);
      } else {
        if (byteLength % elementSize !== 0) {
          throw badLength(`${byteLength} bytes is not a whole number of ${elementSize}-byte elements`);
        }
        count = byteLength / elementSize;
        skipCount(r, count);
      }
      if (!fitsRule(rule, count)) throw badLength(`expected ${expected}, read ${count}`);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Structs, dclasses as types, and argument tuples

interface Member {
  readonly name: string;
  readonly codec: Codec;
  readonly label: string;
  /** A member named `__proto__` must be read and written as an own property, never the prototype. */
  readonly special: boolean;
}

/** The members a struct or dclass packs: a dclass's constructor, then its non-molecular fields. */
function membersOf(target: DStruct | DClass): Member[] {
  const fields: Field[] = [];
  if (target.kind === "class" && target.constructorField) fields.push(target.constructorField);
  for (const field of target.fields) if (field.kind !== "molecular") fields.push(field);
  return fields.map((field) => ({
    name: field.name,
    codec: compileFieldBody(field),
    label: `.${field.name}`,
    special: field.name === PROTO_KEY,
  }));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === "object" && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

/** Struct values are objects keyed by field name; extra keys are ignored. Built lazily (recursion). */
function structCodec(target: DStruct | DClass): Codec {
  const cached = structCodecs.get(target);
  if (cached !== undefined) return cached;
  let members: Member[] | undefined;
  const what = `an object with the fields of ${target.kind === "class" ? "dclass" : "struct"} ${target.name}`;
  const codec: Codec = {
    write(w, value) {
      members ??= membersOf(target);
      if (!isPlainObject(value)) throw wrongType(what, value);
      for (const member of members) {
        try {
          const item = member.special
            ? Object.getOwnPropertyDescriptor(value, PROTO_KEY)?.value
            : value[member.name];
          member.codec.write(w, item);
        } catch (error) {
          throw withPathPrefix(error, member.label);
        }
      }
    },
    read(r) {
      members ??= membersOf(target);
      const out: Record<string, DcValue> = {};
      for (const member of members) {
        try {
          const value = member.codec.read(r);
          if (member.special)
            Object.defineProperty(out, PROTO_KEY, {
              value,
              enumerable: true,
              writable: true,
              configurable: true,
            });
          else out[member.name] = value;
        } catch (error) {
          throw withPathPrefix(error, member.label);
        }
      }
      return out;
    },
    skip(r) {
      members ??= membersOf(target);
      for (const member of members) {
        try {
          member.codec.skip(r);
        } catch (error) {
          throw withPathPrefix(error, member.label);
        }
      }
    },
  };
  structCodecs.set(target, codec);
  return codec;
}

/**
 * The arguments of an atomic or molecular field: an array with exactly one value per element.
 *
 * Writers read value arrays with `value.at(i)`, not `value[i]`: once a `value[i]` load site has seen
 * an array of doubles, V8 converts every array of small integers it later meets there into doubles
 * (a new backing store each time, and the caller's array changes kind), which made a tick of integer
 * positions ~30% slower after a single fractional one. `at(i)` does not do that.
 */
function tupleCodec(elements: readonly Parameter[], labels: readonly string[]): Codec {
  const codecs = elements.map((param) => typeCodec(param.type));
  const count = codecs.length;
  const names = labels.map((label) => label.replace(/^\./, "")).join(", ");
  const what = `an array of ${count} argument(s) (${names})`;
  return {
    write(w, value) {
      if (!Array.isArray(value)) throw wrongType(what, value);
      if (value.length !== count) throw badLength(`expected ${what}, got ${value.length}`);
      for (let i = 0; i < count; i++) {
        try {
          codecs[i]!.write(w, value.at(i));
        } catch (error) {
          throw withPathPrefix(error, labels[i]!);
        }
      }
    },
    read(r) {
      const out: DcValue[] = new Array(count);
      for (let i = 0; i < count; i++) {
        try {
          out[i] = codecs[i]!.read(r);
        } catch (error) {
          throw withPathPrefix(error, labels[i]!);
        }
      }
      return out;
    },
    skip(r) {
      for (let i = 0; i < count; i++) {
        try {
          codecs[i]!.skip(r);
        } catch (error) {
          throw withPathPrefix(error, labels[i]!);
        }
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Fixed sizes

const structSizes = new WeakMap<DStruct | DClass, number | null>();
const VISITING = -1;

/**
 * The packed size in bytes if every value of the type packs to the same size, else undefined. Follows
 * Panda3D for dclasses used as types (atomic fields count) and treats a length range with min = max
 * as fixed; it decides whether arrays get a prefix.
 */
export function packedSize(type: DcType): number | undefined {
  switch (type.kind) {
    case "string":
    case "blob":
    case "blob32":
      return lengthRule(type.length, UINT32_MAX).fixed;
    case "array": {
      const count = lengthRule(type.length, UINT16_MAX).fixed;
      if (count === undefined) return undefined;
      const each = packedSize(type.element);
      return each === undefined ? undefined : each * count;
    }
    case "struct":
      return structSize(type.target());
    default:
      return SCALAR_BYTES[type.kind];
  }
}

function structSize(target: DStruct | DClass): number | undefined {
  const known = structSizes.get(target);
  if (known === VISITING) return undefined; // a struct reaching itself cannot have a fixed size
  if (known !== undefined) return known ?? undefined;
  structSizes.set(target, VISITING);
  let total: number | undefined = 0;
  const fields: Field[] = [];
  if (target.kind === "class" && target.constructorField) fields.push(target.constructorField);
  fields.push(...target.fields.filter((field) => field.kind !== "molecular"));
  for (const field of fields) {
    for (const param of field.elements) {
      const size = packedSize(param.type);
      if (size === undefined || total === undefined) total = undefined;
      else total += size;
    }
  }
  structSizes.set(target, total ?? null);
  return total;
}

/**
 * Default values, as Panda3D's pack_default_value chooses them when no default is declared:
 * zero for numbers (or the lowest declared bound when zero is not allowed), NUL characters and zero
 * bytes for text and blobs of the minimum length, the minimum number of default elements for arrays,
 * and each member's declared default or its type's default for structs.
 */

import type { DClass, DStruct } from "../dc/dclass.ts";
import type { Field } from "../dc/field.ts";
import type { Parameter } from "../dc/parameter.ts";
import type { DcType, Length, NumericRange } from "../dc/types.ts";
import { isBigIntValued, isDatetime, isFixedLength } from "../dc/types.ts";
import type { DcValue, FieldValue } from "../dc/value.ts";

const NUL = "\0";

/** The default of a type: a fresh value each call. */
export function defaultValue(type: DcType): DcValue {
  switch (type.kind) {
    case "char":
      return NUL;
    case "string":
      return NUL.repeat(minimumLength(type.length));
    case "blob":
    case "blob32":
      return new Uint8Array(minimumLength(type.length));
    case "array": {
      const count = minimumLength(type.length);
      if (type.element.kind === "char") return NUL.repeat(count);
      return Array.from({ length: count }, () => defaultValue(type.element));
    }
    case "struct":
      return structDefault(type.target());
    default: {
      const start = numericDefault(type.ranges);
      if (isDatetime(type)) return new Date(start);
      return isBigIntValued(type) ? BigInt(start) : start;
    }
  }
}

/** The default of a field: the single value of a parameter field, a tuple otherwise. */
export function defaultFieldValue(field: Field): FieldValue {
  if (field.kind === "parameter") return parameterDefault(field.param);
  return field.elements.map(parameterDefault);
}

/** A parameter's declared default, or its type's default. */
export function parameterDefault(param: Parameter): DcValue {
  return param.default ?? defaultValue(param.type);
}

function numericDefault(ranges: readonly NumericRange[] | undefined): number {
  if (ranges === undefined || ranges.length === 0) return 0;
  if (ranges.some((range) => range.min <= 0 && range.max >= 0)) return 0;
  return ranges[0]!.min;
}

function minimumLength(length: Length): number {
  if (isFixedLength(length)) return length.fixed;
  return length.range?.min ?? 0;
}

function structDefault(target: DStruct | DClass): DcValue {
  const out: Record<string, DcValue> = {};
  const fields: Field[] = [];
  if (target.kind === "class" && target.constructorField) fields.push(target.constructorField);
  for (const field of target.fields) if (field.kind !== "molecular") fields.push(field);
  for (const field of fields) {
    Object.defineProperty(out, field.name, {
      value: defaultFieldValue(field),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

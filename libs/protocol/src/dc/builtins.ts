import type { DcType } from "./types.ts";

/**
 * The types the DC language names itself: the scalars, and Panda3D's old array type names, which
 * are variable arrays of their element type (kept under their own name so they print and hash as
 * Panda3D wrote them).
 */
export const BUILTIN_TYPES: Readonly<Record<string, DcType>> = {
  int8: { kind: "int8", divisor: 1 },
  int16: { kind: "int16", divisor: 1 },
  int32: { kind: "int32", divisor: 1 },
  int64: { kind: "int64", divisor: 1 },
  uint8: { kind: "uint8", divisor: 1 },
  uint16: { kind: "uint16", divisor: 1 },
  uint32: { kind: "uint32", divisor: 1 },
  uint64: { kind: "uint64", divisor: 1 },
  float32: { kind: "float32", divisor: 1 },
  float64: { kind: "float64", divisor: 1 },
  char: { kind: "char" },
  string: { kind: "string", length: {} },
  blob: { kind: "blob", length: {} },
  blob32: { kind: "blob32", length: {} },
  int8array: { kind: "array", element: { kind: "int8", divisor: 1 }, length: {}, alias: "int8array" },
  int16array: { kind: "array", element: { kind: "int16", divisor: 1 }, length: {}, alias: "int16array" },
  int32array: { kind: "array", element: { kind: "int32", divisor: 1 }, length: {}, alias: "int32array" },
  uint8array: { kind: "array", element: { kind: "uint8", divisor: 1 }, length: {}, alias: "uint8array" },
  uint16array: { kind: "array", element: { kind: "uint16", divisor: 1 }, length: {}, alias: "uint16array" },
  uint32array: { kind: "array", element: { kind: "uint32", divisor: 1 }, length: {}, alias: "uint32array" },
};

/** The names of the built-in types; a field starting with one of these is a parameter field. */
export const BUILTIN_TYPE_NAMES: ReadonlySet<string> = new Set(Object.keys(BUILTIN_TYPES));

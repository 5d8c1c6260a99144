/**
 * A field's nested change as bytes of its own: what the zone AI sends beside the field's new whole value,
 * the state server forwards, and a client applies to the value it holds. The bytes are `nested(type)` of
 * a parameter field or `tuple(arguments)` of an atomic one, as `wire.ts` lays them out (no field key:
 * the message carrying them names the field).
 */
import type { Field } from "../dc/field.ts";
import type { FieldValue } from "../dc/value.ts";
import { DcPackError } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import { type StoredField, tupleShape } from "./object-state.ts";
import { isEditableType, type NodeDelta, TrackedStruct, track } from "./tracked.ts";
import { readFieldNested, writeFieldNested } from "./wire.ts";

/**
 * Whether a field's value holds an array or a struct that can change inside (a container field): only
 * such a field has nested changes. A molecular field never does (its atoms do).
 */
export function isContainerField(field: Field): field is StoredField {
  if (field.kind === "parameter") return isEditableType(field.param.type);
  if (field.kind === "atomic") return field.elements.some((element) => isEditableType(element.type));
  return false;
}

/** A field's nested change as fresh bytes. */
export function encodeFieldDelta(field: StoredField, delta: NodeDelta): Uint8Array {
  const w = new DatagramWriter(64);
  writeFieldNested(w, field, delta);
  return w.toBytes();
}

/** Reads a field's nested change from exactly `bytes[start, end)`; a DcPackError if they hold no such change. */
export function decodeFieldDelta(
  field: StoredField,
  bytes: Uint8Array,
  start = 0,
  end = bytes.length,
): NodeDelta {
  const r = new DatagramReader(bytes, start, end);
  const delta = readFieldNested(r, field);
  if (r.remaining !== 0) {
    throw new DcPackError("trailing_bytes", `${r.remaining} byte(s) follow the change of ${field.name}`);
  }
  return delta;
}

/** The field's value with a nested change applied, as a new plain value (`value` is not changed). */
export function applyFieldDelta(field: StoredField, value: FieldValue, delta: NodeDelta): FieldValue {
  const node =
    field.kind === "atomic"
      ? TrackedStruct.withShape(tupleShape(field), value as readonly unknown[])
      : track(value, field.param.type);
  node.applyDelta(delta);
  return node.toValue() as FieldValue;
}

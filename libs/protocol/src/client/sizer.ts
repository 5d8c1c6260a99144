/**
 * Where a packed field value ends, as the dclass packer finds it: the FieldValueSizer of the messages a
 * client sends (named by global field id), and the end of a value or nested change named by a
 * class-local key in the messages the agent sends.
 */

import type { Field } from "../dc/field.ts";
import type { DcFile } from "../dc/file.ts";
import { isContainerField } from "../delta/field-delta.ts";
import { readFieldNested } from "../delta/wire.ts";
import { skipField } from "../pack/api.ts";
import { DcPackError, type DcPackErrorCode } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import type { FieldSizeFailure, FieldValueSizer } from "./messages.ts";

/** Pack errors that mean "well-formed but outside the declared limits" (ejection 127), not malformed. */
const CONSTRAINT_CODES: ReadonlySet<DcPackErrorCode> = new Set(["out_of_range", "bad_length"]);

const reader = new DatagramReader(new Uint8Array(0));

/**
 * Where the whole value (or, `nested`, the nested change) of `field` starting at `offset` ends; never
 * throws. A nested change of a field that holds no container is "bad_value".
 */
export function fieldValueEnd(
  field: Field,
  nested: boolean,
  bytes: Uint8Array,
  offset: number,
): number | FieldSizeFailure {
  try {
    reader.reset(bytes, offset, bytes.length);
    if (!nested) skipField(reader, field);
    else if (isContainerField(field)) readFieldNested(reader, field);
    else return "bad_value";
    return reader.position;
  } catch (error) {
    if (error instanceof DcPackError && CONSTRAINT_CODES.has(error.code)) return "out_of_range";
    return "bad_value";
  }
}

/** A sizer that reads each value with the packer of its field in `dc`; it never throws. */
export function dcFieldSizer(dc: DcFile): FieldValueSizer {
  return (fieldId: number, bytes: Uint8Array, offset: number): number | FieldSizeFailure => {
    const field = dc.fieldById(fieldId);
    if (field === undefined) return "unknown_field";
    return fieldValueEnd(field, false, bytes, offset);
  };
}

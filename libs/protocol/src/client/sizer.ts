/**
 * The dclass-driven FieldValueSizer: a field value ends where the dclass packer finishes reading it.
 */

import type { DcFile } from "../dc/file.ts";
import { readField } from "../pack/api.ts";
import { DcPackError, type DcPackErrorCode } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import type { FieldSizeFailure, FieldValueSizer } from "./messages.ts";

/** Pack errors that mean "well-formed but outside the declared limits" (ejection 127), not malformed. */
const CONSTRAINT_CODES: ReadonlySet<DcPackErrorCode> = new Set(["out_of_range", "bad_length"]);

/** A sizer that reads each value with the packer of its field in `dc`; it never throws. */
export function dcFieldSizer(dc: DcFile): FieldValueSizer {
  const reader = new DatagramReader(new Uint8Array(0));
  return (fieldId: number, bytes: Uint8Array, offset: number): number | FieldSizeFailure => {
    const field = dc.fieldById(fieldId);
    if (field === undefined) return "unknown_field";
    try {
      reader.reset(bytes, offset, bytes.length);
      readField(reader, field);
      return reader.position;
    } catch (error) {
      if (error instanceof DcPackError && CONSTRAINT_CODES.has(error.code)) return "out_of_range";
      return "bad_value";
    }
  };
}

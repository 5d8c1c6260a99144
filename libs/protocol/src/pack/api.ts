/**
 * The packing entry points. Whole-buffer functions (`packField`, `unpackField`, `packValue`,
 * `unpackValue`) and streaming ones that append to a shared DatagramWriter or read sequentially from
 * a DatagramReader (`writeField`, `readField`, `writeValue`, `readValue`).
 *
 * Every failure is a DcPackError. A failed write leaves the writer as it was before the call; a failed
 * read leaves the reader's position unspecified.
 */

import type { Field } from "../dc/field.ts";
import type { DcType } from "../dc/types.ts";
import type { DcValue, FieldValue } from "../dc/value.ts";
import { type Codec, fieldCodec, typeCodec } from "./codec.ts";
import { DcPackError, withPathPrefix } from "./errors.ts";
import { DatagramReader } from "./reader.ts";
import { DatagramWriter } from "./writer.ts";

/** The scratch writer behind packField/packValue is replaced if a huge value made it grow past this. */
const MAX_RETAINED_SCRATCH = 64 * 1024;

let scratch = new DatagramWriter(1024);

function packWith(codec: Codec, value: unknown, label: string): Uint8Array {
  const writer = scratch;
  writer.reset();
  try {
    codec.write(writer, value);
  } catch (error) {
    throw withPathPrefix(error, label);
  }
  const bytes = writer.toBytes();
  if (writer.capacity > MAX_RETAINED_SCRATCH) scratch = new DatagramWriter(1024);
  return bytes;
}

/** Reused by unpackField/unpackValue: re-pointing it at bytes from the same buffer costs nothing. */
const sharedReader = new DatagramReader(new Uint8Array(0));

/**
 * `wholePath` names the whole value in a trailing-bytes error (the codec's own errors carry their path);
 * a field names itself (its name is only put together when there is an error).
 */
function unpackWith(
  codec: Codec,
  bytes: Uint8Array,
  label: string,
  wholePath: string | Field = label,
  start = 0,
  end = bytes.length,
): DcValue {
  const reader = sharedReader;
  reader.reset(bytes, start, end);
  let value: DcValue;
  try {
    value = codec.read(reader);
  } catch (error) {
    throw withPathPrefix(error, label);
  }
  if (reader.remaining !== 0) {
    throw new DcPackError(
      "trailing_bytes",
      `the value ended after ${reader.position} byte(s) but ${reader.remaining} more follow`,
      typeof wholePath === "string" ? wholePath : `${wholePath.owner.name}.${wholePath.name}`,
    );
  }
  return value;
}

/** Packs one field's value (a tuple for atomic and molecular fields) into fresh bytes. */
export function packField(field: Field, value: FieldValue): Uint8Array {
  return packWith(fieldCodec(field), value, "");
}

/** Unpacks one field's value; the bytes must hold exactly that value (no trailing bytes). */
export function unpackField(field: Field, bytes: Uint8Array): FieldValue {
  return unpackWith(fieldCodec(field), bytes, "", field);
}

/** Unpacks one field's value from `bytes[start, end)`, which must hold exactly that value (no copy, no view). */
export function unpackFieldAt(field: Field, bytes: Uint8Array, start: number, end: number): FieldValue {
  return unpackWith(fieldCodec(field), bytes, "", field, start, end);
}

/** Packs a value of a type; `label` names it in error paths. */
export function packValue(type: DcType, value: DcValue, label = ""): Uint8Array {
  return packWith(typeCodec(type), value, label);
}

/** Unpacks a value of a type from exactly these bytes; `label` names it in error paths. */
export function unpackValue(type: DcType, bytes: Uint8Array, label = ""): DcValue {
  return unpackWith(typeCodec(type), bytes, label);
}

/** Appends one field's value to a shared writer; on error the writer is rolled back. */
export function writeField(writer: DatagramWriter, field: Field, value: FieldValue): void {
  writeWith(writer, fieldCodec(field), value, "");
}

/** Reads one field's value at the reader's position, advancing it. */
export function readField(reader: DatagramReader, field: Field): FieldValue {
  return fieldCodec(field).read(reader);
}

/**
 * Moves the reader past one field's value, checked as `readField` checks it (the same DcPackError), without
 * building the value: where a receiver only needs to know where a value ends.
 */
export function skipField(reader: DatagramReader, field: Field): void {
  fieldCodec(field).skip(reader);
}

/** Appends a value of a type to a shared writer; on error the writer is rolled back. */
export function writeValue(writer: DatagramWriter, type: DcType, value: DcValue, label = ""): void {
  writeWith(writer, typeCodec(type), value, label);
}

/** Reads a value of a type at the reader's position, advancing it. */
export function readValue(reader: DatagramReader, type: DcType, label = ""): DcValue {
  try {
    return typeCodec(type).read(reader);
  } catch (error) {
    throw withPathPrefix(error, label);
  }
}

function writeWith(writer: DatagramWriter, codec: Codec, value: unknown, label: string): void {
  const start = writer.position;
  try {
    codec.write(writer, value);
  } catch (error) {
    writer.position = start;
    throw withPathPrefix(error, label);
  }
}

/**
 * Checks that a value is one its type accepts (shape, limits, ranges, lengths) by packing it;
 * throws the DcPackError that packing would. Used for the defaults of `.dc` files and of the TS API.
 */
export function checkValue(type: DcType, value: unknown, label = ""): void {
  packWith(typeCodec(type), value, label);
}

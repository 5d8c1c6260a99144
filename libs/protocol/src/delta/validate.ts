/**
 * Values are checked against their DC types when they enter tracked state (not when a delta is
 * encoded), so that a bad value fails in the game code that set it, with the packer's error path,
 * and never poisons a tick's worth of deltas. The check is the packer itself writing into a scratch
 * buffer: one rule book for what a valid value is.
 */
import type { Field } from "../dc/field.ts";
import type { DcType } from "../dc/types.ts";
import { type Codec, fieldCodec, typeCodec } from "../pack/codec.ts";
import { withPathPrefix } from "../pack/errors.ts";
import { DatagramWriter } from "../pack/writer.ts";

/** The scratch writer is replaced if a huge value made it grow past this. */
const MAX_RETAINED_SCRATCH = 64 * 1024;
const SCRATCH_CAPACITY = 1024;

let scratch = new DatagramWriter(SCRATCH_CAPACITY);

/** Throws a DcPackError (path `Class.field...`) unless `value` packs as the field's value. */
export function checkFieldValue(field: Field, value: unknown, codec: Codec = fieldCodec(field)): void {
  scratch.reset();
  codec.write(scratch, value);
  releaseHugeScratch();
}

/** Throws a DcPackError (path prefixed with `label`) unless `value` packs as a value of `type`. */
export function checkTypedValue(type: DcType, value: unknown, label: string): void {
  scratch.reset();
  try {
    typeCodec(type).write(scratch, value);
  } catch (error) {
    throw withPathPrefix(error, label);
  }
  releaseHugeScratch();
}

function releaseHugeScratch(): void {
  if (scratch.capacity > MAX_RETAINED_SCRATCH) scratch = new DatagramWriter(SCRATCH_CAPACITY);
}

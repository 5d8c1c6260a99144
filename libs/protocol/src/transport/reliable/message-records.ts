/**
 * The message records that follow the packet header, one after another to the end of the datagram.
 * Every record starts with a tag byte whose top two bits give its kind.
 *
 *     unreliable   tag 00LLLLLL              L = length when < 63; L = 63: varuint (length - 63) follows
 *                  then the message bytes
 *     reliable     tag 01NLLLLL              N = 1: id is the previous id in this datagram + 1, omitted
 *                                            N = 0: u16 id follows
 *                                            L = length when < 31; L = 31: varuint (length - 31) follows
 *                  [id u16] [varuint]        then the message bytes
 *     fragment     tag 10000000              one piece of a reliable message too large for a datagram
 *                  id u16, count u16, index u16, length varuint, then the fragment bytes
 *     (tag 11xxxxxx is reserved)
 *
 * "The previous id in this datagram" is the id of the latest reliable or fragment record before this
 * one in the same datagram. So a small unreliable message costs one byte of header, the first small
 * reliable message of a datagram three, and each following one in id order one.
 */

import type { DatagramReader } from "../../pack/reader.ts";
import { type DatagramWriter, varUintSize } from "../../pack/writer.ts";
import { cursorDropReason } from "./drop-reason.ts";
import { addToSequence } from "./sequence.ts";

export type MessageRecord =
  | { readonly kind: "unreliable"; readonly bytes: Uint8Array }
  | { readonly kind: "reliable"; readonly id: number; readonly bytes: Uint8Array }
  | {
      readonly kind: "fragment";
      readonly id: number;
      readonly count: number;
      readonly index: number;
      readonly bytes: Uint8Array;
    };

/** Means "no id-carrying record yet in this datagram". */
export const NO_PREVIOUS_ID = -1;

const KIND_SHIFT = 6;
const KIND_UNRELIABLE = 0;
const KIND_RELIABLE = 1;
const KIND_FRAGMENT = 2;
const UNRELIABLE_LENGTH_MASK = 0x3f;
const UNRELIABLE_LENGTH_ESCAPE = 0x3f;
const RELIABLE_NEXT_ID_FLAG = 0x20;
const RELIABLE_LENGTH_MASK = 0x1f;
const RELIABLE_LENGTH_ESCAPE = 0x1f;
const FRAGMENT_RESERVED_BITS = 0x3f;
const TAG_BYTES = 1;
const ID_BYTES = 2;
const FRAGMENT_COUNT_BYTES = 2;
const FRAGMENT_INDEX_BYTES = 2;
/** Lengths are varuints of at most two bytes: seven bits a byte, so values up to 16383. */
const LENGTH_VARUINT_BYTES = 2;
/** The longest length a record can give, more than any this layer writes. */
export const MAX_VARUINT_VALUE = 2 ** (7 * LENGTH_VARUINT_BYTES) - 1;

export type RecordDropReason =
  | "truncated"
  | "overlong_varuint"
  | "unknown_message_kind"
  | "reserved_bits"
  | "orphan_next_id";

export type RecordsReadResult =
  | { readonly ok: true; readonly records: MessageRecord[] }
  | { readonly ok: false; readonly reason: RecordDropReason };

function lengthFieldSize(length: number, lengthEscape: number): number {
  return length < lengthEscape ? 0 : varUintSize(length - lengthEscape);
}

function isNextId(id: number, previousId: number): boolean {
  return previousId !== NO_PREVIOUS_ID && addToSequence(previousId, 1) === id;
}

export function unreliableRecordSize(length: number): number {
  return TAG_BYTES + lengthFieldSize(length, UNRELIABLE_LENGTH_ESCAPE) + length;
}

export function reliableRecordSize(id: number, previousId: number, length: number): number {
  const idSize = isNextId(id, previousId) ? 0 : ID_BYTES;
  return TAG_BYTES + idSize + lengthFieldSize(length, RELIABLE_LENGTH_ESCAPE) + length;
}

export function fragmentRecordSize(length: number): number {
  return TAG_BYTES + ID_BYTES + FRAGMENT_COUNT_BYTES + FRAGMENT_INDEX_BYTES + varUintSize(length) + length;
}

/** The largest header an unreliable record of at most `maxLength` bytes needs. */
export function maxUnreliableRecordHeader(maxLength: number): number {
  return unreliableRecordSize(maxLength) - maxLength;
}

/** The largest header a fragment record of at most `maxLength` bytes needs. */
export function maxFragmentRecordHeader(maxLength: number): number {
  return fragmentRecordSize(maxLength) - maxLength;
}

export function writeUnreliableRecord(writer: DatagramWriter, bytes: Uint8Array): void {
  const length = bytes.length;
  const inline = Math.min(length, UNRELIABLE_LENGTH_ESCAPE);
  writer.writeUint8((KIND_UNRELIABLE << KIND_SHIFT) | inline);
  if (inline === UNRELIABLE_LENGTH_ESCAPE) writer.writeVarUint(length - UNRELIABLE_LENGTH_ESCAPE);
  writer.writeBytes(bytes);
}

export function writeReliableRecord(
  writer: DatagramWriter,
  id: number,
  previousId: number,
  bytes: Uint8Array,
): void {
  const length = bytes.length;
  const inline = Math.min(length, RELIABLE_LENGTH_ESCAPE);
  const nextId = isNextId(id, previousId);
  writer.writeUint8((KIND_RELIABLE << KIND_SHIFT) | (nextId ? RELIABLE_NEXT_ID_FLAG : 0) | inline);
  if (!nextId) writer.writeUint16(id);
  if (inline === RELIABLE_LENGTH_ESCAPE) writer.writeVarUint(length - RELIABLE_LENGTH_ESCAPE);
  writer.writeBytes(bytes);
}

export function writeFragmentRecord(
  writer: DatagramWriter,
  id: number,
  count: number,
  index: number,
  bytes: Uint8Array,
): void {
  writer.writeUint8(KIND_FRAGMENT << KIND_SHIFT);
  writer.writeUint16(id);
  writer.writeUint16(count);
  writer.writeUint16(index);
  writer.writeVarUint(bytes.length);
  writer.writeBytes(bytes);
}

/** Reads records to the end of the reader; the slices are views into the datagram. */
export function readMessageRecords(reader: DatagramReader): RecordsReadResult {
  const records: MessageRecord[] = [];
  let previousId = NO_PREVIOUS_ID;
  try {
    while (reader.remaining > 0) {
      const result = readMessageRecord(reader, previousId);
      if (typeof result === "string") return { ok: false, reason: result };
      records.push(result);
      if (result.kind !== "unreliable") previousId = result.id;
    }
  } catch (error) {
    return { ok: false, reason: cursorDropReason(error) };
  }
  return { ok: true, records };
}

/** Reads one record; a reason string when it is malformed (the cursor throws when it is cut short). */
function readMessageRecord(
  reader: DatagramReader,
  previousId: number,
): MessageRecord | Exclude<RecordDropReason, "truncated" | "overlong_varuint"> {
  const tag = reader.readUint8();
  switch (tag >>> KIND_SHIFT) {
    case KIND_UNRELIABLE:
      return readUnreliableBody(reader, tag);
    case KIND_RELIABLE:
      return readReliableBody(reader, tag, previousId);
    case KIND_FRAGMENT:
      return (tag & FRAGMENT_RESERVED_BITS) === 0 ? readFragmentBody(reader) : "reserved_bits";
    default:
      return "unknown_message_kind";
  }
}

function readLength(reader: DatagramReader, inline: number, lengthEscape: number): number {
  return inline < lengthEscape ? inline : lengthEscape + reader.readVarUint(LENGTH_VARUINT_BYTES);
}

function readUnreliableBody(reader: DatagramReader, tag: number): MessageRecord {
  const length = readLength(reader, tag & UNRELIABLE_LENGTH_MASK, UNRELIABLE_LENGTH_ESCAPE);
  return { kind: "unreliable", bytes: reader.readView(length) };
}

function readReliableBody(
  reader: DatagramReader,
  tag: number,
  previousId: number,
): MessageRecord | "orphan_next_id" {
  const followsPrevious = (tag & RELIABLE_NEXT_ID_FLAG) !== 0;
  if (followsPrevious && previousId === NO_PREVIOUS_ID) return "orphan_next_id";
  const id = followsPrevious ? addToSequence(previousId, 1) : reader.readUint16();
  const length = readLength(reader, tag & RELIABLE_LENGTH_MASK, RELIABLE_LENGTH_ESCAPE);
  return { kind: "reliable", id, bytes: reader.readView(length) };
}

function readFragmentBody(reader: DatagramReader): MessageRecord {
  const id = reader.readUint16();
  const count = reader.readUint16();
  const index = reader.readUint16();
  const length = reader.readVarUint(LENGTH_VARUINT_BYTES);
  return { kind: "fragment", id, count, index, bytes: reader.readView(length) };
}

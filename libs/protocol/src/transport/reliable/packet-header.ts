/**
 * The packet header at the front of every datagram payload this layer sends.
 *
 * It carries the packet's own sequence number and, once the sender has received anything, an ack:
 * `ack.latest`, a sequence the sender has received from the far end, and `ack.bits`, 32 bits where
 * bit n set means packet `latest - 1 - n` was received too. A header therefore acknowledges up to
 * 33 packets.
 *
 * Layout (little-endian), 3 to 9 bytes:
 *
 *     prefix       u8   bit 0-3  ack bits byte k follows (the byte is not 0xFF)
 *                       bit 4    the ack is written as one byte: (sequence - latest) mod 2^16
 *                       bit 5    an ack follows at all
 *                       bit 6-7  reserved, zero
 *     sequence     u16
 *     ack          u8 distance if bit 4, else u16 latest          (only if bit 5)
 *     ack bits     the bytes flagged in bits 0-3, low byte first  (only if bit 5)
 *
 * An ack bits byte of 0xFF (eight packets in a row received, the steady state) is left out, so a
 * healthy link spends 4 or 5 bytes. Every header has exactly one encoding: a reader refuses an 0xFF
 * byte written out, a two-byte ack whose distance fits in one, and flags set without an ack.
 */

import type { DatagramReader } from "../../pack/reader.ts";
import type { DatagramWriter } from "../../pack/writer.ts";
import { cursorDropReason } from "./drop-reason.ts";
import { addToSequence, sequenceDistance } from "./sequence.ts";

export interface AckField {
  /** A packet sequence received from the far end: the anchor of the ack bits. */
  readonly latest: number;
  /** Bit n set: packet `latest - 1 - n` was received. An unsigned 32-bit value. */
  readonly bits: number;
}

export interface PacketHeader {
  readonly sequence: number;
  /** Null until the sender has received a packet. */
  readonly ack: AckField | null;
}

export const MIN_PACKET_HEADER_BYTES = 3;
export const MAX_PACKET_HEADER_BYTES = 9;

const ACK_BITS_BYTES = 4;
const ALL_RECEIVED_BYTE = 0xff;
const BYTE_BITS = 8;
const ACK_AS_DISTANCE_FLAG = 1 << 4;
const HAS_ACK_FLAG = 1 << 5;
const RESERVED_PREFIX_BITS = 0xc0;
const ACK_BYTES_PRESENT_MASK = 0x0f;
const MAX_ONE_BYTE_DISTANCE = 0xff;

export type HeaderDropReason = "truncated" | "reserved_bits" | "non_canonical_header";

export type HeaderReadResult =
  | { readonly ok: true; readonly header: PacketHeader }
  | { readonly ok: false; readonly reason: HeaderDropReason };

function ackBitsByte(bits: number, index: number): number {
  return (bits >>> (index * BYTE_BITS)) & ALL_RECEIVED_BYTE;
}

function ackFitsInOneByte(sequence: number, ack: AckField): boolean {
  return sequenceDistance(ack.latest, sequence) <= MAX_ONE_BYTE_DISTANCE;
}

/** The prefix byte that describes how `header` is written. */
export function packetHeaderPrefix(header: PacketHeader): number {
  const ack = header.ack;
  if (ack === null) return 0;
  let prefix = HAS_ACK_FLAG;
  if (ackFitsInOneByte(header.sequence, ack)) prefix |= ACK_AS_DISTANCE_FLAG;
  for (let index = 0; index < ACK_BITS_BYTES; index++) {
    if (ackBitsByte(ack.bits, index) !== ALL_RECEIVED_BYTE) prefix |= 1 << index;
  }
  return prefix;
}

/** How many bytes `writePacketHeader(header)` takes. */
export function packetHeaderSize(header: PacketHeader): number {
  const ack = header.ack;
  if (ack === null) return MIN_PACKET_HEADER_BYTES;
  const prefix = packetHeaderPrefix(header);
  const ackSize = prefix & ACK_AS_DISTANCE_FLAG ? 1 : 2;
  return MIN_PACKET_HEADER_BYTES + ackSize + countSetBits(prefix & ACK_BYTES_PRESENT_MASK);
}

function countSetBits(value: number): number {
  let count = 0;
  for (let rest = value; rest !== 0; rest &= rest - 1) count += 1;
  return count;
}

export function writePacketHeader(writer: DatagramWriter, header: PacketHeader): void {
  const prefix = packetHeaderPrefix(header);
  writer.writeUint8(prefix);
  writer.writeUint16(header.sequence);
  const ack = header.ack;
  if (ack === null) return;
  if (prefix & ACK_AS_DISTANCE_FLAG) writer.writeUint8(sequenceDistance(ack.latest, header.sequence));
  else writer.writeUint16(ack.latest);
  for (let index = 0; index < ACK_BITS_BYTES; index++) {
    if (prefix & (1 << index)) writer.writeUint8(ackBitsByte(ack.bits, index));
  }
}

/** Reads a header; any malformed or non-canonical header is refused with the reason. */
export function readPacketHeader(reader: DatagramReader): HeaderReadResult {
  try {
    return readHeaderFields(reader);
  } catch (error) {
    cursorDropReason(error);
    return { ok: false, reason: "truncated" };
  }
}

/** Reads a header; the cursor throws when it is cut short. */
function readHeaderFields(reader: DatagramReader): HeaderReadResult {
  const prefix = reader.readUint8();
  const sequence = reader.readUint16();
  if (prefix & RESERVED_PREFIX_BITS) return { ok: false, reason: "reserved_bits" };
  if ((prefix & HAS_ACK_FLAG) === 0) {
    if (prefix !== 0) return { ok: false, reason: "non_canonical_header" };
    return { ok: true, header: { sequence, ack: null } };
  }
  const ack = readAckField(reader, prefix, sequence);
  const header = { sequence, ack };
  if (packetHeaderPrefix(header) !== prefix) return { ok: false, reason: "non_canonical_header" };
  return { ok: true, header };
}

function readAckField(reader: DatagramReader, prefix: number, sequence: number): AckField {
  const latest =
    prefix & ACK_AS_DISTANCE_FLAG ? addToSequence(sequence, -reader.readUint8()) : reader.readUint16();
  let bits = 0;
  for (let index = 0; index < ACK_BITS_BYTES; index++) {
    const byte = prefix & (1 << index) ? reader.readUint8() : ALL_RECEIVED_BYTE;
    bits |= byte << (index * BYTE_BITS);
  }
  return { latest, bits: bits >>> 0 };
}

import { DcPackError } from "../../pack/errors.ts";

/**
 * Why a received packet was dropped. A dropped packet changes nothing (except that a packet refused
 * for `receive_buffer_full` still delivers its acks) and is not acknowledged.
 */

export const DROP_REASONS = [
  /** Longer than maxPayloadSize. */
  "too_large",
  /** Ends inside its header or inside a message record. */
  "truncated",
  /** A reserved bit is set in the packet prefix or a fragment tag. */
  "reserved_bits",
  /** The header is not written the one way this layer writes it. */
  "non_canonical_header",
  /** Older than every packet this end still remembers. */
  "stale",
  /** Already received. */
  "duplicate",
  /** A length longer than two varuint bytes. */
  "overlong_varuint",
  /** A record tag of the reserved kind 11. */
  "unknown_message_kind",
  /** A reliable record says "previous id + 1" with no previous id in the datagram. */
  "orphan_next_id",
  /** A reliable message id neither awaited nor recently delivered. */
  "message_id_out_of_window",
  "fragment_count_invalid",
  "fragment_index_out_of_range",
  /** A fragment of the wrong size (each but the last is exactly the fragment size). */
  "fragment_size_invalid",
  /** A fragment disagrees with what earlier fragments or records said of its message. */
  "fragment_mismatch",
  /** A message larger than maxMessageSize. */
  "message_too_large",
  /** Holding the packet's messages would pass maxBufferedBytes. */
  "receive_buffer_full",
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

/**
 * The drop reason for what the byte cursor threw while reading a datagram: `out_of_range` is a varuint
 * longer than this layer writes, the rest (`truncated`) a datagram that ends early. Anything but a
 * DcPackError is a bug and is rethrown.
 */
export function cursorDropReason(error: unknown): "truncated" | "overlong_varuint" {
  if (!(error instanceof DcPackError)) throw error;
  return error.code === "out_of_range" ? "overlong_varuint" : "truncated";
}

export function emptyDropCounts(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((reason) => [reason, 0])) as Record<DropReason, number>;
}

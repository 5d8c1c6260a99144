/**
 * What reading network bytes yields: a value, or the reason the bytes were dropped. Network input never
 * throws; a drop reason is for logs and metrics, and nothing is ever sent back because of it.
 */

export const DROP_REASONS = [
  // framing, before any cryptography
  "too_small",
  "invalid_packet_type",
  "packet_type_not_allowed",
  "invalid_sequence_bytes",
  "connection_request_wrong_size",
  "wrong_version",
  "wrong_protocol_id",
  "token_expired",
  // keys and authentication
  "no_encryption_mapping",
  "replayed",
  "decrypt_failed",
  "wrong_data_size",
  "token_decrypt_failed",
  "token_malformed",
  "challenge_decrypt_failed",
  // server rules after a packet authenticated
  "server_address_not_in_token",
  "address_already_connected",
  "client_id_already_connected",
  "token_reused",
  "encryption_mapping_full",
  "not_connected",
  // client rules
  "not_connecting",
  "unknown_sender",
  "unexpected_in_state",
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export type ReadResult<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly reason: DropReason };

export function accept<T>(value: T): ReadResult<T> {
  return { ok: true, value };
}

export function drop<T = never>(reason: DropReason): ReadResult<T> {
  return { ok: false, reason };
}

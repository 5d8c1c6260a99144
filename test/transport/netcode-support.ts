/** Shared helpers for the netcode tests: deterministic randomness, fixed keys and addresses, hex. */
import { createHash } from "node:crypto";
import { parseAddress } from "../../libs/protocol/src/transport/netcode/address.ts";
import type { RandomBytes } from "../../libs/protocol/src/transport/netcode/crypto.ts";

export const hex = (text: string) => new Uint8Array(Buffer.from(text, "hex"));
export const toHex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");
export const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
export const counting = (first: number, length: number) =>
  Uint8Array.from({ length }, (_, i) => (first + i) & 0xff);

/** A RandomBytes that hands out 0, 1, 2, ... (mod 256) forever: reproducible keys and nonces. */
export function countingRandom(start = 0): RandomBytes {
  let next = start;
  return (size) => Uint8Array.from({ length: size }, () => next++ & 0xff);
}

export const PROTOCOL_ID = 0x1122334455667788n;
export const PRIVATE_KEY = counting(0xa0, 32);
export const SERVER_ADDRESS = parseAddress("127.0.0.1:40000");
export const SERVER_ADDRESS_V6 = parseAddress("[::1]:40001");
export const CLIENT_ADDRESS = parseAddress("10.0.0.2:50000");
/** 2026-01-01T00:00:00Z, in seconds and milliseconds. */
export const NOW_SECONDS = 1_767_225_600;
export const NOW_MS = NOW_SECONDS * 1000;

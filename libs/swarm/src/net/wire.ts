/**
 * The peer wire: what two clients (or a client and the cluster's seed) say to each other over UDP about one
 * asset, each datagram sealed with the key of the grant the cluster minted for that pair and that asset
 * (grant.ts). A datagram:
 *
 *   u8 0xA5 | pair: 16 bytes | nonce: 24 bytes | XChaCha20-Poly1305(message), associated data
 *   pair | asset id (32 bytes) | the sender's side (u8)
 *
 * so a datagram is opened only by the holder of that pair's grant, only for that asset, only as coming from
 * the other side (a reflected one fails). A relayed datagram is `0xA6 | pair | sealed datagram` to the
 * cluster's seed, which passes the sealed datagram on as it came (it holds no key that opens it).
 *
 * Messages (little-endian):
 *   HELLO    1  flags: u8 (1: the cluster's seed, 2: answer with a HELLO), have: the have-set's bit field
 *               (the rest)
 *   HAVE     2  chunk: u32
 *   REQUEST  3  chunk: u32, direct: u8 (asked of the seed after failing elsewhere)
 *   PIECE    4  chunk: u32, offset: u32, sentAt: f64 (the sender's clock, ms), data (the rest, at most
 *               SEGMENT_BYTES)
 *   ACK      5  chunk: u32, offset: u32, sentAt: f64 (echoed), delay: f64 (receiver's now - sentAt: the
 *               one-way delay plus a constant clock offset, which LEDBAT's base subtracts)
 *   REFUSE   6  chunk: u32, reason: u8 (1 ask-peers, 2 not-held, 3 busy)
 *   PUNCH    7  (nothing: opens NAT mappings, keeps them open)
 *   BYE      8  (nothing: the sender leaves this pair)
 *   CANCEL   9  chunk: u32 (the sender no longer wants it, e.g. it came from someone else: stop sending it)
 */
import sodium from "sodium-native";

export const SEALED = 0xa5;
export const RELAYED = 0xa6;
export const PAIR_BYTES = 16;
export const ASSET_ID_BYTES = 32;
export const KEY_BYTES = 32;
const NONCE_BYTES = 24;
const TAG_BYTES = 16;
/** Bytes of a sealed datagram around its message. */
export const SEAL_OVERHEAD = 1 + PAIR_BYTES + NONCE_BYTES + TAG_BYTES;
/** Chunk bytes in one PIECE: a datagram stays under 1200 bytes. */
export const SEGMENT_BYTES = 1100;
/** The largest datagram either end accepts. */
export const MAX_DATAGRAM_BYTES = 1 + PAIR_BYTES + SEAL_OVERHEAD + 64 + SEGMENT_BYTES;

export const PeerMessageType = {
  Hello: 1,
  Have: 2,
  Request: 3,
  Piece: 4,
  Ack: 5,
  Refuse: 6,
  Punch: 7,
  Bye: 8,
  Cancel: 9,
} as const;

export type RefuseReason = "ask-peers" | "not-held" | "busy";
const REASONS: readonly RefuseReason[] = ["ask-peers", "not-held", "busy"];

export type PeerMessage =
  | { readonly type: 1; readonly server: boolean; readonly answer: boolean; readonly have: Uint8Array }
  | { readonly type: 2; readonly chunk: number }
  | { readonly type: 3; readonly chunk: number; readonly direct: boolean }
  | {
      readonly type: 4;
      readonly chunk: number;
      readonly offset: number;
      readonly sentAt: number;
      readonly data: Uint8Array;
    }
  | {
      readonly type: 5;
      readonly chunk: number;
      readonly offset: number;
      readonly sentAt: number;
      readonly delay: number;
    }
  | { readonly type: 6; readonly chunk: number; readonly reason: RefuseReason }
  | { readonly type: 7 }
  | { readonly type: 8 }
  | { readonly type: 9; readonly chunk: number };

export function encodePeerMessage(message: PeerMessage): Uint8Array {
  switch (message.type) {
    case PeerMessageType.Hello: {
      const out = new Uint8Array(2 + message.have.length);
      out[0] = message.type;
      out[1] = (message.server ? 1 : 0) | (message.answer ? 2 : 0);
      out.set(message.have, 2);
      return out;
    }
    case PeerMessageType.Have:
    case PeerMessageType.Cancel: {
      const out = new Uint8Array(5);
      out[0] = message.type;
      new DataView(out.buffer).setUint32(1, message.chunk, true);
      return out;
    }
    case PeerMessageType.Request: {
      const out = new Uint8Array(6);
      out[0] = message.type;
      new DataView(out.buffer).setUint32(1, message.chunk, true);
      out[5] = message.direct ? 1 : 0;
      return out;
    }
    case PeerMessageType.Piece: {
      const out = new Uint8Array(17 + message.data.length);
      const view = new DataView(out.buffer);
      out[0] = message.type;
      view.setUint32(1, message.chunk, true);
      view.setUint32(5, message.offset, true);
      view.setFloat64(9, message.sentAt, true);
      out.set(message.data, 17);
      return out;
    }
    case PeerMessageType.Ack: {
      const out = new Uint8Array(25);
      const view = new DataView(out.buffer);
      out[0] = message.type;
      view.setUint32(1, message.chunk, true);
      view.setUint32(5, message.offset, true);
      view.setFloat64(9, message.sentAt, true);
      view.setFloat64(17, message.delay, true);
      return out;
    }
    case PeerMessageType.Refuse: {
      const out = new Uint8Array(6);
      out[0] = message.type;
      new DataView(out.buffer).setUint32(1, message.chunk, true);
      out[5] = REASONS.indexOf(message.reason) + 1;
      return out;
    }
    case PeerMessageType.Punch:
    case PeerMessageType.Bye:
      return Uint8Array.of(message.type);
  }
}

/** A message from opened bytes; undefined when they are not one (never throws). */
export function decodePeerMessage(bytes: Uint8Array): PeerMessage | undefined {
  if (bytes.length === 0) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (bytes[0]) {
    case PeerMessageType.Hello:
      return bytes.length >= 2 && bytes[1]! <= 3
        ? { type: 1, server: (bytes[1]! & 1) === 1, answer: (bytes[1]! & 2) === 2, have: bytes.slice(2) }
        : undefined;
    case PeerMessageType.Have:
      return bytes.length === 5 ? { type: 2, chunk: view.getUint32(1, true) } : undefined;
    case PeerMessageType.Cancel:
      return bytes.length === 5 ? { type: 9, chunk: view.getUint32(1, true) } : undefined;
    case PeerMessageType.Request:
      return bytes.length === 6 && bytes[5]! <= 1
        ? { type: 3, chunk: view.getUint32(1, true), direct: bytes[5] === 1 }
        : undefined;
    case PeerMessageType.Piece:
      return bytes.length > 17 && bytes.length <= 17 + SEGMENT_BYTES
        ? {
            type: 4,
            chunk: view.getUint32(1, true),
            offset: view.getUint32(5, true),
            sentAt: view.getFloat64(9, true),
            data: bytes.slice(17),
          }
        : undefined;
    case PeerMessageType.Ack:
      return bytes.length === 25
        ? {
            type: 5,
            chunk: view.getUint32(1, true),
            offset: view.getUint32(5, true),
            sentAt: view.getFloat64(9, true),
            delay: view.getFloat64(17, true),
          }
        : undefined;
    case PeerMessageType.Refuse: {
      const reason = REASONS[(bytes[5] ?? 0) - 1];
      return bytes.length === 6 && reason !== undefined
        ? { type: 6, chunk: view.getUint32(1, true), reason }
        : undefined;
    }
    case PeerMessageType.Punch:
      return bytes.length === 1 ? { type: 7 } : undefined;
    case PeerMessageType.Bye:
      return bytes.length === 1 ? { type: 8 } : undefined;
    default:
      return undefined;
  }
}

function associated(pair: Uint8Array, asset: Uint8Array, side: number): Uint8Array {
  const ad = new Uint8Array(PAIR_BYTES + ASSET_ID_BYTES + 1);
  ad.set(pair, 0);
  ad.set(asset, PAIR_BYTES);
  ad[PAIR_BYTES + ASSET_ID_BYTES] = side;
  return ad;
}

/** Seals `message` as sent by `side` of `pair` about `asset`, with the pair's key. */
export function seal(
  pair: Uint8Array,
  asset: Uint8Array,
  side: number,
  key: Uint8Array,
  message: Uint8Array,
): Uint8Array {
  const out = Buffer.alloc(SEAL_OVERHEAD + message.length);
  out[0] = SEALED;
  out.set(pair, 1);
  const nonce = out.subarray(1 + PAIR_BYTES, 1 + PAIR_BYTES + NONCE_BYTES);
  sodium.randombytes_buf(nonce);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(1 + PAIR_BYTES + NONCE_BYTES),
    message,
    associated(pair, asset, side),
    null,
    nonce,
    key,
  );
  return out;
}

/** The pair a sealed datagram names, or undefined when it is not one. */
export function sealedPair(datagram: Uint8Array): Uint8Array | undefined {
  if (datagram.length < SEAL_OVERHEAD || datagram[0] !== SEALED) return undefined;
  return datagram.subarray(1, 1 + PAIR_BYTES);
}

/** Opens a sealed datagram as sent by `side`; undefined when it does not authenticate. */
export function open(
  datagram: Uint8Array,
  asset: Uint8Array,
  side: number,
  key: Uint8Array,
): Uint8Array | undefined {
  const pair = sealedPair(datagram);
  if (pair === undefined) return undefined;
  const nonce = datagram.subarray(1 + PAIR_BYTES, 1 + PAIR_BYTES + NONCE_BYTES);
  const cipher = datagram.subarray(1 + PAIR_BYTES + NONCE_BYTES);
  const out = Buffer.alloc(cipher.length - TAG_BYTES);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      out,
      null,
      cipher,
      associated(pair, asset, side),
      nonce,
      key,
    );
  } catch {
    return undefined;
  }
  return out;
}

/** A sealed datagram for the relay to pass to the other side of its pair. */
export function relayed(sealed: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + sealed.length);
  out[0] = RELAYED;
  out.set(sealed, 1);
  return out;
}

/**
 * The two AEAD constructions netcode uses, both with a 16-byte Poly1305 tag appended to the ciphertext:
 * - ChaCha20-Poly1305 (IETF, 12-byte nonce) for packets and challenge tokens: Node's crypto module natively;
 * - XChaCha20-Poly1305 (24-byte nonce) for the private part of connect tokens: the first 16 nonce bytes and
 *   the key go through HChaCha20 to derive a subkey, and ChaCha20-Poly1305 then runs with that subkey and the
 *   nonce 0x00000000 || the last 8 nonce bytes (draft-irtf-cfrg-xchacha, the construction libsodium's
 *   crypto_aead_xchacha20poly1305_ietf implements).
 */

import { createCipheriv, createDecipheriv, randomFillSync } from "node:crypto";
import { CONNECT_TOKEN_NONCE_BYTES, IETF_NONCE_BYTES, KEY_BYTES, MAC_BYTES } from "./constants.ts";

/** Fills a new buffer of `size` random bytes; injectable so tests can be deterministic. */
export type RandomBytes = (size: number) => Uint8Array;

export const secureRandomBytes: RandomBytes = (size) => randomFillSync(new Uint8Array(size));

const HCHACHA_NONCE_BYTES = 16;
const CHACHA_DOUBLE_ROUNDS = 10;
/** "expand 32-byte k" as four little-endian words. */
const CHACHA_CONSTANTS = [0x61707865, 0x3320646e, 0x79622d32, 0x6b206574] as const;

/**
 * HChaCha20: the ChaCha20 block function without the final addition of the input state; the output is
 * state words 0-3 and 12-15. Used to turn a 24-byte nonce into a subkey plus a 12-byte nonce.
 */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  checkLength(key, KEY_BYTES, "HChaCha20 key");
  checkLength(nonce16, HCHACHA_NONCE_BYTES, "HChaCha20 nonce");
  const keyWords = new DataView(key.buffer, key.byteOffset, KEY_BYTES);
  const nonceWords = new DataView(nonce16.buffer, nonce16.byteOffset, HCHACHA_NONCE_BYTES);
  const state = new Uint32Array(16);
  state.set(CHACHA_CONSTANTS, 0);
  for (let i = 0; i < 8; i++) state[4 + i] = keyWords.getUint32(4 * i, true);
  for (let i = 0; i < 4; i++) state[12 + i] = nonceWords.getUint32(4 * i, true);
  for (let round = 0; round < CHACHA_DOUBLE_ROUNDS; round++) chachaDoubleRound(state);
  const out = new Uint8Array(KEY_BYTES);
  const outWords = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) {
    outWords.setUint32(4 * i, state[i]!, true);
    outWords.setUint32(16 + 4 * i, state[12 + i]!, true);
  }
  return out;
}

/** Four column quarter rounds, then four diagonal ones. */
function chachaDoubleRound(s: Uint32Array): void {
  quarterRound(s, 0, 4, 8, 12);
  quarterRound(s, 1, 5, 9, 13);
  quarterRound(s, 2, 6, 10, 14);
  quarterRound(s, 3, 7, 11, 15);
  quarterRound(s, 0, 5, 10, 15);
  quarterRound(s, 1, 6, 11, 12);
  quarterRound(s, 2, 7, 8, 13);
  quarterRound(s, 3, 4, 9, 14);
}

function quarterRound(s: Uint32Array, a: number, b: number, c: number, d: number): void {
  s[a] = s[a]! + s[b]!;
  s[d] = rotateLeft(s[d]! ^ s[a]!, 16);
  s[c] = s[c]! + s[d]!;
  s[b] = rotateLeft(s[b]! ^ s[c]!, 12);
  s[a] = s[a]! + s[b]!;
  s[d] = rotateLeft(s[d]! ^ s[a]!, 8);
  s[c] = s[c]! + s[d]!;
  s[b] = rotateLeft(s[b]! ^ s[c]!, 7);
}

function rotateLeft(value: number, bits: number): number {
  return (value << bits) | (value >>> (32 - bits));
}

/** ChaCha20-Poly1305 (IETF): returns ciphertext followed by the 16-byte tag. */
export function sealChaCha20Poly1305(
  key: Uint8Array,
  nonce12: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array {
  const sealed = new Uint8Array(plaintext.length + MAC_BYTES);
  sealChaCha20Poly1305Into(sealed, 0, key, nonce12, plaintext, additionalData);
  return sealed;
}

/** Like sealChaCha20Poly1305, writing ciphertext and tag into `target` at `offset` (saves a copy per packet). */
export function sealChaCha20Poly1305Into(
  target: Uint8Array,
  offset: number,
  key: Uint8Array,
  nonce12: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): void {
  checkLength(key, KEY_BYTES, "ChaCha20-Poly1305 key");
  checkLength(nonce12, IETF_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  if (offset + plaintext.length + MAC_BYTES > target.length) {
    throw new RangeError(
      `no room for ${plaintext.length} sealed bytes at offset ${offset} of ${target.length}`,
    );
  }
  const cipher = createCipheriv("chacha20-poly1305", key, nonce12, { authTagLength: MAC_BYTES });
  cipher.setAAD(additionalData, { plaintextLength: plaintext.length });
  const head = cipher.update(plaintext);
  const rest = cipher.final();
  target.set(head, offset);
  target.set(rest, offset + head.length);
  target.set(cipher.getAuthTag(), offset + plaintext.length);
}

/** Opens ciphertext-plus-tag; null when it is shorter than a tag or fails authentication. */
export function openChaCha20Poly1305(
  key: Uint8Array,
  nonce12: Uint8Array,
  sealed: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array | null {
  checkLength(key, KEY_BYTES, "ChaCha20-Poly1305 key");
  checkLength(nonce12, IETF_NONCE_BYTES, "ChaCha20-Poly1305 nonce");
  if (sealed.length < MAC_BYTES) return null;
  const ciphertextLength = sealed.length - MAC_BYTES;
  const decipher = createDecipheriv("chacha20-poly1305", key, nonce12, { authTagLength: MAC_BYTES });
  decipher.setAAD(additionalData, { plaintextLength: ciphertextLength });
  decipher.setAuthTag(sealed.subarray(ciphertextLength));
  const head = decipher.update(sealed.subarray(0, ciphertextLength));
  try {
    const rest = decipher.final();
    // `update` returns a fresh, unpooled Buffer: viewing it as a plain Uint8Array costs no copy
    const opened = rest.length === 0 ? head : Buffer.concat([head, rest]);
    return new Uint8Array(opened.buffer, opened.byteOffset, opened.byteLength);
  } catch {
    return null; // authentication failed: the caller drops the packet
  }
}

/** XChaCha20-Poly1305 (IETF): returns ciphertext followed by the 16-byte tag. */
export function sealXChaCha20Poly1305(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array {
  const { subkey, nonce12 } = xchachaSubkeyAndNonce(key, nonce24);
  return sealChaCha20Poly1305(subkey, nonce12, plaintext, additionalData);
}

export function openXChaCha20Poly1305(
  key: Uint8Array,
  nonce24: Uint8Array,
  sealed: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array | null {
  const { subkey, nonce12 } = xchachaSubkeyAndNonce(key, nonce24);
  return openChaCha20Poly1305(subkey, nonce12, sealed, additionalData);
}

function xchachaSubkeyAndNonce(
  key: Uint8Array,
  nonce24: Uint8Array,
): { subkey: Uint8Array; nonce12: Uint8Array } {
  checkLength(nonce24, CONNECT_TOKEN_NONCE_BYTES, "XChaCha20-Poly1305 nonce");
  const subkey = hchacha20(key, nonce24.subarray(0, HCHACHA_NONCE_BYTES));
  const nonce12 = new Uint8Array(IETF_NONCE_BYTES);
  nonce12.set(nonce24.subarray(HCHACHA_NONCE_BYTES), 4);
  return { subkey, nonce12 };
}

/** The standard's 12-byte nonce from a 64-bit sequence number: four zero bytes, then the sequence little-endian. */
export function sequenceNonce(sequence: bigint): Uint8Array {
  const nonce = new Uint8Array(IETF_NONCE_BYTES);
  writeUint32LE(nonce, 4, Number(sequence & 0xffffffffn));
  writeUint32LE(nonce, 8, Number((sequence >> 32n) & 0xffffffffn));
  return nonce;
}

function writeUint32LE(bytes: Uint8Array, at: number, value: number): void {
  bytes[at] = value & 0xff;
  bytes[at + 1] = (value >>> 8) & 0xff;
  bytes[at + 2] = (value >>> 16) & 0xff;
  bytes[at + 3] = value >>> 24;
}

function checkLength(bytes: Uint8Array, expected: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== expected) {
    throw new RangeError(`${what} must be ${expected} bytes, got ${bytes?.length}`);
  }
}

/**
 * The two AEAD constructions netcode uses, both with a 16-byte Poly1305 tag appended to the ciphertext,
 * from libsodium (sodium-native), as the reference implementation of netcode.io uses it: one call per
 * packet, no cipher object, no allocation when sealing into a buffer the caller holds.
 * - ChaCha20-Poly1305 (IETF, 12-byte nonce) for packets and challenge tokens;
 * - XChaCha20-Poly1305 (24-byte nonce) for the private part of connect tokens.
 */

import { randomFillSync } from "node:crypto";
import sodium from "sodium-native";
import { CONNECT_TOKEN_NONCE_BYTES, IETF_NONCE_BYTES, KEY_BYTES, MAC_BYTES } from "./constants.ts";

/** Fills a new buffer of `size` random bytes; injectable so tests can be deterministic. */
export type RandomBytes = (size: number) => Uint8Array;

export const secureRandomBytes: RandomBytes = (size) => randomFillSync(new Uint8Array(size));

const NO_SECRET_NONCE = null;

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

/** Like sealChaCha20Poly1305, writing ciphertext and tag into `target` at `offset` (no copy, no allocation). */
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
  const end = offset + plaintext.length + MAC_BYTES;
  if (end > target.length) {
    throw new RangeError(
      `no room for ${plaintext.length} sealed bytes at offset ${offset} of ${target.length}`,
    );
  }
  sodium.crypto_aead_chacha20poly1305_ietf_encrypt(
    target.subarray(offset, end),
    plaintext,
    additionalData,
    NO_SECRET_NONCE,
    nonce12,
    key,
  );
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
  const opened = new Uint8Array(sealed.length - MAC_BYTES);
  try {
    sodium.crypto_aead_chacha20poly1305_ietf_decrypt(
      opened,
      NO_SECRET_NONCE,
      sealed,
      additionalData,
      nonce12,
      key,
    );
  } catch {
    return null; // authentication failed: the caller drops the packet
  }
  return opened;
}

/** XChaCha20-Poly1305 (IETF): returns ciphertext followed by the 16-byte tag. */
export function sealXChaCha20Poly1305(
  key: Uint8Array,
  nonce24: Uint8Array,
  plaintext: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array {
  checkLength(key, KEY_BYTES, "XChaCha20-Poly1305 key");
  checkLength(nonce24, CONNECT_TOKEN_NONCE_BYTES, "XChaCha20-Poly1305 nonce");
  const sealed = new Uint8Array(plaintext.length + MAC_BYTES);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    sealed,
    plaintext,
    additionalData,
    NO_SECRET_NONCE,
    nonce24,
    key,
  );
  return sealed;
}

export function openXChaCha20Poly1305(
  key: Uint8Array,
  nonce24: Uint8Array,
  sealed: Uint8Array,
  additionalData: Uint8Array,
): Uint8Array | null {
  checkLength(key, KEY_BYTES, "XChaCha20-Poly1305 key");
  checkLength(nonce24, CONNECT_TOKEN_NONCE_BYTES, "XChaCha20-Poly1305 nonce");
  if (sealed.length < MAC_BYTES) return null;
  const opened = new Uint8Array(sealed.length - MAC_BYTES);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      opened,
      NO_SECRET_NONCE,
      sealed,
      additionalData,
      nonce24,
      key,
    );
  } catch {
    return null;
  }
  return opened;
}

/**
 * The standard's 12-byte nonce from a 64-bit sequence number: four zero bytes, then the sequence
 * little-endian; written into `nonce` when given (a scratch nonce reused by a synchronous seal or open).
 */
export function sequenceNonce(sequence: bigint, nonce = new Uint8Array(IETF_NONCE_BYTES)): Uint8Array {
  if (sequence <= MAX_SAFE_SEQUENCE && sequence >= 0n) {
    const value = Number(sequence);
    writeUint32LE(nonce, 4, value % 0x1_0000_0000);
    writeUint32LE(nonce, 8, Math.floor(value / 0x1_0000_0000));
    return nonce;
  }
  writeUint32LE(nonce, 4, Number(sequence & 0xffffffffn));
  writeUint32LE(nonce, 8, Number((sequence >> 32n) & 0xffffffffn));
  return nonce;
}

const MAX_SAFE_SEQUENCE = BigInt(Number.MAX_SAFE_INTEGER);

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

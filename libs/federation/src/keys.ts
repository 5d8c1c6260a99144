/**
 * Keys of the federation, all with libsodium (sodium-native):
 *
 * - A cluster's key, and main's, is an Ed25519 key pair made from a 32-byte seed. Its public half names
 *   the cluster to main; registrations and requests to main are signed with it.
 * - Main and each cluster share a secret nobody sends: X25519 of main's secret key (converted from
 *   Ed25519) and the cluster's public key, which is X25519 of the cluster's secret and main's public key.
 *   From it, `pairKeys` derives one 32-byte key per use (BLAKE2b keyed with the shared secret and a
 *   purpose), so no key serves two protocols:
 *     - `heartbeat`: the AEAD of the link end's heartbeats to main and of main's answers;
 *     - `token`: the private key of link tokens a dialer presents to this cluster (main seals, the cluster's
 *       link end opens: netcode's connect-token private key);
 *     - `seal`: main seals the link tokens it hands this cluster's link end.
 */
import sodium from "sodium-native";

export const PUBLIC_KEY_BYTES = 32;
export const SEED_BYTES = 32;
export const SIGNATURE_BYTES = 64;
export const SHARED_KEY_BYTES = 32;

/** An Ed25519 key pair: what a cluster (or main) is. */
export interface SigningKey {
  readonly publicKey: Uint8Array;
  /** libsodium's 64-byte secret key (the seed, then the public key), in guarded memory. Never logged. */
  readonly secretKey: Buffer;
}

/** The key pair of a 32-byte seed. */
export function signingKeyFromSeed(seed: Uint8Array): SigningKey {
  if (seed.length !== SEED_BYTES)
    throw new RangeError(`a key seed is ${SEED_BYTES} bytes, got ${seed.length}`);
  const publicKey = Buffer.alloc(sodium.crypto_sign_PUBLICKEYBYTES);
  const secretKey = sodium.sodium_malloc(sodium.crypto_sign_SECRETKEYBYTES);
  sodium.crypto_sign_seed_keypair(publicKey, secretKey, Buffer.from(seed));
  return { publicKey: new Uint8Array(publicKey), secretKey };
}

/** A fresh random seed (to write to a key file). */
export function newSeed(): Uint8Array {
  const seed = Buffer.alloc(SEED_BYTES);
  sodium.randombytes_buf(seed);
  return new Uint8Array(seed);
}

/** Reads a seed written as 64 hex digits (surrounding white space ignored); throws saying what is wrong. */
export function parseSeed(text: string): Uint8Array {
  const hex = text.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) {
    throw new RangeError(`a key seed is 64 hex digits (32 bytes), got ${hex.length} characters`);
  }
  return new Uint8Array(Buffer.from(hex, "hex"));
}

export function sign(key: SigningKey, message: Uint8Array): Uint8Array {
  const signature = Buffer.alloc(SIGNATURE_BYTES);
  sodium.crypto_sign_detached(signature, Buffer.from(message), key.secretKey);
  return new Uint8Array(signature);
}

/** True when `signature` is `publicKey`'s over `message`; false for anything of the wrong size. */
export function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_BYTES || signature.length !== SIGNATURE_BYTES) return false;
  return sodium.crypto_sign_verify_detached(
    Buffer.from(signature),
    Buffer.from(message),
    Buffer.from(publicKey),
  );
}

/** A public key as text (standard base64, 44 characters), as it travels in JSON and sits in Postgres. */
export function encodeKey(publicKey: Uint8Array): string {
  return Buffer.from(publicKey).toString("base64");
}

/** The public key of `encodeKey`'s text; null unless it is exactly 32 bytes of base64. */
export function decodeKey(text: string): Uint8Array | null {
  if (!/^[A-Za-z0-9+/]{43}=$/.test(text)) return null;
  const bytes = Buffer.from(text, "base64");
  return bytes.length === PUBLIC_KEY_BYTES ? new Uint8Array(bytes) : null;
}

/** A short fingerprint of a public key for logs: the first 8 bytes of its BLAKE2b-128 hash, hex. */
export function fingerprint(publicKey: Uint8Array): string {
  const out = Buffer.alloc(sodium.crypto_generichash_BYTES_MIN);
  sodium.crypto_generichash(out, Buffer.from(publicKey));
  return out.subarray(0, 8).toString("hex");
}

export type PairKeyPurpose = "heartbeat" | "token" | "seal";

/** The keys main and one cluster share, one per purpose (see the top of this file). */
export type PairKeys = { readonly [P in PairKeyPurpose]: Uint8Array };

/**
 * The keys shared by the holder of `mine` and the holder of `theirPublic` (main and a cluster, either
 * way round: both compute the same). Throws if `theirPublic` is not a valid Ed25519 point.
 */
export function pairKeys(mine: SigningKey, theirPublic: Uint8Array): PairKeys {
  if (theirPublic.length !== PUBLIC_KEY_BYTES) throw new RangeError("a public key is 32 bytes");
  const mySecret = sodium.sodium_malloc(sodium.crypto_scalarmult_SCALARBYTES);
  const theirCurve = Buffer.alloc(sodium.crypto_scalarmult_BYTES);
  const shared = sodium.sodium_malloc(sodium.crypto_scalarmult_BYTES);
  try {
    sodium.crypto_sign_ed25519_sk_to_curve25519(mySecret, mine.secretKey);
    sodium.crypto_sign_ed25519_pk_to_curve25519(theirCurve, Buffer.from(theirPublic));
    sodium.crypto_scalarmult(shared, mySecret, theirCurve);
    // both sides hash the two public keys in the same order: the smaller first
    const [low, high] = orderKeys(mine.publicKey, theirPublic);
    const derive = (purpose: PairKeyPurpose) => {
      const out = Buffer.alloc(SHARED_KEY_BYTES);
      sodium.crypto_generichash_batch(
        out,
        [Buffer.from(`overworld federation ${purpose} key v1`), Buffer.from(low), Buffer.from(high)],
        shared,
      );
      return new Uint8Array(out);
    };
    return { heartbeat: derive("heartbeat"), token: derive("token"), seal: derive("seal") };
  } finally {
    sodium.sodium_memzero(mySecret);
    sodium.sodium_memzero(shared);
  }
}

function orderKeys(a: Uint8Array, b: Uint8Array): [Uint8Array, Uint8Array] {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) <= 0 ? [a, b] : [b, a];
}

export const SEAL_NONCE_BYTES = 24;
const SEAL_TAG_BYTES = 16;

/**
 * XChaCha20-Poly1305 with a random nonce: nonce | ciphertext | tag. `additional` binds the box to its
 * context (who it is for, what it is) without being in it.
 */
export function sealBox(key: Uint8Array, plaintext: Uint8Array, additional: Uint8Array): Uint8Array {
  const out = Buffer.alloc(SEAL_NONCE_BYTES + plaintext.length + SEAL_TAG_BYTES);
  const nonce = out.subarray(0, SEAL_NONCE_BYTES);
  sodium.randombytes_buf(nonce);
  sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
    out.subarray(SEAL_NONCE_BYTES),
    Buffer.from(plaintext),
    Buffer.from(additional),
    null,
    nonce,
    Buffer.from(key),
  );
  return new Uint8Array(out);
}

/** Opens a `sealBox`; null when it is too short or fails authentication. */
export function openBox(key: Uint8Array, box: Uint8Array, additional: Uint8Array): Uint8Array | null {
  if (box.length < SEAL_NONCE_BYTES + SEAL_TAG_BYTES) return null;
  const sealed = Buffer.from(box.buffer, box.byteOffset, box.byteLength);
  const out = Buffer.alloc(box.length - SEAL_NONCE_BYTES - SEAL_TAG_BYTES);
  try {
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
      out,
      null,
      sealed.subarray(SEAL_NONCE_BYTES),
      Buffer.from(additional),
      sealed.subarray(0, SEAL_NONCE_BYTES),
      Buffer.from(key),
    );
  } catch {
    return null;
  }
  return new Uint8Array(out);
}

/** A keyed 16-byte MAC (BLAKE2b), for tickets a relay checks without state. */
export function mac16(key: Uint8Array, message: Uint8Array): Uint8Array {
  const out = Buffer.alloc(16);
  sodium.crypto_generichash(out, Buffer.from(message), Buffer.from(key));
  return new Uint8Array(out);
}

/** Constant-time equality of two byte strings of the same length (false for different lengths). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return sodium.sodium_memcmp(Buffer.from(a), Buffer.from(b));
}

export function randomBytes(size: number): Uint8Array {
  const out = Buffer.alloc(size);
  sodium.randombytes_buf(out);
  return new Uint8Array(out);
}

/** A 32-byte key of one's own for `purpose`, derived from one's secret key (e.g. main's relay key). */
export function derivedKey(key: SigningKey, purpose: string): Uint8Array {
  const out = Buffer.alloc(SHARED_KEY_BYTES);
  sodium.crypto_generichash(
    out,
    Buffer.from(`overworld ${purpose} v1`),
    key.secretKey.subarray(0, SEED_BYTES),
  );
  return new Uint8Array(out);
}

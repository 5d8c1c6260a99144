/**
 * Challenge tokens prove a client really receives packets at its source address. The server seals
 *   client id u64 | user data (256) | zero padding to 284 bytes
 * with ChaCha20-Poly1305 under its own random challenge key (no additional data), the nonce being the
 * challenge sequence number in the standard's 12-byte form; the 16-byte tag makes it 300 bytes. The client
 * echoes it back unopened in its connection response.
 */

import { DatagramReader } from "../../pack/reader.ts";
import { DatagramWriter } from "../../pack/writer.ts";
import { CHALLENGE_TOKEN_BYTES, MAC_BYTES, USER_DATA_BYTES } from "./constants.ts";
import { openChaCha20Poly1305, sealChaCha20Poly1305, sequenceNonce } from "./crypto.ts";
import { accept, drop, type ReadResult } from "./results.ts";

export interface ChallengeToken {
  readonly clientId: bigint;
  readonly userData: Uint8Array;
}

const CHALLENGE_PLAINTEXT_BYTES = CHALLENGE_TOKEN_BYTES - MAC_BYTES;
const NO_ADDITIONAL_DATA = new Uint8Array(0);

/** The 300-byte plaintext: client id, user data, zeros (the last 16 left for the tag). */
export function writeChallengeToken(token: ChallengeToken): Uint8Array {
  if (token.userData.length !== USER_DATA_BYTES) {
    throw new RangeError(
      `challenge token user data must be ${USER_DATA_BYTES} bytes, got ${token.userData.length}`,
    );
  }
  const plaintext = new Uint8Array(CHALLENGE_TOKEN_BYTES);
  const writer = new DatagramWriter(plaintext);
  writer.writeBigUint64(token.clientId);
  writer.writeBytes(token.userData);
  return plaintext;
}

export function readChallengeToken(plaintext: Uint8Array): ReadResult<ChallengeToken> {
  if (plaintext.length < 8 + USER_DATA_BYTES) return drop("challenge_decrypt_failed");
  const reader = new DatagramReader(plaintext);
  return accept({ clientId: reader.readBigUint64(), userData: reader.readBytes(USER_DATA_BYTES) });
}

/** Seals the first 284 bytes of a 300-byte plaintext into 284 bytes of ciphertext and the tag. */
export function sealChallengeToken(
  plaintext: Uint8Array,
  sequence: bigint,
  challengeKey: Uint8Array,
): Uint8Array {
  if (plaintext.length !== CHALLENGE_TOKEN_BYTES) {
    throw new RangeError(
      `challenge token plaintext must be ${CHALLENGE_TOKEN_BYTES} bytes, got ${plaintext.length}`,
    );
  }
  return sealChaCha20Poly1305(
    challengeKey,
    sequenceNonce(sequence),
    plaintext.subarray(0, CHALLENGE_PLAINTEXT_BYTES),
    NO_ADDITIONAL_DATA,
  );
}

/** Opens and reads a sealed challenge token echoed by a client. */
export function openChallengeToken(
  sealed: Uint8Array,
  sequence: bigint,
  challengeKey: Uint8Array,
): ReadResult<ChallengeToken> {
  if (sealed.length !== CHALLENGE_TOKEN_BYTES) return drop("challenge_decrypt_failed");
  const plaintext = openChaCha20Poly1305(challengeKey, sequenceNonce(sequence), sealed, NO_ADDITIONAL_DATA);
  if (plaintext === null) return drop("challenge_decrypt_failed");
  return readChallengeToken(plaintext);
}

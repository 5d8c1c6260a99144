/**
 * What @types/sodium-native lacks and the netcode AEADs use: the IETF ChaCha20-Poly1305 AEAD (netcode.io
 * 1.02 seals its packets with it), and the XChaCha20 one over plain Uint8Arrays (the package takes any
 * Uint8Array; its types ask for Buffers). An augmentation of that package's types, not a replacement.
 */
import "sodium-native";

declare module "sodium-native" {
  /** Writes ciphertext and tag into `ciphertext` (plaintext length + 16 bytes); returns bytes written. */
  export function crypto_aead_chacha20poly1305_ietf_encrypt(
    ciphertext: Uint8Array,
    message: Uint8Array,
    additionalData: Uint8Array | null,
    secretNonce: null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): number;
  /** Writes the plaintext into `message`; throws when authentication fails. */
  export function crypto_aead_chacha20poly1305_ietf_decrypt(
    message: Uint8Array,
    secretNonce: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_encrypt(
    ciphertext: Uint8Array,
    message: Uint8Array,
    additionalData: Uint8Array | null,
    secretNonce: null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): number;
  export function crypto_aead_xchacha20poly1305_ietf_decrypt(
    message: Uint8Array,
    secretNonce: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ): number;
}

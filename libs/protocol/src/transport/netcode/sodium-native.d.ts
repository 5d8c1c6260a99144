/** The part of sodium-native (libsodium's bindings) the netcode AEADs use; its own typings lag its API. */
declare module "sodium-native" {
  /** Writes ciphertext and tag into `ciphertext` (plaintext length + 16 bytes); returns bytes written. */
  type Encrypt = (
    ciphertext: Uint8Array,
    message: Uint8Array,
    additionalData: Uint8Array | null,
    secretNonce: null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ) => number;
  /** Writes the plaintext into `message`; throws when authentication fails. */
  type Decrypt = (
    message: Uint8Array,
    secretNonce: null,
    ciphertext: Uint8Array,
    additionalData: Uint8Array | null,
    publicNonce: Uint8Array,
    key: Uint8Array,
  ) => number;
  const sodium: {
    crypto_aead_chacha20poly1305_ietf_encrypt: Encrypt;
    crypto_aead_chacha20poly1305_ietf_decrypt: Decrypt;
    crypto_aead_xchacha20poly1305_ietf_encrypt: Encrypt;
    crypto_aead_xchacha20poly1305_ietf_decrypt: Decrypt;
  };
  export default sodium;
}

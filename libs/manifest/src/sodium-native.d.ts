/**
 * What @types/sodium-native lacks and hash.ts uses: streaming SHA-256 over a state buffer
 * (`crypto_hash_sha256_STATEBYTES`), as sodium-native 5 exports it. An augmentation, not a replacement.
 */
import "sodium-native";

declare module "sodium-native" {
  export function crypto_hash_sha256_init(state: Uint8Array): void;
  export function crypto_hash_sha256_update(state: Uint8Array, input: Uint8Array): void;
  export function crypto_hash_sha256_final(state: Uint8Array, output: Uint8Array): void;
}

/**
 * Manifests signed by the main that publishes them (Ed25519, the federation's keys).
 *
 * A signed manifest is the JSON document `{"manifest": {...}, "signature": {"key", "signedAt", "value"}}`:
 * `key` is the signer's public key (standard base64, 44 characters), `signedAt` the signing time (Unix ms,
 * an integer), `value` the 64-byte Ed25519 signature (base64). The signature covers exactly these bytes:
 *
 *   "overworld manifest v1\n" followed by the canonical JSON of {"key": key, "manifest": manifest, "signedAt": signedAt}
 *
 * in UTF-8. Canonical JSON (the federation's `canonicalJson`) is JSON without white space, every object's
 * members sorted by name (UTF-16 code units), members whose value is undefined left out, strings and
 * numbers as ECMAScript's JSON.stringify writes them. A manifest holds only strings, integers, arrays and
 * objects, for which this is RFC 8785 (JCS): any language can reproduce the bytes.
 */
import { canonicalJson, decodeKey, encodeKey, type SigningKey, sign, verify } from "@overworld/federation";
import { sha256 } from "./hash.ts";
import type { Manifest } from "./manifest.ts";

export const SIGNING_CONTEXT = "overworld manifest v1\n";

export interface ManifestSignature {
  /** The signer's Ed25519 public key, base64. */
  readonly key: string;
  /** When it was signed (Unix ms): the trust list checks it against the key's validity. */
  readonly signedAt: number;
  /** The signature, base64 (64 bytes). */
  readonly value: string;
}

export interface SignedManifest {
  readonly manifest: Manifest;
  readonly signature?: ManifestSignature;
}

/** The bytes a signature covers (see the top of this file). */
export function signingBytes(manifest: Manifest, key: string, signedAt: number): Uint8Array {
  return new TextEncoder().encode(SIGNING_CONTEXT + canonicalJson({ key, manifest, signedAt }));
}

/** The package's id: the SHA-256 of its manifest's canonical JSON (hex). Two packages alike have one id. */
export function manifestId(manifest: Manifest): string {
  return sha256(new TextEncoder().encode(canonicalJson(manifest)));
}

export function signManifest(manifest: Manifest, key: SigningKey, now = Date.now()): SignedManifest {
  const publicKey = encodeKey(key.publicKey);
  const signedAt = Math.floor(now);
  const value = Buffer.from(sign(key, signingBytes(manifest, publicKey, signedAt))).toString("base64");
  return { manifest, signature: { key: publicKey, signedAt, value } };
}

/** True when the signature is its key's over this manifest at this time. */
export function signatureHolds(manifest: Manifest, signature: ManifestSignature): boolean {
  const key = decodeKey(signature.key);
  if (key === null || !Number.isSafeInteger(signature.signedAt)) return false;
  if (!/^[A-Za-z0-9+/]{86}==$/.test(signature.value)) return false;
  const value = new Uint8Array(Buffer.from(signature.value, "base64"));
  return verify(key, signingBytes(manifest, signature.key, signature.signedAt), value);
}

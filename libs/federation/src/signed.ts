/**
 * Requests to main signed with a cluster's (or a child main's) Ed25519 key. The signature covers the
 * request's purpose (its route, e.g. "register") and every other member of its body, written as JSON with
 * the members in sorted order, so main checks exactly what was signed. `at` (Unix ms) bounds the
 * signature's life: main refuses one more than `SIGNATURE_WINDOW_MS` away from its clock.
 */
import { decodeKey, type SigningKey, sign, verify } from "./keys.ts";

export const SIGNATURE_WINDOW_MS = 60_000;

export type Signed<T> = T & { readonly at: number; readonly signature: string };

/** The bytes a signature covers: `overworld federation <purpose> v1\n` and the body as sorted JSON. */
export function signedBytes(purpose: string, body: Readonly<Record<string, unknown>>): Uint8Array {
  const { signature: _left, ...rest } = body;
  return new TextEncoder().encode(`overworld federation ${purpose} v1\n${canonicalJson(rest)}`);
}

/** JSON with every object's members in sorted order (arrays keep theirs). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** Signs a body for `purpose` at `now`. */
export function signBody<T extends Record<string, unknown>>(
  key: SigningKey,
  purpose: string,
  body: T,
  now = Date.now(),
): Signed<T> {
  const withTime = { ...body, at: now };
  const signature = Buffer.from(sign(key, signedBytes(purpose, withTime))).toString("base64");
  return { ...withTime, signature };
}

export type SignatureCheck =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "bad_signature" | "stale_signature" };

/** Checks a signed body against the public key (base64 text or bytes) it claims, and its time against `now`. */
export function checkSignature(
  publicKey: Uint8Array | string,
  purpose: string,
  body: Signed<Record<string, unknown>>,
  now = Date.now(),
): SignatureCheck {
  const key = typeof publicKey === "string" ? decodeKey(publicKey) : publicKey;
  if (key === null) return { ok: false, reason: "bad_signature" };
  if (typeof body.signature !== "string" || !/^[A-Za-z0-9+/]{86}==$/.test(body.signature)) {
    return { ok: false, reason: "bad_signature" };
  }
  if (!Number.isFinite(body.at) || Math.abs(now - body.at) > SIGNATURE_WINDOW_MS) {
    return { ok: false, reason: "stale_signature" };
  }
  const signature = new Uint8Array(Buffer.from(body.signature, "base64"));
  if (!verify(key, signedBytes(purpose, body), signature)) return { ok: false, reason: "bad_signature" };
  return { ok: true };
}

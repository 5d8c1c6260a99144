/**
 * Signed requests to main are taken once: a signature that verifies and is fresh is recorded, and the
 * same request sent again within its window (an observer replaying a link-token request for a token of
 * its own, or a pending-messages request to take a cluster's messages) is refused `replayed_signature`.
 * Every signing call makes a new body (its own `at`), so a sender that retries signs again.
 */
import { checkSignature, SIGNATURE_WINDOW_MS, type SignatureCheck, type Signed } from "@overworld/federation";
import type { Directory } from "./directory.ts";

export type OnceCheck = SignatureCheck | { readonly ok: false; readonly reason: "replayed_signature" };

export async function checkSignedOnce(
  directory: Directory,
  publicKey: Uint8Array | string,
  purpose: string,
  body: Signed<Record<string, unknown>>,
  now: number,
): Promise<OnceCheck> {
  const checked = checkSignature(publicKey, purpose, body, now);
  if (!checked.ok) return checked;
  const first = await directory.firstUse(body.signature, body.at + SIGNATURE_WINDOW_MS, now);
  return first ? checked : { ok: false, reason: "replayed_signature" };
}

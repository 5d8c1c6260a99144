/**
 * The main keys a cluster (or a client) trusts to sign packages, with their validity, so main can rotate
 * its key without a gap:
 *
 * 1. main makes a new key and the operator adds it to the list (`addKey`);
 * 2. main signs again, with the new key, what it publishes;
 * 3. the operator retires the old key (`retireKey`, at a time): packages it signed before that time still
 *    load; anything it signed at or after it is refused.
 *
 * A signature's time is what its signer wrote, so retirement is for a key that was put away, not stolen: a
 * stolen key could date a signature back. A key that may be in someone else's hands is revoked
 * (`revokeKey`): everything it ever signed is refused. No signature may be dated more than `CLOCK_SKEW_MS`
 * in the future of the checker's clock.
 *
 * The list is plain JSON (`{"keys": [{key, label, validFrom, retiredAt?, revokedAt?}]}`), kept by the
 * cluster's operator (`pnpm overworld plugin trust ...`).
 */
import { readFile, writeFile } from "node:fs/promises";
import { decodeKey, fingerprint } from "@overworld/federation";
import { z } from "zod";

export const CLOCK_SKEW_MS = 5 * 60_000;

const trustedKeySchema = z.strictObject({
  key: z.string().refine((text) => decodeKey(text) !== null, "an Ed25519 public key, base64 (44 characters)"),
  label: z.string().max(200),
  validFrom: z.number().int(),
  retiredAt: z.number().int().optional(),
  revokedAt: z.number().int().optional(),
});
export const trustListSchema = z.strictObject({ keys: z.array(trustedKeySchema) });

export type TrustedKey = z.infer<typeof trustedKeySchema>;
export type TrustList = z.infer<typeof trustListSchema>;

export const EMPTY_TRUST_LIST: TrustList = { keys: [] };

/** A key as messages name it: its label and fingerprint, or its fingerprint alone. */
export function describeKey(key: string, list?: TrustList): string {
  const decoded = decodeKey(key);
  const print = decoded === null ? key : fingerprint(decoded);
  const entry = list?.keys.find((candidate) => candidate.key === key);
  return entry?.label ? `${entry.label} (key ${print})` : `key ${print}`;
}

function entryOf(list: TrustList, key: string): TrustedKey {
  const entry = list.keys.find((candidate) => candidate.key === key);
  if (!entry) throw new Error(`${describeKey(key)} is not in the trust list`);
  return entry;
}

function replace(list: TrustList, entry: TrustedKey): TrustList {
  return { keys: list.keys.map((candidate) => (candidate.key === entry.key ? entry : candidate)) };
}

/**
 * The list with `key` trusted for signatures dated from `validFrom` on (default: whenever they were made).
 * Throws for a bad key or one already listed.
 */
export function addKey(list: TrustList, key: string, label: string, validFrom = 0): TrustList {
  if (decodeKey(key) === null)
    throw new Error(`'${key}' is not an Ed25519 public key (44 characters of base64)`);
  const entry = trustedKeySchema.parse({ key, label, validFrom });
  if (list.keys.some((candidate) => candidate.key === key)) {
    throw new Error(`${describeKey(key, list)} is already in the trust list`);
  }
  return { keys: [...list.keys, entry] };
}

/** The list with `key`'s signatures dated at or after `at` refused. */
export function retireKey(list: TrustList, key: string, at = Date.now()): TrustList {
  const entry = entryOf(list, key);
  if (entry.revokedAt !== undefined) throw new Error(`${describeKey(key, list)} is revoked already`);
  return replace(list, { ...entry, retiredAt: Math.min(at, entry.retiredAt ?? at) });
}

/** The list with every signature of `key` refused. */
export function revokeKey(list: TrustList, key: string, at = Date.now()): TrustList {
  const entry = entryOf(list, key);
  return replace(list, { ...entry, revokedAt: entry.revokedAt ?? at });
}

export type SignerVerdict = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/** Whether the list accepts a signature by `key` dated `signedAt`, checked at `now`; the reason if not. */
export function checkSigner(list: TrustList, key: string, signedAt: number, now = Date.now()): SignerVerdict {
  const entry = list.keys.find((candidate) => candidate.key === key);
  const at = new Date(signedAt).toISOString();
  if (!entry) {
    return {
      ok: false,
      reason: `signed by ${describeKey(key)} (${key}), which is not in the trust list of main keys; if that main is yours, add its key: pnpm overworld plugin trust add`,
    };
  }
  const who = describeKey(key, list);
  if (entry.revokedAt !== undefined) {
    return { ok: false, reason: `signed by ${who}, revoked on ${new Date(entry.revokedAt).toISOString()}` };
  }
  if (entry.retiredAt !== undefined && signedAt >= entry.retiredAt) {
    return {
      ok: false,
      reason: `signed by ${who} on ${at}, after its retirement on ${new Date(entry.retiredAt).toISOString()}; sign it with main's current key`,
    };
  }
  if (signedAt < entry.validFrom) {
    return {
      ok: false,
      reason: `signed by ${who} on ${at}, before the key became valid on ${new Date(entry.validFrom).toISOString()}`,
    };
  }
  if (signedAt > now + CLOCK_SKEW_MS) {
    return { ok: false, reason: `signed by ${who} on ${at}, in the future of this clock` };
  }
  return { ok: true };
}

/** Reads a trust list file; throws naming the file and what is wrong. A missing file is an empty list. */
export async function readTrustList(file: string): Promise<TrustList> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return EMPTY_TRUST_LIST;
    throw error;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${file}: not JSON`);
  }
  const parsed = trustListSchema.safeParse(json);
  if (!parsed.success) {
    const first = parsed.error.issues[0]!;
    throw new Error(`${file}: ${first.path.join(".")}: ${first.message}`);
  }
  return parsed.data;
}

export async function writeTrustList(file: string, list: TrustList): Promise<void> {
  await writeFile(file, `${JSON.stringify(list, null, 2)}\n`);
}

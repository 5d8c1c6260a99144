/**
 * Packages: a signed manifest and the files it lists. Verification refuses, with a `PackageRefused`
 * naming the package and what is wrong, a package that is:
 *
 * - `invalid`: not a manifest of format 1 (the member and the rule it breaks are named);
 * - `unsigned`: no signature;
 * - `tampered`: the manifest does not match its signature (changed after signing), or a file is missing or
 *   differs from its size or hashes (the file, and the chunk, are named);
 * - `untrusted`: signed by a key the trust list does not hold, or holds as revoked, or retired before the
 *   signature's date.
 *
 * The loader (loader.ts) adds `unsatisfiable` (a dependency missing or out of range) and `wrong-edge`.
 */
import { z } from "zod";
import { fileMismatch } from "./hash.ts";
import { label, type Manifest, manifestProblem, manifestSchema } from "./manifest.ts";
import { type ManifestSignature, manifestId, type SignedManifest, signatureHolds } from "./signature.ts";
import { checkSigner, type TrustList } from "./trust.ts";

export type Refusal = "invalid" | "unsigned" | "tampered" | "untrusted" | "unsatisfiable" | "wrong-edge";

export class PackageRefused extends Error {
  constructor(
    readonly refusal: Refusal,
    /** What was refused: `plugin boss-ai@1.2.0`, or where it came from when it is not even a manifest. */
    readonly subject: string,
    readonly detail: string,
  ) {
    super(`${subject} refused (${refusal}): ${detail}`);
    this.name = "PackageRefused";
  }
}

/** A package as it arrived: the signed manifest's JSON, and a way to read each of its files. */
export interface PackageContent {
  /** Where it came from, for messages when it is not a manifest at all (a directory, a URL). */
  readonly origin: string;
  /** The parsed JSON of the signed manifest: `{manifest, signature}`. Nothing in it is trusted yet. */
  readonly signed: unknown;
  /** A file's bytes, or undefined when it is not there. */
  readonly read: (path: string) => Promise<Uint8Array | undefined>;
}

/** A package that passed every check: its files are the bytes that were checked. */
export interface VerifiedPackage {
  readonly manifest: Manifest;
  /** The manifest's id (its canonical JSON's SHA-256). */
  readonly id: string;
  readonly signature: ManifestSignature;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

const envelopeSchema = z.strictObject({
  manifest: z.unknown(),
  signature: z.strictObject({ key: z.string(), signedAt: z.number().int(), value: z.string() }).optional(),
});

/** The signed manifest in `value`, checked for shape only; throws `invalid`. */
export function parseSignedManifest(value: unknown, origin: string): SignedManifest {
  const envelope = envelopeSchema.safeParse(value);
  if (!envelope.success) {
    throw new PackageRefused(
      "invalid",
      origin,
      'a signed manifest is {"manifest": {...}, "signature": {"key", "signedAt", "value"}}',
    );
  }
  const problem = manifestProblem(envelope.data.manifest);
  if (problem !== null) throw new PackageRefused("invalid", origin, problem);
  const manifest = manifestSchema.parse(envelope.data.manifest);
  return envelope.data.signature ? { manifest, signature: envelope.data.signature } : { manifest };
}

export function subjectOf(manifest: Manifest): string {
  return `${manifest.kind} ${label(manifest)}`;
}

/** Checks a package's signature, signer and files; throws `PackageRefused` at the first problem. */
export async function verifyPackage(
  content: PackageContent,
  trust: TrustList,
  now = Date.now(),
): Promise<VerifiedPackage> {
  const { manifest, signature } = parseSignedManifest(content.signed, content.origin);
  const subject = subjectOf(manifest);
  if (signature === undefined) {
    throw new PackageRefused(
      "unsigned",
      subject,
      `the manifest has no signature; main signs what it publishes: pnpm overworld ${manifest.kind === "asset" ? "assets" : "plugin"} sign DIR --key FILE`,
    );
  }
  if (!signatureHolds(manifest, signature)) {
    throw new PackageRefused(
      "tampered",
      subject,
      "the manifest does not match its signature (changed after it was signed, or the signature is not its key's)",
    );
  }
  const signer = checkSigner(trust, signature.key, signature.signedAt, now);
  if (!signer.ok) throw new PackageRefused("untrusted", subject, signer.reason);
  const files = new Map<string, Uint8Array>();
  for (const entry of manifest.files) {
    const bytes = await content.read(entry.path);
    if (bytes === undefined) throw new PackageRefused("tampered", subject, `file ${entry.path} is missing`);
    const mismatch = fileMismatch(entry, bytes, manifest.chunkSize);
    if (mismatch !== null) throw new PackageRefused("tampered", subject, mismatch);
    files.set(entry.path, bytes);
  }
  return { manifest, id: manifestId(manifest), signature, files };
}

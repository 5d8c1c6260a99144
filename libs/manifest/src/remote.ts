/**
 * Packages over main's REST API (services/signaling, packages.ts): a cluster fetches a published package
 * (its signed manifest, then each file by its SHA-256) and verifies it itself; main's operator publishes one.
 * Nothing fetched is trusted: the result is a `PackageContent` for `verifyPackage` or `loadPlugins`.
 */
import { type PackageContent, parseSignedManifest } from "./package.ts";

/** The package `name@version` main at `mainUrl` publishes, to be verified. Throws if main does not have it. */
export async function fetchPackage(mainUrl: string, name: string, version: string): Promise<PackageContent> {
  const where = new URL(`/v1/packages/${encodeURIComponent(name)}/${encodeURIComponent(version)}`, mainUrl);
  const response = await fetch(where);
  if (!response.ok)
    throw new Error(`main at ${mainUrl} has no package ${name}@${version} (${response.status})`);
  const signed: unknown = await response.json();
  // the hashes to fetch by: taken from the manifest as sent, checked with everything else by verification
  const hashes = new Map<string, string>();
  try {
    for (const file of parseSignedManifest(signed, where.href).manifest.files)
      hashes.set(file.path, file.sha256);
  } catch {
    // not a manifest: verification says so
  }
  return {
    origin: where.href,
    signed,
    read: async (path) => {
      const sha256 = hashes.get(path);
      if (sha256 === undefined) return undefined;
      const file = await fetch(new URL(`/v1/files/${sha256}`, mainUrl));
      return file.ok ? new Uint8Array(await file.arrayBuffer()) : undefined;
    },
  };
}

/** Publishes a package (as read from disk or made in memory) through main's operator API; main's answer. */
export async function publishPackage(
  mainUrl: string,
  operatorToken: string,
  content: PackageContent,
): Promise<{ status: number; body: { id?: string; reason?: string } }> {
  const { manifest } = parseSignedManifest(content.signed, content.origin);
  const files: Record<string, string> = {};
  for (const file of manifest.files) {
    const bytes = await content.read(file.path);
    if (bytes !== undefined) files[file.path] = Buffer.from(bytes).toString("base64");
  }
  const response = await fetch(new URL("/v1/packages", mainUrl), {
    method: "POST",
    headers: { authorization: `Bearer ${operatorToken}`, "content-type": "application/json" },
    body: JSON.stringify({ signed: content.signed, files }),
  });
  return { status: response.status, body: (await response.json()) as { id?: string; reason?: string } };
}

/**
 * The verbs `overworld plugin` and `overworld assets` share over a package directory (libs/manifest):
 * pack it into DIR/manifest.json, sign it with main's key, verify it against a trust list, publish it
 * through main's REST API. Only packing differs by kind (DIR/plugin.json or DIR/asset.json).
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseSeed, type SigningKey, signingKeyFromSeed } from "@overworld/federation";
import {
  DEFAULT_CHUNK_SIZE,
  describeKey,
  label,
  type Manifest,
  packAssetDirectory,
  packDirectory,
  publishPackage,
  readPackageDirectory,
  readTrustList,
  signDirectory,
  verifyPackage,
} from "@overworld/manifest";

/** A mistake in the arguments: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** The command a kind of package is handled by, as messages name it. */
export type PackageKind = "plugin" | "asset";
const COMMAND: Record<PackageKind, string> = { plugin: "plugin", asset: "assets" };

export function one(rest: readonly string[], what: string): string {
  if (rest.length !== 1) throw new UsageError(`expected ${what}, got ${rest.length} arguments`);
  return rest[0]!;
}

export function none(rest: readonly string[], what: string): void {
  if (rest.length > 0) throw new UsageError(`${what} takes options only, not '${rest.join(" ")}'`);
}

export function required(value: string | undefined, what: string): string {
  if (value === undefined) throw new UsageError(`${what} is needed`);
  return value;
}

/** Main's signing key from a seed file (64 hex digits). */
export function readKey(file: string): SigningKey {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    throw new Error(`cannot read the key file ${file}`);
  }
  try {
    return signingKeyFromSeed(parseSeed(text));
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
}

function totalBytes(manifest: Manifest): number {
  return manifest.files.reduce((sum, file) => sum + file.size, 0);
}

/** Packs DIR as a `kind`; prints what it made. */
export async function pack(
  kind: PackageKind,
  dir: string,
  chunkSizeText: string | undefined,
): Promise<Manifest> {
  const chunkSize = chunkSizeText === undefined ? DEFAULT_CHUNK_SIZE : Number(chunkSizeText);
  if (!Number.isInteger(chunkSize))
    throw new UsageError(`--chunk-size takes a number of bytes, not '${chunkSizeText}'`);
  const manifest = await (kind === "plugin" ? packDirectory : packAssetDirectory)(resolve(dir), chunkSize);
  const chunks = manifest.files.reduce((sum, file) => sum + file.chunks.length, 0);
  const inChunks = kind === "asset" ? ` in ${chunks} chunks of ${manifest.chunkSize}` : "";
  process.stdout.write(
    `packed ${manifest.kind} ${label(manifest)}: ${manifest.files.length} files, ${totalBytes(manifest)} bytes${inChunks}, in ${resolve(dir, "manifest.json")} (unsigned; sign it with: pnpm overworld ${COMMAND[kind]} sign ${dir} --key FILE)\n`,
  );
  return manifest;
}

export async function signPackage(dir: string, keyFile: string): Promise<number> {
  const key = readKey(keyFile);
  const { manifest, signature } = await signDirectory(resolve(dir), key);
  process.stdout.write(
    `signed ${manifest.kind} ${label(manifest)} with ${describeKey(signature!.key)} (${signature!.key})\n`,
  );
  return 0;
}

export async function verifyDirectory(dir: string, trustFile: string): Promise<number> {
  if (!existsSync(trustFile)) throw new Error(`the trust list ${trustFile} does not exist`);
  const list = await readTrustList(trustFile);
  const verified = await verifyPackage(await readPackageDirectory(resolve(dir)), list);
  const { manifest, signature, id } = verified;
  const edge = manifest.kind === "plugin" ? ` (${manifest.edge})` : "";
  process.stdout.write(
    `ok: ${manifest.kind} ${label(manifest)}${edge}, ${manifest.files.length} files, ${totalBytes(manifest)} bytes, id ${id}, signed by ${describeKey(signature.key, list)} on ${new Date(signature.signedAt).toISOString()}\n`,
  );
  return 0;
}

export async function publish(dir: string, mainUrl: string, tokenFile: string): Promise<number> {
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch {
    throw new Error(`cannot read the operator's token file ${tokenFile}`);
  }
  const { status, body } = await publishPackage(mainUrl, token, await readPackageDirectory(resolve(dir)));
  if (status !== 200 && status !== 201)
    throw new Error(`main refused it (${status}): ${body.reason ?? "no reason given"}`);
  process.stdout.write(
    `${status === 201 ? "published" : "already published"}: ${dir} as ${body.id} at ${mainUrl}\n`,
  );
  return 0;
}

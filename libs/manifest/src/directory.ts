/**
 * Packages as directories, as a main operator makes them:
 *
 *   DIR/plugin.json     what the plugin's author writes: {name, version, edge, entry, dependencies?,
 *                       channels? (default ["main"]), description?}
 *   DIR/asset.json      or, for an asset (content only): {name, version, description?}
 *   DIR/...             its code and assets (every regular file; names starting with '.' are left out)
 *   DIR/manifest.json   the manifest `packDirectory` (`packAssetDirectory`) makes from them, which
 *                       `signDirectory` signs
 */
import { lstat, readdir, readFile, writeFile } from "node:fs/promises";
import { join, relative, sep } from "node:path";
import type { SigningKey } from "@overworld/federation";
import { z } from "zod";
import { describeFile, fileMismatch } from "./hash.ts";
import { DEFAULT_CHUNK_SIZE, EDGES, MANIFEST_FORMAT, type Manifest, manifestProblem } from "./manifest.ts";
import { type PackageContent, PackageRefused, parseSignedManifest, subjectOf } from "./package.ts";
import { type SignedManifest, signManifest } from "./signature.ts";

export const PLUGIN_FILE = "plugin.json";
export const ASSET_FILE = "asset.json";
export const MANIFEST_FILE = "manifest.json";

const pluginFileSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  edge: z.enum(EDGES),
  entry: z.string(),
  dependencies: z.record(z.string(), z.string()).default({}),
  channels: z.array(z.string()).default(["main"]),
  description: z.string().optional(),
});

const assetFileSchema = z.strictObject({
  name: z.string(),
  version: z.string(),
  description: z.string().optional(),
});

async function readJson(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new Error(`${file} is missing`);
    throw error;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`${file} is not JSON`);
  }
}

/** Every regular file under `dir` but the package's own files and dot-names, '/'-separated, sorted. */
async function listFiles(dir: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (at: string): Promise<void> => {
    for (const entry of await readdir(at, { withFileTypes: true })) {
      if (entry.name.startsWith(".")) continue;
      const full = join(at, entry.name);
      const path = relative(dir, full).split(sep).join("/");
      if (path === PLUGIN_FILE || path === ASSET_FILE || path === MANIFEST_FILE) continue;
      if (entry.isDirectory()) await walk(full);
      else if (entry.isFile()) found.push(path);
      else throw new Error(`${full} is not a regular file (a package holds files and directories only)`);
    }
  };
  await walk(dir);
  return found.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** What the author wrote in DIR/`file`, checked against `schema`; throws naming the file and the member. */
async function readSource<T>(dir: string, file: string, schema: z.ZodType<T>): Promise<T> {
  const source = schema.safeParse(await readJson(join(dir, file)));
  if (!source.success) {
    const first = source.error.issues[0]!;
    throw new Error(`${join(dir, file)}: ${first.path.join(".") || "(top)"}: ${first.message}`);
  }
  return source.data;
}

/** Lists DIR's files with their hashes into `head`, checks the manifest and writes it (unsigned). */
async function packFiles(dir: string, head: Record<string, unknown>, chunkSize: number): Promise<Manifest> {
  const files = [];
  for (const path of await listFiles(dir)) files.push(await describeFile(path, join(dir, path), chunkSize));
  const manifest = { format: MANIFEST_FORMAT, ...head, chunkSize, files };
  const problem = manifestProblem(manifest);
  if (problem !== null) throw new Error(`${dir}: ${problem}`);
  await writeSignedManifest(dir, { manifest: manifest as Manifest });
  return manifest as Manifest;
}

/** Makes DIR/manifest.json (unsigned) from DIR/plugin.json and DIR's files; throws saying what is wrong. */
export async function packDirectory(dir: string, chunkSize = DEFAULT_CHUNK_SIZE): Promise<Manifest> {
  const { channels, dependencies, ...rest } = await readSource(dir, PLUGIN_FILE, pluginFileSchema);
  return packFiles(
    dir,
    { kind: "plugin", ...rest, dependencies, channels: [...new Set(channels)].sort() },
    chunkSize,
  );
}

/** Makes DIR/manifest.json (unsigned) of an asset from DIR/asset.json and DIR's files. */
export async function packAssetDirectory(dir: string, chunkSize = DEFAULT_CHUNK_SIZE): Promise<Manifest> {
  return packFiles(
    dir,
    { kind: "asset", ...(await readSource(dir, ASSET_FILE, assetFileSchema)) },
    chunkSize,
  );
}

async function writeSignedManifest(dir: string, signed: SignedManifest): Promise<void> {
  await writeFile(join(dir, MANIFEST_FILE), `${JSON.stringify(signed, null, 2)}\n`);
}

/** The package in a directory, read from disk as it is (nothing checked yet). */
export async function readPackageDirectory(dir: string): Promise<PackageContent> {
  const signed = await readJson(join(dir, MANIFEST_FILE));
  return {
    origin: dir,
    signed,
    read: async (path) => {
      const file = join(dir, ...path.split("/"));
      const stat = await lstat(file).catch(() => undefined);
      if (!stat?.isFile()) return undefined;
      return new Uint8Array(await readFile(file));
    },
  };
}

/**
 * Signs DIR/manifest.json with `key`, after checking that DIR's files are still what it lists (a manifest
 * is signed only for the bytes beside it). Throws `PackageRefused` (`invalid`, `tampered`) otherwise.
 */
export async function signDirectory(dir: string, key: SigningKey, now = Date.now()): Promise<SignedManifest> {
  const content = await readPackageDirectory(dir);
  const { manifest } = parseSignedManifest(content.signed, dir);
  for (const entry of manifest.files) {
    const bytes = await content.read(entry.path);
    const mismatch =
      bytes === undefined ? `file ${entry.path} is missing` : fileMismatch(entry, bytes, manifest.chunkSize);
    if (mismatch !== null) {
      throw new PackageRefused("tampered", subjectOf(manifest), `${mismatch}; pack it again first`);
    }
  }
  const signed = signManifest(manifest, key, now);
  await writeSignedManifest(dir, signed);
  return signed;
}

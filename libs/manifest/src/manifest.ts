/**
 * The manifest of a package: a plugin (code and its assets, attached to one edge of the hierarchy) or an
 * asset (content only). One format for both, content-addressed: every file is listed with its size, its
 * SHA-256 and the SHA-256 of each of its chunks (`chunkSize` bytes each, the last one shorter), so a
 * package can travel in chunks from anyone (main, a cluster, another client) and every chunk is checked
 * on arrival.
 *
 * Format 1, as JSON (every member required unless marked; no other members allowed):
 *
 *   {
 *     "format": 1,
 *     "kind": "plugin" | "asset",
 *     "name": "boss-ai",                     lower-case letters, digits, '.', '_', '-'; 1 to 64 characters
 *     "version": "1.2.0",                    a semver version (no 'v', no build metadata)
 *     "description": "...",                  optional, up to 1,000 characters
 *     "chunkSize": 1048576,                  bytes per chunk, 1 KiB to 64 MiB
 *     "files": [                             sorted by path (UTF-16 order), no two alike
 *       { "path": "index.js", "size": 812, "sha256": "<64 hex>", "chunks": ["<64 hex>", ...] }
 *     ],
 *     plugins only:
 *     "edge": "server-client",               where it attaches (EDGES)
 *     "entry": "index.js",                   the file its host loads (one of files)
 *     "dependencies": { "combat": "^2.1.0" },   other plugins and the semver range of each
 *     "channels": ["main", "voice"]          "main": the edge's main channel; any other name: a channel of its own; sorted, no two alike
 *   }
 *
 * A path is relative, '/'-separated, without '.', '..' or empty segments, backslashes or control characters.
 * The package's id (`manifestId`) is the SHA-256 of the manifest's canonical bytes (canonical.ts).
 */
import semver from "semver";
import { z } from "zod";

export const MANIFEST_FORMAT = 1;
export const DEFAULT_CHUNK_SIZE = 1 << 20;
export const MIN_CHUNK_SIZE = 1 << 10;
export const MAX_CHUNK_SIZE = 1 << 26;

/** The edges of the hierarchy a plugin attaches to: `<where it runs>-<whom it talks to>`. */
export const EDGES = [
  "client-client",
  "client-server",
  "client-main",
  "server-client",
  "server-server",
  "server-main",
  "main-server",
  "main-client",
  "main-main",
] as const;
export type Edge = (typeof EDGES)[number];
/** Who runs a plugin of an edge: the first half of its name. */
export type Side = "client" | "server" | "main";
export function sideOf(edge: Edge): Side {
  return edge.slice(0, edge.indexOf("-")) as Side;
}

export const MAIN_CHANNEL = "main";
const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const HEX256 = /^[0-9a-f]{64}$/;

const name = z
  .string()
  .regex(NAME, "a name is 1-64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit");
const version = z
  .string()
  .refine((v) => semver.valid(v) === v, "a version is semver: MAJOR.MINOR.PATCH[-prerelease]");
const range = z.string().refine((r) => semver.validRange(r) !== null, "a semver range, e.g. ^1.2.0");
const sha256 = z.string().regex(HEX256, "a SHA-256 is 64 lower-case hex digits");
const path = z
  .string()
  .max(255)
  .refine(
    (p) =>
      p.length > 0 &&
      // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
      !/[\\\u0000-\u001f\u007f]/.test(p) &&
      p.split("/").every((segment) => segment !== "" && segment !== "." && segment !== ".."),
    "a path is relative, '/'-separated, without '.', '..' or empty segments",
  );

const file = z.strictObject({
  path,
  size: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER),
  sha256,
  chunks: z.array(sha256),
});

const common = {
  format: z.literal(MANIFEST_FORMAT),
  name,
  version,
  description: z.string().max(1000).optional(),
  chunkSize: z.number().int().min(MIN_CHUNK_SIZE).max(MAX_CHUNK_SIZE),
  files: z.array(file),
};

const pluginManifest = z.strictObject({
  ...common,
  kind: z.literal("plugin"),
  edge: z.enum(EDGES),
  entry: path,
  dependencies: z.record(name, range),
  channels: z.array(z.string().regex(NAME, "a channel name is like a plugin name")),
});

const assetManifest = z.strictObject({ ...common, kind: z.literal("asset") });

export const manifestSchema = z
  .discriminatedUnion("kind", [pluginManifest, assetManifest])
  .superRefine((manifest, context) => {
    const issue = (message: string, at: (string | number)[]) =>
      context.addIssue({ code: "custom", message, path: at });
    manifest.files.forEach((entry, index) => {
      const expected = chunkCount(entry.size, manifest.chunkSize);
      if (entry.chunks.length !== expected) {
        issue(`${entry.path}: ${entry.size} bytes make ${expected} chunks, not ${entry.chunks.length}`, [
          "files",
          index,
          "chunks",
        ]);
      }
      const previous = manifest.files[index - 1];
      if (previous !== undefined && !(previous.path < entry.path)) {
        issue(`files are sorted by path, each once: '${entry.path}' after '${previous.path}'`, [
          "files",
          index,
          "path",
        ]);
      }
    });
    if (manifest.kind !== "plugin") return;
    if (!manifest.files.some((entry) => entry.path === manifest.entry)) {
      issue(`the entry '${manifest.entry}' is not one of the files`, ["entry"]);
    }
    if (manifest.name in manifest.dependencies) issue("a plugin cannot depend on itself", ["dependencies"]);
    manifest.channels.forEach((channel, index) => {
      const previous = manifest.channels[index - 1];
      if (previous !== undefined && !(previous < channel)) {
        issue(`channels are sorted, each once: '${channel}' after '${previous}'`, ["channels", index]);
      }
    });
  });

export type Manifest = z.infer<typeof manifestSchema>;
export type PluginManifest = Extract<Manifest, { kind: "plugin" }>;
export type AssetManifest = Extract<Manifest, { kind: "asset" }>;
export type ManifestFile = Manifest["files"][number];

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** `name@version` of a manifest, as messages name it. */
export function label(manifest: { readonly name: string; readonly version: string }): string {
  return `${manifest.name}@${manifest.version}`;
}

/** The first problem of a value that is not a manifest, in words (`files[0].sha256: ...`); null if it is one. */
export function manifestProblem(value: unknown): string | null {
  const parsed = manifestSchema.safeParse(value);
  if (parsed.success) return null;
  const first = parsed.error.issues[0]!;
  const at = first.path.map((part) => (typeof part === "number" ? `[${part}]` : `.${String(part)}`)).join("");
  return `manifest${at}: ${first.message}`;
}

/** Plugin packages made in memory for the plugin tests. */
import { encodeKey, newSeed, type SigningKey, signingKeyFromSeed } from "@overworld/federation";
import {
  DEFAULT_CHUNK_SIZE,
  describeBytes,
  type Edge,
  MANIFEST_FORMAT,
  type Manifest,
  type PackageContent,
  type SignedManifest,
  signManifest,
} from "@overworld/manifest";

export function newKey(): SigningKey {
  return signingKeyFromSeed(newSeed());
}

export function publicKeyOf(key: SigningKey): string {
  return encodeKey(key.publicKey);
}

export interface PluginSpec {
  readonly name: string;
  readonly version: string;
  readonly edge?: Edge;
  readonly dependencies?: Record<string, string>;
  readonly channels?: string[];
  /** Path to content; the entry is `index.js` unless given. */
  readonly files?: Record<string, string | Uint8Array>;
  readonly entry?: string;
  readonly chunkSize?: number;
}

export function pluginManifest(spec: PluginSpec): Manifest {
  const chunkSize = spec.chunkSize ?? DEFAULT_CHUNK_SIZE;
  const files = spec.files ?? { "index.js": `export const name = ${JSON.stringify(spec.name)};\n` };
  return {
    format: MANIFEST_FORMAT,
    kind: "plugin",
    name: spec.name,
    version: spec.version,
    edge: spec.edge ?? "server-client",
    entry: spec.entry ?? "index.js",
    dependencies: spec.dependencies ?? {},
    channels: spec.channels ?? ["main"],
    chunkSize,
    files: Object.keys(files)
      .sort()
      .map((path) => describeBytes(path, bytesOf(files[path]!), chunkSize)),
  };
}

function bytesOf(content: string | Uint8Array): Uint8Array {
  return typeof content === "string" ? new TextEncoder().encode(content) : content;
}

/** A package as it would arrive: `signed` as JSON went over the wire, the files as given. */
export function contentOf(signed: unknown, files: Record<string, string | Uint8Array>): PackageContent {
  return {
    origin: "the test",
    signed: JSON.parse(JSON.stringify(signed)),
    read: async (path) => (path in files ? bytesOf(files[path]!) : undefined),
  };
}

/** A plugin signed by `key` at `at`, as content, with its files. */
export function signedPlugin(
  spec: PluginSpec,
  key: SigningKey,
  at = Date.now(),
): { signed: SignedManifest; content: PackageContent; files: Record<string, string | Uint8Array> } {
  const manifest = pluginManifest(spec);
  const files = spec.files ?? { "index.js": `export const name = ${JSON.stringify(spec.name)};\n` };
  const signed = signManifest(manifest, key, at);
  return { signed, content: contentOf(signed, files), files };
}

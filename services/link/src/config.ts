/**
 * The link end's configuration, from environment variables, validated at start; every problem names its
 * variable. Beyond HTTP_PORT, HTTP_HOST, LOG_LEVEL and INSTANCE_ID:
 *
 * - CLUSTER_NAME (required): the cluster's name at main (lower-case letters, digits, '-').
 * - CLUSTER_KEY_FILE (required): a file holding the cluster's Ed25519 seed as 64 hex digits. Every link end
 *   of the cluster holds the same. Never printed.
 * - SIGNALING_URL (required): main's HTTP API, e.g. http://198.18.0.1:9000.
 * - SIGNALING_KEY: main's public key (base64). Without it the link end trusts the key main states at first
 *   contact, and warns.
 * - SIGNALING_UDP: main's rendezvous (`ip:port`), when main states an address the link end cannot reach.
 * - LINK_UDP_HOST / LINK_UDP_PORT: the link end's UDP socket (default 0.0.0.0, 41000).
 * - PLUGINS: what the cluster publishes to main, comma-separated name@version.
 * - HEARTBEAT_MS (500), PUNCH_TIMEOUT_MS (2500: how long a direct attempt may take before the relay).
 * - CLUSTER_TAGS: tags the cluster declares to main, comma-separated (main's operator can push a plugin set
 *   to a tag: `overworld plugin push --tag eu`).
 * - PLUGIN_TRUST_FILE: the cluster's trust list of main keys (`overworld plugin trust`). When set, the link
 *   end takes the plugin sets main pushes (plugin-sync.ts): every PLUGIN_POLL_MS (5000) it asks main for
 *   its set, fetches and verifies what it lacks into PLUGIN_DIR (default: a directory under the system's
 *   temporary one), reports what runs, and tells the client agents the client plugins; it joins its cluster
 *   for that (NATS_URL, NATS_CREDS, DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT, as for SHARED_ZONES).
 *   CLIENT_PLUGINS: the cluster's own required client plugins, comma-separated name@version, added to
 *   main's (published on main too).
 * - PLUGIN_MESSAGES: `1` to carry plugin messages (plugin-messages.ts) between this cluster's servers and
 *   clients and linked clusters and main; the link end joins its cluster for it (NATS_URL, NATS_CREDS,
 *   DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT). It carries them too whenever it joins for SHARED_ZONES or
 *   PLUGIN_TRUST_FILE. Every PLUGIN_MESSAGE_POLL_MS (1000) it takes what main's plugins sent the cluster
 *   first.
 * - SHARED_ZONES: the locations holding shared objects, comma-separated `parent:zone` (e.g. `1000:28`).
 *   When set, the link end joins its cluster (NATS_URL, NATS_CREDS of the `link` role, DC_FILES,
 *   CLUSTER_VERSION, SUBJECT_ROOT) and reflects the shared objects there to its peers; unset, it only
 *   keeps links.
 */
import { isClusterName, parseSeed } from "@overworld/federation";
import {
  ConfigProblems,
  clusterConfig,
  commonConfig,
  defaultInstanceId,
  optionalAddress,
  secretFile,
} from "@overworld/service";
import { z } from "zod";

export const linkConfigShape = {
  HTTP_PORT: commonConfig.HTTP_PORT,
  HTTP_HOST: commonConfig.HTTP_HOST,
  LOG_LEVEL: commonConfig.LOG_LEVEL,
  INSTANCE_ID: commonConfig.INSTANCE_ID,
  CLUSTER_NAME: z
    .string({ error: "required: the cluster's name at main" })
    .refine(isClusterName, "lower-case letters, digits and '-', 1 to 32, not starting with '-'"),
  SIGNALING_URL: z.string({ error: "required: main's HTTP API, e.g. http://127.0.0.1:9000" }).url(),
  SIGNALING_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, "an Ed25519 public key, 32 bytes in base64")
    .optional(),
  SIGNALING_UDP: optionalAddress,
  LINK_UDP_HOST: z.string().min(1).default("0.0.0.0"),
  LINK_UDP_PORT: z.coerce.number().int().min(0).max(65535).default(41000),
  PLUGINS: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    ),
  NATS_URL: commonConfig.NATS_URL,
  NATS_CREDS: commonConfig.NATS_CREDS,
  DC_FILES: clusterConfig.DC_FILES.optional(),
  CLUSTER_VERSION: clusterConfig.CLUSTER_VERSION.optional(),
  SUBJECT_ROOT: clusterConfig.SUBJECT_ROOT,
  SHARED_ZONES: z
    .string()
    .optional()
    .transform((text, context) => {
      if (text === undefined) return [];
      const locations = [];
      for (const entry of text
        .split(",")
        .map((part) => part.trim())
        .filter(Boolean)) {
        const match = /^(\d+):(\d+)$/.exec(entry);
        if (!match) {
          context.addIssue({ code: "custom", message: `"${entry}" is not parent:zone`, input: text });
          return z.NEVER;
        }
        locations.push({ parent: Number(match[1]), zone: Number(match[2]) });
      }
      return locations;
    }),
  CLUSTER_TAGS: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    )
    .refine(
      (tags) => tags.every((tag) => /^[a-z0-9][a-z0-9-]{0,31}$/.test(tag)),
      "tags are lower-case letters, digits and '-', 1 to 32 each",
    ),
  PLUGIN_TRUST_FILE: z.string().min(1).optional(),
  PLUGIN_DIR: z.string().min(1).optional(),
  PLUGIN_POLL_MS: z.coerce.number().int().min(50).max(3_600_000).default(5000),
  CLIENT_PLUGINS: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0),
    )
    .refine(
      (labels) => labels.every((label) => /^[a-z0-9][a-z0-9._-]{0,63}@[0-9A-Za-z.+-]+$/.test(label)),
      "name@version, comma-separated",
    ),
  PLUGIN_MESSAGES: z
    .enum(["0", "1", "false", "true"])
    .default("0")
    .transform((text) => text === "1" || text === "true"),
  PLUGIN_MESSAGE_POLL_MS: z.coerce.number().int().min(50).max(3_600_000).default(1000),
  HEARTBEAT_MS: z.coerce.number().int().min(50).max(60_000).default(500),
  PUNCH_TIMEOUT_MS: z.coerce.number().int().min(100).max(60_000).default(2500),
};

/** The key file, read apart so that its problems are named with every other's. */
const secretsShape = { CLUSTER_KEY_FILE: secretFile("the cluster's key seed") };

type Loaded = z.infer<z.ZodObject<typeof linkConfigShape>>;

export type LinkConfig = Loaded & { readonly CLUSTER_SEED: Uint8Array };

export function loadLinkConfig(env: NodeJS.ProcessEnv = process.env): LinkConfig {
  const problems = new ConfigProblems(env);
  const loaded = problems.load(linkConfigShape);
  const secrets = problems.load(secretsShape);
  const seed =
    secrets &&
    problems.parse(
      "CLUSTER_KEY_FILE",
      secrets.CLUSTER_KEY_FILE,
      parseSeed,
      "a file with the cluster's key seed, 64 hex digits",
    );
  const joining =
    loaded === undefined
      ? undefined
      : loaded.SHARED_ZONES.length > 0
        ? "SHARED_ZONES"
        : loaded.PLUGIN_TRUST_FILE !== undefined
          ? "PLUGIN_TRUST_FILE"
          : loaded.PLUGIN_MESSAGES
            ? "PLUGIN_MESSAGES"
            : undefined;
  if (loaded && joining !== undefined) {
    if (loaded.DC_FILES === undefined)
      problems.add("DC_FILES", `required with ${joining}: the cluster's .dc files (got null)`);
    if (loaded.CLUSTER_VERSION === undefined)
      problems.add("CLUSTER_VERSION", `required with ${joining}: the cluster's version (got null)`);
  }
  problems.throwIfAny();
  return { ...loaded!, CLUSTER_SEED: seed! };
}

export function instanceIdOf(config: LinkConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId(`link-${config.CLUSTER_NAME}`);
}

/**
 * The message director's configuration, from environment variables, validated at start. Every problem
 * names its variable. The cluster's schema hash comes from its `.dc` files (`DC_FILES`, loaded in order
 * and hashed as Astron and Panda3D do) or is given directly (`SCHEMA_HASH`).
 */
import {
  formatHash,
  legacyHash,
  loadDcFiles,
  MAX_ID,
  type messages,
  SUBJECT_ROOT,
} from "@overworld/protocol";
import {
  ConfigError,
  commonConfig,
  defaultInstanceId,
  isAccountSeed,
  jetstreamConfig,
  loadConfig,
  secretFile,
} from "@overworld/service";
import { z } from "zod";

const milliseconds = (fallback: number, min: number) =>
  z.coerce.number().int().min(min).max(3_600_000).default(fallback);
const anId = (fallback: number) => z.coerce.number().int().min(1).max(MAX_ID).default(fallback);
const token = /^[A-Za-z0-9_-]+$/;

export const directorConfigShape = {
  ...commonConfig,
  /** The version every participant must run, compared exactly (e.g. `1.4.0`). */
  CLUSTER_VERSION: z.string().min(1).max(64),
  /** Comma-separated `.dc` paths, loaded in order; their legacy hash is the cluster's schema hash. */
  DC_FILES: z.string().min(1).optional(),
  /** The schema hash itself, `0x` hex or decimal, when the director should not read the `.dc` files. */
  SCHEMA_HASH: z
    .string()
    .regex(/^(0[xX][0-9a-fA-F]{1,8}|[0-9]{1,10})$/, "expected 0x and 1-8 hex digits, or a decimal number")
    .optional(),
  /** The first token of every subject of this cluster. */
  SUBJECT_ROOT: z.string().regex(token, "expected letters, digits, '-' or '_'").default(SUBJECT_ROOT),
  /** Replicas of the event log's stream when the director makes it (default: the NATS cluster's nodes, up to 3). */
  ...jetstreamConfig,
  /** The JetStream stream of the cluster event log. */
  EVENT_STREAM: z.string().regex(token, "expected letters, digits, '-' or '_'").default("OW_EVENTS"),
  /** The prefix of every Redis key the director keeps. */
  REDIS_PREFIX: z.string().min(1).max(64).default("ow:md:"),
  /** The Postgres schema that holds the id counters (created if missing). */
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "expected a lowercase SQL identifier")
    .default("public"),
  /** How often participants heartbeat. */
  HEARTBEAT_MS: milliseconds(500, 10),
  /** A participant silent for this long is declared dead. */
  DEAD_AFTER_MS: milliseconds(2000, 30),
  /** How often the leader looks for participants past their deadline. */
  SWEEP_MS: milliseconds(250, 5),
  /** The leader lease: a replica that stops renewing it is replaced after this long. */
  LEASE_MS: milliseconds(1500, 30),
  FIRST_DOID: anId(100_000_000),
  LAST_DOID: anId(MAX_ID),
  FIRST_CHANNEL: anId(1_000_000),
  LAST_CHANNEL: anId(99_999_999),
  /** How many channels the director takes from Postgres at a time for joining participants. */
  CHANNEL_BLOCK: z.coerce.number().int().min(1).max(100_000).default(16),
  /** The most post-removes one participant may have registered at once. */
  POST_REMOVE_LIMIT: z.coerce.number().int().min(1).max(1_000_000).default(4096),
  /** The cluster's NATS account (public key, `A...`), whose signing key mints the participants' credentials. */
  NATS_ACCOUNT: z.string().optional(),
  /** Or the path of a file holding it (`account.pub`). */
  NATS_ACCOUNT_FILE: secretFile("the NATS account's public key"),
  /** The account signing key's seed (`SA...`), or NATS_SIGNING_KEY_FILE: the path of a file holding it. */
  NATS_SIGNING_KEY: z.string().optional(),
  NATS_SIGNING_KEY_FILE: secretFile("the NATS account signing key"),
};

export interface IdRangeConfig {
  first: number;
  last: number;
}

export interface DirectorConfig {
  instanceId: string;
  natsUrl: string;
  redisUrl: string;
  databaseUrl: string;
  httpPort: number;
  httpHost: string;
  logLevel: string;
  version: string;
  schemaHash: number;
  root: string;
  eventStream: string;
  /** JETSTREAM_REPLICAS, when set. */
  streamReplicas: number | undefined;
  redisPrefix: string;
  dbSchema: string;
  heartbeatMs: number;
  deadAfterMs: number;
  sweepMs: number;
  leaseMs: number;
  idRanges: Record<(typeof messages.ID_KINDS)[number], IdRangeConfig>;
  channelBlock: number;
  postRemoveLimit: number;
  /**
   * The account and signing key seed that mint the participants' NATS credentials (and the director's
   * own); a director without them refuses to start.
   */
  signing: { account: string; key: string } | undefined;
}

/** Reads, validates and resolves the configuration; throws a ConfigError naming each bad variable. */
export function loadDirectorConfig(env: NodeJS.ProcessEnv = process.env): DirectorConfig {
  const raw = loadConfig(directorConfigShape, env);
  const problems: string[] = [];
  const schemaHash = resolveSchemaHash(raw.DC_FILES, raw.SCHEMA_HASH, problems);
  if (raw.DEAD_AFTER_MS <= 2 * raw.HEARTBEAT_MS) {
    problems.push(
      `DEAD_AFTER_MS: must be more than twice HEARTBEAT_MS (${raw.HEARTBEAT_MS}), so that one late heartbeat is not a death (got ${raw.DEAD_AFTER_MS})`,
    );
  }
  checkRange("DOID", raw.FIRST_DOID, raw.LAST_DOID, problems);
  checkRange("CHANNEL", raw.FIRST_CHANNEL, raw.LAST_CHANNEL, problems);
  const signing = resolveSigning(
    (raw.NATS_ACCOUNT ?? raw.NATS_ACCOUNT_FILE)?.trim(),
    raw.NATS_SIGNING_KEY,
    raw.NATS_SIGNING_KEY_FILE,
    problems,
  );
  if (problems.length > 0) {
    throw new ConfigError(`bad configuration in the environment:\n  ${problems.join("\n  ")}`);
  }
  return {
    instanceId: raw.INSTANCE_ID ?? defaultInstanceId("md"),
    natsUrl: raw.NATS_URL,
    redisUrl: raw.REDIS_URL,
    databaseUrl: raw.DATABASE_URL,
    httpPort: raw.HTTP_PORT,
    httpHost: raw.HTTP_HOST,
    logLevel: raw.LOG_LEVEL,
    version: raw.CLUSTER_VERSION,
    schemaHash: schemaHash ?? 0,
    root: raw.SUBJECT_ROOT,
    eventStream: raw.EVENT_STREAM,
    streamReplicas: raw.JETSTREAM_REPLICAS,
    redisPrefix: raw.REDIS_PREFIX,
    dbSchema: raw.DB_SCHEMA,
    heartbeatMs: raw.HEARTBEAT_MS,
    deadAfterMs: raw.DEAD_AFTER_MS,
    sweepMs: raw.SWEEP_MS,
    leaseMs: raw.LEASE_MS,
    idRanges: {
      doId: { first: raw.FIRST_DOID, last: raw.LAST_DOID },
      channel: { first: raw.FIRST_CHANNEL, last: raw.LAST_CHANNEL },
    },
    channelBlock: raw.CHANNEL_BLOCK,
    postRemoveLimit: raw.POST_REMOVE_LIMIT,
    signing,
  };
}

/** NATS_ACCOUNT with one of NATS_SIGNING_KEY and NATS_SIGNING_KEY_FILE, or none of them; never the seed in a message. */
function resolveSigning(
  account: string | undefined,
  inline: string | undefined,
  fromFile: string | undefined,
  problems: string[],
): DirectorConfig["signing"] {
  if (inline !== undefined && fromFile !== undefined) {
    problems.push("NATS_SIGNING_KEY: set it or NATS_SIGNING_KEY_FILE, not both");
    return undefined;
  }
  const key = (inline ?? fromFile)?.trim();
  if (account === undefined && key === undefined) return undefined;
  if (account === undefined) {
    problems.push(
      "NATS_ACCOUNT: required with a signing key (or NATS_ACCOUNT_FILE): the account it signs for (account.pub)",
    );
    return undefined;
  }
  if (!/^A[A-Z2-7]{55}$/.test(account)) {
    problems.push("NATS_ACCOUNT: expected a NATS account public key (A and 55 base32 characters)");
    return undefined;
  }
  if (key === undefined) {
    problems.push(
      "NATS_SIGNING_KEY_FILE: required with NATS_ACCOUNT: the account signing key that mints credentials (signing-key.nk)",
    );
    return undefined;
  }
  if (!isAccountSeed(key)) {
    problems.push(`NATS_SIGNING_KEY${inline === undefined ? "_FILE" : ""}: not an account key seed (SA...)`);
    return undefined;
  }
  return { account, key };
}

/** The hash of DC_FILES, or SCHEMA_HASH; when both are set they must agree. */
function resolveSchemaHash(
  dcFiles: string | undefined,
  given: string | undefined,
  problems: string[],
): number | undefined {
  const stated = given === undefined ? undefined : Number(given) >>> 0;
  if (dcFiles === undefined) {
    if (stated === undefined) {
      problems.push(
        "DC_FILES: set DC_FILES (comma-separated .dc paths) or SCHEMA_HASH, so participants can be checked against the cluster's schema (got null)",
      );
    }
    return stated;
  }
  const paths = dcFiles
    .split(",")
    .map((path) => path.trim())
    .filter((path) => path.length > 0);
  let computed: number;
  try {
    computed = legacyHash(loadDcFiles(paths));
  } catch (error) {
    problems.push(`DC_FILES: cannot load ${paths.join(", ")}: ${(error as Error).message}`);
    return undefined;
  }
  if (stated !== undefined && stated !== computed) {
    problems.push(
      `SCHEMA_HASH: ${formatHash(stated)} does not match ${formatHash(computed)}, the hash of DC_FILES; set only one of them`,
    );
  }
  return computed;
}

function checkRange(kind: string, first: number, last: number, problems: string[]): void {
  if (first > last) {
    problems.push(`FIRST_${kind}: must not be above LAST_${kind} (${last}) (got ${first})`);
  }
}

/**
 * Main's configuration, from environment variables, validated at start; every problem names its variable.
 * Beyond DATABASE_URL, HTTP_PORT (default 9000), HTTP_HOST, LOG_LEVEL and INSTANCE_ID:
 *
 * - MAIN_KEY_FILE (required): a file holding main's Ed25519 seed as 64 hex digits (every replica of one
 *   main holds the same; `pnpm overworld signaling` makes one). Never printed.
 * - ADMIN_TOKEN_FILE (required): a file holding the operator's bearer token (at least 16 characters).
 * - MAIN_NAME: main's name (default `main`), as it registers with a parent main.
 * - UDP_HOST / UDP_PORT: where link ends heartbeat (default HTTP_HOST, 9001).
 * - RELAY_PORT: the relay's UDP port (default 9002; `off` for no relay); RELAY_ADDRESS: the address link
 *   ends reach it at (`ip:port`; default UDP_HOST and RELAY_PORT: when that is 0.0.0.0, link ends put in
 *   the host they reach main's API at).
 * - RELAY_BYTES_PER_SECOND / RELAY_BURST_BYTES: each relayed link's budget (default 4 MB/s, 1 MB).
 * - LINK_TOKEN_SECONDS: how long a link token may be used to connect (default 15).
 * - LINK_TIMEOUT_SECONDS: silence after which a link counts as lost (default 5).
 * - LIVE_MS: a link end silent this long is not live (default 5000).
 * - DB_SCHEMA: the Postgres schema of the directory and policy (default `signaling`).
 * - PARENT_URL / PARENT_KEY: a parent main (its API, its public key in base64) to register with, so that
 *   this main's clusters may link with clusters under other mains (main-main); PUBLIC_URL: where the
 *   parent reaches this main's API (default http://HTTP_HOST:HTTP_PORT).
 */
import { parseSeed } from "@overworld/federation";
import {
  ConfigProblems,
  commonConfig,
  defaultInstanceId,
  optionalAddress,
  secretFile,
} from "@overworld/service";
import { z } from "zod";

const port = (fallback: number) => z.coerce.number().int().min(0).max(65535).default(fallback);
const count = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);

export const signalingConfigShape = {
  DATABASE_URL: commonConfig.DATABASE_URL,
  HTTP_PORT: port(9000),
  HTTP_HOST: commonConfig.HTTP_HOST,
  LOG_LEVEL: commonConfig.LOG_LEVEL,
  INSTANCE_ID: commonConfig.INSTANCE_ID,
  MAIN_NAME: z
    .string()
    .regex(/^[a-z0-9][a-z0-9-]{0,31}$/, "lower-case letters, digits and '-', at most 32")
    .default("main"),
  UDP_HOST: z.string().min(1).optional(),
  UDP_PORT: port(9001),
  RELAY_PORT: z.union([z.literal("off"), z.coerce.number().int().min(0).max(65535)]).default(9002),
  RELAY_ADDRESS: optionalAddress.transform((parsed) => parsed?.key),
  RELAY_BYTES_PER_SECOND: count(4_000_000, 1_000_000_000),
  RELAY_BURST_BYTES: count(1_000_000, 1_000_000_000),
  LINK_TOKEN_SECONDS: count(15, 3600),
  LINK_TIMEOUT_SECONDS: count(5, 600),
  LIVE_MS: count(5000, 600_000),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "expected a lower-case SQL identifier (letters, digits, '_')")
    .default("signaling"),
  PARENT_URL: z.string().url().optional(),
  PARENT_KEY: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, "an Ed25519 public key, 32 bytes in base64")
    .optional(),
  PUBLIC_URL: z.string().url().optional(),
};

/** The files holding secrets, read apart so that their problems are named with every other's. */
const secretsShape = {
  MAIN_KEY_FILE: secretFile("main's key seed"),
  ADMIN_TOKEN_FILE: secretFile("the operator's token"),
};

type Loaded = z.infer<z.ZodObject<typeof signalingConfigShape>>;

export type SignalingConfig = Omit<Loaded, "UDP_HOST"> & {
  readonly MAIN_SEED: Uint8Array;
  readonly ADMIN_TOKEN: string;
  readonly UDP_HOST: string;
};

export function loadSignalingConfig(env: NodeJS.ProcessEnv = process.env): SignalingConfig {
  const problems = new ConfigProblems(env);
  const loaded = problems.load(signalingConfigShape);
  const secrets = problems.load(secretsShape);
  const seed =
    secrets &&
    problems.parse(
      "MAIN_KEY_FILE",
      secrets.MAIN_KEY_FILE,
      parseSeed,
      "a file with main's key seed, 64 hex digits",
    );
  const token = secrets?.ADMIN_TOKEN_FILE?.trim();
  if (secrets && (token === undefined || token.length < 16))
    problems.add("ADMIN_TOKEN_FILE", "required: a file with the operator's token, at least 16 characters");
  if (!env.PARENT_URL !== !env.PARENT_KEY)
    problems.add(
      "PARENT_KEY",
      "PARENT_URL and PARENT_KEY go together: the parent main's API and its public key",
    );
  problems.throwIfAny();
  const { UDP_HOST, ...rest } = loaded!;
  return { ...rest, MAIN_SEED: seed!, ADMIN_TOKEN: token!, UDP_HOST: UDP_HOST ?? loaded!.HTTP_HOST };
}

export function instanceIdOf(config: SignalingConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId("signaling");
}

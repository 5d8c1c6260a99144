/**
 * Uberdog's configuration, from environment variables, validated at start; every problem names its
 * variable. Beyond the common variables (DATABASE_URL, REDIS_URL, HTTP_PORT, HTTP_HOST, LOG_LEVEL,
 * INSTANCE_ID):
 *
 * - CLIENT_AGENT_ADDRESSES (required): the client agents' public UDP addresses, comma-separated IP:port
 *   (`127.0.0.1:40000,[::1]:40001`), 1 to 32 of them, written into every connect token. netcode.io tokens
 *   carry IP addresses, not host names.
 * - CLIENT_AGENT_WEBSOCKETS: the same client agents' WebSocket URLs for browsers, comma-separated `ws://` or
 *   `wss://` URLs (their WS_PORT), answered with every login as `webSockets` (default: none).
 * - PLAY_DIR: a directory of static files (a web client, e.g. the demo's, built by `pnpm build:web` into
 *   examples/demo/web/dist) served at /play/, with /play/config.json telling it CLUSTER_VERSION to say
 *   hello with (default: no /play).
 * - NETCODE_PRIVATE_KEY (required): the 32-byte key shared with the client agents, as 64 hex digits
 *   (`openssl rand -hex 32`). Never printed, not even when it is wrong.
 * - NETCODE_PROTOCOL_ID: the netcode.io protocol id, decimal or 0x hex (default DEFAULT_NETCODE_PROTOCOL_ID).
 * - TOKEN_EXPIRE_SECONDS: how long a connect token may be used to connect (default 30).
 * - TOKEN_TIMEOUT_SECONDS: seconds of silence before a netcode connection times out (default 10; -1
 *   disables timeouts, for debugging only).
 * - DB_SCHEMA: the Postgres schema of the accounts (default `uberdog`).
 * - SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P: the password hashing cost (see passwords.ts); raising them applies
 *   to new passwords and, at their next login, to old ones.
 * - REDIS_PREFIX: prepended to uberdog's Redis keys, which are under `<prefix>uberdog:` (default `ow:`).
 *   The login limits live there, shared by every replica (see rate-limit.ts).
 * - LOGIN_IP_PER_MINUTE / REGISTER_IP_PER_MINUTE: logins and registrations a client address (IPv6: its
 *   /64) may make a minute (defaults 60 and 10).
 * - LOGIN_BACKOFF_FREE_FAILURES, LOGIN_BACKOFF_FIRST_MS, LOGIN_BACKOFF_MAX_MS,
 *   LOGIN_BACKOFF_FORGET_SECONDS: failed logins per (client address, username) pair: so many fail without
 *   waiting (default 3), then each waits the first delay (default 1000 ms), doubled at every further
 *   failure up to the maximum (default 900000: 15 minutes); a success, or so many seconds without an
 *   attempt after the last wait (default 3600), forgets the pair.
 * - TRUST_PROXY: `true` when uberdog sits behind a reverse proxy, so the client address (and its rate
 *   limit) comes from X-Forwarded-For. Otherwise the address is the connection's own.
 *
 * The admin API: uberdog joins the cluster as a participant of role `admin` (NATS_URL, NATS_CREDS: the
 * admin role's join credentials; DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT as every participant):
 * - EVENT_STREAM: the cluster event log's JetStream stream, as the director names it (default OW_EVENTS).
 * - SERVICES: the module of the game's service objects (a path or package exporting `defineServices(...)`
 *   as `services` or default; see service-objects.ts), which uberdog creates at start and answers the
 *   requests of (default: none; the demo's is examples/demo/services.ts).
 * - ADMIN_ABSENT_DAYS (X, default 30) and TEMP_ADMIN_RECENT_DAYS (Y, default 7): the temp-admin rule
 *   (temp-admin.ts). Fractions of days are allowed.
 * - ADMIN_SESSION_HOURS: how long a player's admin session lasts (default 12).
 * - MAINTENANCE_WARNING_SECONDS: the default warning before maintenance ejects players (default 60).
 *
 * The dashboard (served at /dashboard/; its live feed is GET /v1/admin/live):
 * - DASHBOARD_DIR: its files, built by `pnpm build:web` (default services/uberdog/web/dist; no
 *   /dashboard/ when it has no index.html).
 * - MAP_PARENT_ID: the world the map opens on, a parent object's doId (default 1000, the demo world's).
 * - MAP_HZ: the most map frames a second each dashboard gets (default 10).
 * - MAP_POSITION_FIELDS: the fields whose first two numbers place an object on the map, comma-separated
 *   (default setXY,setSmXYH).
 * - METRICS_URLS: the services' /metrics the charts read (the state servers' update counters),
 *   comma-separated `name=url` or URLs (default: none; `pnpm overworld start` passes every service's).
 * - STATS_SECONDS: how often the charts, participants and event log are refreshed (default 2).
 */
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { netcode } from "@overworld/protocol";
import {
  ConfigError,
  clusterConfig,
  commonConfig,
  defaultInstanceId,
  loadConfig,
  netcodeConfig,
  readNetcodePrivateKey,
} from "@overworld/service";
import { z } from "zod";
import { parseMetricsSources } from "./cluster-stats.ts";
import { type ScryptParameters, scryptParameterProblem } from "./passwords.ts";

const DEFAULT_HTTP_PORT = 8000;
/** Where `pnpm build:web` puts the dashboard: web/dist beside src/, from the sources or the built package (dist/npm/). */
const DEFAULT_DASHBOARD_DIR = resolve(
  import.meta.dirname.replace(/[\\/](src|dist[\\/]npm([\\/]chunks)?)$/, ""),
  "web/dist",
);
/** The demo world's doId. */
const DEFAULT_MAP_PARENT_ID = 1000;
const MAX_TOKEN_EXPIRE_SECONDS = 86_400;
const MAX_TOKEN_TIMEOUT_SECONDS = 3_600;
/** The longest login back-off one may configure: a day. */
const MAX_BACKOFF_MS = 86_400_000;

const count = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const days = (fallback: number) => z.coerce.number().positive().max(3650).default(fallback);
const flag = z
  .enum(["true", "false", "1", "0"], { error: "expected true or false" })
  .default("false")
  .transform((text) => text === "true" || text === "1");

export const uberdogConfigShape = {
  ...commonConfig,
  HTTP_PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_HTTP_PORT),
  CLIENT_AGENT_ADDRESSES: z
    .string({ error: "required: the client agents' UDP addresses, comma-separated IP:port" })
    .transform((text, context) => {
      try {
        return parseAddressList(text);
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message, input: text });
        return z.NEVER;
      }
    }),
  CLIENT_AGENT_WEBSOCKETS: z
    .string()
    .default("")
    .transform((text, context) => {
      const urls = text
        .split(",")
        .map((entry) => entry.trim())
        .filter((entry) => entry.length > 0);
      const bad = urls.find((url) => !/^wss?:\/\/[^/]+/.test(url));
      if (bad !== undefined) {
        context.addIssue({
          code: "custom",
          message: `expected ws:// or wss:// URLs, got ${bad}`,
          input: text,
        });
        return z.NEVER;
      }
      return urls;
    }),
  PLAY_DIR: z.string().min(1).optional(),
  SERVICES: z.string().min(1).optional(),
  ...netcodeConfig,
  TOKEN_EXPIRE_SECONDS: count(30, MAX_TOKEN_EXPIRE_SECONDS),
  TOKEN_TIMEOUT_SECONDS: z.coerce
    .number()
    .int()
    .min(-1)
    .max(MAX_TOKEN_TIMEOUT_SECONDS)
    .refine((seconds) => seconds !== 0, "0 is not allowed: use -1 to disable timeouts (debugging only)")
    .default(10),
  DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, "expected a lower-case SQL identifier (letters, digits, '_')")
    .default("uberdog"),
  SCRYPT_LOG_N: z.coerce.number().int().default(15),
  SCRYPT_R: z.coerce.number().int().default(8),
  SCRYPT_P: z.coerce.number().int().default(1),
  REDIS_PREFIX: z.string().max(64).default("ow:"),
  LOGIN_IP_PER_MINUTE: count(60, 1_000_000),
  REGISTER_IP_PER_MINUTE: count(10, 1_000_000),
  LOGIN_BACKOFF_FREE_FAILURES: count(3, 1_000),
  LOGIN_BACKOFF_FIRST_MS: count(1000, MAX_BACKOFF_MS),
  LOGIN_BACKOFF_MAX_MS: count(900_000, MAX_BACKOFF_MS),
  LOGIN_BACKOFF_FORGET_SECONDS: count(3600, 7 * 86_400),
  TRUST_PROXY: flag,
  ...clusterConfig,
  EVENT_STREAM: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/, "expected letters, digits, '-' or '_'")
    .default("OW_EVENTS"),
  ADMIN_ABSENT_DAYS: days(30),
  TEMP_ADMIN_RECENT_DAYS: days(7),
  ADMIN_SESSION_HOURS: z.coerce
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  MAINTENANCE_WARNING_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  DASHBOARD_DIR: z.string().min(1).default(DEFAULT_DASHBOARD_DIR),
  MAP_PARENT_ID: z.coerce.number().int().min(1).max(0xffff_ffff).default(DEFAULT_MAP_PARENT_ID),
  MAP_HZ: z.coerce.number().positive().max(60).default(10),
  MAP_POSITION_FIELDS: z
    .string()
    .default("setXY,setSmXYH")
    .transform((text) =>
      text
        .split(",")
        .map((name) => name.trim())
        .filter((name) => name.length > 0),
    ),
  METRICS_URLS: z
    .string()
    .default("")
    .transform((text, context) => {
      try {
        return parseMetricsSources(text);
      } catch (error) {
        context.addIssue({ code: "custom", message: (error as Error).message, input: text });
        return z.NEVER;
      }
    }),
  STATS_SECONDS: z.coerce.number().positive().max(60).default(2),
};

type Loaded = z.infer<z.ZodObject<typeof uberdogConfigShape>>;

export type UberdogConfig = Omit<Loaded, "NETCODE_PRIVATE_KEY" | "SCRYPT_LOG_N" | "SCRYPT_R" | "SCRYPT_P"> & {
  /** The 32 bytes shared with the client agents. */
  readonly NETCODE_PRIVATE_KEY: Uint8Array;
  readonly scrypt: ScryptParameters;
};

/**
 * Reads and validates uberdog's configuration. Throws a ConfigError listing every problem, each naming
 * its variable; the private key's value is never part of the message.
 */
export function loadUberdogConfig(env: NodeJS.ProcessEnv = process.env): UberdogConfig {
  const problems: string[] = [];
  let loaded: Loaded | undefined;
  try {
    loaded = loadConfig(uberdogConfigShape, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.message.split("\n").slice(1));
  }
  const key = readNetcodePrivateKey(env.NETCODE_PRIVATE_KEY);
  if (typeof key === "string") problems.push(`  NETCODE_PRIVATE_KEY: ${key}`);
  const scrypt = loaded && { logN: loaded.SCRYPT_LOG_N, r: loaded.SCRYPT_R, p: loaded.SCRYPT_P };
  const scryptProblem = scrypt && scryptParameterProblem(scrypt);
  if (scryptProblem) problems.push(`  SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P: ${scryptProblem}`);
  if (loaded && loaded.LOGIN_BACKOFF_MAX_MS < loaded.LOGIN_BACKOFF_FIRST_MS) {
    problems.push(
      `  LOGIN_BACKOFF_MAX_MS: must be at least LOGIN_BACKOFF_FIRST_MS (${loaded.LOGIN_BACKOFF_FIRST_MS}) (got ${loaded.LOGIN_BACKOFF_MAX_MS})`,
    );
  }
  if (loaded?.PLAY_DIR !== undefined && !existsSync(join(loaded.PLAY_DIR, "index.html"))) {
    problems.push(`  PLAY_DIR: no index.html in ${loaded.PLAY_DIR} (the demo's is built by pnpm build:web)`);
  }
  if (problems.length > 0 || !loaded || !scrypt || typeof key === "string") {
    throw new ConfigError(`bad configuration in the environment:\n${problems.join("\n")}`);
  }
  const { NETCODE_PRIVATE_KEY: _hidden, SCRYPT_LOG_N: _n, SCRYPT_R: _r, SCRYPT_P: _p, ...rest } = loaded;
  return { ...rest, NETCODE_PRIVATE_KEY: key, scrypt };
}

export function instanceIdOf(config: UberdogConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId("uberdog");
}

/** Parses `IP:port,IP:port`; throws naming the entry that is not an address. */
export function parseAddressList(text: string): netcode.NetcodeAddress[] {
  const entries = text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  if (entries.length < 1 || entries.length > netcode.MAX_SERVERS_PER_CONNECT) {
    throw new RangeError(`expected 1 to ${netcode.MAX_SERVERS_PER_CONNECT} addresses, got ${entries.length}`);
  }
  return entries.map((entry) => {
    let address: netcode.NetcodeAddress;
    try {
      address = netcode.parseAddress(entry);
    } catch (error) {
      throw new RangeError(
        `"${entry}" is not an IP:port address (e.g. 127.0.0.1:40000 or [::1]:40000; host names are not allowed): ${(error as Error).message}`,
      );
    }
    if (address.port === 0)
      throw new RangeError(`"${entry}" has port 0; a client agent listens on a real port`);
    return address;
  });
}

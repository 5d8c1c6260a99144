/**
 * The client agent's configuration, from environment variables, validated at start; every problem names
 * its variable. Beyond the common variables (NATS_URL, REDIS_URL, HTTP_PORT, HTTP_HOST, LOG_LEVEL,
 * INSTANCE_ID):
 *
 * - UDP_PORT / UDP_HOST: where the players' UDP socket listens (default 40000 on 127.0.0.1; 0.0.0.0 in
 *   containers).
 * - PUBLIC_ADDRESS (required): the IP:port clients reach this agent at, as written in connect tokens
 *   (uberdog's CLIENT_AGENT_ADDRESSES lists it).
 * - NETCODE_PRIVATE_KEY (required): the 32-byte key shared with uberdog, 64 hex digits. Never printed.
 * - NETCODE_PROTOCOL_ID: decimal or 0x hex (default DEFAULT_NETCODE_PROTOCOL_ID).
 * - DC_FILES (required): comma-separated .dc files, in order; their hash is what clients must say hello with.
 * - SCHEMA_MODULE: the game's TypeScript schema module (defineSchema), same classes as DC_FILES, whose
 *   validators are run on every value a client sends (schema-module.ts).
 * - CLUSTER_VERSION (required): the version clients must say hello with, and the director checks at join.
 * - SUBJECT_ROOT: the cluster's NATS subject root (default `ow`).
 * - MAX_CLIENTS: client slots (default 1024). TICK_HZ: ticks per second (default 20).
 * - HEARTBEAT_TIMEOUT_MS: a client that sends no heartbeat (or no hello) for this long is ejected with 345
 *   (default 10000).
 * - INTEREST_MAX_ZONES: an interest naming more zones than this is forbidden, ejected with 115 (default
 *   256); so is one naming parent 0.
 * - REDIS_PREFIX: prepended to the agent's Redis keys, which are under `<prefix>ca:` (default `ow:`).
 * - MAX_SESSIONS_PER_ACCOUNT: live sessions one account may hold in the whole cluster (default 1); a newer
 *   one ends the oldest with 100 (logged in elsewhere), whichever agent holds it.
 * - MAX_SESSIONS_PER_ADDRESS: live sessions one client address (IPv6: one /64) may hold in the whole
 *   cluster (default 256); more are refused with 1 and a reason. Sized for carrier-grade NAT: a carrier
 *   shares one public IPv4 address among tens to hundreds of subscribers, a campus or an internet cafe
 *   among as many, and a player whose session is refused cannot play at all, so the default leaves room
 *   for far more players of one game behind one address than such a NAT usually holds, while one address
 *   (one attacker with many accounts) still cannot hold more than a bounded share of the cluster.
 * - RATE_LIMIT_BURST / RATE_LIMIT_PER_SECOND: the token bucket of datagrams per source address (every port
 *   of it, IPv6 per /64), applied before any cryptography (defaults 64 and 200: enough to connect).
 * - RATE_LIMIT_SESSION_BURST / RATE_LIMIT_SESSION_PER_SECOND: what each session the address holds at this
 *   agent adds to its bucket (defaults 120 and 120: a client sending every frame at 60 Hz, acks included,
 *   with room to spare), so that everyone behind one NAT plays: 200 players behind one address get
 *   200 + 200 x 120 datagrams a second, 200 ports without sessions get 200.
 * - UPDATES_HOLD_MS: how long the agent holds clients' accepted updates that no state server acknowledges
 *   (down, restarting), sending them again, before it gives up and ejects those clients with 190 (default
 *   15000).
 * - PLUGIN_MESSAGE_BURST / PLUGIN_MESSAGE_PER_SECOND: the token bucket of plugin messages per session
 *   (defaults 32 and 16); one over it is refused with PLUGIN_ERROR rate_limited, the session goes on.
 * - ASSETS_DIR: a directory of asset packages (each a directory with its signed manifest.json, as
 *   `pnpm overworld assets sign` leaves it) that players swarm for (assets.ts); ASSETS_TRUST (required
 *   with it): the trust list of the mains whose signatures count. ASSET_SWARM_HOST: where the seeds' UDP
 *   sockets bind (default UDP_HOST); ASSET_SWARM_PUBLIC_HOST: the host players reach them at (default
 *   PUBLIC_ADDRESS's). ASSET_SEED_SERVES_ALL=1: the seed serves every request and introduces no one (everyone from the
 *   server alone: the bench's comparison).
 * - WS_PORT: where browsers connect over WebSocket (websocket.ts); unset, the agent has no WebSocket
 *   listener. WS_HOST: its interface (default 127.0.0.1; 0.0.0.0 in containers).
 * - WS_ORIGINS: comma-separated origins a browser may connect from, e.g. `https://play.example.com`, or `*`
 *   (default: none, so only programs, which send no Origin, connect).
 * - WS_TLS_CERT / WS_TLS_KEY: PEM files of the listener's certificate chain and key: `wss://` with both,
 *   `ws://` with neither (behind a TLS-terminating proxy, or on localhost).
 */
import { readFileSync } from "node:fs";
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

const DEFAULT_UDP_PORT = 40_000;
const MAX_TICK_HZ = 1000;

const positive = (fallback: number, max: number) => z.coerce.number().int().min(1).max(max).default(fallback);
const share = (fallback: number) => z.coerce.number().int().min(0).max(1_000_000).default(fallback);

export const clientAgentConfigShape = {
  ...commonConfig,
  UDP_PORT: z.coerce.number().int().min(0).max(65535).default(DEFAULT_UDP_PORT),
  UDP_HOST: z.string().min(1).default("127.0.0.1"),
  SCHEMA_MODULE: z.string().optional(),
  PUBLIC_ADDRESS: z
    .string({ error: "required: the IP:port clients reach this agent at (as in the connect tokens)" })
    .transform((text, context) => {
      try {
        return netcode.parseAddress(text.trim());
      } catch (error) {
        context.addIssue({
          code: "custom",
          message: `expected IP:port (e.g. 127.0.0.1:40000): ${(error as Error).message}`,
          input: text,
        });
        return z.NEVER;
      }
    }),
  ...netcodeConfig,
  ...clusterConfig,
  MAX_CLIENTS: positive(1024, netcode.MAX_CLIENTS_LIMIT),
  TICK_HZ: positive(20, MAX_TICK_HZ),
  HEARTBEAT_TIMEOUT_MS: positive(10_000, 3_600_000),
  INTEREST_MAX_ZONES: positive(256, 1024),
  REDIS_PREFIX: z.string().max(64).default("ow:"),
  MAX_SESSIONS_PER_ACCOUNT: positive(1, 1024),
  MAX_SESSIONS_PER_ADDRESS: positive(256, 1_000_000),
  RATE_LIMIT_BURST: positive(64, 1_000_000),
  RATE_LIMIT_PER_SECOND: positive(200, 1_000_000),
  RATE_LIMIT_SESSION_BURST: share(120),
  RATE_LIMIT_SESSION_PER_SECOND: share(120),
  UPDATES_HOLD_MS: positive(15_000, 3_600_000),
  PLUGIN_MESSAGE_BURST: positive(32, 1_000_000),
  PLUGIN_MESSAGE_PER_SECOND: positive(16, 1_000_000),
  WS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  WS_HOST: z.string().min(1).default("127.0.0.1"),
  ASSETS_DIR: z.string().min(1).optional(),
  ASSETS_TRUST: z.string().min(1).optional(),
  ASSET_SWARM_HOST: z.string().min(1).optional(),
  ASSET_SWARM_PUBLIC_HOST: z.string().min(1).optional(),
  ASSET_SEED_SERVES_ALL: z
    .enum(["0", "1"], { error: "0 (seed only what peers cannot) or 1 (serve every request)" })
    .default("0"),
  WS_ORIGINS: z
    .string()
    .default("")
    .transform((text) =>
      text
        .split(",")
        .map((origin) => origin.trim())
        .filter((origin) => origin.length > 0),
    ),
  WS_TLS_CERT: z.string().min(1).optional(),
  WS_TLS_KEY: z.string().min(1).optional(),
};

type Loaded = z.infer<z.ZodObject<typeof clientAgentConfigShape>>;

export type ClientAgentConfig = Omit<Loaded, "NETCODE_PRIVATE_KEY" | "WS_TLS_CERT" | "WS_TLS_KEY"> & {
  /** The 32 bytes shared with uberdog. */
  readonly NETCODE_PRIVATE_KEY: Uint8Array;
  /** The WebSocket listener's certificate chain and key (PEM), read from WS_TLS_CERT and WS_TLS_KEY. */
  readonly WS_TLS?: { readonly cert: string; readonly key: string };
};

/** Reads and validates the configuration; a ConfigError lists every problem (never the key's value). */
export function loadClientAgentConfig(env: NodeJS.ProcessEnv = process.env): ClientAgentConfig {
  const problems: string[] = [];
  let loaded: Loaded | undefined;
  try {
    loaded = loadConfig(clientAgentConfigShape, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.message.split("\n").slice(1));
  }
  const key = readNetcodePrivateKey(env.NETCODE_PRIVATE_KEY);
  if (typeof key === "string") problems.push(`  NETCODE_PRIVATE_KEY: ${key}`);
  const tls = readTls(loaded?.WS_TLS_CERT, loaded?.WS_TLS_KEY, problems);
  if (problems.length > 0 || !loaded || typeof key === "string") {
    throw new ConfigError(`bad configuration in the environment:\n${problems.join("\n")}`);
  }
  const { NETCODE_PRIVATE_KEY: _hidden, WS_TLS_CERT: _cert, WS_TLS_KEY: _key, ...rest } = loaded;
  return { ...rest, NETCODE_PRIVATE_KEY: key, ...(tls === undefined ? {} : { WS_TLS: tls }) };
}

/** Both PEM files or neither; a problem names the variable and the file. */
function readTls(
  certPath: string | undefined,
  keyPath: string | undefined,
  problems: string[],
): { cert: string; key: string } | undefined {
  if (certPath === undefined && keyPath === undefined) return undefined;
  if (certPath === undefined || keyPath === undefined) {
    const missing = certPath === undefined ? "WS_TLS_CERT" : "WS_TLS_KEY";
    problems.push(
      `  ${missing}: required with ${missing === "WS_TLS_CERT" ? "WS_TLS_KEY" : "WS_TLS_CERT"} (wss:// needs both)`,
    );
    return undefined;
  }
  const read = (variable: string, path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      problems.push(`  ${variable}: cannot read ${path}: ${(error as Error).message}`);
      return "";
    }
  };
  return { cert: read("WS_TLS_CERT", certPath), key: read("WS_TLS_KEY", keyPath) };
}

export function instanceIdOf(config: ClientAgentConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId("client-agent");
}

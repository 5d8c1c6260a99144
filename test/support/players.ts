/**
 * A cluster players can log in to, in-process, for tests: message director, state server and client
 * agent (test/client-agent/support.ts) plus uberdog on a Postgres schema of its own (and the cluster's
 * Redis prefix); and players who register, log in, connect and get their avatar, each from a loopback
 * address of its own (127.0.1.1, 127.0.1.2, ...), as players come from addresses of their own: the
 * cluster's default limits per address hold. `stop` leaves nothing behind.
 */
import { FIRST_LOOPBACK_SOURCE, sourceAddress } from "@overworld/bots";
import { login, type ObjectMirror, OverworldClient, register } from "@overworld/client";
import type { DcFile } from "@overworld/protocol";
import { loadUberdogConfig, startUberdog, type UberdogHandle } from "../../services/uberdog/src/main.ts";
import type { UberdogServices } from "../../services/uberdog/src/service-objects.ts";
import { type Cluster, DATABASE_URL, PRIVATE_KEY, startCluster } from "../client-agent/support.ts";
import { serveAvatars } from "./avatars.ts";
import { dropSchema } from "./cleanup.ts";
import { natsEnv } from "./nats.ts";
import { waitFor } from "./wait.ts";

export const PASSWORD = "correct horse battery";
/** Cheap scrypt: a test registers players by the dozen (the default cost is tested with uberdog). */
const TEST_SCRYPT_LOG_N = "10";

export interface PlayerClusterOptions {
  /** The cluster's `.dc` files; Astron's test file by default. */
  readonly dcFiles?: readonly string[];
  /** Client-agent environment (TICK_HZ, WS_PORT, ...); its WebSocket, if any, is uberdog's CLIENT_AGENT_WEBSOCKETS. */
  readonly agentEnv?: Record<string, string>;
  /** Uberdog's environment beyond the cluster's (PLAY_DIR, the temp-admin rule's days, ...), or made from the cluster. */
  readonly uberdogEnv?: Record<string, string> | ((cluster: Cluster) => Record<string, string>);
  /** Uberdog's clock (default Date.now). */
  readonly now?: () => number;
  /** The game's uberdog service objects (service-objects.ts), if any. */
  readonly services?: UberdogServices;
}

export interface PlayerOptions {
  readonly file: DcFile;
  readonly version: string;
  readonly heartbeatMs?: number;
  /** How long the avatar may take to come. */
  readonly timeoutMs?: number;
  /** The local address the player logs in and plays from (default: unbound, 127.0.0.1 for UDP). */
  readonly localAddress?: string;
}

export interface Player {
  readonly client: OverworldClient;
  /** The player's avatar: the first object it owns. */
  readonly avatar: ObjectMirror;
}

export interface PlayerCluster {
  readonly cluster: Cluster;
  /** Uberdog as it runs now (`restartUberdog` starts another). */
  readonly uberdog: UberdogHandle;
  /** Uberdog's REST API. */
  readonly baseUrl: string;
  /** Uberdog's Postgres schema (accounts, bans, API keys, the audit log). */
  readonly schema: string;
  /** Clients `stop` closes first; `join` adds its own, a test adds those it connects otherwise. */
  readonly clients: OverworldClient[];
  /** {@link joinAsPlayer} from the next loopback address of this cluster, with the client closed by `stop`. */
  join(name: string, options: PlayerOptions): Promise<Player>;
  /** Stops uberdog and starts it again on the same schema and port (a new instance: a new channel). */
  restartUberdog(): Promise<UberdogHandle>;
  /** Closes the clients, stops uberdog and the cluster, drops uberdog's schema. */
  stop(): Promise<void>;
}

export async function startPlayerCluster(
  name: string,
  options: PlayerClusterOptions = {},
): Promise<PlayerCluster> {
  const schema = `${name}_${process.pid}_${Date.now().toString(36)}`;
  const cluster = await startCluster(name, options.agentEnv, {
    stateServer: true,
    ...(options.dcFiles ? { dcFiles: options.dcFiles } : {}),
  });
  let uberdog: UberdogHandle;
  const launch = (port: number) =>
    startUberdog(
      loadUberdogConfig({
        ...cluster.env,
        ...natsEnv("admin"),
        EVENT_STREAM: cluster.eventStream,
        DATABASE_URL,
        DB_SCHEMA: schema,
        CLIENT_AGENT_ADDRESSES: cluster.agent.publicAddress.key,
        NETCODE_PRIVATE_KEY: Buffer.from(PRIVATE_KEY).toString("hex"),
        SCRYPT_LOG_N: TEST_SCRYPT_LOG_N,
        LOG_LEVEL: "silent",
        HTTP_PORT: String(port),
        REDIS_PREFIX: cluster.prefix,
        CLIENT_AGENT_WEBSOCKETS: cluster.agent.webSocketUrl ?? "",
        ...(typeof options.uberdogEnv === "function" ? options.uberdogEnv(cluster) : options.uberdogEnv),
      }),
      {
        ...(options.now ? { now: options.now } : {}),
        ...(options.services ? { services: options.services } : {}),
      },
    );
  try {
    uberdog = await launch(0);
  } catch (error) {
    await cluster.stop();
    await dropSchema(schema);
    throw error;
  }
  const baseUrl = `http://127.0.0.1:${uberdog.port}`;
  const clients: OverworldClient[] = [];
  let players = 0;
  return {
    cluster,
    get uberdog() {
      return uberdog;
    },
    baseUrl,
    schema,
    clients,
    async join(player, playerOptions) {
      const localAddress = sourceAddress(FIRST_LOOPBACK_SOURCE, players++);
      const joined = await joinAsPlayer(baseUrl, player, { localAddress, ...playerOptions });
      clients.push(joined.client);
      return joined;
    },
    async restartUberdog() {
      await uberdog.stop();
      uberdog = await launch(uberdog.port);
      return uberdog;
    },
    async stop() {
      for (const client of clients) await client.close().catch(() => undefined);
      await uberdog.stop();
      await cluster.stop();
      await dropSchema(schema);
    },
  };
}

/** Registers `username` with {@link PASSWORD} and logs in (from `localAddress` if given): the connect token. */
export async function signUp(baseUrl: string, username: string, localAddress?: string): Promise<Uint8Array> {
  const from = localAddress === undefined ? {} : { localAddress };
  await register(baseUrl, username, PASSWORD, from);
  return (await login(baseUrl, username, PASSWORD, from)).connectToken;
}

/**
 * Signs up as `<name><pid>` (unique across parallel runs), connects, and waits for the avatar the game
 * logic gives the player.
 */
export async function joinAsPlayer(baseUrl: string, name: string, options: PlayerOptions): Promise<Player> {
  const client = await OverworldClient.connect({
    token: await signUp(baseUrl, `${name}${process.pid}`, options.localAddress),
    file: options.file,
    version: options.version,
    heartbeatMs: options.heartbeatMs,
    ...(options.localAddress === undefined ? {} : { host: options.localAddress }),
  });
  const avatar = await waitFor(
    () => [...client.objects.values()].find((object) => object.owned),
    `${name}'s avatar`,
    options.timeoutMs,
  ).catch(async (error: unknown) => {
    await client.close().catch(() => undefined);
    throw error;
  });
  return { client, avatar };
}

/**
 * Alice and Bob on the demo world's classes (`file`), each given an avatar at (1, 1) in `zone` of `world`
 * (served by the test) and interest in that zone: two players who see each other.
 */
export async function aliceAndBob(
  services: PlayerCluster,
  options: { readonly file: DcFile; readonly version: string; readonly world: number; readonly zone: number },
): Promise<{ alice: Player; bob: Player }> {
  const { cluster } = services;
  serveAvatars(cluster, options.world, () => ({ x: 1, y: 1, zone: options.zone }));
  await cluster.bus.flush();
  const joining = { file: options.file, version: options.version, heartbeatMs: 200 };
  const alice = await services.join("alice", joining);
  const bob = await services.join("bob", joining);
  await alice.client.addInterest(options.world, [options.zone]);
  await bob.client.addInterest(options.world, [options.zone]);
  return { alice, bob };
}

import { derivedKey, pairKeys, signingKeyFromSeed } from "@overworld/federation";
import { Closers, connectPostgres, createLogger, type Logger } from "@overworld/service";
import type { FastifyInstance } from "fastify";
import { Registry } from "prom-client";
import { buildApp, SERVICE } from "./app.ts";
import { PairKeyCache } from "./broker.ts";
import { instanceIdOf, type SignalingConfig } from "./config.ts";
import { ChildClusters, Directory } from "./directory.ts";
import { type MainPluginSend, type MainPlugins, mainPluginSender, PluginOutbox } from "./main-plugins.ts";
import { createMetrics } from "./metrics.ts";
import { migrate } from "./migrations.ts";
import { PackageStore } from "./packages.ts";
import { ParentLink } from "./parent.ts";
import { PluginSetStore } from "./plugin-sets.ts";
import { type Relay, startRelay } from "./relay.ts";
import { type Rendezvous, startRendezvous } from "./rendezvous.ts";

export interface SignalingHandle {
  readonly instanceId: string;
  readonly app: FastifyInstance;
  /** The HTTP API's port (useful when HTTP_PORT=0 picks one). */
  readonly port: number;
  readonly rendezvous: Rendezvous;
  readonly relay: Relay | undefined;
  readonly log: Logger;
  /**
   * A plugin message from main's plugin to a cluster's servers (`{ cluster }`) or one of its clients
   * (`{ cluster, client }`: its channel, as a message from it named it): kept until the cluster's link end
   * takes it (every PLUGIN_MESSAGE_POLL_MS). Rejects naming the reason (an unknown cluster, too large).
   */
  readonly sendPluginMessage: MainPluginSend;
  stop(): Promise<void>;
}

const POSTGRES_POOL_SIZE = 8;

/**
 * Starts main: Postgres (migrated), the UDP rendezvous, the relay, the HTTP API. Everything it knows is in
 * Postgres, so any number of replicas may run against one database, and one may restart at any time:
 * links between clusters are peer to peer and do not go through main.
 */
export interface SignalingOptions {
  /** Main-side plugins, by name (main-plugins.ts): what clusters and their clients send them, and their answers. */
  readonly mainPlugins?: MainPlugins;
}

export async function startSignaling(
  config: SignalingConfig,
  options: SignalingOptions = {},
): Promise<SignalingHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  const closers = new Closers();
  try {
    const main = signingKeyFromSeed(config.MAIN_SEED);
    const relayKey = derivedKey(main, "relay");
    const pool = await connectPostgres(config.DATABASE_URL, `${SERVICE}:${instanceId}`, POSTGRES_POOL_SIZE);
    closers.push(() => pool.end());
    const applied = await migrate(pool, config.DB_SCHEMA);
    if (applied.length > 0) log.info({ schema: config.DB_SCHEMA, applied }, "db migrations applied");
    const directory = new Directory(pool, config.DB_SCHEMA, config.LIVE_MS);
    const children = new ChildClusters(pool, config.DB_SCHEMA, config.LIVE_MS);
    const packages = new PackageStore(pool, config.DB_SCHEMA);
    const pluginSets = new PluginSetStore(pool, config.DB_SCHEMA);
    const pluginOutbox = new PluginOutbox(pool, config.DB_SCHEMA);
    const keys = new PairKeyCache(main, pairKeys);
    const registry = new Registry();
    const metrics = createMetrics(registry);

    const relay =
      config.RELAY_PORT === "off"
        ? undefined
        : await startRelay({
            host: config.UDP_HOST,
            port: config.RELAY_PORT,
            relayKey,
            bytesPerSecond: config.RELAY_BYTES_PER_SECOND,
            burstBytes: config.RELAY_BURST_BYTES,
            log,
            metrics,
          });
    if (relay) closers.push(() => relay.close());
    const relayAddress = relay ? (config.RELAY_ADDRESS ?? relay.address.key) : "";
    // the parent main, if any: its link needs this main's own URL, known once the API listens (below)
    let parent: ParentLink | undefined;
    const rendezvous = await startRendezvous({
      directory,
      remotePeers: (cluster) => parent?.peersOf(cluster) ?? [],
      keys,
      relayKey,
      relayAddress,
      host: config.UDP_HOST,
      port: config.UDP_PORT,
      log,
      metrics,
    });
    closers.push(() => rendezvous.close());

    const app = await buildApp({
      directory,
      main,
      name: config.MAIN_NAME,
      keys,
      adminToken: config.ADMIN_TOKEN,
      rendezvous: () => rendezvous.address.key,
      relay: () => relayAddress,
      tokenSeconds: config.LINK_TOKEN_SECONDS,
      timeoutSeconds: config.LINK_TIMEOUT_SECONDS,
      metrics: registry,
      counters: metrics,
      log,
      children,
      relayKey,
      packages,
      pluginSets,
      ...(options.mainPlugins === undefined ? {} : { mainPlugins: options.mainPlugins }),
      pluginOutbox,
      get parent() {
        return parent;
      },
    });
    closers.push(() => app.close());
    await app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.HTTP_PORT;
    if (config.PARENT_URL !== undefined && config.PARENT_KEY !== undefined) {
      parent = new ParentLink({
        url: config.PARENT_URL,
        key: config.PARENT_KEY,
        self: {
          name: config.MAIN_NAME,
          key: main,
          url: config.PUBLIC_URL ?? `http://${config.HTTP_HOST}:${port}`,
        },
        directory,
        log,
      });
      parent.start();
      const link = parent;
      closers.push(async () => link.stop());
    }
    log.info(
      { port, rendezvous: rendezvous.address.key, relay: relayAddress || "off", schema: config.DB_SCHEMA },
      "main ready",
    );
    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        log.info("main stopping");
        await closers.closeAll();
        log.info("main stopped");
      })();
      return stopping;
    };
    const sendPluginMessage = mainPluginSender(pluginOutbox, directory);
    return { instanceId, app, port, rendezvous, relay, log, sendPluginMessage, stop };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/**
 * The zone-AI replica's process: configuration, connections (NATS, Redis), membership of the cluster
 * (role `zone-ai`), the zone journal, zone leases and channels, the game plugin, and /healthz + /metrics.
 * `startZoneAi(config)` is what main runs and what tests run in-process.
 */
import { pathToFileURL } from "node:url";
import { legacyHash, loadDcFiles } from "@overworld/protocol";
import {
  Closers,
  ConfigError,
  connectBus,
  connectRedis,
  createLogger,
  isEntryPoint,
  joinCluster,
  type Logger,
  runService,
  startOpsServer,
} from "@overworld/service";
import { Gauge, Registry } from "prom-client";
import { instanceIdOf, loadZoneAiConfig, type ZoneAiConfig } from "./config.ts";
import { openJournal } from "./journal.ts";
import type { ZonePlugin } from "./plugin.ts";
import { Replica } from "./replica.ts";
import { ZoneChannels } from "./zone-channels.ts";
import { ZoneLeases } from "./zone-leases.ts";

export { loadZoneAiConfig, type ZoneAiConfig, zoneAiConfigShape } from "./config.ts";
export * from "./plugin.ts";

const SERVICE = "zone-ai";

export interface ZoneAiHandle {
  readonly log: Logger;
  readonly httpPort: number;
  readonly channel: number;
  readonly replica: Replica;
  stop(): Promise<void>;
}

/** Loads the plugin module: its `plugin` export or its default one. */
export async function loadPlugin(path: string): Promise<ZonePlugin> {
  const url = path.startsWith(".") || path.startsWith("/") ? pathToFileURL(path).href : path;
  let module: { plugin?: ZonePlugin; default?: ZonePlugin };
  try {
    module = await import(url);
  } catch (error) {
    throw new ConfigError(`PLUGIN: cannot load ${path}: ${(error as Error).message}`);
  }
  const plugin = module.plugin ?? module.default;
  if (plugin === undefined || typeof plugin.zones !== "function" || typeof plugin.kinds !== "object") {
    throw new ConfigError(
      `PLUGIN: ${path} exports no zone plugin (as \`plugin\` or default; see definePlugin)`,
    );
  }
  return plugin;
}

export async function startZoneAi(config: ZoneAiConfig, plugin?: ZonePlugin): Promise<ZoneAiHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    const game = plugin ?? (await loadPlugin(config.PLUGIN));
    const dc = loadDcFiles(config.DC_FILES);
    const nc = await connectBus(config.NATS_URL, `${SERVICE}:${instanceId}`);
    closers.push(() => nc.drain());
    const redis = await connectRedis(config.REDIS_URL, SERVICE);
    closers.push(() => redis.quit());
    const participant = await joinCluster(nc, {
      role: "zone-ai",
      instanceId,
      version: config.CLUSTER_VERSION,
      schemaHash: legacyHash(dc),
      root: config.SUBJECT_ROOT,
      log,
      onDead: (reason) => log.error({ reason }, "the message director declared this replica dead"),
    });
    closers.push(() => participant.leave());
    const journal = await openJournal(nc, { root: config.SUBJECT_ROOT, maxAgeMs: config.JOURNAL_MAX_AGE_MS });
    let replica: Replica | undefined;
    const leases = new ZoneLeases(redis, {
      prefix: `${config.REDIS_PREFIX}zone-ai:lease:`,
      owner: String(participant.channel),
      ttlMs: config.LEASE_TTL_MS,
      log,
      onLost: (zone, reason) => {
        log.warn({ zone, reason }, "zone lease lost; the zone stops here");
        replica?.lost(zone);
      },
    });
    leases.start();
    closers.push(() => leases.close());
    replica = new Replica({
      nc,
      redis,
      participant,
      journal,
      leases,
      channels: new ZoneChannels(redis, `${config.REDIS_PREFIX}zone-ai:`),
      plugin: game,
      dc,
      root: config.SUBJECT_ROOT,
      redisPrefix: config.REDIS_PREFIX,
      snapshotEveryMs: config.SNAPSHOT_EVERY_MS,
      log,
    });
    await replica.start();
    const running = replica;
    closers.push(() => running.stop());

    const registry = new Registry();
    new Gauge({
      name: "ow_zone_ai_zones",
      help: "Zones this replica runs",
      registers: [registry],
      collect() {
        this.set(running.zones.length);
      },
    });
    new Gauge({
      name: "ow_zone_ai_inputs",
      help: "Journal inputs this replica has read",
      registers: [registry],
      collect() {
        this.set(running.counts.inputs);
      },
    });
    const ops = await startOpsServer({
      service: SERVICE,
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      metrics: registry,
      checks: { nats: () => !nc.isClosed(), cluster: () => participant.alive },
      details: () => ({ zones: running.zones, replicas: running.members }),
    });
    closers.push(() => ops.close());
    log.info({ httpPort: ops.port, channel: participant.channel, plugin: game.name }, "zone AI started");
    let stopping: Promise<void> | undefined;
    return {
      log,
      httpPort: ops.port,
      channel: participant.channel,
      replica: running,
      stop: () => {
        stopping ??= closers.closeAll().then(() => log.info("zone AI stopped"));
        return stopping;
      },
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

if (isEntryPoint(import.meta.url))
  runService(
    SERVICE,
    () => loadZoneAiConfig(),
    (config) => startZoneAi(config),
  );

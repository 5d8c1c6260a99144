/**
 * The zone-AI replica's process: configuration, connections (NATS, Redis), membership of the cluster
 * (role `zone-ai`), the zone journal, zone leases and channels, the game plugin, and /healthz + /metrics.
 * `startZoneAi(config)` is what main runs and what tests run in-process.
 */
import { pathToFileURL } from "node:url";
import { type DcFile, legacyHash, loadDcFiles } from "@overworld/protocol";
import {
  Closers,
  ConfigError,
  connectRedis,
  createLogger,
  isEntryPoint,
  joinCluster,
  type Logger,
  type Participant,
  type Redis,
  runService,
  startOpsServer,
} from "@overworld/service";
import { Gauge, Registry } from "prom-client";
import { instanceIdOf, loadZoneAiConfig, type ZoneAiConfig } from "./config.ts";
import { openJournal } from "./journal.ts";
import type { ZonePlugin } from "./plugin.ts";
import { labelOf, PluginSet } from "./plugins/compose.ts";
import { applyPluginSet, type SwapReport, swapPlugin } from "./plugins/hot-swap.ts";
import { servePluginSwaps } from "./plugins/operators.ts";
import { PushedSets, SetRefused } from "./plugins/pushed-set.ts";
import { Replica, zoneAiSlotPrefix } from "./replica.ts";
import { scriptMetrics, scriptRoutes } from "./scripts/routes.ts";
import { ZoneChannels } from "./zone-channels.ts";
import { ZoneLeases } from "./zone-leases.ts";

export { loadZoneAiConfig, type ZoneAiConfig, zoneAiConfigShape } from "./config.ts";
export * from "./plugin.ts";

const SERVICE = "zone-ai";

export interface ZoneAiHandle {
  readonly log: Logger;
  readonly httpPort: number;
  /** The replica's participant channel (a new one if it had to join the cluster again). */
  readonly channel: number;
  /** The running replica (a new one if it had to join the cluster again). */
  readonly replica: Replica;
  /** The plugins it runs (composed) and every version it has loaded. */
  readonly plugins: PluginSet;
  /**
   * Swaps in another version of a running plugin (plugins/hot-swap.ts): a plugin, or the path of a module
   * exporting one (as PLUGIN). Throws SwapRefused, the old version running on, if it cannot.
   */
  swap(next: ZonePlugin | string): Promise<SwapReport>;
  stop(): Promise<void>;
}

/** What a replica runs: a plugin, several composed (plugins/compose.ts), or a set with older versions loaded. */
export type PluginsToRun = ZonePlugin | readonly ZonePlugin[] | PluginSet;

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

export async function startZoneAi(config: ZoneAiConfig, plugin?: PluginsToRun): Promise<ZoneAiHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    const plugins =
      plugin instanceof PluginSet
        ? plugin
        : new PluginSet(
            plugin === undefined
              ? await Promise.all(config.PLUGIN.split(",").map((path) => loadPlugin(path.trim())))
              : Array.isArray(plugin)
                ? (plugin as readonly ZonePlugin[])
                : [plugin as ZonePlugin],
          );
    const game = plugins.composed;
    const dc = loadDcFiles(config.DC_FILES);
    const redis = await connectRedis(config.REDIS_URL, SERVICE);
    closers.push(() => redis.quit());
    let running: Replicated | undefined;
    const participant = await joinCluster({
      natsUrl: config.NATS_URL,
      credentials: config.NATS_CREDS,
      role: "zone-ai",
      instanceId,
      version: config.CLUSTER_VERSION,
      schemaHash: legacyHash(dc),
      root: config.SUBJECT_ROOT,
      log,
      // declared dead: peers took our zones (our leases ran out meanwhile); start again as a new replica
      onRejoin: () => {
        const old = running;
        running = undefined;
        void (old?.stop() ?? Promise.resolve())
          .then(async () => {
            running = await replicate(config, participant, redis, plugins, dc, log);
            log.info({ channel: participant.channel }, "zone-AI replica started again under its new channel");
          })
          .catch((error: unknown) => log.error({ err: error }, "the zone-AI replica could not start again"));
      },
    });
    closers.push(() => participant.leave());
    // the server plugin set main pushed, from the cluster's link end, run beside or instead of PLUGIN's:
    // taken before the zones start, then live
    let replicaStarted = false;
    const pushed = new PushedSets({
      participant,
      base: plugins.plugins,
      trustFile: config.PLUGIN_TRUST,
      cacheDir: config.PLUGIN_CACHE_DIR,
      apply: async (target) => {
        const replica = running?.replica;
        if (replica !== undefined) return applyPluginSet(plugins, replica, target);
        if (replicaStarted) {
          throw new SetRefused(
            "unavailable",
            undefined,
            "the zone-AI replica is restarting: it takes the set once it runs again",
          );
        }
        const before = plugins.plugins.map(labelOf);
        plugins.reset(target); // no zone runs yet: they start under these versions
        const after = plugins.plugins.map(labelOf);
        return {
          running: after,
          added: after.filter((label) => !before.includes(label)),
          removed: before.filter((label) => !after.includes(label)),
          swapped: [],
          zonesAdded: [],
          zonesRemoved: [],
        };
      },
      running: () => plugins.plugins.map(labelOf),
      log,
    });
    const sets = pushed.serve();
    closers.push(async () => sets.unsubscribe());
    await pushed.initial();
    replicaStarted = true;
    running = await replicate(config, participant, redis, plugins, dc, log);
    closers.push(() => running?.stop() ?? Promise.resolve());
    const current = () => running?.replica;

    const registry = new Registry();
    new Gauge({
      name: "ow_zone_ai_zones",
      help: "Zones this replica runs",
      registers: [registry],
      collect() {
        this.set(current()?.zones.length ?? 0);
      },
    });
    new Gauge({
      name: "ow_zone_ai_inputs",
      help: "Journal inputs this replica has read",
      registers: [registry],
      collect() {
        this.set(current()?.counts.inputs ?? 0);
      },
    });
    const ops = await startOpsServer({
      service: SERVICE,
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      metrics: Registry.merge([registry, scriptMetrics]),
      routes: scriptRoutes,
      checks: {
        nats: () => !participant.nc.isClosed(),
        cluster: () => participant.alive && current() !== undefined,
      },
      details: () => ({ zones: current()?.zones ?? [], replicas: current()?.members ?? [] }),
    });
    closers.push(() => ops.close());
    const swap = async (next: ZonePlugin): Promise<SwapReport> => {
      const replica = current();
      if (replica === undefined)
        throw new Error("the zone-AI replica is restarting: swap again once it runs");
      const report = await swapPlugin(plugins, replica, next);
      log.info({ ...report }, "plugin version swapped");
      return report;
    };
    const swaps = servePluginSwaps(participant, {
      trustFile: config.PLUGIN_TRUST,
      cacheDir: config.PLUGIN_CACHE_DIR,
      loadModule: loadPlugin,
      swap,
      log,
    });
    closers.push(async () => swaps.unsubscribe());

    log.info({ httpPort: ops.port, channel: participant.channel, plugin: game.name }, "zone AI started");
    let stopping: Promise<void> | undefined;
    return {
      log,
      httpPort: ops.port,
      get channel() {
        return participant.channel;
      },
      get replica() {
        const replica = current();
        if (replica === undefined) throw new Error("the zone-AI replica is restarting");
        return replica;
      },
      plugins,
      swap: async (next) => swap(typeof next === "string" ? await loadPlugin(next) : next),
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

/** A running replica and its zone leases, held under the participant's current channel. */
interface Replicated {
  readonly replica: Replica;
  stop(): Promise<void>;
}

async function replicate(
  config: ZoneAiConfig,
  participant: Participant,
  redis: Redis,
  plugins: PluginSet,
  dc: DcFile,
  log: Logger,
): Promise<Replicated> {
  const journal = await openJournal(participant.nc, {
    root: config.SUBJECT_ROOT,
    maxAgeMs: config.JOURNAL_MAX_AGE_MS,
    replicas: config.JETSTREAM_REPLICAS,
  });
  let replica: Replica | undefined;
  const leases = new ZoneLeases(redis, {
    prefix: `${config.REDIS_PREFIX}zone-ai:lease:`,
    owner: String(participant.channel),
    ttlMs: config.LEASE_TTL_MS,
    marginMs: config.LEASE_MARGIN_MS,
    log,
    onLost: (zone, reason) => {
      log.warn({ zone, reason }, "zone lease lost; the zone stops here");
      replica?.lost(zone);
    },
  });
  leases.start();
  replica = new Replica({
    redis,
    participant,
    journal,
    leases,
    channels: new ZoneChannels(redis, zoneAiSlotPrefix(config.REDIS_PREFIX)),
    plugin: plugins.composed,
    versions: plugins,
    dc,
    redisPrefix: config.REDIS_PREFIX,
    snapshotEveryMs: config.SNAPSHOT_EVERY_MS,
    log,
  });
  try {
    await replica.start();
  } catch (error) {
    await leases.close();
    throw error;
  }
  const started = replica;
  return {
    replica: started,
    stop: async () => {
      await started.stop();
      await leases.close();
    },
  };
}

if (isEntryPoint(import.meta.url))
  runService(
    SERVICE,
    () => loadZoneAiConfig(),
    (config) => startZoneAi(config),
  );

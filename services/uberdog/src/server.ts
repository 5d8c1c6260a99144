import { legacyHash, type netcode } from "@overworld/protocol";
import {
  Closers,
  connectPostgres,
  connectRedis,
  createLogger,
  joinCluster,
  type Logger,
  loadClusterModel,
  type Pool,
  type Redis,
} from "@overworld/service";
import type { AwaitRequest } from "@overworld/zone-ai/calls";
import type { FastifyInstance } from "fastify";
import { PostgresAccounts } from "./accounts.ts";
import { AgentPicker } from "./agent-picker.ts";
import { buildApp, SERVICE, type UberdogDeps } from "./app.ts";
import { AuditLog } from "./audit.ts";
import { Bans } from "./bans.ts";
import { AdminCluster } from "./cluster.ts";
import { ClusterStats } from "./cluster-stats.ts";
import { instanceIdOf, type UberdogConfig } from "./config.ts";
import { Credentials } from "./credentials.ts";
import { LiveMaps } from "./live-map.ts";
import { Maintenance } from "./maintenance.ts";
import { migrate } from "./migrations.ts";
import { PasswordHasher } from "./passwords.ts";
import { LoginBackoff } from "./rate-limit.ts";
import { ReplyRecords } from "./reply-records.ts";
import { loadServices, ServiceObjects, type UberdogServices } from "./service-objects.ts";
import { TempAdmin } from "./temp-admin.ts";
import { TokenIssuer } from "./tokens.ts";

export interface UberdogHandle {
  readonly instanceId: string;
  readonly app: FastifyInstance;
  /** The port the API (and /healthz, /metrics) listens on: useful when HTTP_PORT=0 picks a free one. */
  readonly port: number;
  readonly log: Logger;
  /** Calls a method of an object (a zone's or a service's) and awaits its typed reply or a RequestError. */
  readonly request: AwaitRequest;
  /** Stops taking requests, finishes those under way, closes the database pool. */
  stop(): Promise<void>;
}

const POSTGRES_POOL_SIZE = 8;

const MS_PER_SECOND = 1000;
const MS_PER_HOUR = 3_600_000;
/** How often a live map asks the state server for its world's objects again, to mend what it missed. */
const MAP_RESYNC_MS = 5000;
/** The role uberdog joins the cluster with: the one the catalogue gives operators' actions. */
const ADMIN_ROLE = "admin";

export interface DepsOptions {
  readonly log?: Logger;
  /** Uberdog's seat in the cluster: with it, the admin API is served. */
  readonly cluster?: AdminCluster;
  /** The clock (default Date.now): the temp-admin test runs days in seconds. */
  readonly now?: () => number;
  /** The order of the client agents in the next token (default as configured): agent-picker.ts. */
  readonly agentOrder?: () => readonly netcode.NetcodeAddress[];
}

/** Everything the app needs, made from the configuration, an open (migrated) Postgres pool and Redis. */
export function createDeps(
  config: UberdogConfig,
  pool: Pool,
  redis: Redis,
  options: DepsOptions = {},
): UberdogDeps {
  const { log, cluster } = options;
  const now = options.now ?? Date.now;
  const keys = `${config.REDIS_PREFIX}uberdog:`;
  const accounts = new PostgresAccounts(pool, config.DB_SCHEMA);
  const passwords = new PasswordHasher(config.scrypt);
  const backoff = new LoginBackoff(redis, `${keys}pair:`, {
    freeFailures: config.LOGIN_BACKOFF_FREE_FAILURES,
    firstDelayMs: config.LOGIN_BACKOFF_FIRST_MS,
    maxDelayMs: config.LOGIN_BACKOFF_MAX_MS,
    forgetMs: config.LOGIN_BACKOFF_FORGET_SECONDS * MS_PER_SECOND,
  });
  const bans = new Bans(pool, config.DB_SCHEMA);
  const onError = (what: string) => (error: unknown) => log?.error({ err: error }, what);
  const maintenance = new Maintenance(
    pool,
    config.DB_SCHEMA,
    cluster,
    now,
    onError("maintenance sweep failed"),
  );
  const tempAdmin = new TempAdmin(
    pool,
    config.DB_SCHEMA,
    { adminAbsentDays: config.ADMIN_ABSENT_DAYS, recentLoginDays: config.TEMP_ADMIN_RECENT_DAYS },
    now,
    (before, after) => {
      log?.warn({ before, after: after.accountId, username: after.username }, "the temp admin changed");
      cluster
        ?.record("admin.temp-admin", { before, after: after.accountId, username: after.username })
        .catch(onError("the temp-admin event could not be logged"));
    },
  );
  return {
    accounts,
    passwords,
    tokens: new TokenIssuer({
      protocolId: config.NETCODE_PROTOCOL_ID,
      privateKey: config.NETCODE_PRIVATE_KEY,
      serverAddresses: config.CLIENT_AGENT_ADDRESSES,
      ...(options.agentOrder ? { order: options.agentOrder } : {}),
      expireSeconds: config.TOKEN_EXPIRE_SECONDS,
      timeoutSeconds: config.TOKEN_TIMEOUT_SECONDS,
    }),
    limits: {
      redis,
      addressPrefix: `${keys}ip:`,
      loginsPerAddressPerMinute: config.LOGIN_IP_PER_MINUTE,
      registrationsPerAddressPerMinute: config.REGISTER_IP_PER_MINUTE,
      backoff,
    },
    bans,
    maintenance,
    tempAdmin,
    now,
    checks: {
      redis: async () => (await redis.ping()) === "PONG",
      ...(cluster ? { cluster: () => cluster.alive } : {}),
    },
    trustProxy: config.TRUST_PROXY,
    webSockets: config.CLIENT_AGENT_WEBSOCKETS,
    ...(config.PLAY_DIR === undefined
      ? {}
      : { play: { dir: config.PLAY_DIR, version: config.CLUSTER_VERSION } }),
    dashboard: { dir: config.DASHBOARD_DIR, parentId: config.MAP_PARENT_ID },
    ...(log ? { log } : {}),
    ...(cluster
      ? {
          admin: {
            accounts,
            passwords,
            backoff,
            bans,
            credentials: new Credentials(pool, config.DB_SCHEMA, config.ADMIN_SESSION_HOURS * MS_PER_HOUR),
            audit: new AuditLog(pool, config.DB_SCHEMA),
            tempAdmin,
            maintenance,
            cluster,
            now,
            maintenanceWarningMs: config.MAINTENANCE_WARNING_SECONDS * MS_PER_SECOND,
            live: liveFeed(config, cluster, log),
          },
        }
      : {}),
  };
}

/** The dashboard's live feed: the map of a world from the cluster's location feed, and the charts' figures. */
/** How often uberdog asks the client agents how full they are. */
const AGENT_LOAD_EVERY_MS = 1000;

/**
 * With several client agents, tokens name the least loaded first (agent-picker.ts), from their answers
 * to `ca.load` every second; with one, there is nothing to spread.
 */
function spreadLogins(config: UberdogConfig, cluster: AdminCluster, log: Logger) {
  if (config.CLIENT_AGENT_ADDRESSES.length < 2) return undefined;
  const picker = new AgentPicker(config.CLIENT_AGENT_ADDRESSES);
  let asking = false;
  const ask = () => {
    if (asking) return;
    asking = true;
    cluster
      .agentLoads()
      .then((answers) => picker.update(answers))
      .catch((error: unknown) => log.warn({ err: error }, "the client agents' load could not be asked"))
      .finally(() => {
        asking = false;
      });
  };
  ask();
  const timer = setInterval(ask, AGENT_LOAD_EVERY_MS);
  timer.unref();
  return { next: () => picker.next(), stop: () => clearInterval(timer) };
}

function liveFeed(config: UberdogConfig, cluster: AdminCluster, log: Logger | undefined) {
  const stats = new ClusterStats(cluster, config.METRICS_URLS);
  const maps = new LiveMaps(cluster, {
    positionFields: config.MAP_POSITION_FIELDS,
    hz: config.MAP_HZ,
    resyncMs: MAP_RESYNC_MS,
    onLatency: (ms) => stats.latency(ms),
    onError: (error) => log?.warn({ err: error }, "the live map could not read a delivery"),
  });
  return { maps, stats, statsMs: config.STATS_SECONDS * MS_PER_SECOND };
}

/**
 * Starts uberdog: connects to Postgres and Redis, migrates its schema, joins the cluster (role `admin`,
 * for the admin API), and serves the API on HTTP_PORT. The temp-admin rule is evaluated at once and
 * daily, and maintenance mode is swept, until it stops.
 */
export async function startUberdog(
  config: UberdogConfig,
  options: {
    now?: () => number;
    /** The game's service objects, instead of loading the SERVICES module. */
    services?: UberdogServices;
  } = {},
): Promise<UberdogHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    const pool = await connectPostgres(config.DATABASE_URL, `${SERVICE}:${instanceId}`, POSTGRES_POOL_SIZE);
    closers.push(() => pool.end());
    const applied = await migrate(pool, config.DB_SCHEMA);
    if (applied.length > 0) log.info({ schema: config.DB_SCHEMA, applied }, "db migrations applied");
    const redis = await connectRedis(config.REDIS_URL, `${SERVICE}:${instanceId}`);
    closers.push(() => redis.quit());

    const dc = loadClusterModel(config.DC_FILES);
    const schemaHash = legacyHash(dc);
    const participant = await joinCluster({
      natsUrl: config.NATS_URL,
      credentials: config.NATS_CREDS,
      role: ADMIN_ROLE,
      instanceId,
      version: config.CLUSTER_VERSION,
      schemaHash,
      root: config.SUBJECT_ROOT,
      log,
    });
    closers.push(() => participant.leave());
    const { services: given, ...depsOptions } = options;
    const game = given ?? (config.SERVICES === undefined ? undefined : await loadServices(config.SERVICES));
    const services = new ServiceObjects(
      { participant, dc, records: new ReplyRecords(redis, `${config.REDIS_PREFIX}uberdog:`), log },
      game,
    );
    closers.push(async () => services.stop());
    await services.start();
    const cluster = new AdminCluster(
      participant,
      dc,
      config.CLUSTER_VERSION,
      schemaHash,
      config.EVENT_STREAM,
      services.calls,
    );
    const agentOrder = spreadLogins(config, cluster, log);
    closers.push(async () => agentOrder?.stop());
    const deps = createDeps(config, pool, redis, {
      log,
      cluster,
      ...(agentOrder ? { agentOrder: agentOrder.next } : {}),
      ...depsOptions,
    });
    const stopDaily = deps.tempAdmin.everyDay((error) =>
      log.error({ err: error }, "the temp-admin rule failed"),
    );
    closers.push(async () => stopDaily());
    deps.maintenance.start();
    closers.push(async () => deps.maintenance.stop());

    const app = await buildApp(deps);
    closers.push(() => app.close());
    await app.listen({ port: config.HTTP_PORT, host: config.HTTP_HOST });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.HTTP_PORT;
    log.info(
      {
        port,
        schema: config.DB_SCHEMA,
        clientAgents: config.CLIENT_AGENT_ADDRESSES.map((address) => address.key),
        webSockets: config.CLIENT_AGENT_WEBSOCKETS,
        play: config.PLAY_DIR,
        scrypt: config.scrypt,
      },
      "uberdog ready",
    );

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        log.info("uberdog stopping");
        // app.close() lets requests under way finish and answers new ones with 503
        await closers.closeAll();
        log.info("uberdog stopped");
      })();
      return stopping;
    };
    return { instanceId, app, port, log, request: services.calls.request, stop };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

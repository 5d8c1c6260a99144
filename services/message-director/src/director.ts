/**
 * The message director, wired: connections, migrations, the event-log stream, the request handlers
 * (served by every replica), and the leader's loops (lease renewal and the death sweep).
 *
 * `startMessageDirector(config)` is what main.ts runs, and what tests run in-process.
 */
import { createUser } from "@nats-io/nkeys";
import { type Identity, inboxOf, permissionsFor, streamsOf } from "@overworld/protocol";
import {
  type BusAuth,
  ConfigError,
  connectBus,
  connectPostgres,
  connectRedis,
  createLogger,
  ensureEventStream,
  type HealthCheck,
  IdPool,
  type Logger,
  mint,
  type NatsConnection,
  type Redis,
} from "@overworld/service";
import type { Registry as MetricsRegistry } from "prom-client";
import type { DirectorConfig } from "./config.ts";
import { Reaper } from "./deaths.ts";
import { serveDirector } from "./handlers.ts";
import { IdAllocator } from "./ids.ts";
import { LeaderLease } from "./lease.ts";
import { createMetrics } from "./metrics.ts";
import { Registry } from "./registry.ts";

export { type DirectorConfig, loadDirectorConfig } from "./config.ts";

export interface MessageDirector {
  readonly instanceId: string;
  readonly metrics: MetricsRegistry;
  /** True while this replica holds the leader lease (and so declares deaths). */
  isLeader(): boolean;
  /** For /healthz: NATS, Redis, Postgres, and whether some replica leads. */
  readonly checks: Record<string, HealthCheck>;
  /** For /healthz: this replica's role and the lease holder. */
  details(): Promise<Record<string, unknown>>;
  /** Stops serving, gives up the lease (so another replica takes over at once) and closes connections. */
  stop(): Promise<void>;
}

const HEALTH_TIMEOUT_MS = 1000;

export async function startMessageDirector(
  config: DirectorConfig,
  options: { log?: Logger } = {},
): Promise<MessageDirector> {
  if (config.signing === undefined) {
    throw new ConfigError(
      "NATS_ACCOUNT_FILE, NATS_SIGNING_KEY_FILE: required: the account and the signing key that mint every participant's NATS credentials (account.pub and signing-key.nk of pnpm overworld nats init)",
    );
  }
  const signing = config.signing;
  const log = options.log ?? createLogger("message-director", config.instanceId, config.logLevel);
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const pool = await connectPostgres(config.databaseUrl, `message-director ${config.instanceId}`, 4);
    pool.on("error", (error) => log.warn({ err: error }, "Postgres connection problem"));
    closers.push(() => pool.end());
    const ids = new IdAllocator(pool, config.dbSchema, config.idRanges);
    await ids.migrate();
    // the replica's own channel: what its subjects (events, post-removes) say it is
    const self: Identity = { role: "message-director", channel: (await ids.allocate("channel", 1)).first };
    const nc = await connectBus(
      config.natsUrl,
      `message-director ${config.instanceId}`,
      await ownAuth(config, signing, self),
    );
    closers.push(() => nc.drain());
    const redis = await connectRedis(config.redisUrl, `message-director ${config.instanceId}`);
    redis.on("error", (error) => log.warn({ err: error }, "Redis connection problem"));
    closers.push(() => redis.quit());
    const director = await wire(config, log, nc, redis, ids, self, closers);
    log.info(
      {
        root: config.root,
        version: config.version,
        heartbeatMs: config.heartbeatMs,
        deadAfterMs: config.deadAfterMs,
      },
      "message director started",
    );
    return director;
  } catch (error) {
    for (const close of closers.reverse()) await close().catch(() => {});
    throw error;
  }
}

type Signing = NonNullable<DirectorConfig["signing"]>;

/** The director mints its own credentials with the signing key it holds. */
async function ownAuth(config: DirectorConfig, signing: Signing, self: Identity): Promise<BusAuth> {
  const key = createUser();
  const permissions = permissionsFor("message-director", {
    root: config.root,
    streams: streamsOf(config.root, config.eventStream),
    key: key.getPublicKey(),
    channel: self.channel,
  });
  const jwt = await mint(
    signing.key,
    signing.account,
    key,
    `message-director/${config.instanceId}#${self.channel}`,
    permissions,
  );
  return { jwt: () => jwt, seed: key.getSeed(), inboxPrefix: inboxOf(key.getPublicKey()) };
}

async function wire(
  config: DirectorConfig,
  log: Logger,
  nc: NatsConnection,
  redis: Redis,
  ids: IdAllocator,
  self: Identity,
  closers: (() => Promise<unknown>)[],
): Promise<MessageDirector> {
  await ensureEventStream(nc, {
    stream: config.eventStream,
    root: config.root,
    replicas: config.streamReplicas,
  });
  const registry = new Registry(redis, config.redisPrefix);
  const lease = new LeaderLease(redis, registry.keys, config.instanceId, config.leaseMs);
  const metrics = createMetrics(() => registry.count());
  const reaper = new Reaper({
    nc,
    registry,
    metrics,
    log,
    root: config.root,
    self,
    staleFiringMs: config.leaseMs,
  });
  const channels = new IdPool((count) => ids.allocate("channel", count), config.channelBlock);
  const inFlight = new InFlight();
  const subscriptions = serveDirector({
    nc,
    config,
    registry,
    ids,
    channels,
    metrics,
    self,
    log,
    track: (work) => inFlight.run(work),
  });
  await nc.flush();
  const leadership = new Leadership(config, lease, reaper, metrics, log);
  await leadership.start();

  const checks: Record<string, HealthCheck> = {
    nats: () => withTimeout(nc.flush().then(() => !nc.isClosed())),
    redis: async () => (await withTimeout(redis.ping())) === "PONG",
    postgres: async () => (await withTimeout(ids.ping())) === true,
    leader: async () => leadership.isLeader() || (await withTimeout(lease.holder())) !== null,
  };
  let stopped: Promise<void> | undefined;
  return {
    instanceId: config.instanceId,
    metrics: metrics.registry,
    isLeader: () => leadership.isLeader(),
    checks,
    details: async () => ({
      role: leadership.isLeader() ? "leader" : "follower",
      leader: await withTimeout(lease.holder()).catch(() => null),
    }),
    stop: () => {
      stopped ??= (async () => {
        for (const subscription of subscriptions) subscription.unsubscribe();
        await inFlight.settled();
        await leadership.stop();
        for (const close of closers.reverse()) await close().catch(() => {});
        log.info("message director stopped");
      })();
      return stopped;
    },
  };
}

/**
 * The lease loop (acquire or renew, then say "serving") and, while leading, the death sweep. Each loop
 * runs again only after its previous round finished, so rounds never overlap.
 */
class Leadership {
  private value: string | undefined;
  /** Local bound on our lease: past it we stop acting even if Redis has not told us yet. */
  private validUntil = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly running = new Set<Promise<void>>();
  private stopping = false;
  private readonly servingTtlMs: number;
  private readonly leaseTickMs: number;

  constructor(
    private readonly config: DirectorConfig,
    private readonly lease: LeaderLease,
    private readonly reaper: Reaper,
    private readonly metrics: ReturnType<typeof createMetrics>,
    private readonly log: Logger,
  ) {
    // A participant heartbeating on time is never past its deadline if heartbeats went unanswered for
    // less than this; so while the mark lives, nobody missed a deadline for want of a director.
    this.servingTtlMs = config.deadAfterMs - 2 * config.heartbeatMs;
    this.leaseTickMs = Math.max(5, Math.floor(Math.min(config.leaseMs / 3, this.servingTtlMs / 2)));
  }

  isLeader(): boolean {
    return this.value !== undefined && Date.now() < this.validUntil;
  }

  /** The first round at once: a replica that takes the lease on start sweeps before it returns. */
  async start(): Promise<void> {
    await this.leaseRound();
    await this.sweepRound();
    this.loop(() => this.leaseRound(), this.leaseTickMs);
    this.loop(() => this.sweepRound(), this.config.sweepMs);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const timer of this.timers) clearTimeout(timer);
    await Promise.allSettled([...this.running]);
    if (this.value !== undefined) {
      await this.lease.release(this.value).catch(() => {});
      this.log.info("leader lease released");
      this.stepDown();
    }
  }

  private loop(round: () => Promise<void>, everyMs: number): void {
    const schedule = () => {
      if (this.stopping) return;
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        const work = round().finally(() => {
          this.running.delete(work);
          schedule();
        });
        this.running.add(work);
      }, everyMs);
      this.timers.add(timer);
    };
    schedule();
  }

  private async leaseRound(): Promise<void> {
    const startedAt = Date.now();
    try {
      if (this.value === undefined) {
        const taken = await this.lease.acquire(this.config.deadAfterMs);
        if (taken.acquired) {
          this.value = taken.value;
          this.validUntil = startedAt + this.config.leaseMs;
          this.metrics.leader.set(1);
          this.log.info(
            { lease: taken.value, deadlinesExtended: taken.extended },
            taken.extended > 0
              ? "leader lease taken; no replica was serving heartbeats, so deadlines were pushed back once"
              : "leader lease taken",
          );
        }
      } else if (await this.lease.renew(this.value)) {
        this.validUntil = startedAt + this.config.leaseMs;
      } else {
        this.log.warn({ lease: this.value }, "leader lease lost");
        this.stepDown();
      }
      await this.lease.markServing(this.servingTtlMs);
    } catch (error) {
      this.log.warn({ err: error }, "lease round failed (Redis unreachable?)");
      if (this.value !== undefined && !this.isLeader()) this.stepDown();
    }
  }

  private async sweepRound(): Promise<void> {
    if (!this.isLeader() || this.value === undefined) return;
    try {
      if ((await this.reaper.sweep(this.value)) === "lost-lease") {
        this.log.warn({ lease: this.value }, "leader lease lost during a sweep");
        this.stepDown();
      }
    } catch (error) {
      this.log.error({ err: error }, "death sweep failed");
    }
  }

  private stepDown(): void {
    this.value = undefined;
    this.validUntil = 0;
    this.metrics.leader.set(0);
  }
}

/** Requests being handled, so that stopping waits for their replies before closing connections. */
class InFlight {
  private readonly work = new Set<Promise<unknown>>();

  run<T>(task: () => Promise<T>): Promise<T> {
    const promise = task();
    this.work.add(promise);
    promise.then(
      () => this.work.delete(promise),
      () => this.work.delete(promise),
    );
    return promise;
  }

  async settled(): Promise<void> {
    await Promise.allSettled([...this.work]);
  }
}

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer in ${HEALTH_TIMEOUT_MS} ms`)),
      HEALTH_TIMEOUT_MS,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}

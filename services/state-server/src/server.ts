import { type Identity, legacyHash, messages, type ServiceName, type Subjects } from "@overworld/protocol";
import {
  Closers,
  connectPostgres,
  connectRedis,
  createLogger,
  joinCluster,
  type Logger,
  loadClusterModel,
  type NatsConnection,
  type OpsServer,
  type Participant,
  type Subscription,
  serve,
  startOpsServer,
} from "@overworld/service";
import { Registry } from "prom-client";
import type { z } from "zod";
import { instanceIdOf, type StateServerConfig } from "./config.ts";
import { migrate } from "./db/migrations.ts";
import { DbStore } from "./db/store.ts";
import { StoredObjects } from "./db/stored.ts";
import { BatchWriter } from "./db/writer.ts";
import { EventRecorder } from "./events.ts";
import { LiveObjects, type Origin } from "./live.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { ClassModel } from "./model.ts";
import { ObjectStore } from "./objects.ts";
import { forwardRequest, type RequestDeps } from "./requests.ts";
import { Senders } from "./senders.ts";

export interface StateServerHandle {
  readonly instanceId: string;
  /** The port of /healthz and /metrics. */
  readonly port: number;
  readonly subjects: Subjects;
  /** This state server as a participant of the cluster (its channel, its doIds, the event log). */
  readonly member: Participant;
  /** Resolves once every event recorded so far is in the cluster event log. */
  flushEvents(): Promise<void>;
  readonly metrics: Registry;
  readonly model: ClassModel;
  readonly log: Logger;
  /** Stops taking requests, finishes those under way, commits queued db writes, closes connections. */
  stop(): Promise<void>;
}

const SERVICE = "state-server";
const POSTGRES_POOL_SIZE = 8;

/** Loads the DC files named by DC_FILES; a bad or missing file is a configuration error naming it. */

/**
 * Starts a state server: loads the dclasses, connects to NATS, Redis and Postgres, migrates the db
 * schema, serves the `ss` and `db` operations in their queue groups (so any number of replicas share
 * the work) and the /healthz and /metrics endpoints.
 */
export async function startStateServer(config: StateServerConfig): Promise<StateServerHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  const model = new ClassModel(loadClusterModel(config.DC_FILES));
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    // before touching Redis or Postgres: a state server the director refuses goes no further
    const member = await joinCluster({
      natsUrl: config.NATS_URL,
      credentials: config.NATS_CREDS,
      role: "state-server",
      root: config.SUBJECT_ROOT,
      instanceId,
      version: config.CLUSTER_VERSION,
      schemaHash: legacyHash(model.file),
      doIdBlock: config.DOID_BLOCK,
      log,
    });
    closers.push(() => member.leave());
    const { nc, subjects } = member;
    const redis = await connectRedis(config.REDIS_URL, `${SERVICE}:${instanceId}`);
    closers.push(() => redis.quit());
    const pool = await connectPostgres(config.DATABASE_URL, `${SERVICE}:${instanceId}`, POSTGRES_POOL_SIZE);
    closers.push(() => pool.end());
    const applied = await migrate(pool, config.DB_SCHEMA);
    if (applied.length > 0) log.info({ schema: config.DB_SCHEMA, applied }, "db migrations applied");

    const registry = new Registry();
    const metrics = createMetrics(registry);
    const objects = new ObjectStore(redis, config.REDIS_PREFIX, {
      waitReplicas: config.REDIS_WAIT_REPLICAS,
      waitTimeoutMs: config.REDIS_WAIT_MS,
      onWaitShort: () => metrics.redisWaitShort.inc(),
    });
    const events = new EventRecorder((kind, data) => member.appendEvent(kind, data), log, {
      observe: (appended, lost) => {
        metrics.events.inc({ result: "appended" }, appended);
        if (lost > 0) metrics.events.inc({ result: "lost" }, lost);
      },
    });
    closers.push(() => events.flush());
    const writer = new BatchWriter(
      pool,
      config.DB_SCHEMA,
      { windowMs: config.DB_BATCH_MS, maxRows: config.DB_BATCH_MAX_ROWS },
      (rows, seconds) => {
        metrics.dbBatchRows.observe(rows);
        metrics.dbBatchSeconds.observe(seconds);
      },
      log,
    );
    const live = new LiveObjects({
      nc,
      objects,
      model,
      subjects,
      ids: { next: () => member.nextDoId() },
      events,
      metrics,
      log,
      persist: async (rows) => {
        await writer.write(rows);
      },
    });
    const stored = new StoredObjects({
      db: new DbStore(pool, config.DB_SCHEMA),
      writer,
      model,
      ids: { next: () => member.nextDoId() },
      events,
      live,
      objects,
    });

    const inflight = new Set<Promise<unknown>>();
    const senders = new Senders((channels) => member.owners(channels));
    const context = { log, metrics, inflight };
    const subscriptions = [
      ...serveAll(
        nc,
        subjects,
        "ss",
        messages.STATE_SERVER_OPS,
        stateServerHandlers(live, objects, senders, { nc, subjects, live, model }),
        context,
      ),
      ...serveAll(nc, subjects, "db", messages.DB_OPS, dbHandlers(stored, senders), context),
    ];
    await nc.flush();

    const ops: OpsServer = await startOpsServer({
      service: SERVICE,
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      metrics: registry,
      checks: {
        nats: () => !nc.isClosed(),
        redis: async () => (await redis.ping()) === "PONG",
        postgres: async () => (await pool.query("SELECT 1")).rowCount === 1,
        cluster: () => member.alive,
      },
    });
    closers.push(() => ops.close());
    log.info(
      {
        port: ops.port,
        subjectRoot: config.SUBJECT_ROOT,
        channel: member.channel,
        schema: config.DB_SCHEMA,
        classes: model.file.classes.length,
      },
      "state server ready",
    );

    let stopping: Promise<void> | undefined;
    const stop = () => {
      stopping ??= (async () => {
        log.info({ inflight: inflight.size }, "state server stopping");
        await Promise.all(subscriptions.map((subscription) => subscription.drain().catch(() => undefined)));
        while (inflight.size > 0) await Promise.allSettled([...inflight]);
        await writer.close();
        // closes the ops server, appends the last events, closes Postgres and Redis, says goodbye to
        // the message director, then drains NATS (so the last replies go out)
        await closers.closeAll();
        log.info("state server stopped");
      })();
      return stopping;
    };
    return {
      instanceId,
      port: ops.port,
      subjects,
      member,
      flushEvents: () => events.flush(),
      metrics: registry,
      model,
      log,
      stop,
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

interface ServeContext {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly inflight: Set<Promise<unknown>>;
}

type Operations = Readonly<Record<string, messages.Operation>>;
/** A handler for each operation, built from the catalogue: its request in, its reply (less `ok`) out. */
type Handlers<O extends Operations> = {
  [Op in keyof O]: (body: z.infer<O[Op]["request"]>, from: Identity) => Promise<messages.ResultOf<O[Op]>>;
};

/** Serves every operation of a service in its queue group, counting requests and errors. */
function serveAll<O extends Operations>(
  nc: NatsConnection,
  subjects: Subjects,
  service: ServiceName,
  operations: O,
  handlers: Handlers<O>,
  context: ServeContext,
): Subscription[] {
  const { log, metrics, inflight } = context;
  return Object.keys(operations).map((op) => {
    const run = handlers[op as keyof O];
    const handler = (body: unknown, from: Identity) => {
      metrics.requests.inc({ op: `${service}.${op}` });
      const work = run(body as never, from).catch((error: unknown) => {
        const code = error instanceof messages.RequestError ? error.code : "internal";
        metrics.errors.inc({ code });
        if (code !== "internal")
          log.debug({ op: `${service}.${op}`, code, reason: (error as Error).message }, "refused");
        throw error;
      });
      inflight.add(work);
      work.then(
        () => inflight.delete(work),
        () => inflight.delete(work),
      );
      return work;
    };
    return serve(nc, subjects.served(service, op), operations[op]!.request, handler, {
      queue: subjects.queue(service),
      log,
      frame: operations[op]!.frame,
    });
  });
}

/** What the sender of updates checked already (see Origin). */
function originOf(from: Identity): Origin {
  switch (from.role) {
    case "client-agent":
      return "clients";
    case "zone-ai":
      return "game";
    case "link":
      return "link";
    default:
      return "other";
  }
}

/** The request with the channel it acts for (`sender`): its sender's own, or one the sender holds. */
async function actingFor<B extends { as?: number | undefined }>(
  senders: Senders,
  from: Identity,
  body: B,
): Promise<B & { sender: number }> {
  return { ...body, sender: await senders.actingFor(from, body.as) };
}

function stateServerHandlers(
  live: LiveObjects,
  objects: ObjectStore,
  senders: Senders,
  requests: RequestDeps,
): Handlers<typeof messages.STATE_SERVER_OPS> {
  const as = <B extends { as?: number | undefined }>(from: Identity, body: B) =>
    actingFor(senders, from, body);
  return {
    create: async (body, from) => live.create(await as(from, body)),
    delete: async (body, from) => {
      const request = await as(from, body);
      if (from.role === "client-agent") await senders.checkDelete(from, await live.ownerOf(body.doId));
      return live.delete(request);
    },
    get: (body) => live.get(body),
    set: async (body, from) => live.set(await as(from, body)),
    "set-location": async (body, from) => live.setLocation(await as(from, body)),
    "set-ai": async (body, from) => live.setAi(await as(from, body)),
    "set-owner": async (body, from) => live.setOwner(await as(from, body)),
    "delete-ai-objects": async (body, from) => live.deleteAiObjects(await as(from, body)),
    "query-zones": (body) => live.queryZones(body),
    "count-zones": (body) => live.countZones(body),
    "active-zones": (body) => live.activeZones(body),
    "delete-zone": async (body, from) => live.deleteZone(await as(from, body)),
    "delete-children": async (body, from) => live.deleteChildren(await as(from, body)),
    updates: async (body, from) => {
      const channels = body.groups.map(([channel]) => channel);
      // a client agent sends only its clients' updates, each group for the client that sent it
      if (from.role === "client-agent") senders.checkClients(from, channels);
      await senders.check(from, channels);
      // a numbered batch sent again after its answer was lost is answered, not applied twice
      if (body.resent && body.seq !== undefined && (await objects.lastBatch(from.channel)) >= body.seq)
        return { applied: 0, refused: [], duplicate: true as const };
      const result = await live.updates(body, from.channel, originOf(from));
      if (body.seq !== undefined) await objects.batchApplied(from.channel, body.seq);
      return result;
    },
    request: async (body, from) => {
      const call = await as(from, body);
      // a client agent calls only for its clients, never as itself
      if (from.role === "client-agent") senders.checkClients(from, [call.sender]);
      await forwardRequest(requests, call);
    },
  };
}

function dbHandlers(stored: StoredObjects, senders: Senders): Handlers<typeof messages.DB_OPS> {
  const as = <B extends { as?: number | undefined }>(from: Identity, body: B) =>
    actingFor(senders, from, body);
  return {
    create: (body) => stored.create(body),
    get: (body) => stored.get(body),
    set: async (body, from) => stored.set(await as(from, body)),
    "set-if-equals": async (body, from) => stored.setIfEquals(await as(from, body)),
    "set-if-empty": async (body, from) => stored.setIfEmpty(await as(from, body)),
    "delete-fields": async (body, from) => stored.deleteFields(await as(from, body)),
    delete: async (body, from) => stored.delete(await as(from, body)),
    activate: async (body, from) => stored.activate(await as(from, body)),
  };
}

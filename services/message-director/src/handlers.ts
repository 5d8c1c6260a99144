/**
 * The director's request handlers: join, heartbeat, goodbye, post-removes, id allocation and the list
 * of live members of a role. Every replica serves them (as one queue group): the state they touch lives
 * in Redis and Postgres and every change is atomic there, so it does not matter which replica answers. Malformed requests are answered
 * with an error naming the member that is wrong (see `serve`), and the director goes on serving.
 */
import { formatHash, messages, subjects } from "@overworld/protocol";
import {
  appendEvent,
  type DirectorOperation,
  type IdPool,
  type Logger,
  type NatsConnection,
  type Subscription,
  serve,
} from "@overworld/service";
import type { DirectorConfig } from "./config.ts";
import type { IdAllocator, IdKind } from "./ids.ts";
import type { DirectorMetrics } from "./metrics.ts";
import type { ParticipantInfo, Registry } from "./registry.ts";

export interface HandlerContext {
  nc: NatsConnection;
  config: DirectorConfig;
  registry: Registry;
  ids: IdAllocator;
  /** Channels for joining participants, taken from `ids` in blocks. */
  channels: IdPool;
  metrics: DirectorMetrics;
  log: Logger;
  /** Runs a request's work, so that stopping can wait for it. */
  track<T>(work: () => Promise<T>): Promise<T>;
}

export function serveDirector(context: HandlerContext): Subscription[] {
  const { nc, config, log } = context;
  const cluster = subjects(config.root);
  const options = { queue: cluster.queue("md"), log };
  const subject = (operation: DirectorOperation) => cluster.service("md", operation);
  const { track } = context;
  return [
    serve(nc, subject("join"), messages.joinRequest, (body) => track(() => join(context, body)), options),
    serve(
      nc,
      subject("heartbeat"),
      messages.heartbeat,
      (body) => track(() => heartbeat(context, body.sender)),
      options,
    ),
    serve(
      nc,
      subject("goodbye"),
      messages.goodbye,
      (body) => track(() => goodbye(context, body.sender)),
      options,
    ),
    serve(
      nc,
      subject("addPostRemoves"),
      messages.addPostRemoves,
      (body) => track(() => addPostRemoves(context, body.sender, body.messages)),
      options,
    ),
    serve(
      nc,
      subject("clearPostRemoves"),
      messages.clearPostRemoves,
      (body) => track(() => clearPostRemoves(context, body.sender)),
      options,
    ),
    serve(
      nc,
      subject("allocateIds"),
      messages.allocateIds,
      (body) => track(() => allocateIds(context, body.sender, body.kind, body.count)),
      options,
    ),
    serve(
      nc,
      subject("members"),
      messages.members,
      (body) => track(() => members(context, body.sender, body.role)),
      options,
    ),
  ];
}

async function join(
  context: HandlerContext,
  body: messages.JoinRequest,
): Promise<Omit<messages.JoinReply, "ok">> {
  const { config, registry, metrics, log } = context;
  const who = `${body.role} ${body.instanceId}`;
  if (body.version !== config.version) {
    metrics.refusals.inc({ reason: "version" });
    log.warn({ role: body.role, instance: body.instanceId, version: body.version }, "join refused: version");
    throw new messages.RequestError(
      "mismatch",
      `${who}: version ${body.version} does not match the cluster's ${config.version}: run the cluster's version`,
    );
  }
  if (body.schemaHash !== config.schemaHash) {
    metrics.refusals.inc({ reason: "schema" });
    log.warn(
      { role: body.role, instance: body.instanceId, schemaHash: formatHash(body.schemaHash) },
      "join refused: schema hash",
    );
    throw new messages.RequestError(
      "mismatch",
      `${who}: schema hash ${formatHash(body.schemaHash)} does not match the cluster's ${formatHash(config.schemaHash)}: rebuild it against the cluster's .dc files`,
    );
  }
  const channel = await context.channels.next();
  const info: ParticipantInfo = {
    role: body.role,
    instanceId: body.instanceId,
    version: body.version,
    schemaHash: body.schemaHash,
    joinedAt: Date.now(),
    director: config.instanceId,
  };
  const superseded = await registry.join(channel, info, config.deadAfterMs);
  metrics.joins.inc({ role: body.role });
  log.info({ channel, role: body.role, instance: body.instanceId, superseded }, "participant joined");
  await logEvent(context, "participant.joined", { channel, role: body.role, instanceId: body.instanceId });
  return { channel, heartbeatMs: config.heartbeatMs, deadAfterMs: config.deadAfterMs };
}

async function heartbeat(context: HandlerContext, channel: number): Promise<void> {
  if (!(await context.registry.heartbeat(channel, context.config.deadAfterMs))) {
    throw notLive(channel);
  }
}

async function goodbye(context: HandlerContext, channel: number): Promise<void> {
  const info = await context.registry.goodbye(channel);
  if (!info) throw notLive(channel);
  context.metrics.goodbyes.inc();
  context.log.info({ channel, role: info.role, instance: info.instanceId }, "participant left");
  await logEvent(context, "participant.left", { channel, role: info.role, instanceId: info.instanceId });
}

async function addPostRemoves(
  context: HandlerContext,
  channel: number,
  list: messages.PostRemove[],
): Promise<{ count: number }> {
  const limit = context.config.postRemoveLimit;
  const result = await context.registry.addPostRemoves(channel, list, limit);
  if (result === "unknown") throw notLive(channel);
  if (result === "over-limit") {
    throw new messages.RequestError(
      "bad_value",
      `participant ${channel} would have more than ${limit} post-removes (POST_REMOVE_LIMIT); none of these ${list.length} was added`,
    );
  }
  return { count: result };
}

async function clearPostRemoves(context: HandlerContext, channel: number): Promise<void> {
  if (!(await context.registry.clearPostRemoves(channel))) throw notLive(channel);
}

async function allocateIds(
  context: HandlerContext,
  channel: number,
  kind: IdKind,
  count: number,
): Promise<{ first: number; count: number }> {
  if (!(await context.registry.isParticipant(channel))) throw notLive(channel);
  const range = await context.ids.allocate(kind, count);
  context.metrics.idsAllocated.inc({ kind }, count);
  return range;
}

async function members(
  context: HandlerContext,
  channel: number,
  role: messages.Member["role"],
): Promise<{ members: messages.Member[] }> {
  if (!(await context.registry.isParticipant(channel))) throw notLive(channel);
  const live = await context.registry.live(role);
  return {
    members: live.map(({ channel, info }) => ({
      channel,
      role,
      instanceId: info.instanceId,
      joinedAt: info.joinedAt,
    })),
  };
}

function notLive(channel: number): messages.RequestError {
  return new messages.RequestError(
    "not_found",
    `channel ${channel} is not a live participant: it never joined, it left, or it was declared dead; join again`,
  );
}

/** Appends to the event log; a log that cannot be written is reported, never a reason to fail the request. */
async function logEvent(context: HandlerContext, kind: string, data: Record<string, unknown>): Promise<void> {
  try {
    await appendEvent(context.nc, kind, data, {
      root: context.config.root,
      source: `message-director/${context.config.instanceId}`,
    });
  } catch (error) {
    context.log.error({ err: error, kind }, "cannot append to the event log");
  }
}

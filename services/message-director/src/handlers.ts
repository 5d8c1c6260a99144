/**
 * The director's request handlers: join, heartbeat, goodbye, post-removes, id allocation, the live
 * members of a role, and whose a channel is. Every replica serves them (as one queue group): the state
 * they touch lives in Redis and Postgres and every change is atomic there, so it does not matter which
 * replica answers. Malformed requests are answered with an error naming the member that is wrong (see
 * `serve`), and the director goes on serving.
 *
 * Who asks is read from the subject (`<root>.md.<op>.<role>.<channel>`): on a cluster with NATS
 * credentials only that participant can publish there. A join (`<root>.md.join.<role>`) proves the key it
 * names by its signature; the director answers it with the participant's own credentials.
 */
import { createHash } from "node:crypto";
import {
  formatHash,
  type Identity,
  mayPublish,
  messages,
  permissionsFor,
  ROLES,
  type Role,
  streamsOf,
  subjects,
} from "@overworld/protocol";
import {
  appendEvent,
  type IdPool,
  type Logger,
  mint,
  type NatsConnection,
  type Subscription,
  serve,
  serveRaw,
  verifySignature,
} from "@overworld/service";
import type { z } from "zod";
import type { DirectorConfig } from "./config.ts";
import type { IdAllocator, IdKind } from "./ids.ts";
import type { DirectorMetrics } from "./metrics.ts";
import type { ParticipantInfo, Registry } from "./registry.ts";

/** How far a join's `at` may be from the director's clock: a proof is good for this long. */
export const JOIN_PROOF_WINDOW_MS = 60_000;

export interface HandlerContext {
  nc: NatsConnection;
  config: DirectorConfig;
  registry: Registry;
  ids: IdAllocator;
  /** Channels for joining participants, taken from `ids` in blocks. */
  channels: IdPool;
  metrics: DirectorMetrics;
  /** This replica, as its events say. */
  self: Identity;
  log: Logger;
  /** Runs a request's work, so that stopping can wait for it. */
  track<T>(work: () => Promise<T>): Promise<T>;
}

export function serveDirector(context: HandlerContext): Subscription[] {
  const { nc, config, log, track } = context;
  const cluster = subjects(config.root);
  const options = { queue: cluster.queue("md"), log };
  type Op<S extends messages.DirectorOp> = (typeof messages.DIRECTOR_OPS)[S];
  const on = <S extends messages.DirectorOp>(
    operation: S,
    handler: (body: z.infer<Op<S>["request"]>, from: Identity) => Promise<messages.ResultOf<Op<S>>>,
  ) =>
    serve(
      nc,
      cluster.served("md", operation),
      messages.DIRECTOR_OPS[operation].request,
      (body, from) => track(() => handler(body as z.infer<Op<S>["request"]>, from)),
      options,
    );
  return [
    serveRaw(
      nc,
      cluster.join("*"),
      messages.joinRequest,
      (body, msg) => track(() => join(context, body, roleOfJoin(msg.subject))),
      options,
    ),
    on("heartbeat", (_body, from) => heartbeat(context, from.channel)),
    on("goodbye", (_body, from) => goodbye(context, from.channel)),
    on("addPostRemoves", (body, from) => addPostRemoves(context, from, body.messages)),
    on("clearPostRemoves", (_body, from) => clearPostRemoves(context, from.channel)),
    on("allocateIds", (body, from) => allocateIds(context, from.channel, body.kind, body.count)),
    on("members", (body, from) => members(context, from.channel, body.role)),
    on("owners", (body) => owners(context, body.channels)),
  ];
}

const ROLE_SET: ReadonlySet<string> = new Set(ROLES);

function roleOfJoin(subject: string): Role {
  const role = subject.slice(subject.lastIndexOf(".") + 1);
  if (!ROLE_SET.has(role) || role === "message-director") {
    throw new messages.RequestError("malformed", `${subject}: ${role} is not a role that joins`);
  }
  return role as Role;
}

async function join(
  context: HandlerContext,
  body: messages.JoinRequest,
  role: Role,
): Promise<Omit<messages.JoinReply, "ok">> {
  const { config, registry, metrics, log } = context;
  const who = `${role} ${body.instanceId}`;
  const refuse = (reason: string, code: messages.ErrorCode, message: string): never => {
    metrics.refusals.inc({ reason });
    log.warn({ role, instance: body.instanceId, key: body.key, reason }, "join refused");
    throw new messages.RequestError(code, `${who}: ${message}`);
  };
  const { signature, ...unsigned } = body;
  if (!verifySignature(body.key, messages.joinProof(role, unsigned), signature)) {
    refuse("signature", "forbidden", "the join's signature does not match its key");
  }
  if (Math.abs(Date.now() - body.at) > JOIN_PROOF_WINDOW_MS) {
    refuse(
      "stale",
      "forbidden",
      `the join was signed at ${new Date(body.at).toISOString()}, more than ${JOIN_PROOF_WINDOW_MS / 1000} s from the director's clock: check the hosts' clocks (NTP)`,
    );
  }
  if (body.version !== config.version) {
    refuse(
      "version",
      "mismatch",
      `version ${body.version} does not match the cluster's ${config.version}: run the cluster's version`,
    );
  }
  if (body.schemaHash !== config.schemaHash) {
    refuse(
      "schema",
      "mismatch",
      `schema hash ${formatHash(body.schemaHash)} does not match the cluster's ${formatHash(config.schemaHash)}: rebuild it against the cluster's .dc files`,
    );
  }
  const channel = await context.channels.next();
  const info: ParticipantInfo = {
    role,
    instanceId: body.instanceId,
    key: body.key,
    version: body.version,
    schemaHash: body.schemaHash,
    joinedAt: Date.now(),
    director: config.instanceId,
  };
  const proof = { id: createHash("sha256").update(signature).digest("hex"), ttlMs: 2 * JOIN_PROOF_WINDOW_MS };
  const outcome = await registry.join(channel, info, config.deadAfterMs, proof);
  if (outcome.status === "replayed") refuse("replayed", "forbidden", "this join was made before (a replay)");
  if (outcome.status === "taken") {
    refuse(
      "taken",
      "exists",
      `instance ${body.instanceId} is live as channel ${outcome.by} under another key; a restarted process waits until it is declared dead (at most ${config.deadAfterMs} ms), and two processes must not share an INSTANCE_ID`,
    );
  }
  const superseded = outcome.status === "joined" ? outcome.superseded : undefined;
  metrics.joins.inc({ role });
  log.info({ channel, role, instance: body.instanceId, key: body.key, superseded }, "participant joined");
  await logEvent(context, "participant.joined", { channel, role, instanceId: body.instanceId });
  const jwt = await credentialsFor(context, role, channel, body);
  return { channel, heartbeatMs: config.heartbeatMs, deadAfterMs: config.deadAfterMs, jwt };
}

/** The participant's own NATS credentials, minted with the account's signing key the director holds. */
function credentialsFor(
  context: HandlerContext,
  role: Role,
  channel: number,
  body: messages.JoinRequest,
): Promise<string> {
  const { config } = context;
  if (config.signing === undefined) throw new Error("the director holds no signing key");
  const permissions = permissionsFor(role, {
    root: config.root,
    streams: streamsOf(config.root, config.eventStream),
    key: body.key,
    channel,
  });
  return mint(
    config.signing.key,
    config.signing.account,
    body.key,
    `${role}/${body.instanceId}#${channel}`,
    permissions,
  );
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

/** Each post-remove must be a message its participant may publish itself: the director publishes it for them. */
async function addPostRemoves(
  context: HandlerContext,
  from: Identity,
  list: messages.PostRemove[],
): Promise<{ count: number }> {
  const { config } = context;
  const allowed = permissionsFor(from.role, {
    root: config.root,
    streams: streamsOf(config.root, config.eventStream),
    key: "",
    channel: from.channel,
  });
  for (const message of list) {
    if (!mayPublish(allowed, message.subject)) {
      throw new messages.RequestError(
        "forbidden",
        `${from.role} ${from.channel} may not publish on ${message.subject}, so it may not leave it as a post-remove; none of these ${list.length} was added`,
      );
    }
  }
  const limit = config.postRemoveLimit;
  const result = await context.registry.addPostRemoves(from.channel, list, limit);
  if (result === "unknown") throw notLive(from.channel);
  if (result === "over-limit") {
    throw new messages.RequestError(
      "bad_value",
      `participant ${from.channel} would have more than ${limit} post-removes (POST_REMOVE_LIMIT); none of these ${list.length} was added`,
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
  const range = await context.ids.allocate(kind, count, kind === "channel" ? channel : undefined);
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

async function owners(context: HandlerContext, channels: number[]): Promise<{ owners: number[] }> {
  return { owners: await context.ids.owners(channels) };
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
    await appendEvent(context.nc, kind, data, { root: context.config.root, from: context.self });
  } catch (error) {
    context.log.error({ err: error, kind }, "cannot append to the event log");
  }
}

/**
 * The participant side of the message director's protocol, and the cluster event log.
 *
 * A participant (a state server, a client agent, a zone-AI replica, a tool) joins the cluster with its
 * role, instance id, version and schema hash, and gets its own channel. Its identity is an Ed25519 key
 * pair (a NATS user nkey) made at start: the join is signed with it, the director refuses a join for a
 * live instance under another key, and answers with the instance's own credentials (a user JWT for that
 * key) that let it publish only as its role and channel. The join itself goes over a short connection
 * made with the role's join credentials (`NATS_CREDS`).
 *
 * From then on it heartbeats; if it goes silent for longer than the director's deadline it is declared
 * dead, and the messages it registered as *post-removes* are published for it (e.g. "delete the objects
 * of this client agent"). Saying goodbye drops them. A participant declared dead while it still runs (a
 * long pause, a partition) joins again by itself, under a new channel, and says so in its log; its
 * services re-register what they need (`onRejoin`). It also takes doIds and channels from the director
 * in ranges, cached here and refilled when they run low.
 *
 * Every request names its sender in its subject: `subjects(root).service(service, op, identity)`.
 */

import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { createUser, type KeyPair } from "@nats-io/nkeys";
import {
  EVENT_STREAM,
  encodeEnvelope,
  type Identity,
  inboxOf,
  joinInboxOf,
  messages,
  type Role,
  type Subjects,
  subjects,
} from "@overworld/protocol";
import { connectBus, gather, type NatsConnection, parseMessage, reconnectBus, request } from "./bus.ts";
import { ConfigError } from "./config.ts";

type OperatedService = messages.OperatedService;
type OperationName<S extends OperatedService> = messages.OperationName<S>;
type RequestOf<S extends OperatedService, K extends OperationName<S>> = messages.RequestOf<S, K>;
type ReplyOf<S extends OperatedService, K extends OperationName<S>> = messages.ReplyOf<S, K>;

import type { Logger } from "./log.ts";
import { untilReachable } from "./retry.ts";
import { ensureStream, streamReplicas } from "./streams.ts";

// ---- id ranges -------------------------------------------------------------------------------------

export interface IdRange {
  first: number;
  count: number;
}

/**
 * A cache of ids taken from a source in ranges: `next()` hands them out one at a time and asks the
 * source for another range when the cache runs out (or, in the background, when it runs low). Ids of a
 * range that is never used up are simply skipped: the source never hands them out again.
 */
export class IdPool {
  private ranges: IdRange[] = [];
  private refilling: Promise<void> | undefined;

  constructor(
    private readonly take: (count: number) => Promise<IdRange>,
    private readonly blockSize: number,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1) {
      throw new RangeError(`IdPool block size must be a positive integer, got ${blockSize}`);
    }
  }

  /** How many ids are cached. */
  get available(): number {
    return this.ranges.reduce((sum, range) => sum + range.count, 0);
  }

  async next(): Promise<number> {
    while (this.available === 0) await this.refill();
    const range = this.ranges[0]!;
    const id = range.first;
    range.first += 1;
    range.count -= 1;
    if (range.count === 0) this.ranges.shift();
    if (this.available < this.blockSize / 4) this.refill().catch(() => {}); // next() will retry
    return id;
  }

  private refill(): Promise<void> {
    this.refilling ??= this.take(this.blockSize)
      .then((range) => {
        this.ranges.push({ ...range });
      })
      .finally(() => {
        this.refilling = undefined;
      });
    return this.refilling;
  }
}

// ---- joining -----------------------------------------------------------------------------------------

export type IdKind = (typeof messages.ID_KINDS)[number];

export interface JoinOptions {
  /** Where NATS is (one URL or several, comma-separated). */
  natsUrl: string;
  /** The role's join credentials (the content of its `.creds` file, `NATS_CREDS`); required. */
  credentials: string | undefined;
  role: Role;
  instanceId: string;
  version: string;
  schemaHash: number;
  /** Subject root of the cluster (default `ow`). */
  root?: string;
  /** How long to wait for the director's answer to a request (default 2000 ms). */
  timeoutMs?: number;
  /** How many doIds `nextDoId()` takes from the director at a time (default 256). */
  doIdBlock?: number;
  /** How many channels `nextChannel()` takes from the director at a time (default 64). */
  channelBlock?: number;
  /** Called after the participant joined again under a new channel (it had been declared dead). */
  onRejoin?: (participant: Participant) => void;
  log?: Logger;
}

/** A message to publish on a participant's death: a subject and the bytes to send there. */
export interface PostRemoveMessage {
  subject: string;
  payload: Uint8Array;
}

export interface Participant {
  /** The participant's NATS connection, with its own credentials. */
  readonly nc: NatsConnection;
  readonly subjects: Subjects;
  /** The participant's own channel, allocated by the director and never reused (a new one after a rejoin). */
  readonly channel: number;
  /** Its role and channel: what its subjects say. */
  readonly identity: Identity;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  /** True while the director counts it among the living (false while it joins again, and after `leave()`). */
  readonly alive: boolean;
  /** The subject of a message from this participant to a service's operation. */
  subject<S extends OperatedService>(service: S, operation: OperationName<S>): string;
  /**
   * Asks a service's operation and resolves with its reply, both typed by the message catalogue; a
   * refusal rejects with its RequestError (see `request`).
   */
  request<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
    timeoutMs?: number,
  ): Promise<ReplyOf<S, K>>;
  /**
   * Asks an operation that every server of its role answers (`ca.*`: each client agent for its own
   * clients) and gathers the replies: until `expected` came or `timeoutMs` passed (see `gather`).
   */
  gather<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
    expected: number,
    timeoutMs?: number,
  ): Promise<ReplyOf<S, K>[]>;
  /** Publishes a message to a service's operation, expecting no answer. */
  publish<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
  ): void;
  /**
   * A message to an operation, typed by the catalogue and encoded as the operation travels, to publish later
   * (a post-remove): its subject and payload.
   */
  message<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
  ): PostRemoveMessage;
  /** Registers a message to publish if this participant dies without saying goodbye. */
  addPostRemove(subject: string, payload: Uint8Array): Promise<void>;
  /** Registers several, in order (they are published in the order they were registered). */
  addPostRemoves(list: readonly PostRemoveMessage[]): Promise<void>;
  /** Drops every post-remove registered so far. */
  clearPostRemoves(): Promise<void>;
  /** Takes `count` consecutive ids of a kind straight from the director. */
  allocateIds(kind: IdKind, count: number): Promise<IdRange>;
  /** One doId from the cached range (refilled from the director as needed). */
  nextDoId(): Promise<number>;
  /** One channel (e.g. for a client session) from the cached range; the director records it as ours. */
  nextChannel(): Promise<number>;
  /**
   * The live participants of a role (this one included when it has that role), by channel: those
   * heartbeating within their deadline. E.g. the zone-AI replicas, to spread the zones over them.
   */
  members(role: Role): Promise<messages.Member[]>;
  /** Which participant each channel was given to (0 for none): see `messages.owners`. */
  owners(channels: readonly number[]): Promise<number[]>;
  /** Appends an event to the cluster event log, under this participant's identity. */
  appendEvent(kind: string, data: unknown): Promise<number>;
  /** Says goodbye (the director forgets it and drops its post-removes) and closes its connection. */
  leave(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_DOID_BLOCK = 256;
const DEFAULT_CHANNEL_BLOCK = 64;
/** How long to wait before trying again to join after being declared dead, at first and at most. */
const REJOIN_FIRST_DELAY_MS = 100;
const REJOIN_MAX_DELAY_MS = 2000;

/**
 * The director refused this participant: its version or schema hash is not the cluster's, or its
 * join credentials are not those of its role. A configuration error: the process must be given the
 * cluster's version, .dc files and credentials.
 */
export class JoinRefused extends ConfigError {
  constructor(
    /** Why, as the director said (`mismatch`: version or schema hash; `forbidden`: the join's proof). */
    readonly code: messages.ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/**
 * Joins the cluster, waiting for NATS and a director to answer (within CONNECT_TIMEOUT_MS), and while an
 * earlier registration of the same instance under another key is still live. Throws `JoinRefused` naming
 * both values on a version or schema mismatch.
 */
export async function joinCluster(options: JoinOptions): Promise<Participant> {
  const member = new Member(options);
  await member.start();
  return member;
}

interface Registration {
  readonly channel: number;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  readonly doIds: IdPool;
  readonly channels: IdPool;
}

class Member implements Participant {
  readonly subjects: Subjects;
  private readonly key: KeyPair = createUser();
  private connection: NatsConnection | undefined;
  /** The instance's own credentials, once the director gave them. */
  private jwt: string | undefined;
  private registration: Registration | undefined;
  private state: "joining" | "alive" | "rejoining" | "leaving" | "left" = "joining";
  private rejoining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeatInFlight = false;
  private readonly timeoutMs: number;

  constructor(private readonly options: JoinOptions) {
    this.subjects = subjects(options.root);
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  get nc(): NatsConnection {
    if (this.connection === undefined) throw new Error("the participant has not joined yet");
    return this.connection;
  }

  get channel(): number {
    return this.registration?.channel ?? 0;
  }

  get identity(): Identity {
    return { role: this.options.role, channel: this.channel };
  }

  get heartbeatMs(): number {
    return this.registration?.heartbeatMs ?? 0;
  }

  get deadAfterMs(): number {
    return this.registration?.deadAfterMs ?? 0;
  }

  get alive(): boolean {
    return this.state === "alive";
  }

  async start(): Promise<void> {
    const { options } = this;
    const what = `the message director (${this.subjects.join(options.role)})`;
    const outcome = await untilReachable(what, async () => {
      try {
        return { joined: await this.joinOnce(true) };
      } catch (error) {
        if (error instanceof JoinRefused) return { refused: error };
        throw error;
      }
    });
    if ("refused" in outcome) throw outcome.refused;
    const { joined } = outcome;
    this.jwt = joined.jwt;
    this.connection = await connectBus(options.natsUrl, `${options.role}:${options.instanceId}`, {
      jwt: () => this.jwt ?? "",
      seed: this.key.getSeed(),
      inboxPrefix: inboxOf(this.key.getPublicKey()),
    });
    this.registered(joined);
  }

  /**
   * One join request. The first goes over a connection made with the role's join credentials; later
   * ones (after being declared dead) over the participant's own connection. Retries (by throwing an
   * `unavailable`) while no director answers or an earlier registration under another key is live.
   */
  private async joinOnce(first: boolean): Promise<messages.JoinReply> {
    const { role, instanceId, version, schemaHash } = this.options;
    const unsigned = {
      instanceId,
      version,
      schemaHash,
      key: this.key.getPublicKey(),
      at: Date.now(),
    };
    const signature = this.key.sign(messages.joinProof(role, unsigned));
    // the first over a connection with the role's join credentials; a rejoin over our own
    const temporary = first ? await this.joinConnection() : undefined;
    const via = temporary ?? this.nc;
    try {
      const reply = await request(via, this.subjects.join(role), { ...unsigned, signature }, this.timeoutMs);
      const joined = messages.joinReply.safeParse(reply);
      if (!joined.success) {
        throw new JoinRefused("internal", `the director's join reply is not one: ${joined.error.message}`);
      }
      return joined.data;
    } catch (error) {
      if (!(error instanceof messages.RequestError)) throw error;
      if (error.code === "unavailable") throw error;
      if (error.code === "exists") {
        // an earlier registration of this instance (a process that died) has not been declared dead yet
        throw new messages.RequestError("unavailable", error.message);
      }
      throw new JoinRefused(error.code, `the message director refused it: ${error.message}`);
    } finally {
      await temporary?.close();
    }
  }

  /** A connection with the role's join credentials: enough to ask to join, nothing else. */
  private joinConnection(): Promise<NatsConnection> {
    const { role, instanceId, natsUrl, credentials } = this.options;
    if (credentials === undefined) {
      throw new JoinRefused(
        "malformed",
        `NATS_CREDS: required: the path of the ${role} role's join credentials (${role}.creds of pnpm overworld nats init)`,
      );
    }
    return connectBus(natsUrl, `${role}:${instanceId} (joining)`, {
      credentials,
      inboxPrefix: joinInboxOf(role),
    });
  }

  private registered(joined: messages.JoinReply): void {
    const registration: Registration = {
      channel: joined.channel,
      heartbeatMs: joined.heartbeatMs,
      deadAfterMs: joined.deadAfterMs,
      doIds: new IdPool(
        (count) => this.allocateIds("doId", count),
        this.options.doIdBlock ?? DEFAULT_DOID_BLOCK,
      ),
      channels: new IdPool(
        (count) => this.allocateIds("channel", count),
        this.options.channelBlock ?? DEFAULT_CHANNEL_BLOCK,
      ),
    };
    this.registration = registration;
    this.state = "alive";
    clearInterval(this.timer);
    this.timer = setInterval(() => this.heartbeat(), registration.heartbeatMs);
    this.timer.unref();
    this.options.log?.info(
      { channel: registration.channel, role: this.options.role, key: this.key.getPublicKey() },
      "joined the cluster",
    );
  }

  subject<S extends OperatedService>(service: S, operation: OperationName<S>): string {
    return this.subjects.service(service, operation, this.identity);
  }

  async request<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
    timeoutMs?: number,
  ): Promise<ReplyOf<S, K>> {
    await this.current();
    return this.ask(service, operation, body, timeoutMs ?? this.timeoutMs);
  }

  /** The typed request without waiting for a rejoin (the heartbeat and the goodbye go while one is under way). */
  private ask<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
    timeoutMs: number,
  ): Promise<ReplyOf<S, K>> {
    return request(this.nc, this.subject(service, operation), body, timeoutMs, encoderOf(service, operation));
  }

  message<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
  ): PostRemoveMessage {
    return {
      subject: this.subject(service, operation),
      payload: encoderOf(service, operation)(body as never),
    };
  }

  async gather<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
    expected: number,
    timeoutMs?: number,
  ): Promise<ReplyOf<S, K>[]> {
    await this.current();
    return gather(this.nc, this.subject(service, operation), body, expected, timeoutMs ?? this.timeoutMs);
  }

  publish<S extends OperatedService, K extends OperationName<S>>(
    service: S,
    operation: K,
    body: RequestOf<S, K>,
  ): void {
    this.nc.publish(this.subject(service, operation), encoderOf(service, operation)(body as never));
  }

  async addPostRemove(subject: string, payload: Uint8Array): Promise<void> {
    await this.addPostRemoves([{ subject, payload }]);
  }

  async addPostRemoves(list: readonly PostRemoveMessage[]): Promise<void> {
    await this.director("addPostRemoves", { messages: [...list] });
  }

  async clearPostRemoves(): Promise<void> {
    await this.director("clearPostRemoves", {});
  }

  async allocateIds(kind: IdKind, count: number): Promise<IdRange> {
    const reply = await this.director("allocateIds", { kind, count });
    return { first: reply.first, count: reply.count };
  }

  async members(role: Role): Promise<messages.Member[]> {
    return (await this.director("members", { role })).members;
  }

  async owners(channels: readonly number[]): Promise<number[]> {
    return (await this.director("owners", { channels: [...channels] })).owners;
  }

  async nextDoId(): Promise<number> {
    return (await this.current()).doIds.next();
  }

  async nextChannel(): Promise<number> {
    return (await this.current()).channels.next();
  }

  async appendEvent(kind: string, data: unknown): Promise<number> {
    await this.current();
    return appendEvent(this.nc, kind, data, { root: this.subjects.root, from: this.identity });
  }

  /** Heartbeats go on until the director has acknowledged the goodbye; then the connection closes. */
  async leave(): Promise<void> {
    if (this.state === "leaving" || this.state === "left") return;
    this.state = "leaving"; // a rejoin under way gives up
    await this.rejoining?.catch(() => undefined);
    try {
      await this.ask("md", "goodbye", {}, this.timeoutMs);
      this.options.log?.info({ channel: this.channel }, "left the cluster");
    } catch (error) {
      this.options.log?.warn({ err: error, channel: this.channel }, "goodbye not acknowledged");
    } finally {
      clearInterval(this.timer);
      this.state = "left";
      await this.connection?.drain().catch(() => undefined);
    }
  }

  /** Asks the director; if it says this participant is dead, joins again and asks once more. */
  private async director<K extends messages.DirectorOp>(
    operation: K,
    body: RequestOf<"md", K>,
  ): Promise<ReplyOf<"md", K>> {
    await this.current();
    if (this.state !== "alive") {
      throw new messages.RequestError("not_found", `participant ${this.channel} has left; join again`);
    }
    try {
      return await this.request("md", operation, body);
    } catch (error) {
      if (error instanceof messages.RequestError && error.code === "not_found") {
        this.declaredDead(error.message);
        return this.request("md", operation, body);
      }
      throw error;
    }
  }

  /** The current registration, once a rejoin under way is done. */
  private async current(): Promise<Registration> {
    if (this.rejoining) await this.rejoining;
    const registration = this.registration;
    if (registration === undefined) {
      throw new messages.RequestError("unavailable", "the participant has not joined the cluster");
    }
    return registration;
  }

  /** One heartbeat at a time; a director that does not answer is tolerated, a refusal means death. */
  private heartbeat(): void {
    if (this.connection?.isClosed() !== false) return;
    if (this.heartbeatInFlight || this.state !== "alive") return;
    this.heartbeatInFlight = true;
    this.ask("md", "heartbeat", {}, this.heartbeatMs)
      .catch((error: unknown) => {
        if (error instanceof messages.RequestError && error.code === "not_found") {
          this.declaredDead(error.message);
          return;
        }
        this.options.log?.warn({ err: error, channel: this.channel }, "heartbeat not answered");
      })
      .finally(() => {
        this.heartbeatInFlight = false;
      });
  }

  /** Declared dead while running: join again (a new channel, new credentials), until it works or we leave. */
  private declaredDead(reason: string): void {
    if (this.state !== "alive") return;
    this.state = "rejoining";
    clearInterval(this.timer);
    this.options.log?.error(
      { channel: this.channel, reason },
      "declared dead by the message director; joining again",
    );
    this.rejoining = this.rejoin().finally(() => {
      this.rejoining = undefined;
    });
  }

  private async rejoin(): Promise<void> {
    let delay = REJOIN_FIRST_DELAY_MS;
    const before = this.channel;
    while (this.state === "rejoining") {
      try {
        const joined = await this.joinOnce(false);
        this.jwt = joined.jwt;
        await reconnectBus(this.nc); // the server holds us to the new channel's permissions from now on
        this.registered(joined);
        this.options.log?.warn(
          { channel: this.channel, previous: before },
          "joined the cluster again after being declared dead",
        );
        this.options.onRejoin?.(this);
        return;
      } catch (error) {
        this.options.log?.error({ err: error }, "joining the cluster again failed; retrying");
        await new Promise((wake) => setTimeout(wake, delay));
        delay = Math.min(REJOIN_MAX_DELAY_MS, delay * 2);
      }
    }
  }
}

// ---- the cluster event log ------------------------------------------------------------------------

export interface EventLogOptions {
  /** Subject root (default `ow`): events go to `<root>.events.<role>.<channel>.<kind>`. */
  root?: string;
  /** JetStream stream name (default `OW_EVENTS`). */
  stream?: string;
}

export interface LoggedEvent extends messages.ClusterEvent {
  /** The event's sequence number in the stream: events read back come in this order. */
  seq: number;
  /** Who appended it, as its subject says: `<role>#<channel>`. */
  source: string;
}

/** Event kinds are dot-separated lowercase words, each a subject token. */
const EVENT_KIND = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
const DAY_MS = 24 * 60 * 60 * 1000;
/** How long one fetch of `readEvents` waits for messages the stream said it holds. */
const READ_WAIT_MS = 2000;

/**
 * Creates the event-log stream if it is missing (subjects `<root>.events.>`, kept on disk, for
 * `maxAgeDays`, 30 by default, with `replicas`, by default as many as the NATS cluster has nodes up to
 * three: streams.ts). An existing stream is left as it is.
 */
export async function ensureEventStream(
  nc: NatsConnection,
  options: EventLogOptions & { maxAgeDays?: number; replicas?: number } = {},
): Promise<void> {
  await ensureStream(nc, {
    name: options.stream ?? EVENT_STREAM,
    subjects: [`${subjects(options.root).root}.events.>`],
    maxAgeMs: (options.maxAgeDays ?? 30) * DAY_MS,
    replicas: streamReplicas(nc, options.replicas),
  });
}

/**
 * Appends an event to the cluster event log and returns its sequence number. `msgId`, when given,
 * makes the append idempotent (JetStream drops a repeat within its duplicate window).
 */
export async function appendEvent(
  nc: NatsConnection,
  kind: string,
  data: unknown,
  options: { root?: string; from: Identity; msgId?: string },
): Promise<number> {
  if (!EVENT_KIND.test(kind)) {
    throw new RangeError(`event kind ${JSON.stringify(kind)} must be dot-separated lowercase words`);
  }
  const event: messages.ClusterEvent = { kind, at: Date.now(), data };
  const ack = await jetstream(nc).publish(
    subjects(options.root).event(options.from, kind),
    encodeEnvelope(event),
    options.msgId ? { msgID: options.msgId } : {},
  );
  return ack.seq;
}

/**
 * Reads events back in the order they were appended, from sequence `fromSeq` (default 1), at most
 * `limit` of them (default 1000). `kind` filters by kind and may end in `>` (e.g. `participant.>`).
 */
export async function readEvents(
  nc: NatsConnection,
  options: EventLogOptions & { fromSeq?: number; kind?: string; limit?: number } = {},
): Promise<LoggedEvent[]> {
  const stream = options.stream ?? EVENT_STREAM;
  const limit = options.limit ?? 1000;
  const consumer = await jetstream(nc).consumers.get(stream, {
    filter_subjects: subjects(options.root).events(options.kind ?? ">"),
    opt_start_seq: options.fromSeq ?? 1,
  });
  const events: LoggedEvent[] = [];
  // The server's pending count of a filtered consumer can exceed what it delivers; the stream's last
  // sequence number bounds the read as well, so a read never waits for messages that do not exist.
  const lastSeq = (await (await jetstreamManager(nc)).streams.info(stream)).state.last_seq;
  let remaining = Math.min((await consumer.info()).num_pending, limit);
  while (remaining > 0) {
    const batch = await consumer.fetch({ max_messages: remaining, expires: READ_WAIT_MS });
    let received = 0;
    let caughtUp = false;
    for await (const message of batch) {
      const event = parseMessage(messages.clusterEvent, message.data);
      const [, , role, channel] = message.subject.split(".");
      events.push({ ...event, seq: message.seq, source: `${role}#${channel}` });
      received += 1;
      remaining -= 1;
      caughtUp = message.seq >= lastSeq || message.info.pending === 0;
      if (remaining === 0 || caughtUp) batch.stop();
    }
    if (received === 0 || caughtUp) break; // nothing more arrived in time, or nothing more to read
  }
  return events;
}

/** How the typed client puts an operation's request on the wire: its binary frame if it has one, else an envelope. */
function encoderOf(service: OperatedService, operation: string): (body: never) => Uint8Array {
  const operations = messages.SERVICE_OPERATIONS[service] as Readonly<Record<string, messages.Operation>>;
  return operations[operation]!.frame?.encode ?? encodeEnvelope;
}

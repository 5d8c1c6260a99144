/**
 * The participant side of the message director's protocol, and the cluster event log.
 *
 * A participant (a state server, a client agent, a zone-AI replica, a tool) joins the cluster with its
 * role, instance id, version and schema hash, and gets its own channel. From then on it heartbeats; if it
 * goes silent for longer than the director's deadline it is declared dead, and the messages it registered
 * as *post-removes* are published for it (e.g. "delete the objects of this AI"). Saying goodbye drops them.
 * It also takes doIds and channels from the director in ranges, cached here and refilled when they run low.
 *
 * The director's subjects are `subjects(root).service("md", operation)`, i.e. `<root>.md.<operation>`
 * (root `ow` unless a test isolates itself with another one); replies are `{ ok: true, ... }` or an
 * error naming what is wrong (see bus.ts).
 */

import { jetstream, jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { EVENT_STREAM, encodeEnvelope, messages, type Subjects, subjects } from "@overworld/protocol";
import type { NatsConnection } from "./bus.ts";
import { parseMessage, request } from "./bus.ts";
import type { Logger } from "./log.ts";

// ---- the director's operations -------------------------------------------------------------------

/** The director serves each of these on `subjects(root).service("md", operation)`, queue group `queue("md")`. */
export const DIRECTOR_OPERATIONS = [
  "join",
  "heartbeat",
  "goodbye",
  "addPostRemoves",
  "clearPostRemoves",
  "allocateIds",
  "members",
] as const;
export type DirectorOperation = (typeof DIRECTOR_OPERATIONS)[number];

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

export type Role = (typeof messages.ROLES)[number];
export type IdKind = (typeof messages.ID_KINDS)[number];

export interface JoinOptions {
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
  /** Called once if the director says this participant was declared dead (it should stop or rejoin). */
  onDead?: (reason: string) => void;
  log?: Logger;
}

/** A message to publish on a participant's death: a subject and the bytes to send there. */
export interface PostRemoveMessage {
  subject: string;
  payload: Uint8Array;
}

export interface Participant {
  /** The participant's own channel, allocated by the director and never reused. */
  readonly channel: number;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  /** False after `leave()` or once the director has declared this participant dead. */
  readonly alive: boolean;
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
  /** One channel (e.g. for a client session) from the cached range. */
  nextChannel(): Promise<number>;
  /**
   * The live participants of a role (this one included when it has that role), by channel: those
   * heartbeating within their deadline. E.g. the zone-AI replicas, to spread the zones over them.
   */
  members(role: Role): Promise<messages.Member[]>;
  /** Appends an event to the cluster event log, naming this participant as its source. */
  appendEvent(kind: string, data: unknown): Promise<number>;
  /** Says goodbye: the director forgets this participant and drops its post-removes. */
  leave(): Promise<void>;
}

const DEFAULT_TIMEOUT_MS = 2000;
const DEFAULT_DOID_BLOCK = 256;
const DEFAULT_CHANNEL_BLOCK = 64;

/**
 * Joins the cluster. Throws a `RequestError` with code `mismatch` (naming both values) when the
 * director refuses this participant's version or schema hash, `unavailable` when no director answers.
 */
export async function joinCluster(nc: NatsConnection, options: JoinOptions): Promise<Participant> {
  const cluster = subjects(options.root);
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const joinRequest: messages.JoinRequest = {
    role: options.role,
    instanceId: options.instanceId,
    version: options.version,
    schemaHash: options.schemaHash,
  };
  const reply = await request(nc, cluster.service("md", "join"), joinRequest, timeoutMs);
  const joined = messages.joinReply.safeParse(reply);
  if (!joined.success) {
    throw new messages.RequestError(
      "internal",
      `the director's join reply is not one: ${joined.error.message}`,
    );
  }
  return new JoinedParticipant(nc, options, cluster, timeoutMs, joined.data);
}

class JoinedParticipant implements Participant {
  readonly channel: number;
  readonly heartbeatMs: number;
  readonly deadAfterMs: number;
  private state: "alive" | "leaving" | "left" | "dead" = "alive";
  private readonly timer: NodeJS.Timeout;
  private heartbeatInFlight = false;
  private readonly doIds: IdPool;
  private readonly channels: IdPool;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: JoinOptions,
    private readonly subjects: Subjects,
    private readonly timeoutMs: number,
    joined: messages.JoinReply,
  ) {
    this.channel = joined.channel;
    this.heartbeatMs = joined.heartbeatMs;
    this.deadAfterMs = joined.deadAfterMs;
    this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs);
    this.timer.unref();
    this.doIds = new IdPool(
      (count) => this.allocateIds("doId", count),
      options.doIdBlock ?? DEFAULT_DOID_BLOCK,
    );
    this.channels = new IdPool(
      (count) => this.allocateIds("channel", count),
      options.channelBlock ?? DEFAULT_CHANNEL_BLOCK,
    );
  }

  get alive(): boolean {
    return this.state === "alive";
  }

  async addPostRemove(subject: string, payload: Uint8Array): Promise<void> {
    await this.addPostRemoves([{ subject, payload }]);
  }

  async addPostRemoves(list: readonly PostRemoveMessage[]): Promise<void> {
    await this.call("addPostRemoves", { sender: this.channel, messages: list });
  }

  async clearPostRemoves(): Promise<void> {
    await this.call("clearPostRemoves", { sender: this.channel });
  }

  async allocateIds(kind: IdKind, count: number): Promise<IdRange> {
    const reply = await this.call<messages.AllocateIdsReply>("allocateIds", {
      sender: this.channel,
      kind,
      count,
    });
    return { first: reply.first, count: reply.count };
  }

  async members(role: Role): Promise<messages.Member[]> {
    const reply = await this.call("members", { sender: this.channel, role });
    const parsed = messages.membersReply.safeParse(reply);
    if (!parsed.success) {
      throw new messages.RequestError(
        "internal",
        `the director's members reply is not one: ${parsed.error.message}`,
      );
    }
    return parsed.data.members;
  }

  nextDoId(): Promise<number> {
    return this.doIds.next();
  }

  nextChannel(): Promise<number> {
    return this.channels.next();
  }

  appendEvent(kind: string, data: unknown): Promise<number> {
    const source = `${this.options.role}/${this.options.instanceId}#${this.channel}`;
    return appendEvent(this.nc, kind, data, { root: this.subjects.root, source });
  }

  /** Heartbeats go on until the director has acknowledged the goodbye; if it cannot be reached, this throws. */
  async leave(): Promise<void> {
    if (this.state !== "alive") return;
    this.state = "leaving";
    try {
      await request(
        this.nc,
        this.subjects.service("md", "goodbye"),
        { sender: this.channel },
        this.timeoutMs,
      );
    } catch (error) {
      const forgotten = error instanceof messages.RequestError && error.code === "not_found";
      this.state = forgotten ? "dead" : "alive";
      if (forgotten) clearInterval(this.timer);
      throw error;
    }
    clearInterval(this.timer);
    this.state = "left";
  }

  private async call<T = unknown>(operation: DirectorOperation, body: unknown): Promise<T> {
    if (this.state !== "alive") {
      throw new messages.RequestError(
        "not_found",
        `participant ${this.channel} has ${this.state === "dead" ? "been declared dead" : "left"}; join again`,
      );
    }
    return request<T>(this.nc, this.subjects.service("md", operation), body, this.timeoutMs);
  }

  /** One heartbeat at a time; a director that does not answer is tolerated, a refusal means death. */
  private heartbeat(): void {
    if (this.nc.isClosed()) {
      clearInterval(this.timer);
      return;
    }
    if (this.heartbeatInFlight || (this.state !== "alive" && this.state !== "leaving")) return;
    this.heartbeatInFlight = true;
    request(this.nc, this.subjects.service("md", "heartbeat"), { sender: this.channel }, this.heartbeatMs)
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

  private declaredDead(reason: string): void {
    if (this.state !== "alive") return;
    this.state = "dead";
    clearInterval(this.timer);
    this.options.log?.error({ channel: this.channel, reason }, "declared dead by the message director");
    this.options.onDead?.(reason);
  }
}

// ---- the cluster event log ------------------------------------------------------------------------

export interface EventLogOptions {
  /** Subject root (default `ow`): events go to `<root>.events.<kind>`. */
  root?: string;
  /** JetStream stream name (default `OW_EVENTS`). */
  stream?: string;
}

export interface LoggedEvent extends messages.ClusterEvent {
  /** The event's sequence number in the stream: events read back come in this order. */
  seq: number;
}

/** Event kinds are dot-separated lowercase words, each a subject token. */
const EVENT_KIND = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)*$/;
const DAY_MS = 24 * 60 * 60 * 1000;
const NANOS_PER_MS = 1_000_000;
/** How long one fetch of `readEvents` waits for messages the stream said it holds. */
const READ_WAIT_MS = 2000;

/**
 * Creates the event-log stream if it is missing (subjects `<root>.events.>`, kept on disk, for
 * `maxAgeDays`, 30 by default). An existing stream is left as it is.
 */
export async function ensureEventStream(
  nc: NatsConnection,
  options: EventLogOptions & { maxAgeDays?: number } = {},
): Promise<void> {
  const stream = options.stream ?? EVENT_STREAM;
  const jsm = await jetstreamManager(nc);
  try {
    await jsm.streams.info(stream);
    return;
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  try {
    await jsm.streams.add({
      name: stream,
      subjects: [subjects(options.root).event(">")],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: (options.maxAgeDays ?? 30) * DAY_MS * NANOS_PER_MS,
    });
  } catch (error) {
    // Another replica may have created it between our look and our add.
    if (!(await streamExists(nc, stream))) throw error;
  }
}

async function streamExists(nc: NatsConnection, stream: string): Promise<boolean> {
  try {
    await (await jetstreamManager(nc)).streams.info(stream);
    return true;
  } catch {
    return false;
  }
}

function isNotFound(error: unknown): boolean {
  return error instanceof Error && /not found/i.test(error.message);
}

/**
 * Appends an event to the cluster event log and returns its sequence number. `msgId`, when given,
 * makes the append idempotent (JetStream drops a repeat within its duplicate window).
 */
export async function appendEvent(
  nc: NatsConnection,
  kind: string,
  data: unknown,
  options: { root?: string; source: string; msgId?: string },
): Promise<number> {
  if (!EVENT_KIND.test(kind)) {
    throw new RangeError(`event kind ${JSON.stringify(kind)} must be dot-separated lowercase words`);
  }
  const event: messages.ClusterEvent = { kind, at: Date.now(), source: options.source, data };
  const ack = await jetstream(nc).publish(
    subjects(options.root).event(kind),
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
    filter_subjects: subjects(options.root).event(options.kind ?? ">"),
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
      events.push({ ...event, seq: message.seq });
      received += 1;
      remaining -= 1;
      caughtUp = message.seq >= lastSeq || message.info.pending === 0;
      if (remaining === 0 || caughtUp) batch.stop();
    }
    if (received === 0 || caughtUp) break; // nothing more arrived in time, or nothing more to read
  }
  return events;
}

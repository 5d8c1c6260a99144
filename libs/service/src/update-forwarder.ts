/**
 * Field updates on their way to the state server, held until it acknowledges them: a client agent's
 * (its clients' accepted updates) and a zone-AI replica's (its zones' outputs) go through one of these.
 *
 * - One batch is in flight at a time; what is added meanwhile waits and leaves as the next batch once
 *   the state server has answered. So consecutive updates of an object are applied in the order they
 *   were added, whichever state-server replica takes each batch.
 * - Each batch has a number (`seq`, counting up from 1). A batch that got no answer (no state server up,
 *   a timeout, a state server that could not reach Redis) is sent again, the same batch under the same
 *   number, after a pause that doubles up to `maxRetryMs`; a state server that already applied that
 *   number for this sender answers without applying it twice.
 * - Bounded: when the batch in flight has gone unacknowledged for `maxHoldMs`, or more than
 *   `maxHeldUpdates` updates wait, everything held is given up on (`giveUp`, with the channels it was
 *   sent for and why: a client agent ejects those clients) and dropped, rather than kept without end.
 * - A batch the state server refuses outright (not a passing failure: malformed, forbidden) is not sent
 *   again; it is logged. Updates it refuses one by one (an object deleted meanwhile) are counted.
 * `add` resolves once its updates are acknowledged (true) or dropped (false); it never rejects.
 */
import { messages } from "@overworld/protocol";
import type { Logger } from "./log.ts";

type Groups = messages.UpdateBatch["groups"];
type Reply = messages.ReplyOf<"ss", "updates">;

export interface ForwarderPort {
  /** Sends one batch as a request; resolves with the state server's answer. */
  send(batch: messages.UpdateBatch): Promise<Reply>;
  /** The updates sent for these channels could not be kept, for this reason. */
  giveUp(channels: readonly number[], reason: string): void;
  readonly log: Logger;
}

export interface ForwarderOptions {
  readonly retryMs: number;
  readonly maxRetryMs: number;
  readonly maxHoldMs: number;
  readonly maxHeldUpdates: number;
}

export const FORWARDER_DEFAULTS: ForwarderOptions = {
  retryMs: 50,
  maxRetryMs: 1000,
  maxHoldMs: 15_000,
  maxHeldUpdates: 200_000,
};

/** Error codes of a passing failure, worth sending the same batch again. */
const TRANSIENT = new Set<string>(["unavailable", "internal"]);
/** The state server takes at most this many updates in one batch. */
const MAX_BATCH_UPDATES = 65_536;

/** What one `add` brought, and how to tell its caller what became of it. */
interface Parcel {
  readonly groups: Groups;
  readonly updates: number;
  readonly done: (kept: boolean) => void;
}

interface InFlight {
  readonly seq: number;
  readonly parcels: Parcel[];
  readonly groups: Groups;
  readonly updates: number;
  readonly since: number;
  attempts: number;
}

export interface ForwarderCounts {
  /** Batches sent again after no answer. */
  resent: number;
  /** Updates the state server refused one by one. */
  refused: number;
  /** Updates dropped: their batch refused outright, or given up on. */
  dropped: number;
}

export class UpdateForwarder {
  private waiting: Parcel[] = [];
  private waitingUpdates = 0;
  private inFlight: InFlight | null = null;
  private seq = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  readonly counts: ForwarderCounts = { resent: 0, refused: 0, dropped: 0 };

  constructor(
    private readonly port: ForwarderPort,
    private readonly options: ForwarderOptions = FORWARDER_DEFAULTS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Updates held: waiting, and in the batch in flight. */
  get held(): number {
    return this.waitingUpdates + (this.inFlight?.updates ?? 0);
  }

  /** Updates in groups, each sent for its channel, in order; resolves with whether they were kept. */
  add(groups: Groups): Promise<boolean> {
    if (this.closed || groups.length === 0) return Promise.resolve(!this.closed);
    return new Promise<boolean>((done) => {
      const updates = countUpdates(groups);
      this.waiting.push({ groups, updates, done });
      this.waitingUpdates += updates;
      if (this.waitingUpdates > this.options.maxHeldUpdates) {
        this.abandon(
          `more than ${this.options.maxHeldUpdates} updates wait for the state server; it is not keeping up`,
        );
        return;
      }
      if (this.inFlight === null) this.sendNext();
    });
  }

  /** Resolves once nothing is held (every update acknowledged or given up on), or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const until = this.now() + timeoutMs;
    while (this.held > 0 && !this.closed && this.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  /** Stops sending; what is still held is dropped (its callers hear false). */
  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    for (const parcel of [...(this.inFlight?.parcels ?? []), ...this.waiting]) parcel.done(false);
    this.inFlight = null;
    this.waiting = [];
    this.waitingUpdates = 0;
  }

  private sendNext(): void {
    if (this.closed || this.inFlight !== null || this.waiting.length === 0) return;
    const parcels = this.takeBatch();
    this.seq += 1;
    const groups = parcels.flatMap((parcel) => parcel.groups);
    const updates = updatesIn(parcels);
    this.inFlight = { seq: this.seq, parcels, groups, updates, since: this.now(), attempts: 0 };
    this.attempt();
  }

  /** The waiting parcels, whole, up to the state server's limit per batch (at least one). */
  private takeBatch(): Parcel[] {
    let count = 0;
    let take = 0;
    while (take < this.waiting.length) {
      const size = this.waiting[take]!.updates;
      if (take > 0 && count + size > MAX_BATCH_UPDATES) break;
      count += size;
      take += 1;
    }
    this.waitingUpdates -= count;
    return this.waiting.splice(0, take);
  }

  private attempt(): void {
    const flight = this.inFlight;
    if (flight === null || this.closed) return;
    flight.attempts += 1;
    const resent = flight.attempts > 1;
    if (resent) this.counts.resent += 1;
    this.port.send({ groups: flight.groups, seq: flight.seq, ...(resent ? { resent } : {}) }).then(
      (reply) => this.acknowledged(flight, reply),
      (error: unknown) => this.failed(flight, error),
    );
  }

  private acknowledged(flight: InFlight, reply: Reply): void {
    if (this.inFlight !== flight) return;
    this.counts.refused += reply.refused.length;
    this.inFlight = null;
    for (const parcel of flight.parcels) parcel.done(true);
    this.sendNext();
  }

  private failed(flight: InFlight, error: unknown): void {
    if (this.inFlight !== flight || this.closed) return;
    const code = error instanceof messages.RequestError ? error.code : "internal";
    if (!TRANSIENT.has(code)) {
      this.port.log.error(
        { err: error, seq: flight.seq, updates: flight.updates },
        "the state server refused a batch of updates outright; it is not sent again",
      );
      this.counts.dropped += flight.updates;
      this.inFlight = null;
      for (const parcel of flight.parcels) parcel.done(false);
      this.sendNext();
      return;
    }
    const heldMs = this.now() - flight.since;
    if (heldMs >= this.options.maxHoldMs) {
      this.abandon(`the state server has not acknowledged these updates for ${heldMs} ms`);
      return;
    }
    if (flight.attempts === 1) {
      this.port.log.warn(
        { err: (error as Error).message, seq: flight.seq },
        "no state server acknowledged a batch of updates: holding it and sending it again",
      );
    }
    const pause = Math.min(this.options.retryMs * 2 ** (flight.attempts - 1), this.options.maxRetryMs);
    this.retryTimer = setTimeout(() => this.attempt(), pause);
    this.retryTimer.unref?.();
  }

  /** Gives up on everything held, and drops it. */
  private abandon(reason: string): void {
    const parcels = [...(this.inFlight?.parcels ?? []), ...this.waiting];
    const channels = [...new Set(parcels.flatMap((parcel) => parcel.groups.map(([channel]) => channel)))];
    this.counts.dropped += updatesIn(parcels);
    this.waiting = [];
    this.waitingUpdates = 0;
    this.inFlight = null;
    clearTimeout(this.retryTimer);
    this.port.log.error({ channels: channels.length, reason }, "updates given up on");
    for (const parcel of parcels) parcel.done(false);
    this.port.giveUp(channels, reason);
  }
}

function updatesIn(parcels: readonly Parcel[]): number {
  let count = 0;
  for (const parcel of parcels) count += parcel.updates;
  return count;
}

function countUpdates(groups: Groups): number {
  let count = 0;
  for (const [, updates] of groups) count += updates.length;
  return count;
}

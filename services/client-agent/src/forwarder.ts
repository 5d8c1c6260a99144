/**
 * Clients' accepted updates on their way to the state server, held until it acknowledges them.
 *
 * - One batch is in flight at a time; what clients send meanwhile waits and leaves as the next batch
 *   once the state server has answered. So consecutive updates of an object are applied in the order
 *   the clients sent them, whichever state-server replica takes each batch.
 * - Each batch has a number (`seq`, counting up from 1 for this agent's channel). A batch that got no
 *   answer (no state server up, a timeout, a state server that could not reach Redis) is sent again,
 *   the same batch with the same number, after a pause that doubles up to `maxRetryMs`; a state server
 *   that already applied it says so instead of applying it twice.
 * - Bounded: when the batch in flight has gone unacknowledged for `maxHoldMs`, or more than
 *   `maxHeldUpdates` updates wait, the clients whose updates are held are given up on (`giveUp`: the
 *   agent ejects them, saying why) and their updates dropped, rather than kept without end.
 * - A batch the state server refuses outright (not a passing failure: malformed, forbidden) is not sent
 *   again; it is logged. Updates it refuses one by one (an object deleted meanwhile) are counted.
 */

import { messages } from "@overworld/protocol";
import type { Logger } from "@overworld/service";

type Groups = messages.UpdateBatch["groups"];
type Reply = messages.ReplyOf<"ss", "updates">;

export interface ForwarderPort {
  /** Sends one batch as a request; resolves with the state server's answer. */
  send(batch: messages.UpdateBatch): Promise<Reply>;
  /** These clients' updates could not be kept: eject them, with this reason. */
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

interface InFlight {
  readonly seq: number;
  readonly groups: Groups;
  readonly since: number;
  attempts: number;
}

export interface ForwarderCounts {
  /** Batches sent again after no answer. */
  resent: number;
  /** Updates the state server refused one by one. */
  refused: number;
  /** Updates dropped: their batch refused outright, or their clients given up on. */
  dropped: number;
}

export class UpdateForwarder {
  private waiting: Groups = [];
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
    return this.waitingUpdates + (this.inFlight ? countUpdates(this.inFlight.groups) : 0);
  }

  /** Accepted updates of clients, a group per client channel, in the order they were sent. */
  add(groups: Groups): void {
    if (this.closed) return;
    for (const group of groups) {
      this.waiting.push(group);
      this.waitingUpdates += group[1].length;
    }
    if (this.waitingUpdates > this.options.maxHeldUpdates) {
      this.abandon(
        `more than ${this.options.maxHeldUpdates} updates wait for the state server; it is not keeping up`,
      );
      return;
    }
    if (this.inFlight === null) this.sendNext();
  }

  /** Resolves once nothing is held (every update acknowledged or given up on), or after `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const until = this.now() + timeoutMs;
    while (this.held > 0 && !this.closed && this.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
  }

  private sendNext(): void {
    if (this.closed || this.inFlight !== null || this.waiting.length === 0) return;
    const groups = this.takeBatch();
    this.seq += 1;
    this.inFlight = { seq: this.seq, groups, since: this.now(), attempts: 0 };
    this.attempt();
  }

  /** The waiting groups, up to the state server's limit per batch. */
  private takeBatch(): Groups {
    let count = 0;
    let take = 0;
    while (take < this.waiting.length) {
      const size = this.waiting[take]![1].length;
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
    this.sendNext();
  }

  private failed(flight: InFlight, error: unknown): void {
    if (this.inFlight !== flight || this.closed) return;
    const code = error instanceof messages.RequestError ? error.code : "internal";
    if (!TRANSIENT.has(code)) {
      this.port.log.error(
        { err: error, seq: flight.seq, updates: countUpdates(flight.groups) },
        "the state server refused a batch of client updates outright; it is not sent again",
      );
      this.counts.dropped += countUpdates(flight.groups);
      this.inFlight = null;
      this.sendNext();
      return;
    }
    const heldMs = this.now() - flight.since;
    if (heldMs >= this.options.maxHoldMs) {
      this.abandon(`the state server has not acknowledged this client's updates for ${heldMs} ms`);
      return;
    }
    if (flight.attempts === 1) {
      this.port.log.warn(
        { err: (error as Error).message, seq: flight.seq },
        "no state server acknowledged a batch of client updates: holding it and sending it again",
      );
    }
    const pause = Math.min(this.options.retryMs * 2 ** (flight.attempts - 1), this.options.maxRetryMs);
    this.retryTimer = setTimeout(() => this.attempt(), pause);
    this.retryTimer.unref?.();
  }

  /** Gives up on every client whose updates are held, and drops them. */
  private abandon(reason: string): void {
    const groups = [...(this.inFlight?.groups ?? []), ...this.waiting];
    const channels = [...new Set(groups.map(([channel]) => channel))];
    this.counts.dropped += countUpdates(groups);
    this.waiting = [];
    this.waitingUpdates = 0;
    this.inFlight = null;
    clearTimeout(this.retryTimer);
    this.port.log.error({ clients: channels.length, reason }, "client updates given up on");
    this.port.giveUp(channels, reason);
  }
}

function countUpdates(groups: Groups): number {
  let count = 0;
  for (const [, updates] of groups) count += updates.length;
  return count;
}

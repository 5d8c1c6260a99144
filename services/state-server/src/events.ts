/**
 * The state server's entries in the cluster event log: objects created and deleted, stored objects
 * created and deleted. Recording one costs the hot path a push onto a queue; a background flush
 * appends what is queued to JetStream, all of a batch issued at once on one connection (so the stream
 * keeps their order) and acknowledged together, one batch at a time.
 *
 * The log is a record of noteworthy events, not the source of truth: if JetStream cannot take them,
 * they are counted and logged as lost, and the service goes on.
 */
import type { Logger } from "@overworld/service";

/** Where events go: `Participant.appendEvent` in the service, anything in tests. */
export type Append = (kind: string, data: unknown) => Promise<unknown>;

/** The kinds of event the state server appends. */
export const EVENT_KINDS = {
  objectCreated: "object.created",
  objectDeleted: "object.deleted",
  storedCreated: "stored-object.created",
  storedDeleted: "stored-object.deleted",
} as const;

export interface EventSink {
  /** Queues an event to append; never waits, never throws. */
  record(kind: string, data: Record<string, unknown>): void;
}

export interface EventRecorderOptions {
  /** At most this many events are appended per batch. */
  readonly batchMax: number;
  /** Past this many queued events, new ones are dropped (and counted) until the queue drains. */
  readonly queueMax: number;
  /** Told how many events were appended and how many were lost, after each batch. */
  readonly observe?: (appended: number, lost: number) => void;
}

const DEFAULTS: EventRecorderOptions = { batchMax: 512, queueMax: 100_000 };

export class EventRecorder implements EventSink {
  private queue: { kind: string; data: Record<string, unknown> }[] = [];
  private flushing: Promise<void> | undefined;
  private dropped = 0;
  private readonly options: EventRecorderOptions;

  constructor(
    private readonly append: Append,
    private readonly log: Logger,
    options: Partial<EventRecorderOptions> = {},
  ) {
    this.options = { ...DEFAULTS, ...options };
  }

  /** How many events wait to be appended. */
  get queued(): number {
    return this.queue.length;
  }

  record(kind: string, data: Record<string, unknown>): void {
    if (this.queue.length >= this.options.queueMax) {
      this.dropped += 1;
      return;
    }
    this.queue.push({ kind, data });
    this.startFlush();
  }

  /** Resolves once every event recorded so far has been appended (or given up on). */
  async flush(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** One flush at a time, started on the next turn of the event loop so a burst goes in one batch. */
  private startFlush(): void {
    if (this.flushing) return;
    this.flushing = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => this.drain())
      .finally(() => {
        this.flushing = undefined;
        // recorded after the drain's last look at the queue
        if (this.queue.length > 0) this.startFlush();
      });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, this.options.batchMax);
      // issued in order, synchronously, on one connection: JetStream stores them in this order
      const results = await Promise.allSettled(batch.map((event) => this.append(event.kind, event.data)));
      const failures = results.filter((result) => result.status === "rejected");
      const lost = failures.length + this.dropped;
      if (lost > 0) {
        const first = failures[0]?.reason as Error | undefined;
        this.log.warn(
          { lost, dropped: this.dropped, reason: first?.message },
          "events could not be appended to the cluster event log",
        );
      }
      this.options.observe?.(batch.length - failures.length, lost);
      this.dropped = 0;
    }
  }
}

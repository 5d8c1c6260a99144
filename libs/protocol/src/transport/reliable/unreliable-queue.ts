/**
 * Unreliable messages waiting for the next datagrams. A message may carry a key: queuing another
 * message under a key whose previous message has not left yet replaces that message in place, so
 * only the newest value of, say, one object's position is ever sent.
 */

import { ByteSlab } from "../../bytes.ts";

export type UnreliableKey = string | number;

export interface QueuedUnreliable {
  bytes: Uint8Array;
  readonly key: UnreliableKey | undefined;
}

export class UnreliableQueue {
  private entries: QueuedUnreliable[] = [];
  private readonly byKey = new Map<UnreliableKey, QueuedUnreliable>();
  replaced = 0;
  dropped = 0;
  /** Queued copies live until the next datagrams leave: they share slabs. */
  private readonly slab = new ByteSlab();

  constructor(private readonly capacity: number) {}

  get length(): number {
    return this.entries.length;
  }

  /** Queues a copy of `bytes`, replacing the unsent message under the same key if there is one. */
  push(bytes: Uint8Array, key: UnreliableKey | undefined): void {
    const existing = key === undefined ? undefined : this.byKey.get(key);
    if (existing !== undefined) {
      existing.bytes = this.slab.copy(bytes);
      this.replaced += 1;
      return;
    }
    const entry = { bytes: this.slab.copy(bytes), key };
    this.entries.push(entry);
    if (key !== undefined) this.byKey.set(key, entry);
    this.dropOldestBeyondCapacity();
  }

  private dropOldestBeyondCapacity(): void {
    const excess = this.entries.length - this.capacity;
    if (excess <= 0) return;
    for (const entry of this.entries.splice(0, excess)) this.forgetKey(entry);
    this.dropped += excess;
  }

  private forgetKey(entry: QueuedUnreliable): void {
    if (entry.key !== undefined && this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
  }

  /**
   * Offers every queued message, oldest first, to `trySend`; those it takes (returns true for) leave
   * the queue, the others wait for the next call.
   */
  drain(trySend: (bytes: Uint8Array) => boolean): void {
    if (this.entries.length === 0) return;
    const waiting: QueuedUnreliable[] = [];
    for (const entry of this.entries) {
      if (trySend(entry.bytes)) this.forgetKey(entry);
      else waiting.push(entry);
    }
    this.entries = waiting;
  }
}

/**
 * Unreliable messages waiting for the next datagrams. A message may carry a key: queuing another
 * message under a key whose previous message has not left yet replaces that message in place, so
 * only the newest value of, say, one object's position is ever sent. A message may also carry a tag: the
 * endpoint hands it back if the message is dropped here or lost on the way (see `takeLostTags`).
 */

import { ByteSlab } from "../../bytes.ts";

export type UnreliableKey = string | number;

/** What the caller attaches to an unreliable message to hear of its loss: any object of its own. */
export type UnreliableTag = object;

export interface QueuedUnreliable {
  bytes: Uint8Array;
  readonly key: UnreliableKey | undefined;
  tag: UnreliableTag | undefined;
}

export class UnreliableQueue {
  private entries: QueuedUnreliable[] = [];
  private readonly byKey = new Map<UnreliableKey, QueuedUnreliable>();
  replaced = 0;
  dropped = 0;
  /** Queued copies live until the next datagrams leave: they share slabs. */
  private readonly slab = new ByteSlab();

  constructor(
    private readonly capacity: number,
    /** Called with the tag of a message dropped unsent (the queue was full). */
    private readonly lost: (tag: UnreliableTag) => void,
    /** False: messages are queued as they are (their owner never changes them). */
    private readonly copies = true,
  ) {}

  get length(): number {
    return this.entries.length;
  }

  /**
   * Queues `bytes` (a copy, unless the queue was made not to copy), replacing the unsent message under the same key if there is one (its tag
   * goes with it: the newer message supersedes it).
   */
  push(bytes: Uint8Array, key: UnreliableKey | undefined, tag: UnreliableTag | undefined): void {
    const existing = key === undefined ? undefined : this.byKey.get(key);
    if (existing !== undefined) {
      existing.bytes = this.copyOf(bytes);
      existing.tag = tag;
      this.replaced += 1;
      return;
    }
    const entry = { bytes: this.copyOf(bytes), key, tag };
    this.entries.push(entry);
    if (key !== undefined) this.byKey.set(key, entry);
    this.dropOldestBeyondCapacity();
  }

  private copyOf(bytes: Uint8Array): Uint8Array {
    return this.copies ? this.slab.copy(bytes) : bytes;
  }

  private dropOldestBeyondCapacity(): void {
    const excess = this.entries.length - this.capacity;
    if (excess <= 0) return;
    for (const entry of this.entries.splice(0, excess)) {
      this.forgetKey(entry);
      if (entry.tag !== undefined) this.lost(entry.tag);
    }
    this.dropped += excess;
  }

  private forgetKey(entry: QueuedUnreliable): void {
    if (entry.key !== undefined && this.byKey.get(entry.key) === entry) this.byKey.delete(entry.key);
  }

  /**
   * Offers every queued message, oldest first, to `trySend`; those it takes (returns true for) leave
   * the queue, the others wait for the next call.
   */
  drain(trySend: (entry: QueuedUnreliable) => boolean): void {
    if (this.entries.length === 0) return;
    const waiting: QueuedUnreliable[] = [];
    for (const entry of this.entries) {
      if (trySend(entry)) this.forgetKey(entry);
      else waiting.push(entry);
    }
    this.entries = waiting;
  }
}

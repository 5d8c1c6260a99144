/**
 * The sending half of the reliable-ordered channel: numbers messages, splits large ones into
 * fragments, says which parts are due (never sent, or unacknowledged for longer than the resend
 * delay) and forgets a message once every part of it is acknowledged.
 *
 * Flow control: only messages within MESSAGE_WINDOW ids of the oldest unacknowledged one are sent,
 * and a message is sent for the first time only while the bytes from the oldest unacknowledged
 * message up to it stay within `maxBufferedBytes`, which is what the receiver may have to hold back.
 */

import { ByteSlab } from "../../bytes.ts";
import { MESSAGE_WINDOW, type ReliableLimits } from "./config.ts";
import { Fifo } from "./fifo.ts";
import { addToSequence } from "./sequence.ts";

const NEVER = Number.NEGATIVE_INFINITY;
/** `fragmentCount` of a message that travels whole. */
export const WHOLE_MESSAGE = 0;

export class OutgoingMessage {
  /** Released (emptied) once the whole message is acknowledged. */
  bytes: Uint8Array;
  readonly size: number;
  /** When each part (the whole message, or each fragment) was last sent (plain arrays: most have one part). */
  readonly lastSentAt: number[];
  readonly partAcked: number[];
  unackedParts: number;
  sentOnce = false;

  constructor(
    readonly id: number,
    bytes: Uint8Array,
    /** WHOLE_MESSAGE, or the number of fragments (at least 2). */
    readonly fragmentCount: number,
  ) {
    this.bytes = bytes;
    this.size = bytes.length;
    const parts = Math.max(1, fragmentCount);
    this.lastSentAt = new Array<number>(parts).fill(NEVER);
    this.partAcked = new Array<number>(parts).fill(0);
    this.unackedParts = parts;
  }

  get fullyAcked(): boolean {
    return this.unackedParts === 0;
  }
}

/** One unit of transmission: a whole message (index 0) or one fragment of it. */
export interface ReliablePart {
  readonly message: OutgoingMessage;
  readonly index: number;
}

export class ReliableSender {
  private nextId = 0;
  /** Queued copies live until acknowledged (a round trip or so): they share slabs. */
  private readonly slab = new ByteSlab();
  private readonly queue = new Fifo<OutgoingMessage>();
  /** Bytes of messages not yet fully acknowledged. */
  queuedBytes = 0;
  resentParts = 0;

  constructor(private readonly limits: ReliableLimits) {}

  get queuedMessages(): number {
    return this.queue.length;
  }

  /** Queues `bytes` (a copy, unless `copyMessages` is false); returns its message id. The size is checked. */
  enqueue(bytes: Uint8Array): number {
    const id = this.nextId;
    this.nextId = addToSequence(id, 1);
    const fragmentCount =
      bytes.length > this.limits.fragmentSize ? this.fragmentsFor(bytes.length) : WHOLE_MESSAGE;
    const queued = this.limits.config.copyMessages ? this.slab.copy(bytes) : bytes;
    this.queue.push(new OutgoingMessage(id, queued, fragmentCount));
    this.queuedBytes += bytes.length;
    return id;
  }

  private fragmentsFor(size: number): number {
    return Math.ceil(size / this.limits.fragmentSize);
  }

  /** The bytes a part carries: the whole message or one fragment's slice of it. */
  partBytes(part: ReliablePart): Uint8Array {
    const message = part.message;
    if (message.fragmentCount === WHOLE_MESSAGE) return message.bytes;
    const start = part.index * this.limits.fragmentSize;
    return message.bytes.subarray(start, Math.min(start + this.limits.fragmentSize, message.size));
  }

  /** Parts to send now, oldest message first, within the id window and the byte budget. */
  dueParts(now: number, resendDelayMs: number): ReliablePart[] {
    const due: ReliablePart[] = [];
    let bytesFromOldest = 0;
    const visible = Math.min(this.queue.length, MESSAGE_WINDOW);
    for (let position = 0; position < visible; position++) {
      const message = this.queue.at(position)!;
      bytesFromOldest += message.size;
      if (!message.sentOnce && position > 0 && bytesFromOldest > this.limits.config.maxBufferedBytes) break;
      if (message.fullyAcked) continue;
      this.collectDueParts(message, now - resendDelayMs, due);
    }
    return due;
  }

  private collectDueParts(message: OutgoingMessage, sentBefore: number, due: ReliablePart[]): void {
    for (let index = 0; index < message.partAcked.length; index++) {
      if (message.partAcked[index] === 0 && message.lastSentAt[index]! <= sentBefore) {
        due.push({ message, index });
      }
    }
  }

  markSent(part: ReliablePart, now: number): void {
    const message = part.message;
    if (message.lastSentAt[part.index] !== NEVER) this.resentParts += 1;
    message.lastSentAt[part.index] = now;
    message.sentOnce = true;
  }

  /** Records that a part arrived; forgets messages at the front once fully acknowledged. */
  acknowledge(part: ReliablePart): void {
    const message = part.message;
    if (message.partAcked[part.index] === 1) return;
    message.partAcked[part.index] = 1;
    message.unackedParts -= 1;
    if (!message.fullyAcked) return;
    this.queuedBytes -= message.size;
    message.bytes = new Uint8Array(0);
    this.dropAckedFront();
  }

  private dropAckedFront(): void {
    while (this.queue.peek()?.fullyAcked) this.queue.shift();
  }
}

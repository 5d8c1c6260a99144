/**
 * What this end has received from the far end, for duplicate detection and for the acks it sends
 * back. Packets that carry messages ("ack-eliciting") must each be acknowledged at least once, so
 * they wait in `pending` until an outgoing header covers them; `takeAckAnchors` picks as few anchors
 * as cover them all (each header covers its anchor and the 32 packets before it). Packets that carry
 * nothing but acks are only acknowledged in passing, so two quiet ends never ack each other's acks.
 */

import { PACKET_WINDOW } from "./config.ts";
import type { AckField } from "./packet-header.ts";
import { addToSequence, sequenceDistance } from "./sequence.ts";
import { SequenceBuffer } from "./sequence-buffer.ts";

/** A header's ack covers its anchor and this many packets before it. */
export const ACK_BITS = 32;

/**
 * Each message-carrying packet is acknowledged in the headers of this many successive updates, so
 * one lost ack does not make the far end resend everything that ack covered.
 */
export const ACK_REPEATS = 2;

interface PendingAck {
  readonly sequence: number;
  repeatsLeft: number;
}

export type ArrivalKind = "new" | "duplicate" | "stale";

export class ReceivedPackets {
  private readonly received = new SequenceBuffer<true>(PACKET_WINDOW);
  private pending: PendingAck[] = [];

  /** The newest sequence received, or undefined before the first packet. */
  get newest(): number | undefined {
    return this.received.newest;
  }

  classify(sequence: number): ArrivalKind {
    if (this.received.isTooOld(sequence)) return "stale";
    return this.received.has(sequence) ? "duplicate" : "new";
  }

  record(sequence: number, ackEliciting: boolean): void {
    this.received.insert(sequence, true);
    if (!ackEliciting) return;
    this.pending.push({ sequence, repeatsLeft: ACK_REPEATS });
    if (this.pending.length > PACKET_WINDOW) this.pending.shift();
  }

  /** The ack anchored at `latest`, with the bits of the 32 packets before it. */
  ackFor(latest: number): AckField {
    let bits = 0;
    for (let bit = 0; bit < ACK_BITS; bit++) {
      if (this.received.has(addToSequence(latest, -1 - bit))) bits |= 1 << bit;
    }
    return { latest, bits: bits >>> 0 };
  }

  /**
   * Anchors (newest first) whose acks together cover every pending packet. Each call counts as one
   * repeat of those acks; a packet leaves the pending list after ACK_REPEATS calls.
   */
  takeAckAnchors(): number[] {
    const newest = this.received.newest;
    if (newest === undefined) return [];
    this.pending = this.pending.filter((pending) => this.received.has(pending.sequence));
    const byAge = this.pending
      .map((pending) => pending.sequence)
      .sort((a, b) => sequenceDistance(a, newest) - sequenceDistance(b, newest));
    this.countRepeat();
    return coveringAnchors(byAge);
  }

  private countRepeat(): void {
    for (const pending of this.pending) pending.repeatsLeft -= 1;
    this.pending = this.pending.filter((pending) => pending.repeatsLeft > 0);
  }
}

/** Greedy cover of sequences sorted newest first: each anchor covers itself and 32 older sequences. */
function coveringAnchors(newestFirst: readonly number[]): number[] {
  const anchors: number[] = [];
  for (const sequence of newestFirst) {
    const anchor = anchors.at(-1);
    if (anchor === undefined || sequenceDistance(sequence, anchor) > ACK_BITS) anchors.push(sequence);
  }
  return anchors;
}

/**
 * A fixed-size window of entries keyed by 16-bit sequence number, the newest sequence seen so far at
 * its front. Inserting a newer sequence evicts the entries it jumps over; a sequence that fell out of
 * the back of the window is refused as too old. Used for the packets sent and the packets received.
 */

import { addToSequence, isSequenceNewer, sequenceDistance } from "./sequence.ts";

const EMPTY_SLOT = -1;
/** Half the sequence space: a larger window could not tell old from new. */
const MAX_SIZE = 0x8000;

/** A power of two divides 2^16, so consecutive sequences keep distinct slots across the wrap. */
function isPowerOfTwoUpTo(value: number, limit: number): boolean {
  return Number.isInteger(value) && value >= 1 && value <= limit && (value & (value - 1)) === 0;
}

export class SequenceBuffer<T> {
  private readonly storedSequences: Int32Array;
  private readonly entries: (T | undefined)[];
  private newestSequence = 0;
  private hasInserted = false;

  constructor(readonly size: number) {
    if (!isPowerOfTwoUpTo(size, MAX_SIZE)) {
      throw new RangeError(`a sequence buffer's size must be a power of two up to ${MAX_SIZE}, not ${size}`);
    }
    this.storedSequences = new Int32Array(size).fill(EMPTY_SLOT);
    this.entries = new Array<T | undefined>(size).fill(undefined);
  }

  /** The newest sequence ever inserted, or undefined while the buffer is new. */
  get newest(): number | undefined {
    return this.hasInserted ? this.newestSequence : undefined;
  }

  /** True when `sequence` is older than everything the window can still hold. */
  isTooOld(sequence: number): boolean {
    if (!this.hasInserted || isSequenceNewer(sequence, this.newestSequence)) return false;
    return sequenceDistance(sequence, this.newestSequence) >= this.size;
  }

  /** Stores `value` at `sequence`; returns false (and stores nothing) when the sequence is too old. */
  insert(sequence: number, value: T): boolean {
    if (this.isTooOld(sequence)) return false;
    if (!this.hasInserted || isSequenceNewer(sequence, this.newestSequence)) this.advanceTo(sequence);
    const slot = sequence % this.size;
    this.storedSequences[slot] = sequence;
    this.entries[slot] = value;
    return true;
  }

  find(sequence: number): T | undefined {
    const slot = sequence % this.size;
    return this.storedSequences[slot] === sequence ? this.entries[slot] : undefined;
  }

  has(sequence: number): boolean {
    return this.storedSequences[sequence % this.size] === sequence;
  }

  remove(sequence: number): void {
    const slot = sequence % this.size;
    if (this.storedSequences[slot] !== sequence) return;
    this.storedSequences[slot] = EMPTY_SLOT;
    this.entries[slot] = undefined;
  }

  /** Evicts the entries for every sequence skipped between the old newest and `sequence`. */
  private advanceTo(sequence: number): void {
    const skipped = this.hasInserted ? sequenceDistance(this.newestSequence, sequence) - 1 : this.size;
    const toClear = Math.min(skipped, this.size);
    for (let step = 1; step <= toClear; step++) {
      const slot = addToSequence(sequence, -step) % this.size;
      this.storedSequences[slot] = EMPTY_SLOT;
      this.entries[slot] = undefined;
    }
    this.newestSequence = sequence;
    this.hasInserted = true;
  }
}

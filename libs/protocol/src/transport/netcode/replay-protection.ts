/**
 * Replay protection for keep-alive, payload and disconnect packets. Each side remembers the most recent
 * sequence number it accepted and, in a ring of 256 slots indexed by sequence modulo 256, the last sequence
 * accepted in each slot. A packet is refused when it is older than the window below the most recent
 * sequence, or when its slot already holds its sequence or a newer one. Only packets that decrypt advance
 * the state, so forged packets cannot push the window forward.
 */

import { REPLAY_BUFFER_SIZE } from "./constants.ts";

const EMPTY_SLOT = (1n << 64n) - 1n;
const WINDOW = BigInt(REPLAY_BUFFER_SIZE);

export class ReplayProtection {
  private mostRecent = 0n;
  private readonly received = new BigUint64Array(REPLAY_BUFFER_SIZE).fill(EMPTY_SLOT);

  /** True when a packet with this sequence must be ignored as old or already seen. */
  alreadyReceived(sequence: bigint): boolean {
    if (this.mostRecent >= WINDOW && sequence <= this.mostRecent - WINDOW) return true;
    const seen = this.received[slotOf(sequence)]!;
    if (seen === EMPTY_SLOT) return false;
    return seen >= sequence;
  }

  /** Records a sequence whose packet decrypted. */
  advance(sequence: bigint): void {
    if (sequence > this.mostRecent) this.mostRecent = sequence;
    this.received[slotOf(sequence)] = sequence;
  }

  reset(): void {
    this.mostRecent = 0n;
    this.received.fill(EMPTY_SLOT);
  }

  get mostRecentSequence(): bigint {
    return this.mostRecent;
  }
}

function slotOf(sequence: bigint): number {
  return Number(sequence % WINDOW);
}

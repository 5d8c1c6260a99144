/**
 * Rarest first: of the chunks a peer could be asked for, the one the fewest peers have, ties broken at
 * random (a seeded generator), so that a swarm's copies of each chunk multiply evenly and no chunk is left
 * with one holder who may leave. Availability counts the ordinary peers' have-sets, never the server's: the
 * server holds everything and is asked only for what no peer has (seed-policy.ts).
 */
import type { ChunkSet } from "./chunks.ts";
import type { Random } from "./random.ts";

export class PiecePicker {
  /** How many known peers have each chunk. */
  readonly availability: Int32Array;

  constructor(
    readonly size: number,
    private readonly random: Random,
  ) {
    this.availability = new Int32Array(size);
  }

  /** A peer joined with these chunks. */
  addPeer(has: ChunkSet): void {
    for (const index of has) this.availability[index]!++;
  }

  /** A peer with these chunks left (or was banned). */
  removePeer(has: ChunkSet): void {
    for (const index of has) this.availability[index]!--;
  }

  /** A peer announced one more chunk. */
  peerGot(index: number): void {
    this.availability[index]!++;
  }

  /** A peer no longer has a chunk it had announced. */
  peerLost(index: number): void {
    this.availability[index]!--;
  }

  /**
   * The rarest chunk `candidate` accepts, a random one of the rarest when several are; -1 when it accepts
   * none.
   */
  pick(candidate: (index: number) => boolean): number {
    let best = -1;
    let bestAvailability = Number.POSITIVE_INFINITY;
    let ties = 0;
    for (let index = 0; index < this.size; index++) {
      const availability = this.availability[index]!;
      if (availability > bestAvailability || !candidate(index)) continue;
      if (availability < bestAvailability) {
        best = index;
        bestAvailability = availability;
        ties = 1;
      } else {
        ties++;
        // reservoir sampling: each of the tied chunks ends up chosen with probability 1/ties
        if (this.random.int(1, ties) === 1) best = index;
      }
    }
    return best;
  }
}

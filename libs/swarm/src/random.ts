/**
 * The swarm's randomness, from a seed (pure-rand's xoroshiro128+): ties between equally rare chunks are
 * broken at random so that peers starting together ask for different chunks, and a run of the simulator is
 * the same run again for the same seed.
 */
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";
import type { RandomGenerator } from "pure-rand/types/RandomGenerator";

export class Random {
  readonly #rng: RandomGenerator;

  constructor(seed: number) {
    this.#rng = xoroshiro128plus(seed | 0);
  }

  /** An integer in [from, to], both included. */
  int(from: number, to: number): number {
    return uniformInt(this.#rng, from, to);
  }

  /** A number in [0, 1). */
  fraction(): number {
    return uniformInt(this.#rng, 0, 0x3fffffff) / 0x40000000;
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return p > 0 && this.fraction() < p;
  }

  /** A seed for another generator drawn from this one (one per peer of a simulation). */
  fork(): Random {
    return new Random(this.int(-0x80000000, 0x7fffffff));
  }
}

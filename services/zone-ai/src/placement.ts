/**
 * Which zone-AI replica runs which zone: rendezvous (highest random weight) hashing. Every replica
 * scores every zone with a hash of the pair, and the zone goes to the replica with the highest score.
 * Every replica computes the same answer from the same list of live replicas, with nothing to agree on,
 * and the answer moves as few zones as possible when the list changes: a replica that joins takes only
 * the zones it now scores highest on (about 1/N of them, from every other replica), and one that leaves
 * gives up only its own zones, each to the replica that scored second on it.
 *
 * Placement is advice, not ownership: two replicas with different views of who is live may both want a
 * zone for a moment. Ownership is decided by the zone's lease (zone-leases.ts).
 *
 * The hash is MurmurHash3's (x86, 32-bit) over the UTF-16 code units of each name, computed once per zone
 * and once per replica; a pair's score is MurmurHash3's finalizer over the two hashes combined. That is
 * about 18 ns a score here, some 75 times faster than SHA-1 from node:crypto, and it spreads zones as
 * evenly (test/zone-ai/placement.test.ts checks the balance).
 */

/** A zone's key for placement and leases: `<parentId>.<zoneId>`. */
export function zoneKey(parentId: number, zoneId: number): string {
  return `${parentId}.${zoneId}`;
}

/** The replica that runs `zone`, or undefined when there is no replica. */
export function ownerOf(zone: string, replicas: readonly string[]): string | undefined {
  return new Placement(replicas).ownerOf(zone);
}

/**
 * Every zone by the replica that runs it: each zone appears exactly once, under its owner, in the order
 * given; every replica has an entry, an empty list when it runs nothing. No replica: an empty map.
 */
export function assign(zones: Iterable<string>, replicas: readonly string[]): Map<string, string[]> {
  return new Placement(replicas).assign(zones);
}

/** A zone that changes owner when the live replicas change from `before` to `after`. */
export interface Move {
  zone: string;
  /** Undefined when there was no replica before. */
  from: string | undefined;
  /** Undefined when no replica is left. */
  to: string | undefined;
}

/** The zones whose owner differs between two sets of live replicas (and only those). */
export function moves(zones: Iterable<string>, before: readonly string[], after: readonly string[]): Move[] {
  const old = new Placement(before);
  const now = new Placement(after);
  const moved: Move[] = [];
  for (const zone of zones) {
    const from = old.ownerOf(zone);
    const to = now.ownerOf(zone);
    if (from !== to) moved.push({ zone, from, to });
  }
  return moved;
}

/** A set of live replicas with their hashes computed once, to place many zones. */
export class Placement {
  private readonly replicas: readonly string[];
  private readonly hashes: Uint32Array;

  constructor(replicas: readonly string[]) {
    // Sorted and without repeats, so the answer does not depend on the order replicas were listed in
    // (nor on a replica listed twice): ties, however unlikely, go to the first in this order.
    this.replicas = [...new Set(replicas)].sort(compareCodeUnits);
    this.hashes = Uint32Array.from(this.replicas, (replica) => hashString(replica));
  }

  ownerOf(zone: string): string | undefined {
    const index = this.indexOf(hashString(zone));
    return index < 0 ? undefined : this.replicas[index];
  }

  assign(zones: Iterable<string>): Map<string, string[]> {
    const byReplica = new Map<string, string[]>(this.replicas.map((replica) => [replica, []]));
    if (this.replicas.length === 0) return byReplica;
    for (const zone of zones) byReplica.get(this.replicas[this.indexOf(hashString(zone))]!)!.push(zone);
    return byReplica;
  }

  private indexOf(zoneHash: number): number {
    let best = -1;
    let bestScore = -1;
    for (let i = 0; i < this.hashes.length; i++) {
      const score = score32(zoneHash, this.hashes[i]!);
      if (score > bestScore) {
        bestScore = score;
        best = i;
      }
    }
    return best;
  }
}

/** The weight of a (zone, replica) pair: the two hashes combined and mixed to full avalanche. */
function score32(zoneHash: number, replicaHash: number): number {
  return fmix32((zoneHash ^ Math.imul(replicaHash, GOLDEN)) >>> 0);
}

/** 2^32 divided by the golden ratio: spreads the replica's hash before it meets the zone's. */
const GOLDEN = 0x9e3779b9;
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** MurmurHash3 x86 32-bit over the string's UTF-16 code units (one 32-bit block per code unit). */
export function hashString(text: string, seed = 0): number {
  let h = seed ^ text.length;
  for (let i = 0; i < text.length; i++) {
    let k = Math.imul(text.charCodeAt(i), C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  return fmix32(h);
}

/** MurmurHash3's finalizer: every input bit flips each output bit with probability about 1/2. */
function fmix32(value: number): number {
  let h = value;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Compares by UTF-16 code units: the same on every machine, unlike localeCompare. */
function compareCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

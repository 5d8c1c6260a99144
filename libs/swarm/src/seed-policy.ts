/**
 * The server seeds only what peers cannot. It serves a chunk when no peer of the requester's swarm (the
 * peers the cluster introduced it to) has it or is about to (the server handed it to one of them within
 * `handoutTtlMs`: super-seeding, so that twenty peers starting together get twenty different chunks from
 * it, not twenty copies of one), or when the requester asks directly after failing to get it from peers
 * (a corrupt chunk, a time-out, a peer gone), within a budget per requester so that claiming failures is
 * not a way around the rule. Otherwise it answers "ask-peers". A peer the requester banned (it sent it
 * corrupt chunks, and reported so) does not count as holding anything for that requester.
 */
import type { Clock } from "./clock.ts";
import type { PeerId } from "./pipeline.ts";

/** What the server knows of a swarm: whom each peer was introduced to, and what each has announced. */
export interface SwarmView {
  neighbours(peer: PeerId): Iterable<PeerId>;
  has(peer: PeerId, chunk: number): boolean;
}

export interface SeedPolicyOptions {
  /** A chunk handed to a peer counts as held by it for this long (it will announce it when verified). */
  readonly handoutTtlMs: number;
  /** Direct requests (after a failure elsewhere) each requester may make, as a share of the asset's chunks. */
  readonly directShare: number;
}

export const DEFAULT_SEED_POLICY: SeedPolicyOptions = { handoutTtlMs: 10_000, directShare: 0.25 };

export type SeedDecision = "serve" | "ask-peers";

export class SeedPolicy {
  /** chunk -> peer -> when the server handed it over */
  readonly #handouts = new Map<number, Map<PeerId, number>>();
  readonly #direct = new Map<PeerId, number>();
  /** requester -> the peers it banned */
  readonly #banned = new Map<PeerId, Set<PeerId>>();

  constructor(
    private readonly view: SwarmView,
    private readonly chunkCount: number,
    private readonly clock: Clock,
    readonly options: SeedPolicyOptions = DEFAULT_SEED_POLICY,
  ) {}

  /** Whether a peer of `requester`'s swarm has `chunk` or was just handed it. */
  heldNearby(requester: PeerId, chunk: number): boolean {
    const now = this.clock.now();
    const handouts = this.#handouts.get(chunk);
    const banned = this.#banned.get(requester);
    for (const peer of this.view.neighbours(requester)) {
      if (peer === requester || banned?.has(peer)) continue;
      if (this.view.has(peer, chunk)) return true;
      const at = handouts?.get(peer);
      if (at !== undefined && now - at < this.options.handoutTtlMs) return true;
    }
    return false;
  }

  decide(requester: PeerId, chunk: number, direct: boolean): SeedDecision {
    if (!this.heldNearby(requester, chunk)) return this.#serve(requester, chunk);
    if (!direct) return "ask-peers";
    const used = this.#direct.get(requester) ?? 0;
    if (used >= Math.max(1, Math.ceil(this.chunkCount * this.options.directShare))) return "ask-peers";
    this.#direct.set(requester, used + 1);
    return this.#serve(requester, chunk);
  }

  #serve(requester: PeerId, chunk: number): SeedDecision {
    let handouts = this.#handouts.get(chunk);
    if (handouts === undefined) {
      handouts = new Map();
      this.#handouts.set(chunk, handouts);
    }
    handouts.set(requester, this.clock.now());
    return "serve";
  }

  /** `requester` banned `peer` (corrupt chunks): for it, that peer holds nothing. */
  peerBanned(requester: PeerId, peer: PeerId): void {
    let banned = this.#banned.get(requester);
    if (banned === undefined) {
      banned = new Set();
      this.#banned.set(requester, banned);
    }
    banned.add(peer);
  }

  /** A peer left the swarm: what it was handed no longer counts. */
  peerLeft(peer: PeerId): void {
    for (const handouts of this.#handouts.values()) handouts.delete(peer);
    this.#direct.delete(peer);
    this.#banned.delete(peer);
  }
}

/**
 * What a download thinks of each peer. A chunk whose SHA-256 is not the manifest's costs its sender
 * `corruptPenalty` and, from `banAfterCorrupt` such chunks on, a ban: the peer is asked for nothing more
 * and what it announces is ignored. A request it let time out costs `timeoutPenalty`; each good chunk earns
 * one point. Peers are asked in order of proximity, then score.
 */
import type { PeerId } from "./pipeline.ts";

export interface ScoringOptions {
  readonly corruptPenalty: number;
  readonly timeoutPenalty: number;
  readonly banAfterCorrupt: number;
}

export const DEFAULT_SCORING: ScoringOptions = { corruptPenalty: 20, timeoutPenalty: 2, banAfterCorrupt: 2 };

interface Record {
  score: number;
  corrupt: number;
  timeouts: number;
  good: number;
}

export class PeerScores {
  readonly #peers = new Map<PeerId, Record>();
  readonly #banned = new Set<PeerId>();

  constructor(readonly options: ScoringOptions = DEFAULT_SCORING) {}

  #record(peer: PeerId): Record {
    let record = this.#peers.get(peer);
    if (record === undefined) {
      record = { score: 0, corrupt: 0, timeouts: 0, good: 0 };
      this.#peers.set(peer, record);
    }
    return record;
  }

  score(peer: PeerId): number {
    return this.#peers.get(peer)?.score ?? 0;
  }

  good(peer: PeerId): void {
    const record = this.#record(peer);
    record.good++;
    record.score++;
  }

  /** A corrupt chunk from `peer`; true when that got it banned. */
  corrupt(peer: PeerId): boolean {
    const record = this.#record(peer);
    record.corrupt++;
    record.score -= this.options.corruptPenalty;
    if (record.corrupt >= this.options.banAfterCorrupt && !this.#banned.has(peer)) {
      this.#banned.add(peer);
      return true;
    }
    return false;
  }

  timeout(peer: PeerId): void {
    const record = this.#record(peer);
    record.timeouts++;
    record.score -= this.options.timeoutPenalty;
  }

  banned(peer: PeerId): boolean {
    return this.#banned.has(peer);
  }

  /** Every banned peer (for the game's report, and to pass on to the cluster). */
  bannedPeers(): PeerId[] {
    return [...this.#banned];
  }

  counts(peer: PeerId): Readonly<Record> {
    return { ...this.#record(peer) };
  }
}

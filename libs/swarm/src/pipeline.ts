/**
 * Requests in flight, per peer: each peer gets a window of outstanding requests that grows while it answers
 * in time (by one request per window's worth of answers, up to `maxPerPeer`) and halves when a request times
 * out, so a fast peer is kept busy across its round trip and a slow one is not handed chunks it will sit on.
 * `total` caps the requests of a whole download.
 */
export type PeerId = string;

export interface PipelineLimits {
  /** The window a peer starts with, and the least it shrinks to. */
  readonly minPerPeer: number;
  readonly maxPerPeer: number;
  /** Outstanding requests of the whole download. */
  readonly total: number;
  /** A request unanswered this long is given up (the peer penalised, the chunk asked elsewhere). */
  readonly timeoutMs: number;
}

export const DEFAULT_LIMITS: PipelineLimits = { minPerPeer: 2, maxPerPeer: 16, total: 64, timeoutMs: 15_000 };

interface PeerWindow {
  window: number;
  /** chunk -> when it was asked */
  readonly outstanding: Map<number, number>;
}

export interface Expired {
  readonly peer: PeerId;
  readonly chunk: number;
}

export class RequestPipeline {
  readonly #peers = new Map<PeerId, PeerWindow>();
  /** chunk -> how many requests for it are out (more than one in endgame) */
  readonly #perChunk = new Map<number, number>();
  #total = 0;

  constructor(readonly limits: PipelineLimits = DEFAULT_LIMITS) {}

  #peer(peer: PeerId): PeerWindow {
    let state = this.#peers.get(peer);
    if (state === undefined) {
      state = { window: this.limits.minPerPeer, outstanding: new Map() };
      this.#peers.set(peer, state);
    }
    return state;
  }

  /** How many more requests `peer` may be sent now. */
  capacity(peer: PeerId): number {
    const state = this.#peer(peer);
    const own = Math.floor(state.window) - state.outstanding.size;
    return Math.max(0, Math.min(own, this.limits.total - this.#total));
  }

  get total(): number {
    return this.#total;
  }

  outstanding(peer: PeerId): number {
    return this.#peers.get(peer)?.outstanding.size ?? 0;
  }

  window(peer: PeerId): number {
    return Math.floor(this.#peer(peer).window);
  }

  /** How many requests for `chunk` are out. */
  requests(chunk: number): number {
    return this.#perChunk.get(chunk) ?? 0;
  }

  requestedFrom(peer: PeerId, chunk: number): boolean {
    return this.#peers.get(peer)?.outstanding.has(chunk) ?? false;
  }

  add(peer: PeerId, chunk: number, now: number): void {
    const state = this.#peer(peer);
    if (state.outstanding.has(chunk)) throw new Error(`chunk ${chunk} is asked of ${peer} already`);
    state.outstanding.set(chunk, now);
    this.#perChunk.set(chunk, this.requests(chunk) + 1);
    this.#total++;
  }

  #remove(state: PeerWindow, chunk: number): void {
    state.outstanding.delete(chunk);
    const left = this.requests(chunk) - 1;
    if (left > 0) this.#perChunk.set(chunk, left);
    else this.#perChunk.delete(chunk);
    this.#total--;
  }

  /** The peer answered `chunk` (with the chunk or a refusal); false if it was not asked for it. */
  settle(peer: PeerId, chunk: number, inTime = true): boolean {
    const state = this.#peers.get(peer);
    if (state === undefined || !state.outstanding.has(chunk)) return false;
    this.#remove(state, chunk);
    if (inTime) state.window = Math.min(this.limits.maxPerPeer, state.window + 1 / Math.floor(state.window));
    return true;
  }

  /** Gives up every request out longer than the timeout; each one's peer gets half the window. */
  expire(now: number): Expired[] {
    const expired: Expired[] = [];
    for (const [peer, state] of this.#peers) {
      for (const [chunk, at] of state.outstanding) {
        if (now - at < this.limits.timeoutMs) continue;
        this.#remove(state, chunk);
        state.window = Math.max(this.limits.minPerPeer, state.window / 2);
        expired.push({ peer, chunk });
      }
    }
    return expired;
  }

  /** Forgets a peer (gone or banned); the chunks that were asked of it. */
  dropPeer(peer: PeerId): number[] {
    const state = this.#peers.get(peer);
    if (state === undefined) return [];
    const chunks = [...state.outstanding.keys()];
    for (const chunk of chunks) this.#remove(state, chunk);
    this.#peers.delete(peer);
    return chunks;
  }
}

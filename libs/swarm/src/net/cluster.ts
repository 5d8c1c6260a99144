/**
 * The cluster's side of one asset's swarm (what a client agent runs): the tracker, which knows who swarms,
 * mints the grants that introduce them to each other and to the seed, and the seed, a `SwarmNode` that
 * serves only what peers cannot (`SeedPolicy` over its view: whom each peer was introduced to, what each
 * announced to the seed) and relays for pairs that cannot reach each other.
 *
 * A player joins: it gets a grant for the seed. Its first datagram to the seed tells the seed its public
 * address (as its NAT maps it); then the tracker introduces it to up to `neighbours` players already seen,
 * each grant carrying the other side's observed address (none for a player who keeps theirs to
 * themselves: their pairs go through the relay), and both sides punch towards each other at once.
 */
import type { ChunkSet, ChunkTable } from "../chunks.ts";
import { type Clock, systemClock } from "../clock.ts";
import { DEFAULT_SEED_POLICY, SeedPolicy, type SeedPolicyOptions } from "../seed-policy.ts";
import type { ChunkStore } from "../store.ts";
import { type Grant, mintGrants, type PeerAddress } from "./grant.ts";
import { SwarmNode } from "./node.ts";

export const SEED_ID = "cluster";

export interface ClusterSwarmOptions {
  readonly asset: Uint8Array;
  readonly table: ChunkTable;
  readonly store: ChunkStore;
  readonly have: ChunkSet;
  /** Where the seed binds, and the address players reach it at (default: where it is bound). */
  readonly host?: string;
  readonly port?: number;
  readonly publicAddress?: PeerAddress;
  /** Peers each player is introduced to at most as it joins (default 32: a swarm of a few dozen is one mesh, so the seed's "no neighbour has it" means no one has it). */
  readonly neighbours?: number;
  readonly grantTtlMs?: number;
  readonly policy?: Partial<SeedPolicyOptions>;
  /** false: the seed serves every request (everyone downloading from the server, for comparison). */
  readonly seedOnlyWhatPeersCannot?: boolean;
  /** false: players are not introduced to each other (with the above: everyone from the server alone). */
  readonly introduce?: boolean;
  readonly clock?: Clock;
  /** Hands a grant to a player, over its session with the cluster (the client wire's ASSET_PEER). */
  readonly deliver: (session: string, grant: Grant) => void;
}

interface Member {
  readonly relayOnly: boolean;
  readonly neighbours: Set<string>;
  address: PeerAddress | undefined;
}

export class ClusterSwarm {
  readonly seed: SwarmNode;
  readonly policy: SeedPolicy;
  readonly #options: ClusterSwarmOptions;
  readonly #members = new Map<string, Member>();

  private constructor(options: ClusterSwarmOptions, seed: SwarmNode, policy: SeedPolicy) {
    this.#options = options;
    this.seed = seed;
    this.policy = policy;
  }

  static async start(options: ClusterSwarmOptions): Promise<ClusterSwarm> {
    let swarm: ClusterSwarm | undefined;
    const clock = options.clock ?? systemClock;
    const policy = new SeedPolicy(
      {
        neighbours: (peer) => swarm?.neighboursOf(peer) ?? [],
        has: (peer, chunk) => swarm?.seed.known.get(peer)?.has(chunk) ?? false,
      },
      options.table.chunks.length,
      clock,
      // direct requests (after failures elsewhere) at most 2% of the chunks per player: on a busy network a
      // time-out is common, and at the library's 25% twenty players could claim five copies from the seed
      // a chunk handed out counts as held by its taker for 30 s: on a loaded host it may wait that long
      // in the seed's queue and on the wire before the taker announces it
      { ...DEFAULT_SEED_POLICY, directShare: 0.02, handoutTtlMs: 30_000, ...options.policy },
    );
    const seed = await SwarmNode.start({
      id: SEED_ID,
      table: options.table,
      asset: options.asset,
      store: options.store,
      have: options.have,
      server: true,
      ...(options.seedOnlyWhatPeersCannot !== false ? { policy } : {}),
      ...(options.host !== undefined ? { host: options.host } : {}),
      ...(options.port !== undefined ? { port: options.port } : {}),
      clock,
      // a short queue: the seed answers "busy" rather than hold chunks whose hand-out grows stale
      uploadQueue: 8,
      onSeen: (peer, address) => swarm?.seenAt(peer, address),
    });
    swarm = new ClusterSwarm(options, seed, policy);
    return swarm;
  }

  get address(): PeerAddress {
    return this.#options.publicAddress ?? this.seed.address;
  }

  get members(): number {
    return this.#members.size;
  }

  /** `session` wants the asset: it gets a grant for the seed (introductions follow once the seed sees it). */
  join(session: string, options: { readonly relayOnly?: boolean } = {}): void {
    if (session === SEED_ID) throw new Error(`"${SEED_ID}" is the seed's id, not a session's`);
    this.leave(session);
    this.#members.set(session, {
      relayOnly: options.relayOnly === true,
      neighbours: new Set(),
      address: undefined,
    });
    const [forPlayer, forSeed] = mintGrants({
      asset: this.#options.asset,
      a: session,
      b: SEED_ID,
      ttlMs: this.#options.grantTtlMs ?? 3_600_000,
      addressOfB: this.address,
      bIsServer: true,
    });
    this.seed.addGrant(forSeed);
    this.#options.deliver(session, forPlayer);
  }

  /** `session` left (or its session ended). */
  leave(session: string): void {
    const member = this.#members.get(session);
    if (member === undefined) return;
    this.#members.delete(session);
    for (const other of member.neighbours) this.#members.get(other)?.neighbours.delete(session);
    this.policy.peerLeft(session);
  }

  /** `requester` banned `peer` (it sent corrupt chunks): for it, that peer holds nothing. */
  banned(requester: string, peer: string): void {
    if (this.#members.has(requester)) this.policy.peerBanned(requester, peer);
  }

  async close(): Promise<void> {
    await this.seed.close();
  }

  /** Whom `session` was introduced to. */
  neighboursOf(session: string): ReadonlySet<string> {
    return this.#members.get(session)?.neighbours ?? new Set();
  }

  /** The seed saw `session` at `address`: introduce it to the others. */
  seenAt(session: string, address: PeerAddress): void {
    const member = this.#members.get(session);
    if (member === undefined || member.address !== undefined) return;
    member.address = address;
    if (this.#options.introduce === false) return;
    const limit = this.#options.neighbours ?? 32;
    const candidates = [...this.#members.entries()]
      .filter(([id, other]) => id !== session && other.address !== undefined && !member.neighbours.has(id))
      .sort((a, b) => a[1].neighbours.size - b[1].neighbours.size)
      .slice(0, limit);
    for (const [id, other] of candidates) this.#introduce(session, member, id, other);
  }

  #introduce(a: string, memberA: Member, b: string, memberB: Member): void {
    const [forA, forB] = mintGrants({
      asset: this.#options.asset,
      a,
      b,
      ttlMs: this.#options.grantTtlMs ?? 3_600_000,
      ...(memberA.relayOnly ? {} : { addressOfA: memberA.address! }),
      ...(memberB.relayOnly ? {} : { addressOfB: memberB.address! }),
    });
    memberA.neighbours.add(b);
    memberB.neighbours.add(a);
    this.seed.relayPair(forA.pair, a, b);
    this.#options.deliver(a, forA);
    this.#options.deliver(b, forB);
  }
}

/**
 * What main tells a link end at each heartbeat: the links it should keep. For every peer the operator
 * lets its cluster link with (registered, not revoked) and that has a live link end, one live instance of
 * each side is responsible for the pair, chosen by rendezvous hashing over the live instances, so every
 * replica of main picks the same ones and a pair moves only when one of its two instances goes. The
 * cluster whose name sorts first dials; the other accepts. Each side learns the other's observed address
 * (to punch through its NAT) and gets a relay ticket for the pair (for when punching fails).
 */
import {
  type Assignment,
  dials,
  mintTicket,
  type PairKeys,
  pairId,
  type SigningKey,
} from "@overworld/federation";
import sodium from "sodium-native";
import type { Directory, InstanceRecord } from "./directory.ts";
import type { RemotePeer } from "./parent.ts";

/** Relay tickets in instructions stay good this long (a heartbeat renews them long before). */
export const TICKET_LIFETIME_MS = 120_000;

export interface BrokerOptions {
  readonly directory: Directory;
  readonly relayKey: Uint8Array;
  /** Peers under other mains a cluster may link with (main-main), as the parent said. */
  readonly remotePeers?: (cluster: string) => readonly RemotePeer[];
}

/** The instance of `instances` responsible for `pair`: the highest BLAKE2b(pair, instance). */
export function responsible(pair: Uint8Array, instances: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestScore: Buffer | undefined;
  for (const instance of instances) {
    const score = Buffer.alloc(8);
    sodium.crypto_generichash_batch(score, [Buffer.from(pair), Buffer.from(instance)]);
    if (
      bestScore === undefined ||
      Buffer.compare(score, bestScore) > 0 ||
      (Buffer.compare(score, bestScore) === 0 && instance < best!)
    ) {
      best = instance;
      bestScore = score;
    }
  }
  return best;
}

/** The links `instance` of `cluster` should keep now. */
export async function assignmentsFor(
  options: BrokerOptions,
  cluster: string,
  instance: string,
  now = Date.now(),
): Promise<Assignment[]> {
  const peers = await options.directory.peersOf(cluster);
  const remote = options.remotePeers?.(cluster) ?? [];
  if (peers.length === 0 && remote.length === 0) return [];
  const instances = await options.directory.instances([cluster, ...peers.map((peer) => peer.name)]);
  const liveOf = (name: string): InstanceRecord[] =>
    instances.filter((record) => record.cluster === name && record.live);
  const mine = liveOf(cluster).map((record) => record.instance);
  if (!mine.includes(instance)) mine.push(instance); // the heartbeat being answered is live by definition
  const out: Assignment[] = [];
  for (const peer of peers) {
    const pair = pairId(cluster, peer.name);
    if (responsible(pair, mine) !== instance) continue;
    const theirs = liveOf(peer.name);
    if (theirs.length === 0) continue; // no link end of the peer heartbeats: nothing to link with yet
    const chosen = responsible(
      pair,
      theirs.map((record) => record.instance),
    );
    const address = theirs.find((record) => record.instance === chosen)?.observed ?? "";
    const role = dials(cluster, peer.name) ? "dial" : "accept";
    const ticket = mintTicket(options.relayKey, {
      pair,
      side: role === "dial" ? 0 : 1,
      expiresAt: now + TICKET_LIFETIME_MS,
    });
    out.push({
      peer: peer.name,
      key: peer.publicKey,
      role,
      address,
      ticket: Buffer.from(ticket).toString("hex"),
    });
  }
  for (const peer of remote) {
    // a peer under another main (main-main): its address as its main told the parent
    const pair = pairId(cluster, peer.peer);
    if (peer.address === "" || responsible(pair, mine) !== instance) continue;
    const role = dials(cluster, peer.peer) ? "dial" : "accept";
    const side = role === "dial" ? 0 : 1;
    // the parent's relay when it gave one (both sides can bind there), else this main's own
    const own = mintTicket(options.relayKey, { pair, side, expiresAt: now + TICKET_LIFETIME_MS });
    const relayed = peer.relay && peer.ticket ? { relay: peer.relay, ticket: peer.ticket } : undefined;
    out.push({
      peer: peer.peer,
      key: peer.key,
      role,
      address: peer.address,
      ticket: relayed?.ticket ?? Buffer.from(own).toString("hex"),
      ...(relayed ? { relay: relayed.relay } : {}),
    });
  }
  return out;
}

/** A cache of the keys main shares with each cluster, by public key (deriving them costs an X25519). */
export class PairKeyCache {
  private readonly cache = new Map<string, PairKeys>();

  constructor(
    private readonly main: SigningKey,
    private readonly derive: (main: SigningKey, theirs: Uint8Array) => PairKeys,
  ) {}

  get(publicKey: string): PairKeys {
    let keys = this.cache.get(publicKey);
    if (keys === undefined) {
      keys = this.derive(this.main, new Uint8Array(Buffer.from(publicKey, "base64")));
      if (this.cache.size > 10_000) this.cache.clear();
      this.cache.set(publicKey, keys);
    }
    return keys;
  }
}

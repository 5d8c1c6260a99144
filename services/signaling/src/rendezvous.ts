/**
 * Main's UDP rendezvous: link ends heartbeat here (sealed with the key main and their cluster share), and
 * each heartbeat is answered with instructions: the address main observed it at (what the peers punch
 * towards), the relay's address, and the links this instance should keep. A heartbeat that does not open,
 * claims an unknown cluster or repeats an old sequence is dropped unanswered; a revoked cluster is told
 * so, and nothing else.
 */
import {
  heartbeatCluster,
  type Instructions,
  MAX_CONTROL_BYTES,
  openHeartbeat,
  writeInstructions,
} from "@overworld/federation";
import { netcode } from "@overworld/protocol";
import type { Logger } from "@overworld/service";
import { assignmentsFor, type BrokerOptions, type PairKeyCache } from "./broker.ts";
import type { Directory } from "./directory.ts";
import type { Metrics } from "./metrics.ts";

export interface RendezvousOptions extends BrokerOptions {
  readonly directory: Directory;
  readonly keys: PairKeyCache;
  /** The relay's public address (`ip:port`), "" for none. */
  readonly relayAddress: string;
  readonly host: string;
  readonly port: number;
  readonly log: Logger;
  readonly metrics: Metrics;
}

export interface Rendezvous {
  readonly address: netcode.NetcodeAddress;
  close(): Promise<void>;
}

export async function startRendezvous(options: RendezvousOptions): Promise<Rendezvous> {
  const { log, metrics } = options;
  const handle = async (bytes: Uint8Array, from: netcode.NetcodeAddress): Promise<Uint8Array | null> => {
    if (bytes.length > MAX_CONTROL_BYTES) return refused("oversized");
    const name = heartbeatCluster(bytes);
    if (name === null) return refused("malformed");
    const cluster = await options.directory.find(name);
    if (cluster === undefined) return refused("unknown_cluster");
    const keys = options.keys.get(cluster.publicKey).heartbeat;
    const heartbeat = openHeartbeat(keys, name, bytes);
    if (heartbeat === null) return refused("bad_seal");
    const answer = (body: Omit<Instructions, "seq" | "observed" | "relay">) =>
      writeInstructions(keys, name, {
        seq: heartbeat.seq,
        observed: from.key,
        relay: options.relayAddress,
        ...body,
      });
    if (cluster.revokedAt !== null) {
      metrics.heartbeats.inc({ result: "revoked" });
      return answer({ links: [], revoked: true, refused: `the key of ${name} is revoked` });
    }
    const links = Array.isArray(heartbeat.links) ? heartbeat.links.slice(0, 64) : [];
    const load = Math.min(1, Math.max(0, heartbeat.load || 0));
    const fresh = await options.directory.heartbeat(
      name,
      heartbeat.instance,
      heartbeat.seq,
      from.key,
      load,
      links,
    );
    if (!fresh) return refused("replayed");
    metrics.heartbeats.inc({ result: "ok" });
    return answer({ links: await assignmentsFor(options, name, heartbeat.instance) });
  };
  const refused = (reason: string): null => {
    metrics.heartbeats.inc({ result: reason });
    return null;
  };

  let closed = false;
  const udp = await netcode.openUdpEndpoint({
    host: options.host,
    port: options.port,
    onDatagram: (bytes, from) => {
      const copy = bytes.slice();
      handle(copy, from).then(
        (reply) => {
          if (reply !== null && !closed) udp.send(reply, from);
        },
        (error: unknown) => log.error({ err: error, from: from.key }, "heartbeat failed"),
      );
    },
  });
  log.info({ address: udp.address.key }, "rendezvous listening");
  return {
    address: udp.address,
    close: () => {
      closed = true;
      return udp.close();
    },
  };
}

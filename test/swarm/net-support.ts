/** A swarm on loopback UDP for the net tests: the cluster's side, and players joining it. */
import { randomBytes } from "node:crypto";
import { ChunkSet, type ChunkTable, MemoryChunkStore } from "@overworld/swarm";
import { ClusterSwarm, type Grant, SwarmNode, type SwarmNodeOptions } from "@overworld/swarm/net";
import { realAsset } from "./support.ts";

export interface NetSwarm {
  readonly bytes: Uint8Array;
  readonly table: ChunkTable;
  readonly asset: Uint8Array;
  readonly cluster: ClusterSwarm;
  readonly players: Map<string, SwarmNode>;
  /** Grants the cluster handed each session (a test can misuse them). */
  readonly grants: Map<string, Grant[]>;
  join(
    id: string,
    options?: Partial<SwarmNodeOptions> & { holds?: "all" | readonly number[]; relayOnly?: boolean },
  ): Promise<SwarmNode>;
  storeOf(id: string): MemoryChunkStore;
  /** The asset as `id` holds it, chunk after chunk. */
  copyOf(id: string): Uint8Array;
  close(): Promise<void>;
}

export async function netSwarm(
  size: number,
  chunkSize: number,
  options: { seedOnlyWhatPeersCannot?: boolean } = {},
): Promise<NetSwarm> {
  const { bytes, table } = realAsset(size, chunkSize);
  const asset = new Uint8Array(randomBytes(32));
  const players = new Map<string, SwarmNode>();
  const stores = new Map<string, MemoryChunkStore>();
  const grants = new Map<string, Grant[]>();
  const seedStore = new MemoryChunkStore();
  for (const chunk of table.chunks)
    seedStore.chunks.set(chunk.index, bytes.slice(chunk.offset, chunk.offset + chunk.size));
  const cluster = await ClusterSwarm.start({
    asset,
    table,
    store: seedStore,
    have: ChunkSet.full(table.chunks.length),
    host: "127.0.0.1",
    ...options,
    deliver: (session, grant) => {
      grants.set(session, [...(grants.get(session) ?? []), grant]);
      players.get(session)?.addGrant(grant);
    },
  });
  return {
    bytes,
    table,
    asset,
    cluster,
    players,
    grants,
    async join(id, { holds, relayOnly, ...rest } = {}) {
      const store = new MemoryChunkStore();
      const indexes = holds === "all" ? table.chunks.map((c) => c.index) : (holds ?? []);
      for (const index of indexes) {
        const chunk = table.chunks[index]!;
        store.chunks.set(index, bytes.slice(chunk.offset, chunk.offset + chunk.size));
      }
      stores.set(id, store);
      const node = await SwarmNode.start({
        id,
        table,
        asset,
        store,
        have: ChunkSet.of(table.chunks.length, indexes),
        host: "127.0.0.1",
        relay: cluster.address,
        ...(relayOnly === true ? { relayOnly: true } : {}),
        onBanned: (peer) => cluster.banned(id, peer),
        ...rest,
      });
      players.set(id, node);
      cluster.join(id, { relayOnly: relayOnly === true });
      return node;
    },
    storeOf: (id) => stores.get(id)!,
    copyOf(id) {
      const store = stores.get(id)!;
      const out = new Uint8Array(table.totalBytes);
      for (const chunk of table.chunks) {
        const got = store.chunks.get(chunk.index);
        if (got !== undefined) out.set(got, chunk.offset);
      }
      return out;
    },
    async close() {
      for (const node of players.values()) await node.close();
      await cluster.close();
    },
  };
}

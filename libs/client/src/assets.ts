/**
 * Downloading an asset from the swarm (Node only: UDP sockets and libsodium; not in the browser bundle):
 * the client asks its client agent to join the asset's swarm (ASSET_JOIN), gets grants for the cluster's
 * seed and for peers (ASSET_PEER), and fetches chunks from them over the peer wire (@overworld/swarm/net),
 * serving what it holds to the others until it closes. Resumes from what verifies in `dir`.
 *
 *   const asset = await downloadAsset(client, { manifest, id }, { dir: "assets/town", onProgress });
 *   await asset.done;      // every chunk verified against the signed manifest
 *   await asset.close();   // leaves the swarm (stop serving)
 */
import type { Manifest } from "@overworld/manifest";
import { ClientMessageType } from "@overworld/protocol/client";
import {
  type ChunkStore,
  chunkTable,
  FileChunkStore,
  MemoryChunkStore,
  type Progress,
  verifiedChunks,
} from "@overworld/swarm";
import { assetIdBytes, SwarmNode } from "@overworld/swarm/net";
import type { OverworldClient } from "./client.ts";

export interface AssetDownloadOptions {
  /** Where the asset's files go (and what is there already counts, if it verifies); default: memory. */
  readonly dir?: string;
  readonly store?: ChunkStore;
  readonly onProgress?: (progress: Progress) => void;
  /** Keep this player's address to itself: peers reach it through the cluster's relay only. */
  readonly relayOnly?: boolean;
  /** The local address and port of the swarm's UDP socket (default: any). */
  readonly host?: string;
  readonly port?: number;
  /** A random seed for the piece picker's ties. */
  readonly seed?: number;
}

export interface AssetDownload {
  readonly node: SwarmNode;
  readonly store: ChunkStore;
  /** Resolves when every chunk is held and verified; rejects on ASSET_ERROR. */
  readonly done: Promise<void>;
  progress(): Progress | undefined;
  /** Leaves the swarm (ASSET_LEAVE) and closes the socket. */
  close(): Promise<void>;
}

/** A verified asset manifest (`verifyPackage` or main's signed manifest checked) and its id. */
export interface AssetRef {
  readonly manifest: Manifest;
  /** The manifest's id (64 hex digits). */
  readonly id: string;
}

export async function downloadAsset(
  client: OverworldClient,
  asset: AssetRef,
  options: AssetDownloadOptions = {},
): Promise<AssetDownload> {
  if (asset.manifest.kind !== "asset") {
    throw new Error(`${asset.manifest.name} is a ${asset.manifest.kind}, not an asset`);
  }
  const table = chunkTable(asset.manifest);
  const store =
    options.store ??
    (options.dir !== undefined ? new FileChunkStore(options.dir, table) : new MemoryChunkStore());
  const have = await verifiedChunks(table, store);
  const node = await SwarmNode.start({
    id: "self",
    table,
    asset: assetIdBytes(asset.id),
    store,
    have,
    ...(options.host !== undefined ? { host: options.host } : {}),
    ...(options.port !== undefined ? { port: options.port } : {}),
    ...(options.relayOnly === true ? { relayOnly: true } : {}),
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.onProgress !== undefined ? { onProgress: options.onProgress } : {}),
    onBanned: (peer) => {
      if (!closed) client.sendAssetMessage({ type: ClientMessageType.AssetBanned, asset: asset.id, peer });
    },
  });
  let closed = false;
  let fail: (error: Error) => void = () => {};
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const offPeer = client.on("asset-peer", (grant) => {
    if (grant.asset !== asset.id) return;
    const { address, server, ...rest } = grant;
    node.addGrant({
      ...rest,
      asset: assetIdBytes(grant.asset),
      ...(address !== undefined ? { address } : {}),
      ...(server ? { server: true } : {}),
    });
  });
  const offError = client.on("asset-error", (event) => {
    if (event.asset !== asset.id) return;
    fail(
      new Error(`the cluster cannot swarm asset ${asset.manifest.name} (${event.code}): ${event.message}`),
    );
  });
  client.sendAssetMessage({
    type: ClientMessageType.AssetJoin,
    asset: asset.id,
    relayOnly: options.relayOnly === true,
  });
  const done = Promise.race([node.done, failed]);
  done.catch(() => undefined);
  return {
    node,
    store,
    done,
    progress: () => node.download?.progress(),
    async close() {
      if (closed) return;
      closed = true;
      offPeer();
      offError();
      try {
        client.sendAssetMessage({ type: ClientMessageType.AssetLeave, asset: asset.id });
      } catch {
        // the client is closed already: its session's end took it out of the swarm
      }
      await node.close();
    },
  };
}

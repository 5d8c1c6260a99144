/**
 * Assets the client agent swarms (issue 14): each a signed package under ASSETS_DIR (checked against the
 * trust list ASSETS_TRUST as main's packages are), seeded by the agent only where the players cannot give
 * each other a chunk. A player's ASSET_JOIN puts its session in that asset's swarm (`ClusterSwarm` of
 * @overworld/swarm/net: the tracker that mints grants, the seed, the relay); grants go to it as ASSET_PEER.
 * A session that ends leaves every swarm it was in.
 */
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { type Manifest, readPackageDirectory, readTrustList, verifyPackage } from "@overworld/manifest";
import { AgentMessageType } from "@overworld/protocol/client";
import type { Logger } from "@overworld/service";
import { ChunkSet, chunkTable, MemoryChunkStore } from "@overworld/swarm";
import { assetIdBytes, ClusterSwarm, type Grant } from "@overworld/swarm/net";
import type { ClientSession, SessionAssets } from "./session.ts";

interface Asset {
  readonly manifest: Manifest;
  readonly id: string;
  readonly files: ReadonlyMap<string, Uint8Array>;
}

export interface AgentAssetsOptions {
  readonly dir: string;
  readonly trustFile: string;
  /** Where the seeds bind, and the host players reach them at. */
  readonly host: string;
  readonly publicHost: string;
  readonly log: Logger;
  /** The seed serves every request (everyone from the server: a bench's comparison). */
  readonly serveAll?: boolean;
}

export class AgentAssets implements SessionAssets {
  readonly #assets: ReadonlyMap<string, Asset>;
  readonly #swarms = new Map<string, Promise<ClusterSwarm>>();
  /** swarm session id -> session */
  readonly #sessions = new Map<string, ClientSession>();
  /** session -> the assets it joined */
  readonly #joined = new Map<ClientSession, Set<string>>();

  private constructor(
    assets: ReadonlyMap<string, Asset>,
    private readonly options: AgentAssetsOptions,
  ) {
    this.#assets = assets;
  }

  /** Reads and verifies every package directory under `dir`; a bad one stops the agent with its reason. */
  static async load(options: AgentAssetsOptions): Promise<AgentAssets> {
    const trust = await readTrustList(options.trustFile);
    const assets = new Map<string, Asset>();
    for (const entry of await readdir(options.dir, { withFileTypes: true })) {
      if (!entry.isDirectory()) continue;
      const verified = await verifyPackage(await readPackageDirectory(join(options.dir, entry.name)), trust);
      if (verified.manifest.kind !== "asset") continue;
      assets.set(verified.id, { manifest: verified.manifest, id: verified.id, files: verified.files });
      options.log.info(
        { asset: verified.manifest.name, version: verified.manifest.version, id: verified.id },
        "asset ready to swarm",
      );
    }
    return new AgentAssets(assets, options);
  }

  /** The assets it serves: name, version, id. */
  list(): { name: string; version: string; id: string }[] {
    return [...this.#assets.values()].map(({ manifest, id }) => ({
      name: manifest.name,
      version: manifest.version,
      id,
    }));
  }

  /** Bytes the seeds sent: chunk segments, relayed datagrams, everything. */
  async sent(): Promise<{ pieces: number; relayed: number; total: number }> {
    const out = { pieces: 0, relayed: 0, total: 0 };
    for (const swarm of this.#swarms.values()) {
      const { sent } = (await swarm).seed;
      out.pieces += sent.pieces;
      out.relayed += sent.relayed;
      out.total += sent.total;
    }
    return out;
  }

  join(session: ClientSession, asset: string, relayOnly: boolean): void {
    if (!this.#assets.has(asset)) {
      session.send({
        type: AgentMessageType.AssetError,
        asset,
        code: "unknown_asset",
        message: `this cluster serves no asset ${asset}; the assets it serves: ${
          this.list()
            .map((a) => `${a.name}@${a.version}`)
            .join(", ") || "none"
        }`,
      });
      session.urgent = true;
      return;
    }
    const id = swarmId(session);
    this.#sessions.set(id, session);
    let joined = this.#joined.get(session);
    if (joined === undefined) {
      joined = new Set();
      this.#joined.set(session, joined);
    }
    joined.add(asset);
    void this.#swarm(asset).then(
      (swarm) => {
        if (this.#joined.get(session)?.has(asset)) swarm.join(id, { relayOnly });
      },
      (error: unknown) => {
        this.options.log.error({ err: error, asset }, "the asset's swarm did not start");
        session.send({
          type: AgentMessageType.AssetError,
          asset,
          code: "unavailable",
          message: `the agent could not start the swarm of asset ${asset}: ${(error as Error).message}`,
        });
      },
    );
  }

  leave(session: ClientSession, asset: string): void {
    if (!this.#joined.get(session)?.delete(asset)) return;
    void this.#swarms.get(asset)?.then((swarm) => swarm.leave(swarmId(session)));
  }

  banned(session: ClientSession, asset: string, peer: string): void {
    void this.#swarms.get(asset)?.then((swarm) => swarm.banned(swarmId(session), peer));
  }

  closed(session: ClientSession): void {
    for (const asset of this.#joined.get(session) ?? []) this.leave(session, asset);
    this.#joined.delete(session);
    this.#sessions.delete(swarmId(session));
  }

  async close(): Promise<void> {
    for (const swarm of this.#swarms.values()) await (await swarm).close();
  }

  #swarm(asset: string): Promise<ClusterSwarm> {
    let swarm = this.#swarms.get(asset);
    if (swarm === undefined) {
      const { manifest, files } = this.#assets.get(asset)!;
      const table = chunkTable(manifest);
      const store = new MemoryChunkStore();
      for (const chunk of table.chunks) {
        const file = files.get(chunk.path)!;
        store.chunks.set(chunk.index, file.subarray(chunk.offset, chunk.offset + chunk.size));
      }
      swarm = ClusterSwarm.start({
        asset: assetIdBytes(asset),
        table,
        store,
        have: ChunkSet.full(table.chunks.length),
        host: this.options.host,
        ...(this.options.serveAll === true ? { seedOnlyWhatPeersCannot: false, introduce: false } : {}),
        deliver: (id, grant) => this.#deliver(id, asset, grant),
      }).then((started) => {
        this.options.log.info(
          { asset: manifest.name, port: started.seed.address.port },
          "asset swarm seeding",
        );
        return started;
      });
      this.#swarms.set(asset, swarm);
    }
    return swarm;
  }

  #deliver(id: string, asset: string, grant: Grant): void {
    const session = this.#sessions.get(id);
    if (session === undefined || session.state !== "active") return;
    const address =
      grant.server === true && grant.address !== undefined
        ? { host: this.options.publicHost, port: grant.address.port }
        : grant.address;
    session.send({
      type: AgentMessageType.AssetPeer,
      asset,
      pair: grant.pair,
      peer: grant.peer,
      side: grant.side,
      key: grant.key,
      expiresAt: grant.expiresAt,
      server: grant.server === true,
      ...(address !== undefined ? { address } : {}),
    });
    session.urgent = true;
  }
}

function swarmId(session: ClientSession): string {
  return `s${session.clientIndex}`;
}

/**
 * Players download an asset from each other through a real cluster (message director, state server,
 * client agent, uberdog on NATS, Redis, Postgres): each asks its client agent to join the asset's swarm
 * (ASSET_JOIN), gets grants (ASSET_PEER) and fetches chunks from the others and the agent's seed over UDP;
 * every copy is byte-identical to the signed asset, the seed sends much less than one copy per player; an
 * asset the cluster does not serve is answered ASSET_ERROR unknown_asset.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FIRST_LOOPBACK_SOURCE, sourceAddress } from "@overworld/bots";
import { downloadAsset, OverworldClient } from "@overworld/client";
import { encodeKey, newSeed, signingKeyFromSeed } from "@overworld/federation";
import {
  addKey,
  EMPTY_TRUST_LIST,
  manifestId,
  packAssetDirectory,
  signDirectory,
  writeTrustList,
} from "@overworld/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type PlayerCluster, signUp, startPlayerCluster } from "../support/players.ts";

const root = mkdtempSync(join(tmpdir(), "overworld-assets-"));
const MAP = randomBytes(3 * 1024 * 1024 + 777);
let services: PlayerCluster;
let asset: { manifest: Awaited<ReturnType<typeof packAssetDirectory>>; id: string };
let players = 0;

beforeAll(async () => {
  const key = signingKeyFromSeed(newSeed());
  const dir = join(root, "assets", "town");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "asset.json"), JSON.stringify({ name: "town", version: "1.0.0" }));
  writeFileSync(join(dir, "map.bin"), MAP);
  await packAssetDirectory(dir, 128 * 1024);
  const signed = await signDirectory(dir, key);
  asset = { manifest: signed.manifest, id: manifestId(signed.manifest) };
  await writeTrustList(
    join(root, "trust.json"),
    addKey(EMPTY_TRUST_LIST, encodeKey(key.publicKey), "test main"),
  );
  services = await startPlayerCluster("assets", {
    dcFiles: [DEMO_DC],
    agentEnv: { ASSETS_DIR: join(root, "assets"), ASSETS_TRUST: join(root, "trust.json") },
  });
}, 60_000);

afterAll(async () => {
  await services?.stop();
  rmSync(root, { recursive: true, force: true });
});

async function connect(name: string): Promise<OverworldClient> {
  const localAddress = sourceAddress(FIRST_LOOPBACK_SOURCE, players++);
  const client = await OverworldClient.connect({
    token: await signUp(services.baseUrl, `${name}${process.pid}`, localAddress),
    file: demo.file,
    version: CLUSTER_VERSION,
    host: localAddress,
  });
  services.clients.push(client);
  return client;
}

describe("assets through the cluster", () => {
  it("four players swarm for the asset: byte-identical files, the seed sending far less than four copies", async () => {
    const clients = await Promise.all(["ann", "ben", "cas", "dee"].map((name) => connect(name)));
    const progress: number[] = [];
    const downloads = await Promise.all(
      clients.map((client, i) =>
        downloadAsset(client, asset, {
          dir: join(root, "players", String(i)),
          host: "127.0.0.1",
          ...(i === 0 ? { onProgress: (p) => progress.push(p.bytesDone) } : {}),
        }),
      ),
    );
    await Promise.all(downloads.map((download) => download.done));
    for (let i = 0; i < downloads.length; i++) {
      expect(Buffer.compare(readFileSync(join(root, "players", String(i), "map.bin")), MAP)).toBe(0);
    }
    expect(progress.at(-1)).toBe(MAP.length);
    const sent = await services.cluster.agent.assets!.sent();
    expect(sent.pieces).toBeLessThan(2.5 * MAP.length);
    const fromPeers = downloads.reduce((sum, d) => sum + (d.progress()?.fromPeers ?? 0), 0);
    expect(fromPeers).toBeGreaterThan(0);
    for (const download of downloads) await download.close();
  }, 60_000);

  it("an asset the cluster does not serve is refused with unknown_asset", async () => {
    const client = await connect("eve");
    const download = await downloadAsset(client, { manifest: asset.manifest, id: "ab".repeat(32) });
    await expect(download.done).rejects.toThrow(/unknown_asset/);
    await download.close();
  }, 30_000);
});

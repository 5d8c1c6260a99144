/**
 * The swarm over real UDP sockets on loopback: players fetch an asset from each other with grants the
 * cluster minted, the seed serving only what they cannot; byte-identical copies; a corrupt peer banned and
 * avoided; a peer leaving mid-transfer; a player relaying only; tokens of another asset or pair refused.
 */
import { createSocket } from "node:dgram";
import { ChunkSet, MemoryChunkStore } from "@overworld/swarm";
import { type Grant, mintGrants, SwarmNode } from "@overworld/swarm/net";
import { afterEach, describe, expect, it } from "vitest";
import { type NetSwarm, netSwarm } from "./net-support.ts";

const KiB = 1024;
let swarm: NetSwarm | undefined;

afterEach(async () => {
  await swarm?.close();
  swarm = undefined;
});

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe("the swarm on the network", () => {
  it("six players fetch the asset from each other, the seed sends it about once", async () => {
    swarm = await netSwarm(4 * 1024 * KiB, 64 * KiB);
    const ids = ["p1", "p2", "p3", "p4", "p5", "p6"];
    const nodes = await Promise.all(ids.map((id) => swarm!.join(id)));
    await Promise.all(nodes.map((node) => node.done));
    for (const id of ids) expect(sameBytes(swarm.copyOf(id), swarm.bytes)).toBe(true);
    const fromPeers = nodes.reduce((sum, node) => sum + node.download!.progress().fromPeers, 0);
    expect(fromPeers).toBeGreaterThan(0);
    // a server alone would send the asset six times
    expect(swarm.cluster.seed.sent.pieces).toBeLessThan(2.5 * swarm.table.totalBytes);
    // every player was introduced to others and reached them directly
    for (const node of nodes) {
      expect(
        node.connections().filter((c) => c.peer !== "cluster" && c.via === "direct").length,
      ).toBeGreaterThan(0);
    }
  }, 30_000);

  it("a peer serving corrupt chunks is detected, banned and avoided; every honest copy is byte-identical", async () => {
    swarm = await netSwarm(2 * 1024 * KiB, 64 * KiB);
    const liar = await swarm.join("liar", {
      holds: "all",
      tamper: (_chunk, bytes) => {
        const bad = bytes.slice();
        bad[7]! ^= 0xff;
        return bad;
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 200)); // the liar is seen first: everyone meets it
    const honest = await Promise.all(["h1", "h2", "h3"].map((id) => swarm!.join(id)));
    await Promise.all(honest.map((node) => node.done));
    for (const id of ["h1", "h2", "h3"]) expect(Buffer.compare(swarm.copyOf(id), swarm.bytes)).toBe(0);
    for (const node of honest) {
      const progress = node.download!.progress();
      if (progress.wasted > 0) expect(node.download!.scores.banned("liar")).toBe(true);
      expect(node.download!.sources().get("liar") ?? 0).toBe(0);
    }
    // the liar was asked (it held everything) and caught by at least one
    expect(honest.some((node) => node.download!.scores.banned("liar"))).toBe(true);
    expect(liar.sent.pieces).toBeGreaterThan(0);
  }, 30_000);

  it("a peer leaving mid-transfer does not stall the others", async () => {
    swarm = await netSwarm(3 * 1024 * KiB, 64 * KiB);
    // the seed hands out little: most of the asset is with the full peer, which then leaves without a word
    const full = await swarm.join("full", { holds: "all", ledbat: false });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const others = await Promise.all(["l1", "l2", "l3"].map((id) => swarm!.join(id, { deadAfterMs: 2000 })));
    await new Promise<void>((resolve) => {
      const check = setInterval(() => {
        if (others.some((node) => (node.download!.sources().get("full") ?? 0) > 0)) {
          clearInterval(check);
          resolve();
        }
      }, 5);
    });
    await full.close();
    swarm.players.delete("full");
    swarm.cluster.leave("full");
    const left = others.map((node) => node.download!.progress().chunksDone);
    expect(left.some((done) => done < swarm!.table.chunks.length)).toBe(true);
    await Promise.all(others.map((node) => node.done));
    for (const id of ["l1", "l2", "l3"]) expect(Buffer.compare(swarm.copyOf(id), swarm.bytes)).toBe(0);
    for (const node of others) expect(node.download!.peers()).not.toContain("full");
  }, 30_000);

  it("a player who keeps their address to themselves swarms through the relay only", async () => {
    swarm = await netSwarm(2 * 1024 * KiB, 64 * KiB);
    const open_ = await swarm.join("open", { holds: "all" });
    await new Promise((resolve) => setTimeout(resolve, 200));
    const hidden = await swarm.join("hidden", { relayOnly: true });
    await hidden.done;
    expect(Buffer.compare(swarm.copyOf("hidden"), swarm.bytes)).toBe(0);
    // no grant told anyone where "hidden" is, and it reached "open" only through the relay
    expect(swarm.grants.get("open")!.find((g) => g.peer === "hidden")!.address).toBeUndefined();
    expect(hidden.connections().find((c) => c.peer === "open")!.via).toBe("relay");
    expect(open_.connections().find((c) => c.peer === "hidden")!.via).toBe("relay");
    expect(hidden.download!.sources().get("open") ?? 0).toBeGreaterThan(0);
    expect(swarm.cluster.seed.sent.relayed).toBeGreaterThan(0);
  }, 30_000);

  it("a grant for one asset or one pair fetches nothing else; a forged one is never answered", async () => {
    swarm = await netSwarm(1024 * KiB, 64 * KiB);
    const holder = await swarm.join("holder", { holds: "all" });
    const thief = await swarm.join("thief");
    await thief.done;
    const real = swarm.grants.get("thief")!.find((g) => g.peer === "holder")!;
    const { table } = swarm;
    // the thief's grant for "holder", pointed at another asset, at another player, or with a key of its own
    const otherAsset = new Uint8Array(32).fill(7);
    const bystander = await swarm.join("bystander", { holds: "all" });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const [forged] = mintGrants({ asset: swarm.asset, a: "thief", b: "holder", ttlMs: 60_000 });
    const misuses: Grant[] = [
      { ...real, asset: otherAsset },
      { ...real, peer: "bystander", address: bystander.address },
      { ...forged, address: holder.address },
      { ...real, address: holder.address, expiresAt: Date.now() - 1 }, // expired: not even sent
    ];
    for (const grant of misuses) {
      const answers: Buffer[] = [];
      const probe = await SwarmNode.start({
        id: "thief",
        table,
        asset: grant.asset,
        store: new MemoryChunkStore(),
        have: new ChunkSet(table.chunks.length),
        host: "127.0.0.1",
      });
      probe.addGrant(grant);
      // a raw socket, too, replaying the grant's pair with garbage
      const raw = createSocket("udp4");
      raw.on("message", (bytes) => answers.push(bytes));
      await new Promise<void>((resolve) => raw.bind(0, "127.0.0.1", () => resolve()));
      const junk = Buffer.alloc(200, 1);
      junk[0] = 0xa5;
      Buffer.from(grant.pair).copy(junk, 1);
      raw.send(junk, holder.address.port, "127.0.0.1");
      raw.send(junk, bystander.address.port, "127.0.0.1");
      await new Promise((resolve) => setTimeout(resolve, 700));
      expect(probe.connections()[0]?.connected ?? false).toBe(false);
      expect(probe.download!.progress().chunksDone).toBe(0);
      expect(answers).toHaveLength(0);
      await probe.close();
      raw.close();
    }
  }, 30_000);
});

/**
 * The asset swarm behind NAT (issue 14): two players, each in a namespace of its own behind a home-router
 * NAT (test/netns/topology.ts), and the cluster's seed, tracker and relay (`ClusterSwarm`) on "the
 * internet". The seed learns each player's public address from its first datagram, the tracker introduces
 * them with those addresses, and they punch through both NATs; behind symmetric NATs punching cannot work
 * and they fall back to the seed's relay. Either way the player that started empty ends with a
 * byte-identical file, fetched from the other player, not from the seed.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describeBytes, type Manifest } from "@overworld/manifest";
import { ChunkSet, chunkTable, MemoryChunkStore } from "@overworld/swarm";
import { ClusterSwarm, type Grant } from "@overworld/swarm/net";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { buildTopology, type NatKind, requireNamespaces, type Site, type Topology } from "./topology.ts";

const PEER = new URL("./swarm-peer.ts", import.meta.url).pathname;
const CHUNK = 64 * 1024;
let topology: Topology | undefined;
let cluster: ClusterSwarm | undefined;
let dir: string | undefined;

beforeAll(() => requireNamespaces());
afterEach(async () => {
  await cluster?.close();
  await topology?.teardown();
  if (dir) rmSync(dir, { recursive: true, force: true });
  cluster = undefined;
  topology = undefined;
});

interface Report {
  done?: boolean;
  connections?: { peer: string; via: "direct" | "relay"; connected: boolean }[];
  sources?: Record<string, number>;
}

async function swarmBehind(kind: NatKind): Promise<{ report: Report; copy: Buffer; bytes: Buffer }> {
  topology = buildTopology({ a: kind, b: kind });
  dir = mkdtempSync(join(tmpdir(), "overworld-nat-swarm-"));
  const bytes = randomBytes(2 * 1024 * 1024 + 123);
  const file = join(dir, "asset.bin");
  writeFileSync(file, bytes);
  const manifest: Manifest = {
    format: 1,
    kind: "asset",
    name: "nat-asset",
    version: "1.0.0",
    chunkSize: CHUNK,
    files: [describeBytes("asset.bin", bytes, CHUNK)],
  };
  const table = chunkTable(manifest);
  const store = new MemoryChunkStore();
  for (const chunk of table.chunks)
    store.chunks.set(chunk.index, bytes.subarray(chunk.offset, chunk.offset + chunk.size));
  const asset = randomBytes(32);
  const stdins = new Map<string, NodeJS.WritableStream>();
  cluster = await ClusterSwarm.start({
    asset,
    table,
    store,
    have: ChunkSet.full(table.chunks.length),
    host: topology.mainAddress,
    deliver: (session, grant: Grant) => {
      stdins.get(session)?.write(
        `${JSON.stringify({
          ...grant,
          pair: Buffer.from(grant.pair).toString("base64"),
          asset: Buffer.from(grant.asset).toString("base64"),
          key: Buffer.from(grant.key).toString("base64"),
        })}\n`,
      );
    },
  });
  const start = async (name: string, site: Site, holds: "all" | "none") => {
    const out = join(dir!, name);
    const child = topology!.spawn(
      site.ns,
      process.execPath,
      ["--import", "tsx", PEER, name, file, String(CHUNK), asset.toString("hex"), holds, out],
      process.env,
      "pipe",
    );
    child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(`[${name}] ${chunk}`));
    stdins.set(name, child.stdin!);
    const reports: Report[] = [];
    let wake: (() => void) | undefined;
    createInterface({ input: child.stdout! }).on("line", (line) => {
      reports.push(JSON.parse(line) as Report);
      wake?.();
    });
    const next = async (test: (r: Report) => boolean, what: string) => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = reports.find(test);
        if (found) return found;
        if (Date.now() > deadline) throw new Error(`${name}: no ${what} within 30 s`);
        await new Promise<void>((resolve) => {
          wake = resolve;
          setTimeout(resolve, 200);
        });
      }
    };
    await next((r) => "ready" in r, "ready");
    cluster!.join(name);
    return { out, next };
  };
  await start("a", topology.a, "all");
  const b = await start("b", topology.b, "none");
  const report = await b.next((r) => r.done === true, "finished download");
  return { report, copy: readFileSync(join(b.out, "asset.bin")), bytes };
}

describe("the asset swarm behind NAT", () => {
  it("players behind cone NATs punch through and fetch from each other directly", async () => {
    const { report, copy, bytes } = await swarmBehind("cone");
    expect(Buffer.compare(copy, bytes)).toBe(0);
    const toA = report.connections!.find((c) => c.peer === "a")!;
    expect(toA.via).toBe("direct");
    expect(report.sources!.a ?? 0).toBeGreaterThan(bytes.length / 2);
    expect(cluster!.seed.sent.relayed).toBe(0);
  }, 60_000);

  it("players behind symmetric NATs cannot punch and swarm through the relay", async () => {
    const { report, copy, bytes } = await swarmBehind("symmetric");
    expect(Buffer.compare(copy, bytes)).toBe(0);
    const toA = report.connections!.find((c) => c.peer === "a")!;
    expect(toA.via).toBe("relay");
    expect(report.sources!.a ?? 0).toBeGreaterThan(bytes.length / 2);
    expect(cluster!.seed.sent.relayed).toBeGreaterThan(0);
  }, 60_000);
});

/**
 * The federation across real hosts: main in the root namespace (on a bridge, "the internet"), two
 * clusters' link ends each in a namespace of its own behind a NAT of its own (topology.ts). Behind
 * cone-like NATs the link comes up by hole punching (each side learns the other's observed address from
 * main); behind symmetric NATs it comes up through main's relay. A partition (one NAT forwards nothing)
 * brings the link down; healed, it comes back. These tests need root and namespaces: without them they
 * fail, never skip (CI runs as root).
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeKey, newSeed } from "@overworld/federation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { waitFor } from "../support/wait.ts";
import { buildTopology, type Site, type Topology } from "./topology.ts";

const LINK_END = "services/link/src/main.ts";

interface SpawnedLinkEnd {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logs: Record<string, unknown>[];
  /** Resolves with the first log line (from now on, or already seen) with this message that `match` accepts. */
  line(
    msg: string,
    match?: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
}

function spawnLinkEnd(
  topology: Topology,
  site: Site,
  name: string,
  main: TestMain,
  dir: string,
): SpawnedLinkEnd {
  const seedFile = join(dir, `${name}.seed`);
  writeFileSync(seedFile, Buffer.from(newSeed()).toString("hex"));
  const child = topology.spawn(site.ns, process.execPath, ["--import", "tsx", LINK_END], {
    ...process.env,
    CLUSTER_NAME: name,
    CLUSTER_KEY_FILE: seedFile,
    SIGNALING_URL: main.url,
    SIGNALING_KEY: encodeKey(main.key.publicKey),
    LINK_UDP_HOST: "0.0.0.0",
    LINK_UDP_PORT: "41000",
    HTTP_PORT: "0",
    HEARTBEAT_MS: "200",
    PUNCH_TIMEOUT_MS: "2000",
    LOG_LEVEL: "info",
  });
  const logs: Record<string, unknown>[] = [];
  let rest = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const lines = (rest + chunk.toString()).split("\n");
    rest = lines.pop() ?? "";
    for (const text of lines) {
      try {
        logs.push(JSON.parse(text));
      } catch {}
    }
  });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  return {
    name,
    child,
    logs,
    line: (msg, match = () => true, timeoutMs = 15_000) =>
      waitFor(
        () => {
          if (child.exitCode !== null)
            throw new Error(`link end ${name} exited ${child.exitCode}: ${stderr}`);
          return logs.find((line) => line.msg === msg && match(line));
        },
        `"${msg}" from the link end of ${name}`,
        timeoutMs,
        20,
      ).catch((error: Error) => {
        // what the link end said last, to see why
        const recent = logs
          .slice(-20)
          .map(({ msg: said, via, reason, peer, state, err }) => ({ said, via, reason, peer, state, err }));
        throw new Error(`${error.message}; it said last: ${JSON.stringify(recent)}`);
      }),
  };
}

async function federation(kind: "cone" | "symmetric") {
  const topology = buildTopology({ a: kind, b: kind });
  const main = await startMain(schemaFor(`netns_${kind}`), {
    HTTP_HOST: topology.mainAddress,
    UDP_HOST: topology.mainAddress,
    LINK_TIMEOUT_SECONDS: "2",
  });
  const dir = mkdtempSync(join(tmpdir(), "ow-netns-"));
  const a = spawnLinkEnd(topology, topology.a, "alpha", main, dir);
  const b = spawnLinkEnd(topology, topology.b, "bravo", main, dir);
  await Promise.all([a.line("link end ready"), b.line("link end ready")]);
  const teardown = async () => {
    await topology.teardown();
    await dropMain(main);
    rmSync(dir, { recursive: true, force: true });
  };
  return { topology, main, a, b, teardown };
}

describe("behind cone-like NATs", () => {
  let world: Awaited<ReturnType<typeof federation>>;
  beforeAll(async () => {
    world = await federation("cone");
  }, 60_000);
  afterAll(async () => {
    await world?.teardown();
  });

  it("the link comes up by hole punching, each side reaching the other's NAT", async () => {
    const { main, a, b, topology } = world;
    const allowedAt = Date.now();
    expect((await main.operator("PUT", "/v1/policy/alpha/bravo")).status).toBe(204);
    const upA = await a.line("link up", (line) => line.peer === "bravo");
    const upB = await b.line("link up", (line) => line.peer === "alpha");
    expect(upA.via).toBe("direct");
    expect(upB.via).toBe("direct");
    const seconds = (Math.max(Number(upA.time), Number(upB.time)) - allowedAt) / 1000;
    expect(seconds).toBeLessThan(5);
    // main saw each link end at its NAT's public address, not at its own
    const alpha = (await main.operator("GET", "/v1/clusters/alpha")).body;
    expect(alpha.instances[0].observed).toMatch(
      new RegExp(`^${topology.a.publicAddress.replaceAll(".", "\\.")}:`),
    );
    // and messages flow: the link's RTT is measured (pings answered) and reported to main
    await waitFor(async () => {
      const bravo = (await main.operator("GET", "/v1/clusters/bravo")).body;
      return bravo.instances[0]?.links.some(
        (link: { up: boolean; rttMs: number }) => link.up && link.rttMs > 0,
      );
    }, "a measured RTT on bravo's link");
  }, 30_000);

  it("a partition brings the link down, and it comes back once healed", async () => {
    const { topology, a, b } = world;
    const before = { a: a.logs.length, b: b.logs.length };
    topology.partition(topology.a);
    const since = (end: SpawnedLinkEnd, from: number) => (line: Record<string, unknown>) =>
      end.logs.indexOf(line) >= from;
    await a.line("link down", since(a, before.a), 10_000);
    await b.line("link down", since(b, before.b), 10_000);
    const healedAt = Date.now();
    topology.heal(topology.a);
    const upA = await a.line("link up", since(a, before.a), 15_000);
    await b.line("link up", since(b, before.b), 15_000);
    expect(upA.via).toBe("direct");
    expect(Number(upA.time) - healedAt).toBeLessThan(10_000);
  }, 45_000);
});

describe("behind symmetric NATs", () => {
  let world: Awaited<ReturnType<typeof federation>>;
  beforeAll(async () => {
    world = await federation("symmetric");
  }, 60_000);
  afterAll(async () => {
    await world?.teardown();
  });

  it("punching fails and the link comes up through main's relay, which sees only ciphertext", async () => {
    const { main, a, b } = world;
    expect((await main.operator("PUT", "/v1/policy/alpha/bravo")).status).toBe(204);
    const upA = await a.line("link up", (line) => line.peer === "bravo", 20_000);
    const upB = await b.line("link up", (line) => line.peer === "alpha", 20_000);
    expect(upA.via).toBe("relay");
    expect(upB.via).toBe("relay");
    // the direct attempt ended first, by our punch timeout or by netcode's own, whichever came first
    const directEnded = (line: Record<string, unknown>) =>
      (line.msg === "link attempt gave up" || line.msg === "link attempt failed") && line.via === "direct";
    expect(a.logs.some(directEnded)).toBe(true);
    const metrics = await main.handle.relay!.pairs;
    expect(metrics).toBe(1);
    const text = await (await fetch(`${main.url}/metrics`)).text();
    expect(text).toMatch(/ow_signaling_relay_packets_total\{[^}]*result="forwarded"[^}]*\} [1-9]/);
  }, 40_000);
});

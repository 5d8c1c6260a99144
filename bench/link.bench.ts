/**
 * The link benchmark, with real hosts: main on a bridge in the root namespace, two link ends each in a
 * network namespace behind a NAT of its own (test/netns/topology.ts), as the network tests run them.
 *
 * - How long a link takes to come up, from the operator allowing it: by hole punching (cone-like NATs)
 *   and through main's relay (symmetric NATs).
 * - Round trip of a small reliable message over the link, against a raw UDP round trip between the same
 *   two namespaces through the same NATs (the link's overhead: netcode's AEAD, the reliable layer, the
 *   event loop), direct and relayed.
 * - Shared-object slot updates (90-byte reliable messages, a boss slot's size) one link carries a second.
 *
 * Needs root (namespaces, iptables) and the local Postgres. `pnpm bench:link [--json FILE] [--quick]`.
 */
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { encodeKey, newSeed } from "@overworld/federation";
import { buildTopology, type NatKind, type Site, type Topology } from "../test/netns/topology.ts";
import { dropMain, schemaFor, startMain, type TestMain } from "../test/signaling/support.ts";

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonAt = args.indexOf("--json");
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const PINGS = quick ? 300 : 3000;
const UPDATES = quick ? 20_000 : 200_000;
const REPO = resolve(import.meta.dirname, "..");

type Line = Record<string, unknown>;

function run(
  topology: Topology,
  site: Site,
  script: string,
  env: Record<string, string>,
): { child: ChildProcess; lines: Line[] } {
  const child = topology.spawn(site.ns, process.execPath, ["--import", "tsx", resolve(REPO, script)], {
    ...process.env,
    ...env,
  });
  const lines: Line[] = [];
  let rest = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    const parts = (rest + chunk.toString()).split("\n");
    rest = parts.pop() ?? "";
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part));
      } catch {}
    }
  });
  child.stderr!.on("data", (chunk: Buffer) => process.stderr.write(chunk));
  return { child, lines };
}

async function line(lines: Line[], event: string, timeoutMs: number): Promise<Line> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = lines.find((each) => each.event === event);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`no "${event}" within ${timeoutMs} ms`);
    await new Promise((wake) => setTimeout(wake, 10));
  }
}

interface Round {
  readonly kind: NatKind;
  readonly via: string;
  readonly upMs: number;
  readonly link: Line;
  readonly updates: Line;
  readonly raw?: Line;
}

async function round(kind: NatKind): Promise<Round> {
  const topology = buildTopology({ a: kind, b: kind });
  let main: TestMain | undefined;
  try {
    main = await startMain(schemaFor(`bench_${kind}`), {
      HTTP_HOST: topology.mainAddress,
      UDP_HOST: topology.mainAddress,
      LOG_LEVEL: "silent",
    });
    const env = (name: string) => ({
      CLUSTER_NAME: name,
      CLUSTER_SEED: Buffer.from(newSeed()).toString("hex"),
      SIGNALING_URL: main!.url,
      SIGNALING_KEY: encodeKey(main!.key.publicKey),
      PINGS: String(PINGS),
      UPDATES: String(UPDATES),
    });
    let raw: Line | undefined;
    if (kind === "cone") {
      const echo = run(topology, topology.b, "bench/support/udp-rtt.ts", {
        ROLE: "echo",
        PEER: topology.a.publicAddress,
        PINGS: String(PINGS),
      });
      const ping = run(topology, topology.a, "bench/support/udp-rtt.ts", {
        ROLE: "ping",
        PEER: topology.b.publicAddress,
        PINGS: String(PINGS),
      });
      raw = await line(ping.lines, "rtt", 60_000);
      echo.child.kill();
    }
    const alpha = run(topology, topology.a, "bench/support/link-peer.ts", env("alpha"));
    const bravo = run(topology, topology.b, "bench/support/link-peer.ts", env("bravo"));
    // both registered and heartbeating: then the operator allows the link, and the clock starts
    for (;;) {
      const listed = await main.operator("GET", "/v1/clusters");
      const live = (listed.body.clusters as { instances: { live: boolean }[] }[]).filter((c) =>
        c.instances.some((i) => i.live),
      );
      if (live.length === 2) break;
      await new Promise((wake) => setTimeout(wake, 50));
    }
    const allowedAt = Date.now();
    await main.operator("PUT", "/v1/policy/alpha/bravo");
    const upA = await line(alpha.lines, "up", 30_000);
    const upB = await line(bravo.lines, "up", 30_000);
    const upMs = Math.max(Number(upA.at), Number(upB.at)) - allowedAt;
    const link = await line(alpha.lines, "rtt", 120_000);
    const updates = await line(alpha.lines, "updates", 300_000);
    return { kind, via: String(upA.via), upMs, link, updates, ...(raw ? { raw } : {}) };
  } finally {
    await topology.teardown();
    await dropMain(main);
  }
}

const ms = (value: unknown) => `${Number(value).toFixed(3)} ms`;
const results: Round[] = [];
for (const kind of ["cone", "symmetric"] as const) {
  const result = await round(kind);
  results.push(result);
  console.log(`\n${kind} NATs: link up by ${result.via} in ${result.upMs} ms`);
  if (result.raw)
    console.log(
      `  raw UDP round trip:  p50 ${ms(result.raw.p50)}  p99 ${ms(result.raw.p99)}  mean ${ms(result.raw.mean)}`,
    );
  console.log(
    `  link round trip:     p50 ${ms(result.link.p50)}  p99 ${ms(result.link.p99)}  mean ${ms(result.link.mean)}`,
  );
  if (result.raw) {
    console.log(`  link overhead (p50): ${ms(Number(result.link.p50) - Number(result.raw.p50))}`);
  }
  console.log(
    `  shared-object updates through the link: ${Math.round(Number(result.updates.perSecond)).toLocaleString("en")}/s (${result.updates.count} in ${Number(result.updates.seconds).toFixed(2)} s)`,
  );
}
if (jsonFile)
  writeFileSync(
    jsonFile,
    JSON.stringify({ date: new Date().toISOString(), pings: PINGS, updates: UPDATES, results }, null, 2),
  );
process.exit(0);

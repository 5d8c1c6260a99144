/**
 * Swarm benchmark (issue 14): N players (20), each a process of its own on a loopback address of its own
 * (127.0.1.x), start within a moment of each other with nothing and fetch one signed asset (50 MiB) through
 * the real cluster (message director, state server, uberdog, client agent, zone AI: `LocalCluster`), twice:
 *
 *   swarm    the client agent introduces the players to each other and seeds only what they cannot give
 *   server   ASSET_SEED_SERVES_ALL=1: no introductions, the seed serves every request (everyone from the server)
 *
 * The servers' egress is counted by iptables byte counters: a chain in OUTPUT counts every packet from the
 * servers' address (127.0.0.1: the client agent and its seed and relay, uberdog, everything of the
 * cluster) to the players' addresses (127.0.1.0/24), and, apart, the players' packets to each other. Every
 * player's file is compared with the asset byte for byte. Needs root (iptables).
 *
 *   pnpm bench:swarm                          # 20 players, 50 MiB, chunks of 256 KiB, both modes
 *   pnpm bench:swarm --players 4 --mib 8      # smaller
 *   pnpm bench:swarm --modes swarm
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { FIRST_LOOPBACK_SOURCE, sourceAddress } from "@overworld/bots";
import { encodeKey, newSeed, signingKeyFromSeed } from "@overworld/federation";
import {
  addKey,
  EMPTY_TRUST_LIST,
  packAssetDirectory,
  signDirectory,
  writeTrustList,
} from "@overworld/manifest";
import { LocalCluster } from "../libs/cli/src/local-cluster.ts";

function arg(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 && process.argv[at + 1] !== undefined ? process.argv[at + 1]! : fallback;
}
const PLAYERS = Number(arg("players", "20"));
const MIB = Number(arg("mib", "50"));
const CHUNK = Number(arg("chunk-kib", "256")) * 1024;
const MODES = arg("modes", "swarm,server").split(",") as ("swarm" | "server")[];
const CHAIN = `OWSWARM${process.pid}`;
const CLIENT = new URL("./support/swarm-client.ts", import.meta.url).pathname;

const root = mkdtempSync(join(tmpdir(), "overworld-swarm-bench-"));
const assetDir = join(root, "assets", "big");
mkdirSync(assetDir, { recursive: true });
const bytes = randomBytes(MIB * 1024 * 1024);
writeFileSync(join(assetDir, "asset.json"), JSON.stringify({ name: "big", version: "1.0.0" }));
writeFileSync(join(assetDir, "big.bin"), bytes);
await packAssetDirectory(assetDir, CHUNK);
const key = signingKeyFromSeed(newSeed());
await signDirectory(assetDir, key);
await writeTrustList(
  join(root, "trust.json"),
  addKey(EMPTY_TRUST_LIST, encodeKey(key.publicKey), "bench main"),
);

function iptables(...args: string[]): string {
  return execFileSync("iptables", ["-w", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
}
function countersUp(): void {
  iptables("-N", CHAIN);
  iptables("-I", "OUTPUT", "-j", CHAIN);
  iptables("-A", CHAIN, "-s", "127.0.0.1", "-d", "127.0.1.0/24"); // servers -> players
  iptables("-A", CHAIN, "-s", "127.0.1.0/24", "-d", "127.0.1.0/24"); // players -> players
}
function countersDown(): void {
  try {
    iptables("-D", "OUTPUT", "-j", CHAIN);
    iptables("-F", CHAIN);
    iptables("-X", CHAIN);
  } catch {
    // not there
  }
}
function counters(): { servers: number; peers: number } {
  const rows = iptables("-L", CHAIN, "-v", "-x", "-n")
    .split("\n")
    .filter((line) => /^\s*\d+\s+\d+/.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[1]));
  return { servers: rows[0] ?? 0, peers: rows[1] ?? 0 };
}

interface Result {
  readonly mode: string;
  readonly seconds: number;
  readonly slowest: number;
  readonly median: number;
  readonly servers: number;
  readonly peers: number;
  readonly identical: number;
}

async function run(mode: "swarm" | "server"): Promise<Result> {
  const cluster = new LocalCluster({
    name: `swarm${mode}`,
    onCrash: "fail",
    zoneAiEnv: { DEMO_GRID: "1x1@400", DEMO_NPCS_PER_ZONE: "0" },
    maxClients: Math.max(64, PLAYERS * 2),
    env: {
      "client-agent": {
        ASSETS_DIR: join(root, "assets"),
        ASSETS_TRUST: join(root, "trust.json"),
        ASSET_SEED_SERVES_ALL: mode === "server" ? "1" : "0",
      },
    },
  });
  const children: ChildProcess[] = [];
  try {
    await cluster.start();
    const outputs = Array.from({ length: PLAYERS }, (_, i) => join(root, mode, `p${i}`));
    const ready: Promise<void>[] = [];
    const done: Promise<{ ms: number; fromPeers: number; fromServer: number }>[] = [];
    for (let i = 0; i < PLAYERS; i++) {
      const child = spawn(
        process.execPath,
        [
          "--import",
          "tsx",
          CLIENT,
          cluster.uberdogUrl,
          `sw${mode}${i}x${process.pid}`,
          sourceAddress(FIRST_LOOPBACK_SOURCE, i),
          cluster.version,
          assetDir,
          outputs[i]!,
        ],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      children.push(child);
      const lines = createInterface({ input: child.stdout! });
      const queue: string[] = [];
      const waiters: ((line: string) => void)[] = [];
      lines.on("line", (line) => {
        const waiter = waiters.shift();
        if (waiter) waiter(line);
        else queue.push(line);
      });
      const next = () =>
        new Promise<string>((resolve, reject) => {
          const line = queue.shift();
          if (line !== undefined) resolve(line);
          else waiters.push(resolve);
          child.once("exit", (code) => reject(new Error(`player ${i} exited with ${code}`)));
        });
      ready.push(next().then(() => undefined));
      done.push(ready[i]!.then(next).then((line) => JSON.parse(line)));
    }
    await Promise.all(ready);
    iptables("-Z", CHAIN);
    const started = performance.now();
    for (const child of children) child.stdin!.write("go\n");
    const results = await Promise.all(done);
    const seconds = (performance.now() - started) / 1000;
    const { servers, peers } = counters();
    let identical = 0;
    for (const out of outputs)
      if (Buffer.compare(readFileSync(join(out, "big.bin")), bytes) === 0) identical++;
    const times = results.map((r) => r.ms / 1000).sort((a, b) => a - b);
    return {
      mode,
      seconds,
      slowest: times.at(-1)!,
      median: times[Math.floor(times.length / 2)]!,
      servers,
      peers,
      identical,
    };
  } finally {
    for (const child of children) child.stdin?.end();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
            child.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
          }),
      ),
    );
    await cluster.stop(false);
  }
}

countersDown();
countersUp();
const size = bytes.length;
const results: Result[] = [];
try {
  for (const mode of MODES) {
    const result = await run(mode);
    results.push(result);
    console.log(
      `${mode.padEnd(6)}  ${PLAYERS} players  ${MIB} MiB  all done in ${result.seconds.toFixed(1)} s (median ${result.median.toFixed(1)} s, slowest ${result.slowest.toFixed(1)} s)  servers sent ${(result.servers / 2 ** 20).toFixed(1)} MiB = ${(result.servers / size).toFixed(2)}x the asset  players to players ${(result.peers / 2 ** 20).toFixed(1)} MiB  byte-identical ${result.identical}/${PLAYERS}`,
    );
  }
} finally {
  countersDown();
  rmSync(root, { recursive: true, force: true });
}
process.exit(results.every((r) => r.identical === PLAYERS) ? 0 : 1);

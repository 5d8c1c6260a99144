/**
 * The swarm simulator's benchmark (libs/swarm/src/sim): N clients fetch one asset from one seed (the
 * cluster) in one process on a virtual clock, the real core deciding every request. It prints the seed's
 * upload as a multiple of the asset (the target: at most 1.5x with 20 clients; the server alone
 * would send 20x), completion times p50/p99 against every client downloading from the server alone, the
 * same with loss and churn, and game packets' queueing delay on the clients' uplinks with the LEDBAT-like
 * controller and without it.
 *
 * Links: clients 20 Mbit/s up, 15 ms to the network; the seed 100 Mbit/s up, 5 ms. Chunks of 256 KiB.
 *
 *   pnpm bench:swarm-sim [--peers 20] [--seeds 1] [--size-mb 50] [--chunk-kib 256] [--real] [--seed 1] [--json FILE]
 *
 * --real carries real bytes (random, each chunk's SHA-256 checked on arrival, every copy compared).
 */
import { randomBytes } from "node:crypto";
import { writeFileSync } from "node:fs";
import { type SimulationOptions, type SimulationResult, simulate } from "@overworld/swarm/sim";

const args = process.argv.slice(2);
const option = (name: string, otherwise: number): number => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : otherwise;
};
const jsonAt = args.indexOf("--json");
const jsonFile = jsonAt >= 0 ? args[jsonAt + 1] : undefined;
const peers = option("peers", 20);
const size = option("size-mb", 50) * 1024 * 1024;
const chunkSize = option("chunk-kib", 256) * 1024;
const seed = option("seed", 1);
const seeds = option("seeds", 1);
const real = args.includes("--real");
const SERVER_UPLINK = 12_500_000;

const asset: Pick<SimulationOptions, "assetBytes" | "bytes"> = real
  ? { bytes: new Uint8Array(randomBytes(size)) }
  : { assetBytes: size };
const base: SimulationOptions = {
  peers,
  seeds,
  chunkSize,
  seed,
  serverLink: { uplink: SERVER_UPLINK },
  ...asset,
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const rows: Record<string, unknown>[] = [];

function report(name: string, result: SimulationResult, wallMs: number): void {
  const fromPeers = result.peers.reduce((sum, peer) => sum + peer.fromPeers, 0);
  const fromServer = result.peers.reduce((sum, peer) => sum + peer.fromServer, 0);
  const row = {
    scenario: name,
    finished: `${result.completionMs.length}/${result.peers.filter((peer) => !peer.corrupt).length}`,
    seedUpload: `${result.seedRatio.toFixed(2)}x`,
    fromPeersShare: `${((100 * fromPeers) / (fromPeers + fromServer)).toFixed(1)}%`,
    p50: seconds(result.p50Ms),
    p99: seconds(result.p99Ms),
    gameDelayP99: Number.isNaN(result.gameDelay.p99) ? "-" : `${result.gameDelay.p99.toFixed(1)} ms`,
    identical: result.identical === undefined ? "-" : String(result.identical),
    wall: seconds(wallMs),
    events: result.events,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}

function run(name: string, options: SimulationOptions): SimulationResult {
  const started = performance.now();
  const result = simulate(options);
  report(name, result, performance.now() - started);
  return result;
}

console.log(
  `swarm simulation: ${peers} clients, ${seeds} seed(s), ${(size / 1024 / 1024).toFixed(0)} MiB in chunks of ${chunkSize / 1024} KiB, ${real ? "real bytes (SHA-256 checked)" : "virtual bytes"}, seed ${seed}`,
);
const calm = run("swarm, no loss", base);
run("swarm, 5% loss, 30% of clients leave for 5 s", {
  ...base,
  loss: 0.05,
  churn: { share: 0.3, withinMs: Math.max(2000, calm.p50Ms / 2), awayMs: 5000 },
});
run("swarm + game packets, LEDBAT-like", { ...base, gameTraffic: { bytes: 120, everyMs: 50 } });
run("swarm + game packets, no congestion control", {
  ...base,
  congestion: "none",
  gameTraffic: { bytes: 120, everyMs: 50 },
});
const serverAloneMs = ((peers * size) / (seeds * SERVER_UPLINK)) * 1000;
console.log(
  JSON.stringify({
    scenario: "server alone (every client from the seed, its uplink the limit)",
    seedUpload: `${peers.toFixed(2)}x`,
    p99: seconds(serverAloneMs),
  }),
);
rows.push({ scenario: "server alone", seedUpload: `${peers}x`, p99: seconds(serverAloneMs) });
if (jsonFile !== undefined) writeFileSync(jsonFile, `${JSON.stringify(rows, null, 2)}\n`);

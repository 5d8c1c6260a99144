/**
 * Fuzzing at scale (issue 9): millions of mutated datagrams at a client agent while bots play.
 *
 * A cluster as `pnpm overworld start` runs it (every service a process of its own, the demo world, a NATS
 * with credentials; libs/cli/src/local-cluster.ts), `pnpm overworld bots` walking in a process of its own, and the
 * fuzzer (fuzzer.ts) in this one: raw datagrams of every netcode type from --raw-addresses loopback
 * addresses (127.0.3.1 up) times --ports ports, connection requests and responses from valid connect
 * tokens bent (--token-sources, 127.0.4.1 up, each logging in for a fresh token every 5 s), and
 * --sessions fuzz clients (127.0.5.1 up) sending correctly encrypted nonsense inside real sessions.
 *
 *   pnpm fuzz:datagrams                                # 10,000,000 datagrams, 20 bots
 *   pnpm fuzz:datagrams --count 200000 --seed 42       # a short run, replaying seed 42's datagrams
 *   pnpm fuzz:datagrams --rate 80000 --bots 50 --json out.json
 *
 * Checked at the end (exit 1 if any fails): the agent never exited and answers /healthz; no source without
 * a session got an answer larger than the largest datagram it sent, nor more bytes than it sent; no bot
 * was ejected or disconnected, every bot is connected at the end and their steps' p99 latency is under
 * --max-p99 ms; the agent's memory levels off: its RSS after the fuzz (and 10 s of bots alone) is within
 * --rss-growth MB of its RSS half-way through (V8 grows its heap to the allocation rate in the first
 * minutes; a leak goes on growing), and its rate limit remembers no more addresses than there are sources. Printed: a progress line
 * a second (datagrams sent, rate, the agent's RSS and heap), then datagrams/s, the agent's drops by
 * reason, the fuzz sessions' ejections, memory before, half-way, at its peak and after, and the bots' outcome.
 */
import { once } from "node:events";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { BotReport } from "@overworld/bots";
import { legacyHash, loadDcFiles } from "@overworld/protocol";
import { CLI_ENTRY } from "../../libs/cli/src/cluster-processes.ts";
import { LocalCluster } from "../../libs/cli/src/local-cluster.ts";
import { answerHelp, integerArg, pathArg } from "../support/figures.ts";
import { runBenchmark } from "../support/lifecycle.ts";
import { type AgentFigures, agentFigures, agentHealthy, growth, tokenMinter } from "./agent-figures.ts";
import { DatagramFuzzer, type FuzzReport, loopbackAddresses } from "./fuzzer.ts";

answerHelp(`usage: pnpm fuzz:datagrams [--count 10000000] [--rate 50000] [--seed N] [--bots 20]
                           [--raw-addresses 200] [--ports 2] [--token-sources 4] [--sessions 8]
                           [--max-p99 1000] [--rss-growth 100] [--json FILE]
Mutated datagrams, connect tokens and session messages at a client agent while bots play; checks that the
agent lives, amplifies nothing, hurts no bot and keeps its memory bounded (see bench/RESULTS.md).
`);

const COUNT = integerArg("--count", 10_000_000);
const RATE = integerArg("--rate", 50_000);
const SEED = integerArg("--seed", Math.floor(Math.random() * 2 ** 31));
const BOTS = integerArg("--bots", 20);
const RAW_ADDRESSES = integerArg("--raw-addresses", 200);
const PORTS = integerArg("--ports", 2);
const TOKEN_SOURCES = integerArg("--token-sources", 4);
const SESSIONS = integerArg("--sessions", 8);
const MAX_P99_MS = integerArg("--max-p99", 1000);
const RSS_GROWTH_MB = integerArg("--rss-growth", 100);
const JSON_PATH = pathArg("--json");
const GRID = "4x4@50";
const MB = 1024 * 1024;
/** How long the bots play alone after the fuzz, before the agent's memory is read again. */
const SETTLE_MS = 10_000;
const BOTS_CONNECT_MS = 120_000;
const PASSWORD = "fuzz sources' password";

const cluster = new LocalCluster({
  name: "fuzz",
  onCrash: "fail",
  zoneAiEnv: { DEMO_GRID: GRID, DEMO_NPCS_PER_ZONE: "0" },
  maxClients: BOTS + SESSIONS + 64,
});
// at the slowest pace (1,000/s) plus the set-up: the run stops there whatever happens
const timeLimitMs = (COUNT / 1000) * 1000 + 600_000;

runBenchmark("fuzz:datagrams", cluster, timeLimitMs, async () => {
  const agentPort = cluster.httpPort("client-agent");
  process.stderr.write(`fuzz:datagrams: seed ${SEED} (--seed ${SEED} replays these datagrams)\n`);
  const bots = launchBots();
  await waitUntil(
    async () => (await agentFigures(agentPort)).clients >= BOTS,
    BOTS_CONNECT_MS,
    "the bots to connect",
  );
  await sleep(2000); // the bots walking, their avatars in place
  const before = await agentFigures(agentPort);
  let peak = before;
  let halfWay: AgentFigures | undefined;
  let latest = before;
  const dc = loadDcFiles(cluster.dcFiles);
  const fuzzer = await DatagramFuzzer.open({
    host: "127.0.0.1",
    port: cluster.udpPort,
    seed: SEED,
    count: COUNT,
    maxRate: RATE,
    rawAddresses: loopbackAddresses("127.0.3.1", RAW_ADDRESSES),
    portsPerAddress: PORTS,
    tokenAddresses: loopbackAddresses("127.0.4.1", TOKEN_SOURCES),
    sessionAddresses: loopbackAddresses("127.0.5.1", SESSIONS),
    mint: tokenMinter(cluster.uberdogUrl, `fz${cluster.ns.tag.slice(-8)}x`, PASSWORD),
    dc,
    version: cluster.version,
    schemaHash: legacyHash(dc),
    received: async () => {
      latest = await agentFigures(agentPort);
      if (latest.rss > peak.rss) peak = latest;
      if (halfWay === undefined && latest.datagrams - before.datagrams >= COUNT / 2) halfWay = latest;
      return latest.datagrams;
    },
    onProgress: (p) =>
      process.stderr.write(
        `  ${p.seconds.toFixed(0).padStart(5)} s  sent ${p.sent.toLocaleString("en").padStart(11)}  ` +
          `${Math.round(p.rate).toLocaleString("en").padStart(7)}/s (pace ${Math.round(p.pace).toLocaleString("en")})  ` +
          `agent RSS ${(latest.rss / MB).toFixed(0)} MB heap ${(latest.heapUsed / MB).toFixed(0)} MB  ` +
          `sessions ${p.sessionsActive}  violations ${p.violations}\n`,
      ),
  });
  let report: FuzzReport;
  try {
    report = await fuzzer.run();
  } finally {
    await fuzzer.close();
  }
  if (cluster.failure) throw cluster.failure;
  await sleep(SETTLE_MS);
  const healthy = await agentHealthy(agentPort);
  const after = await agentFigures(agentPort);
  const played = await bots.stop();
  const checks = checksOf(report, healthy, halfWay ?? before, after, played);
  const figures = {
    command: `pnpm fuzz:datagrams ${process.argv.slice(2).join(" ")}`.trim(),
    date: new Date().toISOString(),
    report,
    before,
    halfWay,
    peak,
    after,
    bots: played,
    checks,
  };
  printSummary(figures);
  if (JSON_PATH) writeFileSync(JSON_PATH, `${JSON.stringify(figures, null, 2)}\n`);
  const failed = checks.filter((check) => !check.ok);
  if (failed.length > 0)
    throw new Error(`${failed.length} check(s) failed: ${failed.map((c) => c.what).join("; ")}`);
});

/** `pnpm overworld bots` for as long as the fuzz lasts; `stop` ends it (SIGTERM) and reads its report. */
function launchBots(): { stop(): Promise<BotReport> } {
  const reportPath = join(tmpdir(), `overworld-fuzz-${cluster.ns.tag}-bots.json`);
  rmSync(reportPath, { force: true });
  const lines: string[] = [];
  cluster.listen("bots", (line) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  });
  const load = cluster.processes.launch({
    label: "bots",
    entry: CLI_ENTRY,
    args: [
      "bots",
      ...["--count", String(BOTS), "--rate", "10", "--duration", "86400", "--warmup", "0", "--ramp", "10"],
      ...["--grid", GRID, "--uberdog", cluster.uberdogUrl, "--version", cluster.version],
      ...["--dc", cluster.dcFiles.join(","), "--json", reportPath],
    ],
    env: { ...process.env, LOG_LEVEL: "warn" },
    onUnaskedExit: () => {},
  });
  const exited = once(load.child, "exit");
  return {
    async stop() {
      load.child.kill("SIGTERM");
      await exited;
      try {
        return JSON.parse(readFileSync(reportPath, "utf8")) as BotReport;
      } catch {
        throw new Error(`the bots wrote no report; their last lines:\n${lines.join("\n")}`);
      } finally {
        rmSync(reportPath, { force: true });
      }
    },
  };
}

interface Check {
  readonly what: string;
  readonly ok: boolean;
  readonly detail: string;
}

function checksOf(
  report: FuzzReport,
  healthy: boolean,
  halfWay: AgentFigures,
  after: AgentFigures,
  bots: BotReport,
): Check[] {
  const sources = RAW_ADDRESSES + TOKEN_SOURCES + SESSIONS;
  const rssGrowth = (after.rss - halfWay.rss) / MB;
  return [
    {
      what: "the agent lives",
      ok: healthy && cluster.failure === undefined,
      detail: healthy ? "/healthz 200" : "/healthz failed",
    },
    {
      what: "no answer larger than its request",
      ok: report.violations.length === 0,
      detail: `${report.answers.raw.datagrams + report.answers.token.datagrams} answers to sources without a session, the largest ${Math.max(report.answers.raw.largest, report.answers.token.largest)} bytes; ${report.violations.length} violations`,
    },
    {
      what: "no bot hurt",
      ok:
        Object.keys(bots.ejections).length === 0 &&
        Object.keys(bots.disconnects).length === 0 &&
        bots.bots.failed === 0 &&
        bots.bots.connectedAtEnd === BOTS &&
        bots.latencyMs.p99 < MAX_P99_MS,
      detail: `${bots.bots.connectedAtEnd}/${BOTS} connected at the end, ejections ${JSON.stringify(bots.ejections)}, disconnects ${JSON.stringify(bots.disconnects)}, p99 ${bots.latencyMs.p99.toFixed(0)} ms (bound ${MAX_P99_MS})`,
    },
    {
      what: "memory bounded",
      ok: rssGrowth <= RSS_GROWTH_MB && after.rateLimitAddresses <= sources + BOTS,
      detail: `RSS half-way ${(halfWay.rss / MB).toFixed(0)} -> after ${(after.rss / MB).toFixed(0)} MB (bound +${RSS_GROWTH_MB}); rate-limit table ${after.rateLimitAddresses} addresses (bound ${sources + BOTS})`,
    },
  ];
}

function printSummary(figures: {
  command: string;
  date: string;
  report: FuzzReport;
  before: AgentFigures;
  halfWay: AgentFigures | undefined;
  peak: AgentFigures;
  after: AgentFigures;
  bots: BotReport;
  checks: Check[];
}): void {
  const { report, before, halfWay, peak, after, bots, checks } = figures;
  const out = (line = "") => process.stdout.write(`${line}\n`);
  const n = (value: number) => Math.round(value).toLocaleString("en");
  const sent = report.sent.raw.datagrams + report.sent.token.datagrams + report.sent.session.datagrams;
  out(`\n${figures.command}  (${figures.date}, seed ${report.seed})`);
  out(
    `sent ${n(sent)} mutated datagrams in ${report.seconds.toFixed(0)} s: ${n(report.ratePerSecond)}/s ` +
      `(raw ${n(report.sent.raw.datagrams)}, token ${n(report.sent.token.datagrams)}, session ${n(report.sent.session.datagrams)}; ` +
      `plus ${n(report.validSessionDatagrams)} valid datagrams of the fuzz sessions)`,
  );
  const received = after.datagrams - before.datagrams;
  out(
    `the agent received ${n(received)} datagrams meanwhile (bots' included); the rest were lost in the kernel`,
  );
  out("\nthe agent's drops by reason (ow_client_agent_datagrams_total, growth):");
  for (const [reason, count] of sorted(growth(before.byOutcome, after.byOutcome)))
    out(`  ${reason.padEnd(32)} ${n(count).padStart(12)}`);
  out("in-session payloads the reliable layer refused (ow_client_agent_session_packets_dropped_total):");
  for (const [reason, count] of sorted(growth(before.sessionDrops, after.sessionDrops)))
    out(`  ${reason.padEnd(32)} ${n(count).padStart(12)}`);
  out(
    `fuzz sessions: ${report.sessions.connected} handshakes, ${report.sessions.helloAnswered} hellos answered; ejected: ` +
      sorted(report.sessions.ejections)
        .map(([code, count]) => `${code} x${count}`)
        .join(", "),
  );
  out(
    `tokens minted by uberdog: ${report.tokens.minted} (${report.tokens.mintFailures} failed${report.tokens.lastMintError ? `: ${report.tokens.lastMintError}` : ""})`,
  );
  out(
    `answers to sources without a session: raw ${report.answers.raw.datagrams} (${report.answers.raw.bytes} B), ` +
      `token ${report.answers.token.datagrams} (${report.answers.token.bytes} B, largest ${report.answers.token.largest} B)`,
  );
  const mem = (f: AgentFigures) =>
    `RSS ${(f.rss / MB).toFixed(0)} MB, heap ${(f.heapUsed / MB).toFixed(0)} MB`;
  out(
    `agent memory: before ${mem(before)}; half-way ${halfWay ? mem(halfWay) : "-"}; peak ${mem(peak)}; after ${mem(after)}; rate-limit table ${after.rateLimitAddresses} addresses`,
  );
  out(
    `bots: ${bots.bots.connectedAtEnd}/${BOTS} connected at the end, ${bots.bots.failed} failed, ejections ${JSON.stringify(bots.ejections)}, ` +
      `disconnects ${JSON.stringify(bots.disconnects)}, ${n(bots.updates.delivered)} steps seen, latency p50 ${bots.latencyMs.p50.toFixed(0)} ms p99 ${bots.latencyMs.p99.toFixed(0)} ms`,
  );
  out("\nchecks:");
  for (const check of checks) out(`  ${check.ok ? "ok  " : "FAIL"} ${check.what}: ${check.detail}`);
}

function sorted(counts: Readonly<Record<string, number>>): [string, number][] {
  return Object.entries(counts).sort((a, b) => b[1] - a[1]);
}

async function waitUntil(probe: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe().catch(() => false))) {
    if (cluster.failure) throw cluster.failure;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

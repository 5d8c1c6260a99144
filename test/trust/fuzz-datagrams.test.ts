/**
 * The datagram fuzzer, short (bench/fuzz/datagrams.ts runs it for 10 million): a real cluster in-process
 * with 3 bots walking, and 30,000 mutated datagrams at the client agent from 96 raw sources, 4 token
 * sources and 3 fuzz sessions. The agent must stay healthy, answer no source without a session with more
 * than it sent, drop what it refused for a reason it counts, and leave the bots unhurt; its tables of
 * sessions and addresses go back down once the fuzz is over.
 */
import { type BotReport, runBots } from "@overworld/bots";
import { legacyHash, loadDcFiles, netcode } from "@overworld/protocol";
import { afterAll, beforeAll, expect, it } from "vitest";
import { agentFigures, agentHealthy, growth, tokenMinter } from "../../bench/fuzz/agent-figures.ts";
import { DatagramFuzzer, loopbackAddresses } from "../../bench/fuzz/fuzzer.ts";
import type { Grid } from "../../examples/demo/grid.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC, randomPlacement, serveAvatars } from "../support/avatars.ts";
import { PASSWORD, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { waitFor } from "../support/wait.ts";

const WORLD = 9300;
const GRID: Grid = { width: 2, height: 2, cellSize: 50 };
const BOTS = 3;
const DATAGRAMS = 30_000;
const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
/**
 * A step seen later than this means the agent was hurt, not slow: looser than the bots test's 1 s, as
 * here the fuzzer, the bots and the whole cluster share one process (the standalone run bounds it at 1 s).
 */
const BOT_P99_MS = 2000;
/** The fuzz sources the agent's rate limit may remember, with the bots' addresses and some to spare. */
const SOURCE_ADDRESSES = 96 + 4 + 3;

let services: PlayerCluster;

beforeAll(async () => {
  services = await startPlayerCluster("fuzz", { dcFiles: [DEMO_DC] });
  serveAvatars(services.cluster, WORLD, () => randomPlacement(GRID));
  await services.cluster.bus.flush();
});

afterAll(async () => {
  await services?.stop();
});

it("takes 30,000 mutated datagrams, tokens and session messages while 3 bots play: no crash, no amplification, no bot hurt", async () => {
  const { agent } = services.cluster;
  const dc = loadDcFiles([DEMO_DC]);
  // the bots play throughout: from the start until a second after the fuzz ends
  const stopBots = new AbortController();
  let connected = 0;
  const bots: Promise<BotReport> = runBots({
    count: BOTS,
    rate: 10,
    durationSeconds: 300,
    warmupSeconds: 0,
    uberdog: services.baseUrl,
    dcFiles: [DEMO_DC],
    version: CLUSTER_VERSION,
    grid: GRID,
    prefix: `fzbot${process.pid}x`,
    sourceAddress: "127.0.1.1",
    signal: stopBots.signal,
    onProgress: (line) => {
      connected = line.connected;
    },
  });
  try {
    await waitFor(() => connected === BOTS || undefined, "the bots connected", 20_000);
    const before = await agentFigures(agent.httpPort);
    const fuzzer = await DatagramFuzzer.open({
      host: netcode.formatHost(agent.udpAddress),
      port: agent.udpAddress.port,
      seed: SEED,
      count: DATAGRAMS,
      maxRate: 3000,
      rawAddresses: loopbackAddresses("127.0.3.1", 48),
      portsPerAddress: 2,
      tokenAddresses: loopbackAddresses("127.0.4.1", 4),
      sessionAddresses: loopbackAddresses("127.0.5.1", 3),
      mint: tokenMinter(services.baseUrl, `fz${process.pid}x`, PASSWORD),
      dc,
      version: CLUSTER_VERSION,
      schemaHash: legacyHash(dc),
      mix: { token: 0.15, session: 0.15 },
      received: async () => (await agentFigures(agent.httpPort)).datagrams,
    });
    const report = await fuzzer.run().finally(() => fuzzer.close());
    expect(await agentHealthy(agent.httpPort)).toBe(true);
    const after = await agentFigures(agent.httpPort);
    stopBots.abort();
    const played = await bots;

    // every kind was sent, and the agent answered no source without a session with more than it sent
    expect(report.violations).toEqual([]);
    expect(report.sent.raw.datagrams + report.sent.token.datagrams + report.sent.session.datagrams).toBe(
      DATAGRAMS,
    );
    expect(report.sent.token.datagrams).toBeGreaterThan(1000);
    expect(report.sent.session.datagrams).toBeGreaterThan(1000);
    expect(report.answers.token.datagrams).toBeGreaterThan(0); // challenges to the replayed valid requests
    expect(report.answers.token.largest).toBeLessThanOrEqual(1078);
    // the fuzz sessions got past their hello, and their bad messages were refused by the session's rules
    expect(report.sessions.helloAnswered).toBeGreaterThan(0);
    expect(Object.keys(report.sessions.ejections).length).toBeGreaterThan(0);

    // the agent read the datagrams and counted each refusal by its reason
    const outcomes = growth(before.byOutcome, after.byOutcome);
    expect(after.datagrams - before.datagrams).toBeGreaterThan(DATAGRAMS * 0.5);
    for (const reason of ["accepted", "no_encryption_mapping", "token_decrypt_failed", "decrypt_failed"]) {
      expect(outcomes[reason], reason).toBeGreaterThan(0);
    }
    expect(Object.keys(growth(before.sessionDrops, after.sessionDrops)).length).toBeGreaterThan(0);
    expect(after.rateLimitAddresses).toBeLessThanOrEqual(SOURCE_ADDRESSES + BOTS);

    // the bots were not hurt: none ejected or disconnected, all connected at the end, steps seen in time
    expect(played.ejections).toEqual({});
    expect(played.disconnects).toEqual({});
    expect(played.bots).toMatchObject({ requested: BOTS, connected: BOTS, failed: 0, connectedAtEnd: BOTS });
    expect(played.updates.delivered).toBeGreaterThan(0);
    expect(played.latencyMs.p99).toBeLessThan(BOT_P99_MS);

    // the fuzz sessions are gone: only the bots' sessions are left
    await waitFor(() => agent.connectedClients === 0 || undefined, "every session gone", 20_000);
  } finally {
    stopBots.abort();
    await bots.catch(() => undefined);
  }
}, 120_000);

/**
 * The bot load tester against a real cluster in-process (message director, state server, client agent,
 * uberdog) with a minimal game logic that gives each arriving client an avatar at a random point of a
 * 2x2 map: bots log in, walk, see each other's steps, and the report says so; a wrong version fails every
 * bot and the report says that; `pnpm overworld bots` runs the same from the command line.
 */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import {
  type BotReport,
  FIRST_LOOPBACK_SOURCE,
  latencyMs,
  RandomWalk,
  resolveOptions,
  runBots,
  sourceAddress,
  timeStamp,
} from "@overworld/bots";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { extent, type Grid, zoneAt } from "../../examples/demo/grid.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { type AvatarServer, DEMO_DC, randomPlacement, serveAvatars } from "../support/avatars.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";

const run = promisify(execFile);
const REPO = new URL("../..", import.meta.url).pathname;
const WORLD = 9200;
const GRID: Grid = { width: 2, height: 2, cellSize: 50 };
const BOTS = 5;
/** Above this, latency on loopback means something is broken, not slow. */
const SANE_P99_MS = 1000;

let services: PlayerCluster;
let baseUrl: string;
let avatars: AvatarServer;

beforeAll(async () => {
  // one session per address: the bots play only if each connects from an address of its own (127.0.1.1,
  // 127.0.1.2, ... by default against uberdog on 127.0.0.1); each test takes addresses of its own, so
  // that a bot of the last test whose session is still ending blocks none of the next
  services = await startPlayerCluster("bots", {
    dcFiles: [DEMO_DC],
    agentEnv: { MAX_SESSIONS_PER_ADDRESS: "1" },
  });
  ({ baseUrl } = services);
  avatars = serveAvatars(services.cluster, WORLD, () => randomPlacement(GRID));
  await services.cluster.bus.flush();
});

afterAll(async () => {
  await services?.stop();
});

describe("runBots", () => {
  it("walks 5 bots at 10 Hz on a 2x2 map: all connect, each sees the others' steps, latency is measured", async () => {
    const progress: number[] = [];
    const report = await runBots({
      count: BOTS,
      rate: 10,
      durationSeconds: 3,
      warmupSeconds: 0.5,
      uberdog: baseUrl,
      dcFiles: [DEMO_DC],
      version: CLUSTER_VERSION,
      grid: GRID,
      prefix: "walker",
      onProgress: (line) => progress.push(line.connected),
    });
    expect(report.problems).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.bots).toEqual({
      requested: BOTS,
      connected: BOTS,
      walked: BOTS,
      failed: 0,
      connectedAtEnd: BOTS,
    });
    expect(avatars.arrived.filter((notice) => notice.username.startsWith("walker"))).toHaveLength(BOTS);
    expect(report.measuredSeconds).toBeGreaterThan(2.9);
    expect(report.updates.sentPerSecond).toBeLessThan(BOTS * 10 * 1.2);
    // on a 2x2 map every zone borders every other: each step reaches the 4 other bots
    expect(report.updates.delivered).toBeGreaterThan(0);
    expect(report.updates.fanOut).toBeGreaterThan(3);
    expect(report.updates.fanOut).toBeLessThan(4.5);
    expect(report.latencyMs.samples).toBe(report.updates.delivered);
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p50);
    expect(report.latencyMs.p99).toBeLessThan(SANE_P99_MS);
    expect(report.ejections).toEqual({});
    expect(report.disconnects).toEqual({});
    expect(report.transport.packetsSent).toBeGreaterThan(0);
    expect(progress.length).toBeGreaterThanOrEqual(3);
    expect(progress.at(-1)).toBe(BOTS);
  });

  it("fails every bot whose hello names the wrong version, and says why", async () => {
    const report = await runBots({
      count: 2,
      durationSeconds: 0,
      warmupSeconds: 0,
      uberdog: baseUrl,
      dcFiles: [DEMO_DC],
      version: "not-the-cluster-version",
      grid: GRID,
      prefix: "stranger",
      sourceAddress: "127.0.2.1",
    });
    expect(report.ok).toBe(false);
    expect(report.bots).toMatchObject({ requested: 2, connected: 0, walked: 0, failed: 2 });
    expect(report.failures["hello refused (124)"]?.count).toBe(2);
    expect(report.problems).toEqual(["2 of 2 bots failed to connect"]);
  });

  it("ends early when aborted, with a report of what ran", async () => {
    const abort = new AbortController();
    const started = Date.now();
    setTimeout(() => abort.abort(), 1500);
    const report = await runBots({
      count: 2,
      durationSeconds: 60,
      warmupSeconds: 0,
      uberdog: baseUrl,
      dcFiles: [DEMO_DC],
      version: CLUSTER_VERSION,
      grid: GRID,
      prefix: "quitter",
      sourceAddress: "127.0.3.1",
      signal: abort.signal,
    });
    expect(Date.now() - started).toBeLessThan(5000);
    expect(report.aborted).toBe(true);
    expect(report.bots.walked).toBe(2);
    expect(report.updates.sent).toBeGreaterThan(0);
    expect(report.measuredSeconds).toBeLessThan(2);
  });
});

describe("runBots over worker threads", () => {
  it("runs 5 bots in 2 workers and merges their figures into one report", async () => {
    const progress: { connected: number; walking: number; samples: number }[] = [];
    const report = await runBots({
      count: BOTS,
      workers: 2,
      rate: 10,
      durationSeconds: 2,
      warmupSeconds: 0.5,
      uberdog: baseUrl,
      dcFiles: [DEMO_DC],
      version: CLUSTER_VERSION,
      grid: GRID,
      prefix: "worker",
      sourceAddress: "127.0.5.1",
      onProgress: (line) =>
        progress.push({ connected: line.connected, walking: line.walking, samples: line.latencySamples }),
    });
    expect(report.problems).toEqual([]);
    expect(report.options.workers).toBe(2);
    // bots 1-2 in one worker, 3-5 in the other: every username logged in once, and all walked
    const arrived = avatars.arrived.filter((notice) => notice.username.startsWith("worker"));
    expect(arrived.map((notice) => notice.username).sort()).toEqual(
      ["worker1", "worker2", "worker3", "worker4", "worker5"].sort(),
    );
    expect(report.bots).toEqual({
      requested: BOTS,
      connected: BOTS,
      walked: BOTS,
      failed: 0,
      connectedAtEnd: BOTS,
    });
    // summed over both workers: 5 bots at 10 steps/s, each step seen by the 4 others (2x2 map)
    expect(report.updates.sentPerSecond).toBeGreaterThan(BOTS * 10 * 0.8);
    expect(report.updates.sentPerSecond).toBeLessThan(BOTS * 10 * 1.2);
    expect(report.updates.fanOut).toBeGreaterThan(3);
    expect(report.updates.fanOut).toBeLessThan(4.5);
    expect(report.updates.sentTotal).toBeGreaterThanOrEqual(report.updates.sent);
    // the merged histogram holds every delivery of the window, and each was timed on the one clock too,
    // whichever worker its sender ran in; the two clocks agree to the cluster clock estimates' error
    expect(report.latencyMs.samples).toBe(report.updates.delivered);
    expect(report.localLatencyMs.samples).toBe(report.updates.delivered);
    expect(report.latencyMs.p99).toBeLessThan(SANE_P99_MS);
    expect(report.localLatencyMs.p50).toBeGreaterThan(0);
    // (a sample is off by at most the sender's and the receiver's bounds)
    expect(Math.abs(report.localLatencyMs.p50 - report.latencyMs.p50)).toBeLessThanOrEqual(
      2 * report.clockErrorBoundMs.max + 1,
    );
    expect(report.ejections).toEqual({});
    expect(report.disconnects).toEqual({});
    expect(report.transport.packetsSent).toBeGreaterThan(report.updates.sent);
    expect(report.clockErrorBoundMs.max).toBeGreaterThan(0);
    expect(report.process.cpuSeconds).toBeGreaterThan(0);
    // progress lines merge the workers too
    expect(progress.at(-1)).toMatchObject({ connected: BOTS, walking: BOTS });
    expect(progress.some((line) => line.samples > 0)).toBe(true);
  });

  it("stops every worker when aborted, with a report of what ran", async () => {
    const abort = new AbortController();
    // aborted a second after both walk (how long connecting takes depends on the machine's load)
    let walkingAt = 0;
    const onProgress = (progress: { walking: number }) => {
      if (walkingAt > 0 || progress.walking < 2) return;
      walkingAt = Date.now();
      setTimeout(() => abort.abort(), 1000);
    };
    const report = await runBots({
      onProgress,
      count: 2,
      workers: 2,
      durationSeconds: 60,
      warmupSeconds: 0,
      uberdog: baseUrl,
      dcFiles: [DEMO_DC],
      version: CLUSTER_VERSION,
      grid: GRID,
      prefix: "wquitter",
      sourceAddress: "127.0.6.1",
      signal: abort.signal,
    });
    expect(walkingAt).toBeGreaterThan(0);
    expect(Date.now() - walkingAt).toBeLessThan(6000);
    expect(report.aborted).toBe(true);
    expect(report.bots.walked).toBe(2);
    expect(report.updates.sent).toBeGreaterThan(0);
    expect(report.measuredSeconds).toBeLessThan(3);
  });

  it("refuses more workers than bots", async () => {
    await expect(runBots({ count: 2, workers: 3, uberdog: baseUrl })).rejects.toThrow(
      /workers must be a whole number from 1 to count \(2\)/,
    );
  });
});

/** `pnpm overworld bots` with these arguments, from the repository. */
const botsCli = (...args: string[]) => run("pnpm", ["--silent", "overworld", "bots", ...args], { cwd: REPO });

/** Two bots for a second on this cluster, the JSON report on stdout. */
const shortCliRun = (...args: string[]) =>
  botsCli(
    "--count=2",
    "--duration=1",
    "--warmup=0",
    `--uberdog=${baseUrl}`,
    `--version=${CLUSTER_VERSION}`,
    "--grid=2x2",
    "--json=-",
    ...args,
  );

describe("pnpm overworld bots", () => {
  it("prints its usage with --help", async () => {
    const { stdout } = await botsCli("--help");
    expect(stdout).toMatch(/^usage: pnpm overworld bots --count N/);
    for (const option of [
      "--rate",
      "--duration",
      "--uberdog",
      "--dc",
      "--version",
      "--grid",
      "--source-address",
      "--workers",
    ]) {
      expect(stdout).toContain(option);
    }
  });

  it("runs bots from the command line and writes the JSON report to stdout", async () => {
    const { stdout, stderr } = await shortCliRun("--prefix=cli", "--source-address=127.0.4.1");
    const report = JSON.parse(stdout) as BotReport;
    expect(report.ok).toBe(true);
    expect(report.bots.walked).toBe(2);
    expect(report.updates.delivered).toBeGreaterThan(0);
    expect(stderr).toContain("result        ok");
  });

  it("spreads the bots over --workers threads", async () => {
    const { stdout, stderr } = await shortCliRun(
      "--workers=2",
      "--prefix=cliw",
      "--source-address=127.0.7.1",
    );
    const report = JSON.parse(stdout) as BotReport;
    expect(report.ok).toBe(true);
    expect(report.options.workers).toBe(2);
    expect(report.bots.walked).toBe(2);
    expect(report.updates.delivered).toBeGreaterThan(0);
    expect(stderr).toContain("over 2 worker threads");
    expect(stderr).toContain("(worst of 2 worker threads)");
  });

  it("refuses a missing --count with its usage and exit status 2", async () => {
    const failure = await botsCli().catch((error) => error);
    expect(failure.code).toBe(2);
    expect(failure.stderr).toContain("error: --count is required");
  });
});

describe("walk steps", () => {
  it("time a step across the 2^32 ms wrap of the stamp", () => {
    const sentAt = 2 ** 32 * 400 - 3; // 3 ms before the stamp wraps
    const stamp = timeStamp(sentAt);
    expect(stamp).toBe(2 ** 32 - 3);
    expect(latencyMs(sentAt + 10, stamp)).toBe(10);
    expect(latencyMs(sentAt - 2, stamp)).toBe(-2); // the receiver's clock is behind the sender's
  });

  it("keep a walker on the map", () => {
    const grid: Grid = { width: 3, height: 2, cellSize: 10 };
    const size = extent(grid);
    const walk = new RandomWalk(grid, { x: 1, y: 1 }, 50);
    const zones = new Set<number>();
    for (let step = 0; step < 2000; step++) {
      const pose = walk.step(0.1);
      expect(pose.x).toBeGreaterThanOrEqual(0);
      expect(pose.x).toBeLessThan(size.x);
      expect(pose.y).toBeGreaterThanOrEqual(0);
      expect(pose.y).toBeLessThan(size.y);
      expect(pose.h).toBeGreaterThanOrEqual(0);
      expect(pose.h).toBeLessThan(360);
      zones.add(zoneAt(grid, pose.x, pose.y));
    }
    expect(zones.size).toBe(6); // it wanders through every zone
  });
});

describe("source addresses", () => {
  it("count up from the first, skipping .0 and .255, on loopback by default", () => {
    const nth = (n: number) => sourceAddress(FIRST_LOOPBACK_SOURCE, n);
    expect([0, 1, 253, 254, 255].map(nth)).toEqual([
      "127.0.1.1",
      "127.0.1.2",
      "127.0.1.254",
      "127.0.2.1",
      "127.0.2.2",
    ]);
    expect(sourceAddress("127.0.255.254", 1)).toBe("127.1.0.1");
    expect(() => sourceAddress("127.0.1.0", 0)).toThrow(/must not end in .0 or .255/);
    expect(() => sourceAddress("255.255.255.254", 1)).toThrow(/past 255.255.255.254/);
    expect(resolveOptions({ count: 1, uberdog: "http://127.0.0.1:8000" }).sourceAddress).toBe("127.0.1.1");
    expect(resolveOptions({ count: 1, uberdog: "http://10.0.0.5:8000" }).sourceAddress).toBeNull();
    expect(() => resolveOptions({ count: 1, sourceAddress: "::1" })).toThrow(/sourceAddress must be an IPv4/);
  });
});

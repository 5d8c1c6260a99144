/**
 * Beyond one box, under the chaos harness's invariant checker (nothing acknowledged lost, no ghost or
 * duplicate, every bot back):
 * - the cluster on a NATS cluster: three nats-server processes clustered on loopback ports (JetStream
 *   clustered), every service given all three URLs, the zone journals, snapshots and event log made with
 *   three replicas; each node in turn killed -9 under bot load and started again, and no bot loses its
 *   connection;
 * - two client agents: uberdog's tokens put the least loaded first, so the bots are spread over both;
 *   each agent killed -9 in turn, its players log in again and play on.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type RunResult, runToEnd } from "../support/run.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const RUN_LIMIT_MS = 400_000;

async function chaos(args: readonly string[]): Promise<RunResult> {
  const run = await runToEnd("pnpm", ["-s", "chaos", ...args], { cwd: REPO });
  // a run with a violation keeps its services' log lines for a person to read: not the test's
  const logs = /the services' log lines: (\S+)/.exec(run.stderr)?.[1];
  if (logs !== undefined) rmSync(dirname(logs), { recursive: true, force: true });
  return run;
}

/** The cells of a fault's row in the table: fault, injected, recovered, median, max, then the invariants. */
function row(run: RunResult, fault: string): string[] | undefined {
  return run.stdout
    .split("\n")
    .find((line) => line.startsWith(`| ${fault}`))
    ?.split("|")
    .map((cell) => cell.trim())
    .filter(Boolean);
}

describe("pnpm chaos --nats-nodes 3 --faults nats-node", () => {
  it(
    "kills each NATS node in turn under bot load: every invariant holds, players stay connected",
    async () => {
      const run = await runToEnd(
        "pnpm",
        [
          "-s",
          "chaos",
          "--nats-nodes",
          "3",
          "--faults",
          "nats-node",
          "--rounds",
          "3",
          "--bots",
          "10",
          "--bound",
          "120",
        ],
        { cwd: REPO },
      );
      const logs = /the services' log lines: (\S+)/.exec(run.stderr)?.[1];
      if (logs !== undefined) rmSync(dirname(logs), { recursive: true, force: true });
      expect(run.code, `${run.stdout}\n${run.stderr.slice(-3000)}`).toBe(0);
      const row = run.stdout.split("\n").find((line) => line.startsWith("| NATS node (kill -9, restart)"));
      const cells = row
        ?.split("|")
        .map((cell) => cell.trim())
        .filter(Boolean);
      expect(cells?.slice(1, 3), run.stdout).toEqual(["3", "3"]); // injected, recovered
      expect(cells?.slice(5), run.stdout).toEqual(["held", "held", "held", "held", "held", "held"]);
      // the zone journal, the snapshot bucket and the event log, each with three replicas
      const streams = /JetStream streams: (.*)/.exec(run.stdout)?.[1] ?? "";
      expect(streams, run.stdout).toMatch(/OW_ZONES_\S+ R3/);
      expect(streams).toMatch(/KV_\S+ R3/);
      expect(streams).toMatch(/OW_EVENTS R3/);
    },
    RUN_LIMIT_MS,
  );
});

describe("pnpm chaos --agents 2 --faults client-agent", () => {
  it(
    "spreads the players over both agents, and moves a killed agent's players to a live one",
    async () => {
      const bots = 10;
      const run = await chaos([
        "--agents",
        "2",
        "--faults",
        "client-agent",
        "--rounds",
        "2",
        "--bots",
        String(bots),
        "--bound",
        "120",
      ]);
      expect(run.code, `${run.stdout}\n${run.stderr.slice(-3000)}`).toBe(0);
      const spread = /players per client agent before the first fault: (\d+), (\d+)/.exec(run.stdout);
      expect(spread, run.stdout).not.toBeNull();
      const [first, second] = [Number(spread![1]), Number(spread![2])];
      expect(first + second).toBe(bots);
      expect(Math.min(first, second), "the lesser-loaded agent's share").toBeGreaterThanOrEqual(bots * 0.3);
      const cells = row(run, "client-agent (kill -9)");
      expect(cells?.slice(1, 3), run.stdout).toEqual(["2", "2"]); // each agent killed once, each time recovered
      expect(cells?.slice(5, 10), run.stdout).toEqual(["held", "held", "held", "held", "held"]);
    },
    RUN_LIMIT_MS,
  );
});

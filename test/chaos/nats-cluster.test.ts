/**
 * The cluster on a NATS cluster: three nats-server processes clustered on loopback ports (JetStream
 * clustered), every service given all three URLs, the zone journals, snapshots and event log made with
 * three replicas. Each node in turn is killed -9 under bot load and started again: the chaos harness's
 * invariant checker finds nothing acknowledged lost, no ghost or duplicate, and no bot lost its
 * connection.
 */
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runToEnd } from "../support/run.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const RUN_LIMIT_MS = 400_000;

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

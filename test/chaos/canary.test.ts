import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { type RunResult, runToEnd } from "../support/run.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** The cluster starts in about 30 s on a quiet machine; a shared one takes far longer. */
const RUN_LIMIT_MS = 300_000;

function chaos(args: readonly string[]): Promise<RunResult> {
  return runToEnd("pnpm", ["-s", "chaos", ...args], { cwd: REPO });
}

describe("pnpm chaos --canary drop-acked", () => {
  it(
    "reports the dropped acknowledged write and nothing else, and exits 1",
    async () => {
      const run = await chaos([
        "--bots",
        "3",
        "--rounds",
        "1",
        "--faults",
        "state-server",
        "--canary",
        "drop-acked",
        "--bound",
        "120",
      ]);
      // a run with a violation keeps its services' log lines for a person to read: not the test's
      const logs = /the services' log lines: (\S+)/.exec(run.stderr)?.[1];
      if (logs !== undefined) rmSync(dirname(logs), { recursive: true, force: true });
      const dropped = /canary drop-acked: object (\d+) setName: acknowledged write (\d+)/.exec(run.stderr);
      expect(dropped, run.stderr.slice(-3000)).not.toBeNull();
      const [, doId, write] = dropped!;
      expect(run.code).toBe(1);
      const row = run.stdout.split("\n").find((line) => line.startsWith("| state-server (kill -9)"));
      // fault, injected, recovered, median, max, then: acked writes, no ghosts, no duplicates, bots back, services healthy, players stayed (not checked after this fault)
      const cells = row
        ?.split("|")
        .map((cell) => cell.trim())
        .filter(Boolean);
      expect(cells?.slice(5), run.stdout).toEqual(["VIOLATED 1×", "held", "held", "held", "held", "-"]);
      expect(run.stdout).toContain(
        `acked writes: object ${doId} setName (db, Postgres): write ${write} was acknowledged, found no value`,
      );
      expect(run.stdout.match(/^ {2}\S/gm)).toHaveLength(1); // one violation listed, no other
    },
    RUN_LIMIT_MS,
  );
});

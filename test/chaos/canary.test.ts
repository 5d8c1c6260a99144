/**
 * The chaos checker can fail: a short `pnpm chaos --canary drop-acked` (three bots, one kill -9 of the
 * state server) deletes one acknowledged write behind the cluster's back after the fault, and the run
 * must report that write lost, by object and write number, and exit 1, while every other invariant of
 * the same run holds (the bots came back, no ghost, no duplicate): the checker tells them apart.
 */
import { spawn } from "node:child_process";
import { rmSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
/** The cluster starts in about 30 s on a quiet machine; a shared one takes far longer. */
const RUN_LIMIT_MS = 300_000;

function chaos(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("pnpm", ["-s", "chaos", ...args], { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stdout, stderr }));
  });
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
      // fault, injected, recovered, median, max, then: acked writes, no ghosts, no duplicates, bots back, services healthy
      const cells = row
        ?.split("|")
        .map((cell) => cell.trim())
        .filter(Boolean);
      expect(cells?.slice(5), run.stdout).toEqual(["VIOLATED 1×", "held", "held", "held", "held"]);
      expect(run.stdout).toContain(
        `acked writes: object ${doId} setName (db, Postgres): write ${write} was acknowledged, found no value`,
      );
      expect(run.stdout.match(/^ {2}\S/gm)).toHaveLength(1); // one violation listed, no other
    },
    RUN_LIMIT_MS,
  );
});

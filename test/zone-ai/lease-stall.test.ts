/**
 * A zone-AI replica frozen past its zones' local lease deadlines, but not past their time to live in
 * Redis, while another replica joins (what an overloaded machine does to a cluster starting up). The
 * frozen replica must pause its zones, not drop them: when it wakes, the next renewal tells it the leases
 * are still its own, so the zones it keeps resume without a restart, and the zones the newcomer should now
 * run are handed over (their leases given up), so every zone runs on exactly one replica. Before this was
 * fixed the woken replica stopped its zones but kept renewing their leases: the newcomer's share ran
 * nowhere (later a placement round released such "stray" leases; none may be needed now).
 *
 * Timings (the replicas' leases are long so that the freeze is deterministic): TTL 15 s, local margin
 * 8 s, renewals every 3 s. A freeze of 9.5 s starting at most one renewal (3 s) after the last one passes
 * every local deadline (7 s after a renewal) and none in Redis (15 s). The director's death deadline is
 * raised so that the frozen replica stays a member.
 */
import type { ChildProcess } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, startCluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { type ReplicaProcess, spawnZoneAiReplica, zonesOf } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const ZONES = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((zone) => `1000.${zone}`);
const FREEZE_MS = 9500;
const WAIT_MS = 20_000;

let cluster: Cluster;
const children: ChildProcess[] = [];

async function startReplica(name: string): Promise<ReplicaProcess> {
  const replica = await spawnZoneAiReplica(cluster, name, {
    LEASE_TTL_MS: "15000",
    LEASE_MARGIN_MS: "8000",
    DEMO_GRID: "3x3@50",
    DEMO_NPCS_PER_ZONE: "1",
  });
  children.push(replica.process);
  return replica;
}

/** The log lines of a replica with this message, from line `from` on. */
const logged = (replica: ReplicaProcess, message: string, from = 0) =>
  replica.lines.slice(from).filter((line) => line.includes(`"msg":"${message}"`));

beforeAll(async () => {
  cluster = await startCluster(
    "leasestall",
    {},
    { stateServer: true, dcFiles: [DEMO_DC], directorEnv: { DEAD_AFTER_MS: "60000" } },
  );
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await cluster?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("a zone-AI replica frozen past its lease deadlines", () => {
  it("pauses its zones and resumes them, and hands the newcomer's share over", async () => {
    const first = await startReplica("stall-a");
    // its log lines come through a pipe, a little after its health says the zones run
    await waitFor(
      async () =>
        (await zonesOf(first)).length === ZONES.length &&
        logged(first, "zone started").length >= ZONES.length,
      "the first replica running every zone",
      WAIT_MS,
    );
    expect(logged(first, "zone started")).toHaveLength(ZONES.length);

    first.process.kill("SIGSTOP");
    const frozenAt = Date.now();
    let second: ReplicaProcess;
    try {
      second = await startReplica("stall-b");
      // the newcomer has tried the frozen replica's zones and found their leases held
      await waitFor(() => logged(second, "zone AI started").length > 0, "the second replica up", WAIT_MS);
      const left = FREEZE_MS - (Date.now() - frozenAt);
      expect(left, "the second replica started within the freeze").toBeGreaterThan(0);
      await sleep(left);
    } finally {
      first.process.kill("SIGCONT");
    }
    const woken = first.lines.length;

    const placed = await waitFor(
      async () => {
        const [a, b] = await Promise.all([zonesOf(first), zonesOf(second)]);
        const all = [...a, ...b];
        const once = all.length === ZONES.length && new Set(all).size === ZONES.length;
        return once && a.length > 0 && b.length > 0 ? { a, b } : undefined;
      },
      "every zone on exactly one of the two replicas",
      WAIT_MS,
    );
    expect([...placed.a, ...placed.b].sort()).toEqual([...ZONES].sort());

    // it paused and resumed; none of the zones it kept started again, and no lease was left behind
    expect(logged(first, "zone paused: its lease was not renewed in time", woken).length).toBeGreaterThan(0);
    expect(logged(first, "zone started", woken)).toEqual([]);
    for (const zone of placed.a) {
      expect(
        logged(first, "zone resumed: its lease was renewed", woken).some((line) =>
          line.includes(`"zone":"${zone}"`),
        ),
        `zone ${zone} resumed on the woken replica`,
      ).toBe(true);
    }
    expect(logged(first, "a lease held for a zone that does not run here: released")).toEqual([]);
  }, 90_000);
});

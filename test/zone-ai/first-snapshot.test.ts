/**
 * A zone-AI replica killed -9 right after it started the world's zones fresh, long before its first
 * periodic snapshot: the replica that takes the zones over must resume them, not start them fresh again,
 * or every NPC and the boss the first one spawned would exist twice (each start takes a block of doIds
 * of its own). A fresh zone stores its first snapshot before its spawns leave, so the second replica
 * finds it. (Found by `pnpm chaos` on a loaded machine: two bosses after leases went back and forth
 * between replicas during start-up.)
 */
import type { ChildProcess } from "node:child_process";
import type { messages } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import { type Cluster, startCluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { waitFor } from "../support/wait.ts";
import { type ReplicaProcess, spawnZoneAiReplica, zonesOf } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const WORLD = 1000;
const ZONE_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const NPCS_PER_ZONE = 1;
const WAIT_MS = 20_000;

let cluster: Cluster;
const children: ChildProcess[] = [];

async function startReplica(name: string): Promise<ReplicaProcess> {
  const replica = await spawnZoneAiReplica(cluster, name, {
    DEMO_GRID: "3x3@50",
    DEMO_NPCS_PER_ZONE: String(NPCS_PER_ZONE),
    SNAPSHOT_EVERY_MS: "600000", // no periodic snapshot within the test
  });
  children.push(replica.process);
  return replica;
}

async function count(className: "DistributedNpc" | "DistributedBoss"): Promise<number> {
  const { objects } = await cluster.ss<{ objects: messages.ObjectSnapshot[] }>("query-zones", {
    parentId: WORLD,
    zones: ZONE_IDS,
  });
  return objects.filter((object) => object.classId === demo[className].dclass.id).length;
}

beforeAll(async () => {
  cluster = await startCluster("firstsnap", {}, { stateServer: true, dcFiles: [DEMO_DC] });
});

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await cluster?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("a fresh zone whose replica dies before its first periodic snapshot", () => {
  it("is resumed elsewhere with its spawns, not spawned again", async () => {
    const first = await startReplica("firstsnap-a");
    await waitFor(
      async () => (await zonesOf(first)).length === ZONE_IDS.length,
      "every zone on the first",
      WAIT_MS,
    );
    await waitFor(
      async () => (await count("DistributedNpc")) === ZONE_IDS.length * NPCS_PER_ZONE,
      "the NPCs",
      WAIT_MS,
    );
    expect(await count("DistributedBoss")).toBe(1);

    first.process.kill("SIGKILL");
    const second = await startReplica("firstsnap-b");
    await waitFor(
      async () => (await zonesOf(second)).length === ZONE_IDS.length,
      "every zone on the second",
      WAIT_MS,
    );
    const resumed = second.lines.filter((line) => line.includes('"msg":"zone started"'));
    expect(
      resumed.every((line) => !line.includes('"resumedFrom":null')),
      resumed.join("\n"),
    ).toBe(true);
    // what a second fresh start would have spawned has had time to arrive
    await new Promise((wake) => setTimeout(wake, 1000));
    expect(await count("DistributedNpc")).toBe(ZONE_IDS.length * NPCS_PER_ZONE);
    expect(await count("DistributedBoss")).toBe(1);
  }, 90_000);
});

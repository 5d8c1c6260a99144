/**
 * Physics zones in a real cluster (message director, state server, client agent, uberdog in-process,
 * NATS with JetStream, Redis): the demo world on two zones side by side, run by two zone-AI replicas. A
 * player walks into a crate and pushes it over the border: the crate rolls into the next zone, whose AI
 * takes it over (its location and AI channel change once, as the state server shows), and goes on
 * moving it there. The physics clock and the border traffic go through the zones' journals.
 */
import { type messages, unpackField } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const grid = { width: 2, height: 1, cellSize: 50 };
const WORLD = 1000;
// no dungeon entrance: it stands in the middle of zone 1, on the pusher's way
const plugin = demoWorld({ grid, worldId: WORLD, npcsPerZone: 0, cratesPerZone: 1, dungeonEntrance: false });
/** A busy machine: zones start and move in the background. */
const WAIT_MS = 20_000;
const crate = demo.DistributedCrate;

let services: PlayerCluster;
let cluster: Cluster;
const replicas: ZoneAiHandle[] = [];

async function replica(_index: number): Promise<ZoneAiHandle> {
  // no failover here: a lease long enough that a busy machine (CI runs files side by side) never loses one
  const handle = await startTestZoneAi(cluster, plugin, { LEASE_TTL_MS: "5000", SNAPSHOT_EVERY_MS: "300" });
  replicas.push(handle);
  return handle;
}

async function crates(): Promise<messages.ObjectSnapshot[]> {
  const reply = await cluster.ss<{ objects: messages.ObjectSnapshot[] }>("query-zones", {
    parentId: WORLD,
    zones: [1, 2],
  });
  return reply.objects.filter((object) => object.classId === crate.dclass.id);
}

/** A crate's place, AI and motion as the state server has them. */
async function crateNow(doId: number): Promise<{ zoneId: number; ai: number; motion: number[] }> {
  const field = crate.field("setMotion");
  const reply = await cluster.ss<{ zoneId: number; ai: number; fields: [number, Uint8Array][] }>("get", {
    doId,
    fieldIds: [field.id],
  });
  return { zoneId: reply.zoneId, ai: reply.ai, motion: unpackField(field, reply.fields[0]![1]) as number[] };
}

beforeAll(async () => {
  services = await startPlayerCluster("zphy", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
}, 60_000);

afterAll(async () => {
  for (const handle of replicas) await handle.stop();
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("physics zones in a cluster", () => {
  it("let a player push a crate over a border: the next zone's AI takes it over and moves it on", async () => {
    await replica(0);
    await replica(1);
    const [first] = await waitFor(
      async () => {
        const found = await crates();
        return found.length === 2 ? found.sort((a, b) => a.zoneId - b.zoneId) : undefined;
      },
      "a crate in each zone",
      WAIT_MS,
    );
    const before = await crateNow(first!.doId);
    expect(before.zoneId).toBe(1);
    const [cx, cy] = before.motion as [number, number];

    const { client, avatar } = await services.join("pusher", {
      file: demo.file,
      version: CLUSTER_VERSION,
      timeoutMs: WAIT_MS,
    });
    // from behind the crate (to its left, clear of it: radii 5 and 4), walk right through where it is
    let x = Math.max(1, cx - 12);
    client.sendField(avatar.doId, "setSmXYH", [x, cy, 0, 0]);
    await sleep(500); // the avatar's zone has it where it starts
    let t = 1;
    while (x < 75) {
      x += 2;
      client.sendField(avatar.doId, "setSmXYH", [x, cy, 0, t++]);
      await sleep(100);
    }
    const after = await waitFor(
      async () => {
        const now = await crateNow(first!.doId);
        return now.zoneId === 2 && now.ai !== before.ai ? now : undefined;
      },
      "the crate in zone 2, run by zone 2's AI",
      WAIT_MS,
    );
    expect(after.motion[0]).toBeGreaterThan(50);
    // zone 2 goes on writing it (it rests where zone 2 stepped it, past the border)
    await sleep(500);
    const later = await crateNow(first!.doId);
    expect(later.zoneId).toBe(2);
    expect(later.motion[0]).toBeGreaterThan(50);
    expect((await crates()).filter((each) => each.doId === first!.doId)).toHaveLength(1);
  }, 120_000);
});

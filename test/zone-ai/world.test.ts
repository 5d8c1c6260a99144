/**
 * Zone-AI replicas running the demo world's plugin against real services in-process (message director,
 * state server, client agent, uberdog): zones spread over 1, 2 and 3 replicas with exactly one running
 * owner each; a player's avatar, given by the plugin, walks across a zone border and its location and AI
 * follow without it being lost or duplicated; a boss fight across a border.
 */
import { isZoneChannel, type messages, subjects } from "@overworld/protocol";
import { request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { zoneAt } from "../../examples/demo/grid.ts";
import { arenaZone, BOSS_HP, demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { Placement } from "../../services/zone-ai/src/placement.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectOperator } from "../support/nats.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const WORLD = 1000;
const ZONE_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const ZONES = ZONE_IDS.map((zone) => `${WORLD}.${zone}`);
// no dungeon entrance (instances.test.ts has it): a walking avatar is not taken away mid-test
const plugin = demoWorld({ grid, worldId: WORLD, npcsPerZone: 1, dungeonEntrance: false });
/** Zones move between replicas in the background: waits here allow more than the default. */
const WAIT_MS = 8000;
const HEARTBEAT_MS = 200;

let services: PlayerCluster;
let cluster: Cluster;
const replicas: ZoneAiHandle[] = [];

async function replica(): Promise<ZoneAiHandle> {
  const handle = await startTestZoneAi(cluster, plugin, { LEASE_TTL_MS: "1000", SNAPSHOT_EVERY_MS: "300" });
  replicas.push(handle);
  return handle;
}

/** Every zone runs on exactly one of the replicas: the one rendezvous hashing gives it. */
function placedOnce(handles: readonly ZoneAiHandle[]): boolean {
  if (handles.some((handle) => !running(handle))) return false;
  const all = handles.flatMap((handle) => handle.replica.zones);
  if (all.length !== ZONES.length || new Set(all).size !== ZONES.length) return false;
  const placement = new Placement(handles.map((handle) => String(handle.channel)));
  return handles.every((handle) =>
    handle.replica.zones.every((zone) => placement.ownerOf(zone) === String(handle.channel)),
  );
}

/** Whether the replica runs (it does not while it starts again after a rejoin). */
function running(handle: ZoneAiHandle): boolean {
  try {
    return handle.replica !== undefined;
  } catch {
    return false;
  }
}

const player = (name: string) =>
  services.join(name, {
    file: demo.file,
    version: CLUSTER_VERSION,
    heartbeatMs: HEARTBEAT_MS,
    timeoutMs: WAIT_MS,
  });

async function objectsOfWorld(): Promise<messages.ObjectSnapshot[]> {
  const reply = await cluster.ss<{ objects: messages.ObjectSnapshot[] }>("query-zones", {
    parentId: WORLD,
    zones: ZONE_IDS,
  });
  return reply.objects;
}

async function aiOf(doId: number): Promise<{ ai: number; zoneId: number }> {
  return cluster.ss<{ ai: number; zoneId: number }>("get", { doId, fieldIds: [] });
}

beforeAll(async () => {
  services = await startPlayerCluster("zai", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
});

afterAll(async () => {
  for (const handle of replicas) await handle.stop();
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("zone-AI replicas with the demo world", () => {
  it("spread the zones over 1, 2 and 3 replicas, each zone running exactly once", async () => {
    const a = await replica();
    await eventually(() => placedOnce([a]), "every zone on the first replica", WAIT_MS);
    // the world, its NPCs and its boss exist once each
    await eventually(() => a.replica.counts.fresh === ZONES.length, "zones started", WAIT_MS);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const objects = await objectsOfWorld();
    const npcs = objects.filter((object) => object.classId === demo.DistributedNpc.dclass.id);
    const bosses = objects.filter((object) => object.classId === demo.DistributedBoss.dclass.id);
    expect(npcs).toHaveLength(ZONES.length);
    expect(bosses).toHaveLength(1);
    expect(bosses[0]!.zoneId).toBe(arenaZone(grid));

    const b = await replica();
    await eventually(() => placedOnce([a, b]), "zones spread over two", WAIT_MS);
    const c = await replica();
    await eventually(() => placedOnce([a, b, c]), "zones spread over three", WAIT_MS);
    // a replica leaving hands its zones over; no zone is ever run twice meanwhile
    let overlaps = 0;
    const sampler = setInterval(() => {
      const all = [a, b, c].flatMap((handle) => handle.replica.zones);
      if (new Set(all).size !== all.length) overlaps += 1;
    }, 5);
    await c.stop();
    replicas.splice(replicas.indexOf(c), 1);
    await eventually(() => placedOnce([a, b]), "zones back on two", WAIT_MS);
    clearInterval(sampler);
    expect(overlaps).toBe(0);
    // objects survived the moves: still one boss, one NPC per zone
    const after = await objectsOfWorld();
    expect(after.filter((object) => object.classId === demo.DistributedBoss.dclass.id)).toHaveLength(1);
    expect(after.filter((object) => object.classId === demo.DistributedNpc.dclass.id)).toHaveLength(
      ZONES.length,
    );
  });

  it("a replica declared dead by mistake starts again under a new channel, each zone still run once", async () => {
    const [a, b] = replicas;
    await eventually(() => placedOnce([a!, b!]), "zones on two", WAIT_MS);
    const before = a!.channel;
    const operator = await connectOperator("world: the mistaken death");
    try {
      const names = subjects(cluster.root);
      await request(operator, names.service("md", "goodbye", { role: "zone-ai", channel: before }), {});
    } finally {
      await operator.close();
    }
    await eventually(() => a!.channel !== before, "the replica to join again", WAIT_MS);
    await eventually(() => placedOnce([a!, b!]), "every zone once over the two again", WAIT_MS);
    const after = await objectsOfWorld();
    expect(after.filter((object) => object.classId === demo.DistributedBoss.dclass.id)).toHaveLength(1);
  });

  it("moves a walking avatar across a border: its location and AI follow, once", async () => {
    const { client, avatar } = await player("walker");
    expect(avatar.parent).toBe(WORLD);
    const start = await aiOf(avatar.doId);
    expect(isZoneChannel(start.ai)).toBe(true);
    // walk to the middle of the zone diagonally across
    const [x, y] = [avatar.zone === 1 ? 75 : 25, avatar.zone === 1 ? 75 : 25];
    const target = zoneAt(grid, x, y);
    client.sendField(avatar.doId, "setSmXYH", [x, y, 0, 0]);
    await eventually(() => avatar.zone === target, "the avatar's OBJECT_LOCATION to the next zone", WAIT_MS);
    await eventually(() => avatar.zone === target, "the move", WAIT_MS);
    let after = await aiOf(avatar.doId);
    const deadline = Date.now() + 3000;
    while (after.ai === start.ai && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await aiOf(avatar.doId);
    }
    expect(after.zoneId).toBe(target);
    expect(isZoneChannel(after.ai)).toBe(true);
    expect(after.ai).not.toBe(start.ai);
    const avatars = (await objectsOfWorld()).filter((object) => object.doId === avatar.doId);
    expect(avatars).toHaveLength(1);
  });

  it("lets an avatar fight the boss across a border: the boss targets the top damage dealer", async () => {
    const arena = arenaZone(grid);
    const boss = (await objectsOfWorld()).find(
      (object) => object.classId === demo.DistributedBoss.dclass.id,
    )!;
    const { client, avatar } = await player("hero");
    await client.addInterest(WORLD, ZONE_IDS);
    // stand in zone 1, across the border from the arena (zone 4), within reach of the boss
    client.sendField(avatar.doId, "setSmXYH", [45, 45, 0, 0]);
    await eventually(() => avatar.zone === 1, "the hero in zone 1", WAIT_MS);
    expect(arena).not.toBe(1);
    await new Promise((resolve) => setTimeout(resolve, 300)); // the AI saw the step
    const mirror = client.objects.get(boss.doId)!;
    expect(mirror).toBeDefined();
    for (let i = 0; i < 3; i++) client.sendField(avatar.doId, "attack", [boss.doId]);
    await eventually(() => mirror.fields.get("hp") === BOSS_HP - 30, "the boss to take three hits", WAIT_MS);
    expect(mirror.fields.get("setTarget")).toEqual([avatar.doId]);
  });

  it("runs a chat channel: what an avatar says reaches everyone around, every line in order", async () => {
    const speaker = await player("speaker");
    const listener = await player("listener");
    await speaker.client.addInterest(WORLD, ZONE_IDS);
    await listener.client.addInterest(WORLD, ZONE_IDS);
    const heard: string[] = [];
    listener.client.on("update", ({ object, field, value }) => {
      if (object.doId === speaker.avatar.doId && field === "chat") heard.push((value as [number, string])[1]);
    });
    const lines = ["hello", "anyone here?", "the boss is in the middle", "let's go"];
    for (const line of lines) speaker.client.sendField(speaker.avatar.doId, "say", [line]);
    await eventually(() => heard.length === lines.length, "every line", WAIT_MS);
    expect(heard).toEqual(lines);

    // `say` is clsend: the listener may send it on the speaker's avatar, but game logic knows who sent
    // it and will not put words in the speaker's mouth
    listener.client.sendField(speaker.avatar.doId, "say", ["I am a fool"]);
    speaker.client.sendField(speaker.avatar.doId, "say", ["over and out"]);
    await eventually(() => heard.length === lines.length + 1, "the speaker's own last line", WAIT_MS);
    expect(heard.slice(lines.length)).toEqual(["over and out"]);
  });
});

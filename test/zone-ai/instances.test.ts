/**
 * Instances against a real cluster: two zone-AI replicas (processes) run the demo world, whose players
 * go into dungeons (an instance per party) by saying `/dungeon NAME` or stepping on the entrance. A
 * player who goes in sees the dungeon's objects and none of the world's, without asking (its followed
 * interest moves with its avatar); it comes back where it stood and sees the world again. Two parties
 * get two dungeons, one party shares one. The replica running a dungeon is killed -9: the dungeon goes on
 * on the other. Dungeons without players close after their grace period, and nothing is left of them:
 * no object, zone index, registry entry, lease, fencing token or zone channel in Redis, no zone running
 * on a replica, no journal input or snapshot in JetStream.
 */
import type { ChildProcess } from "node:child_process";
import type { ObjectMirror, OverworldClient } from "@overworld/client";
import { connectRedis, type Redis } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ARRIVAL, EXIT_KIND, GUARD_KIND, isEntrance } from "../../examples/demo/dungeon.ts";
import { demo } from "../../examples/demo/schema.ts";
import { openJournal } from "../../services/zone-ai/src/journal.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectOperator } from "../support/nats.ts";
import { type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { sleep, waitFor } from "../support/wait.ts";
import { type ReplicaProcess, spawnZoneAiReplica, zonesOf } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal, REDIS_URL } from "./support.ts";

const WORLD = 1000;
const GRID = { width: 3, height: 3, cellSize: 50 };
const ZONE_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Where the party gathers before going in: zone 2 (the entrance is in zone 1). */
const GATHER: [number, number] = [75, 20];
const GATHER_ZONE = 2;
const GRACE_MS = 1500;
/** Replicas move zones in the background and a dungeon closes a grace period (and 5 s after its last entry) later. */
const WAIT_MS = 15_000;

let services: PlayerCluster;
let cluster: Cluster;
let redis: Redis;
const children: ChildProcess[] = [];
let replicas: ReplicaProcess[] = [];

async function startReplica(index: number): Promise<ReplicaProcess> {
  const replica = await spawnZoneAiReplica(cluster, `instances-${index}`, {
    SNAPSHOT_EVERY_MS: "300",
    DEMO_GRID: "3x3@50",
    DEMO_NPCS_PER_ZONE: "1",
    DEMO_DUNGEON_GRACE_MS: String(GRACE_MS),
  });
  children.push(replica.process);
  return replica;
}

const eventually = <T>(probe: () => Promise<T | undefined> | T | undefined, what: string) =>
  waitFor(probe, what, WAIT_MS);

const player = async (name: string): Promise<Player> => {
  const joined = await services.join(name, { file: demo.file, version: CLUSTER_VERSION, timeoutMs: WAIT_MS });
  await joined.client.followInterest(joined.avatar, GRID, 1);
  return joined;
};

/** What the client sees, apart from its own avatar. */
const seen = (client: OverworldClient): ObjectMirror[] =>
  [...client.objects.values()].filter((o) => !o.owned);
const npcKind = (object: ObjectMirror) => (object.fields.get("setKind") as [number] | undefined)?.[0];
const position = (object: ObjectMirror) =>
  (object.fields.get("setSmXYH") as number[] | undefined)?.slice(0, 2);

/** Walks the avatar to a point and waits until the cluster has it in that point's zone. */
async function walkTo({ client, avatar }: Player, [x, y]: [number, number], zone: number): Promise<void> {
  client.sendField(avatar.doId, "setSmXYH", [x, y, 0, 0]);
  await eventually(() => avatar.parent === WORLD && avatar.zone === zone, `${avatar.doId} in zone ${zone}`);
  await sleep(200); // the zone's AI has it
}

/** Says `/dungeon party` and waits for the avatar to be in a dungeon: the dungeon's parent. */
async function goIn({ client, avatar }: Player, party: string): Promise<number> {
  client.sendField(avatar.doId, "say", [`/dungeon ${party}`]);
  return eventually(() => (avatar.parent !== WORLD ? avatar.parent : undefined), `${party}'s dungeon`);
}

/** Every Redis key of the cluster that names the instance `parent` or one of its objects. */
async function keysOf(parent: number, objects: readonly number[]): Promise<string[]> {
  const keys = await redis.keys(`${cluster.prefix}*`);
  const names = new RegExp(`[:.](${[parent, ...objects].join("|")})([:.]|$)`);
  return keys.filter((key) => names.test(key.slice(cluster.prefix.length)));
}

beforeAll(async () => {
  services = await startPlayerCluster("inst", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
  redis = await connectRedis(REDIS_URL, "instances-test");
  replicas = [await startReplica(0), await startReplica(1)];
  await eventually(async () => {
    const zones = (await Promise.all(replicas.map(zonesOf))).flat();
    return zones.length === ZONE_IDS.length && new Set(zones).size === ZONE_IDS.length;
  }, "the world's zones spread over both replicas");
}, 60_000);

afterAll(async () => {
  for (const child of children) child.kill("SIGKILL");
  await services?.stop();
  await redis?.quit();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("instances: the demo world's dungeons", () => {
  it("are entered and left with the view following, shared by a party, one per party, survive a failover, and close leaving nothing", async () => {
    // --- alice goes in: she sees the dungeon and none of the world; she comes back and sees the world
    const alice = await player("alice");
    await walkTo(alice, GATHER, GATHER_ZONE);
    await eventually(() => seen(alice.client).some((o) => o.parent === WORLD), "alice to see the world");
    const red = await goIn(alice, "red");
    expect(red).not.toBe(WORLD);
    expect(alice.avatar.zone).toBe(1);
    await eventually(
      () =>
        seen(alice.client).filter((o) => o.parent === red && o.dclass.name === "DistributedNpc").length ===
          3 && seen(alice.client).every((o) => o.parent === red),
      "alice to see the dungeon's exit and two guards, and nothing of the world",
    );
    expect(seen(alice.client).some((o) => npcKind(o) === EXIT_KIND)).toBe(true);
    await eventually(() => position(alice.avatar)?.join() === ARRIVAL.join(), "alice at the dungeon's door");
    const redObjects = seen(alice.client).map((o) => o.doId);

    // --- bob joins the red party, carol goes in alone as blue: two dungeons, one shared
    const bob = await player("bob");
    const carol = await player("carol");
    await walkTo(bob, GATHER, GATHER_ZONE);
    await walkTo(carol, GATHER, GATHER_ZONE);
    expect(await goIn(bob, "red")).toBe(red);
    const blue = await goIn(carol, "blue");
    expect(blue).not.toBe(red);
    expect(blue).not.toBe(WORLD);
    await eventually(() => bob.client.objects.has(alice.avatar.doId), "bob to see alice in the dungeon");
    await eventually(() => alice.client.objects.has(bob.avatar.doId), "alice to see bob come in");
    await eventually(
      () => seen(carol.client).filter((o) => o.parent === blue).length === 3,
      "carol to see her own dungeon",
    );
    expect(carol.client.objects.has(alice.avatar.doId)).toBe(false);
    expect(seen(carol.client).some((o) => o.parent === red)).toBe(false);
    const blueObjects = seen(carol.client).map((o) => o.doId);
    const channelOf = async (parent: number) =>
      Number(await redis.hget(`${cluster.prefix}zone-ai:{zone-ai}zone-channels`, `${parent}.1`));
    const dungeonChannels = new Map([
      [red, await channelOf(red)],
      [blue, await channelOf(blue)],
    ]);

    // --- the replica running the red dungeon is killed -9: the dungeon goes on on the other
    const redZone = `${red}.1`;
    const victimIndex = (await zonesOf(replicas[0]!)).includes(redZone) ? 0 : 1;
    expect(await zonesOf(replicas[victimIndex]!)).toContain(redZone);
    const survivor = replicas[1 - victimIndex]!;
    replicas[victimIndex]!.process.kill("SIGKILL");
    await eventually(async () => (await zonesOf(survivor)).includes(redZone), "the red dungeon to resume");
    const guard = seen(alice.client).find((o) => o.parent === red && npcKind(o) === GUARD_KIND)!;
    const before = guard.fields.get("setXY");
    await eventually(() => guard.fields.get("setXY") !== before, "a guard of the red dungeon to move on");

    // alice says /leave: back where she stood, seeing the world and nothing of the dungeon
    alice.client.sendField(alice.avatar.doId, "say", ["/leave"]);
    await eventually(() => alice.avatar.parent === WORLD, "alice back in the world");
    expect(alice.avatar.zone).toBe(GATHER_ZONE);
    await eventually(() => position(alice.avatar)?.join() === GATHER.join(), "alice where she stood");
    await eventually(
      () => seen(alice.client).length > 0 && seen(alice.client).every((o) => o.parent === WORLD),
      "alice to see the world again and nothing of the dungeon",
    );
    expect(seen(alice.client).some((o) => isEntrance(o))).toBe(true); // zone 1 borders zone 2
    // bob steps on the exit; carol quits the game inside hers
    bob.client.sendField(bob.avatar.doId, "setSmXYH", [
      GRID.cellSize - ARRIVAL[0],
      GRID.cellSize - ARRIVAL[1],
      0,
      0,
    ]);
    await eventually(
      () => bob.avatar.parent === WORLD && bob.avatar.zone === GATHER_ZONE,
      "bob back in the world",
    );
    await carol.client.close();

    // --- both dungeons close, and nothing is left of them
    await eventually(
      async () => (await redis.hlen(`${cluster.prefix}zone-ai:{zone-ai}instances`)) === 0,
      "both dungeons to close",
    );
    const operator = await connectOperator("instances: what JetStream keeps");
    try {
      const journal = await openJournal(operator, { root: cluster.root });
      for (const [parent, objects] of [
        [red, redObjects],
        [blue, blueObjects],
      ] as const) {
        await eventually(async () => (await keysOf(parent, objects)).length === 1, `${parent}'s keys gone`);
        // what is left is the marker that keeps a replayed open from opening it again, and it expires
        const [marker] = await keysOf(parent, objects);
        expect(marker).toBe(`${cluster.prefix}zone-ai:{zone-ai}instance-closed:${parent}`);
        expect(await redis.pttl(marker!)).toBeGreaterThan(0);
        expect(await redis.hexists(`${cluster.prefix}zone-ai:{zone-ai}zone-channels`, `${parent}.1`)).toBe(0);
        const leftovers = await redis.keys(`${cluster.prefix}*${dungeonChannels.get(parent)}*`);
        expect(leftovers).toEqual([]); // no AI index of its zone channel
        expect(await zonesOf(survivor)).not.toContain(`${parent}.1`);
        expect(await journal.lastSeq(dungeonChannels.get(parent)!)).toBe(0);
        expect(await journal.loadSnapshot({ parentId: parent, zoneId: 1 })).toBeUndefined();
        const inside = await cluster.ss<{ objects: unknown[] }>("query-zones", {
          parentId: parent,
          zones: [1],
        });
        expect(inside.objects).toEqual([]);
      }
    } finally {
      await operator.close();
    }
    // the world heard the red dungeon closed: the red party gets a new one
    await walkTo(alice, GATHER, GATHER_ZONE);
    const again = await goIn(alice, "red");
    expect(again).not.toBe(red);
  }, 120_000);

  it("takes an avatar that steps on the entrance into a dungeon of its own", async () => {
    const dave = await player("dave");
    await walkTo(dave, [40, 25], 1); // beside the entrance, in the middle of zone 1
    const entrance = await eventually(() => seen(dave.client).find(isEntrance), "dave to see the entrance");
    const [x, y] = entrance.fields.get("setXY") as [number, number];
    dave.client.sendField(dave.avatar.doId, "setSmXYH", [x + 1, y, 0, 0]);
    const inside = await eventually(
      () => (dave.avatar.parent !== WORLD ? dave.avatar.parent : undefined),
      "dave in a dungeon",
    );
    await eventually(
      () => seen(dave.client).length === 3 && seen(dave.client).every((o) => o.parent === inside),
      "dave to see his dungeon and nothing else",
    );
    // he comes back beside the entrance, standing on it: it does not take him again until he steps off
    dave.client.sendField(dave.avatar.doId, "say", ["/leave"]);
    await eventually(() => dave.avatar.parent === WORLD && dave.avatar.zone === 1, "dave back in zone 1");
    dave.client.sendField(dave.avatar.doId, "setSmXYH", [x + 1, y, 0, 0]);
    // `say` is clsend: eve may send it on dave's avatar, but only dave's own command takes him in
    const eve = await player("eve");
    await walkTo(eve, [40, 30], 1);
    await eventually(() => eve.client.objects.has(dave.avatar.doId), "eve to see dave");
    eve.client.sendField(dave.avatar.doId, "say", ["/dungeon eve"]);
    await sleep(500);
    expect(dave.avatar.parent).toBe(WORLD);
  }, 60_000);
});

/**
 * The state server against a Redis Cluster (six local redis-servers: three masters, three replicas), as
 * against one Redis: objects created, fields set, zone moves with their notices, zone queries, AI and
 * deletion of trees; an index entry a cut-off step left behind is repaired by the next read; and a master
 * killed under load: its replica takes over, and every acknowledged write is there afterwards. Zone AI's
 * zone leases run on the same cluster.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connectRedis, type Redis, type RunningRedisCluster, startRedisCluster } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freeTcpPort } from "../../libs/cli/src/cluster-processes.ts";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import { ZoneLeases } from "../../services/zone-ai/src/zone-leases.ts";
import { Client, type Namespace, namespace, readable, SENDER, startInProcess, value } from "./support.ts";

const DTO1 = "DistributedTestObject1";
const required = (n: number) => [value(DTO1, "setRequired1", [n])];

let dir: string;
let cluster: RunningRedisCluster;
let ns: Namespace;
let server: StateServerHandle;
let client: Client;
/** The test's own connection to the cluster, to look under the state server. */
let redis: Redis;

/** A read as a game client makes it: sent again (up to three times) when a request went unanswered. */
async function patiently<T>(read: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await read();
    } catch (error) {
      if (attempt >= 3 || (error as { code?: string }).code !== "unavailable") throw error;
    }
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ow-redis-cluster-"));
  const ports: number[] = [];
  const busPorts: number[] = [];
  for (let i = 0; i < 6; i++) {
    ports.push(await freeTcpPort());
    busPorts.push(await freeTcpPort());
  }
  cluster = await startRedisCluster(dir, { host: "127.0.0.1", ports, busPorts, replicas: 1 });
  const base = namespace("rcluster", {
    REDIS_URL: cluster.url,
    REDIS_WAIT_REPLICAS: "1",
    REDIS_WAIT_MS: "500",
  });
  ns = { ...base, directorEnv: { ...base.directorEnv, REDIS_URL: cluster.url } };
  server = await startInProcess(ns);
  client = await Client.connect(ns);
  redis = await connectRedis(cluster.url, "redis-cluster test");
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await client?.cleanUp();
  redis?.disconnect();
  await cluster?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 30_000);

describe("the state server on a Redis Cluster", () => {
  it("creates, sets, moves, queries and deletes objects as on one Redis", async () => {
    const root = 91_000;
    const zone = await client.location(root, 1);
    const ids: number[] = [];
    for (let i = 0; i < 12; i++) ids.push(await client.create(DTO1, root, 1 + (i % 3), required(100 + i)));
    const entered = await zone.drain();
    expect(entered.map((delivery) => delivery.kind === "enter" && delivery.object.doId)).toEqual(
      ids.filter((_, i) => i % 3 === 0),
    );

    // the objects are spread over the masters: each slot's own master runs its scripts
    const owners = new Set<string>();
    for (const doId of ids)
      owners.add(String(await redis.call("CLUSTER", "KEYSLOT", `${ns.prefix}o:{${doId}}`)));
    expect(owners.size).toBeGreaterThan(1);

    await client.ss("set", { doId: ids[0], fields: [value(DTO1, "setRequired1", [4242])] });
    expect(readable((await client.get(ids[0]!)).fields)).toEqual([[expect.any(Number), [4242]]]);
    expect((await zone.nextOf("update")).updates).toHaveLength(1);

    const query = async (zones: number[]) =>
      (
        await client.ss<{ objects: { doId: number }[] }>("query-zones", { parentId: root, zones })
      ).objects.map((object) => object.doId);
    expect(await query([1])).toEqual(ids.filter((_, i) => i % 3 === 0));
    expect(
      (await client.ss<{ count: number }>("count-zones", { parentId: root, zones: [1, 2, 3] })).count,
    ).toBe(12);

    // a move: leave to the old zone, enter to the new one, the indexes follow
    const other = await client.location(root, 7);
    await client.ss("set-location", { doId: ids[0], parentId: root, zoneId: 7 });
    expect(await zone.nextOf("leave")).toEqual({
      kind: "leave",
      sender: SENDER,
      doId: ids[0],
      parentId: root,
      zoneId: 1,
    });
    expect((await other.nextOf("enter")).object.doId).toBe(ids[0]);
    expect(await query([7])).toEqual([ids[0]]);
    expect(await query([1])).not.toContain(ids[0]);
    expect((await client.ss<{ zones: number[] }>("active-zones", { parentId: root })).zones).toEqual([
      1, 2, 3, 7,
    ]);

    // a tree under an object with an AI: the AI passes down to the children, a move under another
    // parent changes it, and deleting the AI's objects takes the tree
    const ai = 91_500;
    const parent = await client.create(DTO1, root, 9, required(1), { ai });
    const child = await client.create(DTO1, parent, 1, required(2));
    const grandchild = await client.create(DTO1, child, 1, required(3));
    expect((await client.get(grandchild)).ai).toBe(ai);
    await expect(
      client.ss("set-location", { doId: parent, parentId: grandchild, zoneId: 1 }),
    ).rejects.toMatchObject({
      code: "bad_value",
    });
    const plain = await client.create(DTO1, root, 9, required(4));
    await client.ss("set-location", { doId: child, parentId: plain, zoneId: 9 });
    expect((await client.get(grandchild)).ai).toBe(0);
    await client.ss("set-location", { doId: child, parentId: parent, zoneId: 2 });
    expect((await client.get(grandchild)).ai).toBe(ai);
    const { deleted } = await client.ss<{ deleted: number[] }>("delete-ai-objects", { ai });
    expect(deleted.sort()).toEqual([parent, child, grandchild].sort());
    await client.ss("delete", { doId: plain });
    await expect(client.get(child)).rejects.toMatchObject({ code: "unknown_object" });

    const { deleted: zoneDeleted } = await client.ss<{ deleted: number[] }>("delete-zone", {
      parentId: root,
      zoneId: 2,
    });
    expect(zoneDeleted.sort()).toEqual(ids.filter((_, i) => i % 3 === 1).sort());
    for (const doId of ids.filter((_, i) => i % 3 !== 1)) await client.ss("delete", { doId });
    expect(await query([1, 2, 3, 7])).toEqual([]);
    zone.stop();
    other.stop();
  });

  it("repairs a zone index entry that a move cut off by a crash left behind", async () => {
    const root = 92_000;
    const doId = await client.create(DTO1, root, 1, required(5));
    // what a state server that died between moving the object (its hash) and cleaning the old zone leaves
    await redis.hset(`${ns.prefix}o:{${doId}}`, "z", "2");
    await redis.sadd(`${ns.prefix}z:{${root}}:2`, String(doId));
    const query = async (zoneId: number) =>
      (
        await client.ss<{ objects: { doId: number }[] }>("query-zones", { parentId: root, zones: [zoneId] })
      ).objects.map((object) => object.doId);
    expect(await query(1)).toEqual([]);
    expect(await query(2)).toEqual([doId]);
    // the read took the stale entry out
    expect(await redis.sismember(`${ns.prefix}z:{${root}}:1`, String(doId))).toBe(0);
    expect((await client.ss<{ count: number }>("count-zones", { parentId: root, zones: [1] })).count).toBe(0);
    await client.ss("delete", { doId });
  });

  it("gives a zone AI's zone lease to one replica at a time, with growing fencing tokens", async () => {
    // zone AI's leases on the same cluster: a zone's lease and token share its slot
    const other = await connectRedis(cluster.url, "redis-cluster test, second replica");
    const options = { prefix: `${ns.prefix}zone-ai:lease:`, ttlMs: 2000 };
    const a = new ZoneLeases(redis, { ...options, owner: "a" });
    const b = new ZoneLeases(other, { ...options, owner: "b" });
    try {
      const zones = ["7.1", "7.2", "8.1", "9.5"];
      for (const zone of zones) expect(await a.acquire(zone)).toEqual({ acquired: true, token: 1 });
      for (const zone of zones) expect(await b.acquire(zone)).toMatchObject({ acquired: false, holder: "a" });
      expect(await a.release("7.1")).toBe(true);
      expect(await b.acquire("7.1")).toEqual({ acquired: true, token: 2 });
      expect(await b.holder("7.1")).toMatchObject({ owner: "b", token: 2 });
      await a.forget(["9.9"]);
    } finally {
      await a.close();
      await b.close();
      other.disconnect();
    }
  });

  it("keeps every acknowledged write when a master dies under load and its replica takes over", async () => {
    const root = 93_000;
    const objects: number[] = [];
    for (let i = 0; i < 24; i++) objects.push(await client.create(DTO1, root, 1, required(0)));
    // per object: the last value acknowledged, and the values sent after it without an answer
    const acked = new Map<number, number>(objects.map((doId) => [doId, 0]));
    const unanswered = new Map<number, number[]>(objects.map((doId) => [doId, []]));
    let running = true;
    let acknowledged = 0;
    const failed = 0;
    const writer = async (doId: number) => {
      for (let n = 1; running; n++) {
        try {
          await client.ss("set", { doId, fields: required(n) }, 3000);
          acked.set(doId, n);
          unanswered.set(doId, []);
          acknowledged++;
        } catch {
          // not acknowledged (the object's master was down or moving): the value may or may not stay
          unanswered.get(doId)!.push(n);
          await new Promise((wake) => setTimeout(wake, 50)); // a client backs off before it sends again
        }
      }
    };
    const writers = objects.map(writer);
    await new Promise((wake) => setTimeout(wake, 500));
    const [victim] = await cluster.masters();
    const replica = await cluster.replicaOf(victim!);
    const before = acknowledged;
    await cluster.kill(victim!);
    await cluster.untilHealthy(30_000);
    expect(await cluster.masters()).toContain(replica);
    // writes go on after the failover
    const afterFailover = acknowledged;
    await new Promise((wake) => setTimeout(wake, 1000));
    running = false;
    await Promise.all(writers);
    expect(acknowledged).toBeGreaterThan(afterFailover);
    expect(before).toBeGreaterThan(0);

    for (const doId of objects) {
      const [[, [seen]]] = readable(
        (await patiently(() => client.get(doId, [required(0)[0]![0]]))).fields,
      ) as [[number, [number]]];
      expect([acked.get(doId), ...unanswered.get(doId)!]).toContain(seen);
    }
    const found = (
      await client.ss<{ objects: { doId: number }[] }>("query-zones", { parentId: root, zones: [1] })
    ).objects.map((object) => object.doId);
    expect(found).toEqual(objects);
    console.log(`failover under load: ${acknowledged} writes acknowledged, ${failed} failed or timed out`);
  }, 60_000);
});

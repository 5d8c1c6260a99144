/**
 * The state server as a participant of the cluster: it joins through the message director with its
 * version and schema hash (and is refused, exiting with both values named, when they are not the
 * cluster's), takes its doIds from the director's allocator, appends objects created and deleted to
 * the cluster event log, and says goodbye when it stops.
 */
import { formatHash, legacyHash, loadDcFiles } from "@overworld/protocol";
import { joinCluster, type LoggedEvent, readEvents, request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_KINDS, type StateServerHandle } from "../../services/state-server/src/main.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { joinCredentials } from "../support/nats.ts";
import { NATS_URL } from "../support/services.ts";
import {
  CLUSTER_VERSION,
  Client,
  classId,
  dc,
  namespace,
  startChild,
  startInProcess,
  value,
} from "./support.ts";

const DOID_BLOCK = 10;
const FIRST_DOID = 1_000_000;
const DTO1 = "DistributedTestObject1";
const TYPES = "DistributedDBTypeTestObject";
const STATE_SERVER_KINDS = new Set<string>(Object.values(EVENT_KINDS));

const ns = namespace("cluster", { DOID_BLOCK: String(DOID_BLOCK) });
let server: StateServerHandle;
let client: Client;

beforeAll(async () => {
  server = await startInProcess(ns, { INSTANCE_ID: "member" });
  client = await Client.connect(ns);
});

afterAll(async () => {
  await server?.stop();
  await client?.cleanUp();
});

function events(fromSeq = 1, kind?: string): Promise<LoggedEvent[]> {
  return readEvents(client.nc, {
    stream: ns.stream,
    root: ns.subjects.root,
    fromSeq,
    ...(kind ? { kind } : {}),
  });
}

async function lastSeq(): Promise<number> {
  const all = await events();
  return all.at(-1)?.seq ?? 0;
}

async function waitUntil(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function createDto1(parentId: number, zoneId: number): Promise<number> {
  return client.create(DTO1, parentId, zoneId, [value(DTO1, "setRequired1", [7])]);
}

describe("joining the cluster", () => {
  it("joins as a state-server participant with its version and the hash of its .dc files", async () => {
    expect(server.member.alive).toBe(true);
    const joined = (await events(1, "participant.joined")).map((event) => event.data);
    expect(joined).toContainEqual({
      channel: server.member.channel,
      role: "state-server",
      instanceId: "member",
    });
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(((await health.json()) as { checks: Record<string, boolean> }).checks.cluster).toBe(true);
  });

  it("takes doIds from the director's allocator, which never hands them out again", async () => {
    const doIds = [];
    for (let i = 0; i < 3 * DOID_BLOCK; i++) doIds.push(await createDto1(5_000_000, 1));
    expect(new Set(doIds).size).toBe(doIds.length);
    for (const doId of doIds) expect(doId).toBeGreaterThanOrEqual(FIRST_DOID);
    const counter = await client.pool.query<{ next_id: string }>(
      `SELECT next_id FROM "${ns.schema}".md_id_counters WHERE kind = 'doId'`,
    );
    expect(Number(counter.rows[0]!.next_id)).toBeGreaterThan(Math.max(...doIds));
    // another participant's range is disjoint from what the state server handed out
    const other = await joinCluster({
      natsUrl: NATS_URL,
      credentials: joinCredentials("tool"),
      role: "tool",
      instanceId: "id-checker",
      version: CLUSTER_VERSION,
      schemaHash: legacyHash(dc),
      root: ns.subjects.root,
    });
    const range = await other.allocateIds("doId", 5);
    await other.leave();
    expect(range.first).toBeGreaterThan(Math.max(...doIds));
  });

  it("says goodbye when it stops", async () => {
    const from = (await lastSeq()) + 1;
    const leaving = await startInProcess(ns, { INSTANCE_ID: "leaving" });
    const channel = leaving.member.channel;
    await leaving.stop();
    expect(leaving.member.alive).toBe(false);
    const left = (await events(from, "participant.left")).map((event) => event.data);
    expect(left).toEqual([{ channel, role: "state-server", instanceId: "leaving" }]);
  });

  it("joins again when the director forgets it while it runs, and goes on handing out doIds", async () => {
    const before = server.member.channel;
    // a goodbye on its behalf: its next heartbeat is told it is not a participant any more
    await request(
      client.nc,
      ns.subjects.service("md", "goodbye", { role: "state-server", channel: before }),
      {},
    );
    await waitUntil(() => server.member.alive && server.member.channel !== before, 3000);
    expect(server.member.channel).not.toBe(before);
    const joined = (await events(1, "participant.joined")).map((event) => event.data);
    expect(joined).toContainEqual({
      channel: server.member.channel,
      role: "state-server",
      instanceId: "member",
    });
    expect(await createDto1(5_000_000, 2)).toBeGreaterThanOrEqual(FIRST_DOID);
  });

  it("exits naming both versions when the director refuses its version", async () => {
    await expect(startChild(ns, { CLUSTER_VERSION: "9.9.9" })).rejects.toThrow(
      new RegExp(
        `exited with 2 before ready:[\\s\\S]*version 9\\.9\\.9 does not match the cluster's ${CLUSTER_VERSION}`,
      ),
    );
  }, 20_000);

  it("exits naming both hashes when its .dc files are not the cluster's", async () => {
    const other = [DC_FIXTURES.otp, DC_FIXTURES.toon];
    const ours = formatHash(legacyHash(loadDcFiles(other)));
    const cluster = formatHash(legacyHash(dc));
    expect(ours).not.toBe(cluster);
    await expect(startChild(ns, { DC_FILES: other.join(",") })).rejects.toThrow(
      new RegExp(
        `exited with 2 before ready:[\\s\\S]*schema hash ${ours} does not match the cluster's ${cluster}`,
      ),
    );
  }, 20_000);
});

describe("the cluster event log", () => {
  it("holds the objects created and deleted, and the stored objects created and deleted, in order", async () => {
    const from = (await lastSeq()) + 1;
    const parent = await createDto1(6_000_000, 3);
    const child = await createDto1(parent, 1);
    const stored = (await client.db<{ doId: number }>("create", { classId: classId(TYPES), fields: [] }))
      .doId;
    await client.db("activate", { doId: stored, parentId: 6_000_000, zoneId: 4 });
    await client.ss("delete", { doId: parent });
    await client.ss("delete", { doId: stored });
    await client.db("delete", { doId: stored });
    await server.flushEvents();

    const logged = (await events(from)).filter((event) => STATE_SERVER_KINDS.has(event.kind));
    const seqs = logged.map((event) => event.seq);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const summary = logged.map((event) => [event.kind, (event.data as { doId: number }).doId]);
    expect(summary.slice(0, 4)).toEqual([
      [EVENT_KINDS.objectCreated, parent],
      [EVENT_KINDS.objectCreated, child],
      [EVENT_KINDS.storedCreated, stored],
      [EVENT_KINDS.objectCreated, stored],
    ]);
    // the parent's tree goes in one deletion, in the order the store returns it
    expect(summary.slice(4, 6)).toEqual(
      expect.arrayContaining([
        [EVENT_KINDS.objectDeleted, parent],
        [EVENT_KINDS.objectDeleted, child],
      ]),
    );
    expect(summary.slice(6)).toEqual([
      [EVENT_KINDS.objectDeleted, stored],
      [EVENT_KINDS.storedDeleted, stored],
    ]);
    expect(logged[0]!.data).toEqual({
      doId: parent,
      classId: classId(DTO1),
      parentId: 6_000_000,
      zoneId: 3,
      ai: 0,
      owner: 0,
      stored: false,
    });
    expect(logged[0]!.source).toBe(`state-server#${server.member.channel}`);
  });

  it("takes a burst of concurrent creations, each once", async () => {
    const from = (await lastSeq()) + 1;
    const created = await Promise.all(Array.from({ length: 40 }, (_, i) => createDto1(7_000_000, i)));
    await server.flushEvents();
    const logged = (await events(from, EVENT_KINDS.objectCreated)).map(
      (event) => (event.data as { doId: number }).doId,
    );
    expect([...logged].sort((a, b) => a - b)).toEqual([...created].sort((a, b) => a - b));
    const metrics = await server.metrics.getSingleMetric("ow_ss_events_total")!.get();
    const appended = metrics.values.find((item) => item.labels.result === "appended")?.value ?? 0;
    expect(appended).toBeGreaterThanOrEqual(40);
  });
});

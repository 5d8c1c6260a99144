/**
 * The cluster core surviving crashes: a message director and two state-server replicas run as child
 * processes; a zone AI joins and registers a post-remove that deletes its objects. While acknowledged
 * db-field and ram-field updates stream in, one state-server replica and the message director are
 * killed with SIGKILL and the AI vanishes without a goodbye; then the director is restarted.
 *
 * Afterwards every acknowledged update is still there (db fields in Postgres, ram fields in Redis as
 * `ss.get` reads them), and the AI's post-remove fired exactly once: its objects are gone, the
 * delete-ai-objects message was published once, and each object was deleted once.
 */
import type { ChildProcess } from "node:child_process";
import { encodeEnvelope, legacyHash, messages } from "@overworld/protocol";
import { joinCluster, type LoggedEvent, type NatsConnection, readEvents } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { EVENT_KINDS } from "../../services/state-server/src/main.ts";
import {
  countOn,
  type DirectorProcess,
  sleep,
  startDirectorProcess,
  waitFor,
} from "../message-director/support.ts";
import {
  CLUSTER_VERSION,
  Client,
  classId,
  dc,
  fieldId,
  kill9,
  NATS_URL,
  namespace,
  startChild,
  unpack,
  value,
} from "../state-server/support.ts";
import { joinCredentials } from "../support/nats.ts";

const DTO1 = "DistributedTestObject1";
const DTO5 = "DistributedTestObject5";
const TYPES = "DistributedDBTypeTestObject";
/** A ram field (broadcast ram ownrecv uint32) of the live objects. */
const RAM_FIELD = "setBRO1";
/** A db field (uint16, not ram) of the activated stored objects, written through the live path. */
const LIVE_DB_FIELD = "setFoo";
/** A db field (uint32) of the plain stored objects, written through `db.set`. */
const DB_FIELD = "db_uint32";
const REQUEST_TIMEOUT_MS = 1000;
const WORLD = 8_000_000;
const AI_ZONE = 99;

const ns = namespace("crash");
/** Fast heartbeats so deaths come within about a second. */
const directorEnv = {
  ...ns.directorEnv,
  HEARTBEAT_MS: "200",
  DEAD_AFTER_MS: "1000",
  SWEEP_MS: "50",
  LEASE_MS: "800",
};

let client: Client;
const directors: DirectorProcess[] = [];
const replicas: ChildProcess[] = [];
let aiConnection: NatsConnection | undefined;

beforeAll(async () => {
  client = await Client.connect(ns);
});

afterAll(async () => {
  for (const replica of replicas) await kill9(replica);
  for (const director of directors) await director.kill9();
  await aiConnection?.close().catch(() => undefined);
  await client?.cleanUp();
});

/** A stream of acknowledged writes to one field of one object: counts up, remembers what was acked. */
class Stream {
  acked = 0;
  attempted = 0;
  failures = 0;

  constructor(
    readonly doId: number,
    private readonly write: (n: number) => Promise<void>,
  ) {}

  async run(until: () => boolean): Promise<void> {
    for (let n = 1; !until(); n++) {
      this.attempted = n;
      try {
        await this.write(n);
        this.acked = n;
      } catch {
        this.failures += 1;
        await sleep(20);
      }
    }
  }
}

function ramStream(doId: number): Stream {
  return new Stream(doId, async (n) => {
    const reply = await client.ss<{ applied: number }>(
      "updates",
      { groups: [[0, [[doId, ...value(DTO1, RAM_FIELD, [n])]]]] },
      REQUEST_TIMEOUT_MS,
    );
    if (reply.applied !== 1) throw new Error(`update ${n} of ${doId} not applied`);
  });
}

function liveDbStream(doId: number): Stream {
  return new Stream(doId, async (n) => {
    const reply = await client.ss<{ applied: number }>(
      "updates",
      { groups: [[0, [[doId, ...value(DTO5, LIVE_DB_FIELD, [n])]]]] },
      REQUEST_TIMEOUT_MS,
    );
    if (reply.applied !== 1) throw new Error(`update ${n} of ${doId} not applied`);
  });
}

function dbStream(doId: number): Stream {
  return new Stream(doId, async (n) => {
    await client.db("set", { doId, fields: [value(TYPES, DB_FIELD, n)] }, REQUEST_TIMEOUT_MS);
  });
}

async function storedValue(doId: number, id: number): Promise<unknown> {
  const row = await client.pool.query<{ value: Buffer }>(
    `SELECT value FROM "${ns.schema}".fields WHERE do_id = $1 AND field_id = $2`,
    [doId, id],
  );
  return row.rows[0] ? unpack(id, row.rows[0].value) : undefined;
}

function numeric(list: readonly number[]): number[] {
  return [...list].sort((a, b) => a - b);
}

function events(kind: string): Promise<LoggedEvent[]> {
  return readEvents(client.nc, { stream: ns.stream, root: ns.subjects.root, kind });
}

describe("kill -9 of a state-server replica and the message director in a stream of updates", () => {
  it("keeps every acknowledged update and fires the dead AI's post-remove once", async () => {
    const started = Date.now();
    directors.push(await startDirectorProcess(directorEnv, "md-first"));
    const [doomed, survivor] = await Promise.all([
      startChild(ns, { INSTANCE_ID: "ss-doomed" }, { director: false }),
      startChild(ns, { INSTANCE_ID: "ss-survivor" }, { director: false }),
    ]);
    replicas.push(doomed, survivor);

    // the world: live objects with a ram field, stored objects (plain and activated)
    const live = await Promise.all(
      Array.from({ length: 8 }, (_, i) => client.create(DTO1, WORLD, i, [value(DTO1, "setRequired1", [i])])),
    );
    const plain = await Promise.all(
      Array.from(
        { length: 8 },
        async () =>
          (await client.db<{ doId: number }>("create", { classId: classId(TYPES), fields: [] })).doId,
      ),
    );
    const activated: number[] = [];
    for (let i = 0; i < 4; i++) {
      const doId = (await client.db<{ doId: number }>("create", { classId: classId(DTO5), fields: [] })).doId;
      await client.db("activate", { doId, parentId: WORLD, zoneId: 10 + i });
      activated.push(doId);
    }

    // the zone AI: joins, owns some objects, registers the post-remove that deletes them
    const ai = await joinCluster({
      natsUrl: NATS_URL,
      credentials: joinCredentials("zone-ai"),
      role: "zone-ai",
      instanceId: "ai-crash",
      version: CLUSTER_VERSION,
      schemaHash: legacyHash(dc),
      root: ns.subjects.root,
    });
    aiConnection = ai.nc;
    const aiObjects = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        client.create(DTO1, WORLD, AI_ZONE, [value(DTO1, "setRequired1", [100 + i])], { ai: ai.channel }),
      ),
    );
    const deleteAiObjects = ai.subject("ss", "delete-ai-objects");
    // the envelope the state server's delete-ai-objects expects, checked against its schema
    const request = messages.deleteAiObjects.parse({ ai: ai.channel });
    await ai.addPostRemove(deleteAiObjects, encodeEnvelope(request));
    const firings = countOn(client.nc, deleteAiObjects);
    const zone = await client.location(WORLD, AI_ZONE);

    // the streams, then the crash in their middle
    const streams = [...live.map(ramStream), ...activated.map(liveDbStream), ...plain.map(dbStream)];
    let stop = false;
    const running = streams.map((stream) => stream.run(() => stop));
    await sleep(500 + Math.floor(Math.random() * 300));
    const ackedBeforeCrash = streams.map((stream) => stream.acked);
    await Promise.all([kill9(doomed), directors[0]!.kill9(), aiConnection.close()]);
    await sleep(300); // updates go on through the surviving replica, with no director at all
    directors.push(await startDirectorProcess(directorEnv, "md-restarted"));

    // the restarted director declares the AI dead and fires its post-remove
    await waitFor("the AI's post-remove", () => firings.count > 0, 6000);
    await waitFor(
      "the AI's objects to be deleted",
      async () =>
        (await client.ss<{ count: number }>("count-zones", { parentId: WORLD, zones: [AI_ZONE] })).count ===
        0,
      3000,
    );
    await sleep(300);
    stop = true;
    await Promise.all(running);

    // every acknowledged update is there: at least what was acked, at most what was attempted
    for (const [i, stream] of streams.entries()) {
      expect(stream.acked, `stream ${i} acked before the crash`).toBeGreaterThanOrEqual(ackedBeforeCrash[i]!);
    }
    expect(streams.reduce((sum, stream) => sum + stream.acked, 0)).toBeGreaterThan(100);
    expect(streams.reduce((sum, stream) => sum + stream.failures, 0)).toBeGreaterThan(0); // the kill was felt
    for (const stream of streams.slice(0, live.length)) {
      const state = await client.get(stream.doId, [fieldId(DTO1, RAM_FIELD)]);
      const stored = (unpack(fieldId(DTO1, RAM_FIELD), state.fields[0]![1]) as number[])[0]!;
      expect(stored, `ram field of ${stream.doId}`).toBeGreaterThanOrEqual(stream.acked);
      expect(stored).toBeLessThanOrEqual(stream.attempted);
    }
    for (const stream of streams.slice(live.length, live.length + activated.length)) {
      const stored = ((await storedValue(stream.doId, fieldId(DTO5, LIVE_DB_FIELD))) as number[])[0]!;
      expect(stored, `db field of activated ${stream.doId}`).toBeGreaterThanOrEqual(stream.acked);
      expect(stored).toBeLessThanOrEqual(stream.attempted);
    }
    for (const stream of streams.slice(live.length + activated.length)) {
      const stored = (await storedValue(stream.doId, fieldId(TYPES, DB_FIELD))) as number;
      expect(stored, `db field of stored ${stream.doId}`).toBeGreaterThanOrEqual(stream.acked);
      expect(stored).toBeLessThanOrEqual(stream.attempted);
    }

    // the post-remove fired once: one message, each AI object deleted once, the others untouched
    await sleep(500);
    expect(firings.count).toBe(1);
    for (const doId of aiObjects) {
      await expect(client.get(doId), `AI object ${doId}`).rejects.toMatchObject({ code: "unknown_object" });
    }
    const deletes = (await zone.drain(0)).filter((delivery) => delivery.kind === "delete");
    expect(numeric(deletes.map((delivery) => (delivery as { doId: number }).doId))).toEqual(
      numeric(aiObjects),
    );
    for (const doId of live) expect((await client.get(doId)).doId).toBe(doId);

    // the event log says the same: the AI and the killed replica died once; each AI object was deleted once
    const died = (await events("participant.died")).map(
      (event) => event.data as { channel: number; role: string; postRemoves: number },
    );
    expect(died.filter((death) => death.channel === ai.channel)).toEqual([
      expect.objectContaining({ role: "zone-ai", postRemoves: 1 }),
    ]);
    await waitFor(
      "the killed replica's death",
      async () =>
        (await events("participant.died")).some(
          (event) => (event.data as { instanceId: string }).instanceId === "ss-doomed",
        ),
      3000,
    );
    await waitFor(
      "the deletions in the event log",
      async () => (await events(EVENT_KINDS.objectDeleted)).length >= aiObjects.length,
      3000,
    );
    const deleted = (await events(EVENT_KINDS.objectDeleted)).map(
      (event) => (event.data as { doId: number }).doId,
    );
    expect(numeric(deleted)).toEqual(numeric(aiObjects));

    firings.stop();
    zone.stop();
    expect(Date.now() - started).toBeLessThan(25_000);
  }, 40_000);
});

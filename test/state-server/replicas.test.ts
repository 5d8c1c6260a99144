/**
 * Several state-server replicas at once, and a replica killed with SIGKILL in the middle of a stream
 * of acknowledged db updates: nothing acknowledged is lost.
 */
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import {
  Client,
  classId,
  fieldId,
  kill9,
  namespace,
  readable,
  startChild,
  startInProcess,
  unpack,
  value,
} from "./support.ts";

const DTO4 = "DistributedTestObject4";
const DTO5 = "DistributedTestObject5";
const TYPES = "DistributedDBTypeTestObject";

/** Sums a counter or histogram sample of a replica's registry. */
async function sample(
  server: StateServerHandle,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = server.metrics.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((item) => Object.entries(labels).every(([key, label]) => item.labels[key] === label))
    .reduce((total, item) => total + item.value, 0);
}

describe("two replicas changing the same objects at once", () => {
  const ns = namespace("replicas");
  let one: StateServerHandle;
  let two: StateServerHandle;
  let client: Client;

  beforeAll(async () => {
    one = await startInProcess(ns, { INSTANCE_ID: "one" });
    two = await startInProcess(ns, { INSTANCE_ID: "two" });
    client = await Client.connect(ns);
  });

  afterAll(async () => {
    await one?.stop();
    await two?.stop();
    await client?.cleanUp();
  });

  it("loses no field update and keeps the zone index whole", async () => {
    const parent = 9_000_001;
    const doId = await client.create(DTO4, parent, 1, [
      value(DTO4, "setX", [0]),
      value(DTO4, "setY", [0]),
      value(DTO4, "setUnrelated", [0]),
      value(DTO4, "setZ", [0]),
    ]);
    const SMALL = new Set(["setOne", "setTwo", "setThree"]);
    const writers = ["setX", "setY", "setUnrelated", "setZ", "setOne", "setTwo", "setThree"];
    const ROUNDS = 60;
    const lastWritten = new Map<string, number>();
    const writing = writers.map(async (name, w) => {
      for (let i = 1; i <= ROUNDS; i++) {
        const n = SMALL.has(name) ? i % 256 : i * 1000 + w;
        if (i % 2 === 0) await client.ss("set", { doId, fields: [value(DTO4, name, [n])] });
        else await client.ss("updates", { groups: [[0, [[doId, ...value(DTO4, name, [n])]]]] });
        lastWritten.set(name, n);
      }
    });
    // meanwhile, both replicas move the object (and a few siblings) between zones
    const siblings = await Promise.all(
      [2, 3, 4].map((zone) =>
        client.create(DTO4, parent, zone, [
          value(DTO4, "setX", [zone]),
          value(DTO4, "setY", [zone]),
          value(DTO4, "setUnrelated", [zone]),
          value(DTO4, "setZ", [zone]),
        ]),
      ),
    );
    const moving = [doId, ...siblings].map(async (mover, m) => {
      for (let i = 0; i < ROUNDS; i++) {
        await client.ss("set-location", { doId: mover, parentId: parent, zoneId: 1 + ((i + m) % 5) });
      }
    });
    await Promise.all([...writing, ...moving]);

    const state = await client.get(doId);
    const stored = new Map(readable(state.fields).map(([id, item]) => [id, (item as number[])[0]]));
    for (const name of writers) expect(stored.get(fieldId(DTO4, name)), name).toBe(lastWritten.get(name));

    // every object is in exactly one zone: the one its record names; active zones are the non-empty ones
    const zones = [1, 2, 3, 4, 5];
    const members = await Promise.all(
      zones.map(async (zone) => {
        const reply = await client.ss<{ objects: { doId: number }[] }>("query-zones", {
          parentId: parent,
          zones: [zone],
        });
        return reply.objects.map((object) => object.doId);
      }),
    );
    for (const mover of [doId, ...siblings]) {
      const where = zones.filter((_, i) => members[i]!.includes(mover));
      expect(where, `object ${mover}`).toEqual([(await client.get(mover)).zoneId]);
    }
    const active = zones.filter((_, i) => members[i]!.length > 0);
    expect((await client.ss<{ zones: number[] }>("active-zones", { parentId: parent })).zones).toEqual(
      active,
    );

    // both replicas did part of the work
    expect(await sample(one, "ow_ss_requests_total", { op: "ss.set-location" })).toBeGreaterThan(0);
    expect(await sample(two, "ow_ss_requests_total", { op: "ss.set-location" })).toBeGreaterThan(0);
    expect(await sample(one, "ow_ss_updates_applied_total")).toBeGreaterThan(0);
    expect(await sample(two, "ow_ss_updates_applied_total")).toBeGreaterThan(0);
  });

  it("commits concurrent db writes in shared transactions, each answered after its commit", async () => {
    const doIds = await Promise.all(
      Array.from(
        { length: 60 },
        async () =>
          (await client.db<{ doId: number }>("create", { classId: classId(TYPES), fields: [] })).doId,
      ),
    );
    const rowsBefore = await batchTotals();
    await Promise.all(
      doIds.map((doId, i) => client.db("set", { doId, fields: [value(TYPES, "db_uint32", i)] })),
    );
    const rowsAfter = await batchTotals();
    const rows = rowsAfter.sum - rowsBefore.sum;
    const batches = rowsAfter.count - rowsBefore.count;
    expect(rows).toBe(60);
    expect(batches).toBeLessThan(60);
    const stored = await client.pool.query<{ do_id: string; value: Buffer }>(
      `SELECT do_id, value FROM "${ns.schema}".fields WHERE field_id = $1 AND do_id = ANY($2::bigint[])`,
      [fieldId(TYPES, "db_uint32"), doIds],
    );
    const byId = new Map(
      stored.rows.map((row) => [Number(row.do_id), unpack(fieldId(TYPES, "db_uint32"), row.value)]),
    );
    expect(doIds.map((doId) => byId.get(doId))).toEqual(doIds.map((_, i) => i));
  });

  async function batchTotals(): Promise<{ sum: number; count: number }> {
    let sum = 0;
    let count = 0;
    for (const server of [one, two]) {
      const { values } = await server.metrics.getSingleMetric("ow_db_batch_rows")!.get();
      for (const item of values as { metricName?: string; value: number }[]) {
        if (item.metricName === "ow_db_batch_rows_sum") sum += item.value;
        if (item.metricName === "ow_db_batch_rows_count") count += item.value;
      }
    }
    return { sum, count };
  }
});

describe("kill -9 in the middle of a stream of db updates", () => {
  const ns = namespace("kill");
  let client: Client;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    client = await Client.connect(ns);
  });

  afterAll(async () => {
    for (const child of children) await kill9(child);
    await client?.cleanUp();
  });

  it("keeps every acknowledged update, and another replica carries on", async () => {
    const first = await startChild(ns, { INSTANCE_ID: "doomed" });
    children.push(first);
    // stored objects written through the db operations...
    const plain = await Promise.all(
      Array.from(
        { length: 16 },
        async () =>
          (await client.db<{ doId: number }>("create", { classId: classId(TYPES), fields: [] })).doId,
      ),
    );
    // ...and activated ones written through the live hot path
    const activated: number[] = [];
    for (let i = 0; i < 16; i++) {
      const doId = (await client.db<{ doId: number }>("create", { classId: classId(DTO5), fields: [] })).doId;
      await client.db("activate", { doId, parentId: 9_100_000, zoneId: i });
      activated.push(doId);
    }
    const acked = new Map<number, number>();
    let stop = false;
    let failures = 0;
    const stream = async (doId: number, live: boolean) => {
      for (let i = 1; !stop; i++) {
        try {
          if (live) {
            const reply = await client.ss<{ applied: number }>(
              "updates",
              { groups: [[0, [[doId, ...value(DTO5, "setFoo", [i])]]]] },
              1000,
            );
            if (reply.applied !== 1) throw new Error("not applied");
          } else {
            await client.db("set", { doId, fields: [value(TYPES, "db_uint32", i)] }, 1000);
          }
          acked.set(doId, i);
        } catch {
          failures++;
          await sleep(20);
        }
      }
    };
    const streams = [
      ...plain.map((doId) => stream(doId, false)),
      ...activated.map((doId) => stream(doId, true)),
    ];
    await sleep(400 + Math.floor(Math.random() * 400));
    const ackedBeforeKill = new Map(acked);
    await kill9(first);
    await sleep(200);
    const second = await startChild(ns, { INSTANCE_ID: "survivor" });
    children.push(second);
    await sleep(300);
    stop = true;
    await Promise.all(streams);

    expect([...ackedBeforeKill.values()].reduce((a, b) => a + b, 0)).toBeGreaterThan(50);
    expect(failures).toBeGreaterThan(0);
    const storedValue = async (doId: number, id: number) => {
      const row = await client.pool.query<{ value: Buffer }>(
        `SELECT value FROM "${ns.schema}".fields WHERE do_id = $1 AND field_id = $2`,
        [doId, id],
      );
      return row.rows[0] ? (unpack(id, row.rows[0].value) as number[] | number) : undefined;
    };
    for (const doId of plain) {
      const stored = (await storedValue(doId, fieldId(TYPES, "db_uint32"))) as number;
      expect(stored, `stored object ${doId}`).toBeGreaterThanOrEqual(acked.get(doId) ?? 0);
      expect(stored).toBeGreaterThanOrEqual(ackedBeforeKill.get(doId) ?? 0);
    }
    for (const doId of activated) {
      const stored = ((await storedValue(doId, fieldId(DTO5, "setFoo"))) as number[])[0]!;
      expect(stored, `activated object ${doId}`).toBeGreaterThanOrEqual(acked.get(doId) ?? 0);
    }
    // the survivor answered updates after the kill
    expect([...acked.entries()].some(([doId, n]) => n > (ackedBeforeKill.get(doId) ?? 0))).toBe(true);

    // a clean stop (SIGTERM) exits 0
    const exited = once(second, "exit");
    second.kill("SIGTERM");
    const [code] = await exited;
    expect(code).toBe(0);
  }, 30_000);
});

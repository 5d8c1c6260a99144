/**
 * Stored objects in Postgres, after Astron's database tests (create, get, set, set-if-empty,
 * set-if-equals, delete fields, delete, wrong fields, every datatype) and its DBSS activation tests.
 */
import type { FieldValue } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import { Client, classId, dc, fieldId, namespace, readable, startInProcess, value } from "./support.ts";

const ns = namespace("db");
let server: StateServerHandle;
let client: Client;

const DTO1 = "DistributedTestObject1";
const DTO3 = "DistributedTestObject3";
const DTO5 = "DistributedTestObject5";
const TYPES = "DistributedDBTypeTestObject";
const RDBD5_DEFAULT = 20;

type Fields = [number, Uint8Array][];
interface Stored {
  doId: number;
  classId: number;
  fields: Fields;
}
interface Compare {
  applied: boolean;
  current: Fields;
}

beforeAll(async () => {
  server = await startInProcess(ns, { DB_BATCH_MS: "2" });
  client = await Client.connect(ns);
});

afterAll(async () => {
  await server?.stop();
  await client?.cleanUp();
});

/** Byte values as plain Uint8Arrays (the unpacker may answer views of a Buffer). */
function plain(item: FieldValue): FieldValue {
  if (item instanceof Uint8Array) return new Uint8Array(item);
  return Array.isArray(item) ? (item.map((element) => plain(element as FieldValue)) as FieldValue) : item;
}

async function create(className: string, fields: Fields = []): Promise<number> {
  return (await client.db<{ doId: number }>("create", { classId: classId(className), fields })).doId;
}

async function getAll(doId: number): Promise<Stored> {
  return client.db<Stored>("get", { doId });
}

async function getSome(doId: number, names: [string, string][]): Promise<Fields> {
  return (await client.db<Stored>("get", { doId, fieldIds: names.map(([c, f]) => fieldId(c, f)) })).fields;
}

/** What Postgres itself holds for an object, read without the state server. */
async function inPostgres(doId: number): Promise<[number, FieldValue][]> {
  const result = await client.pool.query<{ field_id: number; value: Buffer }>(
    `SELECT field_id, value FROM "${ns.schema}".fields WHERE do_id = $1 ORDER BY field_id`,
    [doId],
  );
  return readable(result.rows.map((row) => [row.field_id, row.value]));
}

describe("create, get and delete", () => {
  it("creates stored objects with fresh doIds and reads them back", async () => {
    const empty = await create(DTO1);
    expect(await getAll(empty)).toEqual({ ok: true, doId: empty, classId: classId(DTO1), fields: [] });

    const full = await create(DTO3, [value(DTO3, "setRDB3", [1]), value(DTO3, "setDb3", ["Hello, world!"])]);
    expect(full).not.toBe(empty);
    const stored = await getAll(full);
    expect(stored.classId).toBe(classId(DTO3));
    expect(readable(stored.fields)).toEqual([
      [fieldId(DTO3, "setDb3"), ["Hello, world!"]],
      [fieldId(DTO3, "setRDB3"), [1]],
    ]);
    await expect(getAll(78787)).rejects.toMatchObject({
      code: "unknown_object",
      message: expect.stringContaining("78787"),
    });
  });

  it("stores the declared default of db fields not given at creation", async () => {
    const doId = await create(DTO5);
    expect(readable((await getAll(doId)).fields)).toEqual([[fieldId(DTO5, "setRDbD5"), [RDBD5_DEFAULT]]]);
  });

  it("deletes an object and only that one", async () => {
    const a = await create(DTO3, [value(DTO3, "setRDB3", [1])]);
    const b = await create(DTO3, [value(DTO3, "setRDB3", [2])]);
    await client.db("delete", { doId: a });
    await expect(getAll(a)).rejects.toMatchObject({ code: "unknown_object" });
    await expect(client.db("delete", { doId: a })).rejects.toMatchObject({ code: "unknown_object" });
    expect(readable((await getAll(b)).fields)).toEqual([[fieldId(DTO3, "setRDB3"), [2]]]);
    expect(await inPostgres(a)).toEqual([]);
  });
});

describe("writes", () => {
  it("sets one and several fields, committed to Postgres before the answer", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [9999])]);
    await client.db("set", {
      doId,
      fields: [value(DTO3, "setDb3", ["Oh my gosh! Oh my gosh!! OMG! OMG!!!"])],
    });
    expect(await inPostgres(doId)).toEqual([
      [fieldId(DTO3, "setDb3"), ["Oh my gosh! Oh my gosh!! OMG! OMG!!!"]],
      [fieldId(DTO3, "setRDB3"), [9999]],
    ]);
    await client.db("set", {
      doId,
      fields: [
        value(DTO3, "setRDB3", [54231]),
        value(DTO3, "setADb3", ["You... you're alive!"]),
        value(DTO3, "setDb3", ["Wait, no"]),
      ],
    });
    expect(await inPostgres(doId)).toEqual([
      [fieldId(DTO3, "setDb3"), ["Wait, no"]],
      [fieldId(DTO3, "setRDB3"), [54231]],
      [fieldId(DTO3, "setADb3"), ["You... you're alive!"]],
    ]);
  });

  it("sets a field only if it is empty", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [55])]);
    const first = await client.db<Compare>("set-if-empty", {
      doId,
      fieldId: fieldId(DTO3, "setDb3"),
      value: value(DTO3, "setDb3", ["Beware... beware!!!"])[1],
    });
    expect(first).toEqual({ ok: true, applied: true, current: [] });
    const second = await client.db<Compare>("set-if-empty", {
      doId,
      fieldId: fieldId(DTO3, "setDb3"),
      value: value(DTO3, "setDb3", ["It's raining chocolate!"])[1],
    });
    expect(second.applied).toBe(false);
    expect(readable(second.current)).toEqual([[fieldId(DTO3, "setDb3"), ["Beware... beware!!!"]]]);
    expect(readable(await getSome(doId, [[DTO3, "setDb3"]]))).toEqual([
      [fieldId(DTO3, "setDb3"), ["Beware... beware!!!"]],
    ]);
  });

  it("sets fields only if they all hold the expected values", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [767676])]);
    const rdb = (n: number) => value(DTO3, "setRDB3", [n])[1];
    const db3 = (text: string) => value(DTO3, "setDb3", [text])[1];
    const id = fieldId(DTO3, "setRDB3");
    const idDb3 = fieldId(DTO3, "setDb3");

    expect(
      await client.db<Compare>("set-if-equals", { doId, fields: [[id, rdb(767676), rdb(787878)]] }),
    ).toEqual({
      ok: true,
      applied: true,
      current: [],
    });
    const wrong = await client.db<Compare>("set-if-equals", {
      doId,
      fields: [[id, rdb(767676), rdb(383838)]],
    });
    expect(wrong.applied).toBe(false);
    expect(readable(wrong.current)).toEqual([[id, [787878]]]);

    // comparing with a value that is not there fails
    const absent = await client.db<Compare>("set-if-equals", {
      doId,
      fields: [[idDb3, db3("That was a TERRIBLE surprise!"), db3("Wish upon a twinkle...")]],
    });
    expect(absent).toEqual({ ok: true, applied: false, current: [] });

    // one wrong of two: nothing written, the current values answered
    const partly = await client.db<Compare>("set-if-equals", {
      doId,
      fields: [
        [id, rdb(787878), rdb(919191)],
        [idDb3, db3("I can't see!"), db3("I reject your reality and substitute my own!")],
      ],
    });
    expect(partly.applied).toBe(false);
    expect(readable(partly.current)).toEqual([[id, [787878]]]);
    expect(await inPostgres(doId)).toEqual([[id, [787878]]]);

    await client.db("set", { doId, fields: [value(DTO3, "setDb3", ["Daddy... why did you eat my fries?"])] });
    const both = await client.db<Compare>("set-if-equals", {
      doId,
      fields: [
        [id, rdb(787878), rdb(919191)],
        [idDb3, db3("Daddy... why did you eat my fries?"), db3("Mind if I... take a look inside the barn?!")],
      ],
    });
    expect(both.applied).toBe(true);
    expect(await inPostgres(doId)).toEqual([
      [idDb3, ["Mind if I... take a look inside the barn?!"]],
      [id, [919191]],
    ]);
  });

  it("deletes fields, resetting those with a declared default", async () => {
    const make = () =>
      create(DTO5, [
        value(DTO5, "setDb3", ["Not enough vespian gas."]),
        value(DTO5, "setRDB3", [5337]),
        value(DTO5, "setRDbD5", [9]),
        value(DTO5, "setFoo", [123]),
      ]);
    const a = await make();
    await client.db("delete-fields", { doId: a, fieldIds: [fieldId(DTO5, "setDb3")] });
    expect(await getSome(a, [[DTO5, "setDb3"]])).toEqual([]);
    await client.db("delete-fields", { doId: a, fieldIds: [fieldId(DTO5, "setRDbD5")] });
    expect(readable(await getSome(a, [[DTO5, "setRDbD5"]]))).toEqual([
      [fieldId(DTO5, "setRDbD5"), [RDBD5_DEFAULT]],
    ]);

    const b = await make();
    await client.db("delete-fields", { doId: b, fieldIds: [fieldId(DTO5, "setDb3")] });
    await client.db("delete-fields", {
      doId: b,
      fieldIds: ["setDb3", "setRDB3", "setRDbD5", "setFoo"].map((name) => fieldId(DTO5, name)),
    });
    expect(readable((await getAll(b)).fields)).toEqual([[fieldId(DTO5, "setRDbD5"), [RDBD5_DEFAULT]]]);
    await expect(
      client.db("delete-fields", { doId: 31337, fieldIds: [fieldId(DTO5, "setFoo")] }),
    ).rejects.toMatchObject({
      code: "unknown_object",
    });
  });
});

describe("wrong fields and bad values", () => {
  it("refuses fields the class does not have, naming the class and field, and changes nothing", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [1337])]);
    const foo = value(DTO5, "setFoo", [32112]);
    await expect(client.db("set", { doId, fields: [foo] })).rejects.toMatchObject({
      code: "unknown_field",
      message: expect.stringMatching(
        /DistributedTestObject3 has no field \d+ \('DistributedTestObject5\.setFoo'\)/,
      ),
    });
    await expect(
      getSome(doId, [
        [DTO3, "setRDB3"],
        [DTO5, "setRDbD5"],
      ]),
    ).rejects.toMatchObject({ code: "unknown_field" });
    await expect(
      client.db("delete-fields", { doId, fieldIds: [fieldId(DTO5, "setRDbD5")] }),
    ).rejects.toMatchObject({
      code: "unknown_field",
    });
    await expect(create(DTO3, [value(DTO3, "setRDB3", [1337]), foo])).rejects.toMatchObject({
      code: "unknown_field",
    });
    expect(readable((await getAll(doId)).fields)).toEqual([[fieldId(DTO3, "setRDB3"), [1337]]]);
  });

  it("refuses fields that are not db fields, bad values and unknown classes", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [1])]);
    await expect(
      client.db("set", { doId, fields: [value(DTO3, "setBR1", ["ram only"])] }),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringContaining("DistributedTestObject3.setBR1"),
    });
    await expect(
      client.db("set", { doId, fields: [[fieldId(DTO3, "setRDB3"), new Uint8Array([1])]] }),
    ).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringContaining("DistributedTestObject3.setRDB3"),
    });
    await expect(
      client.db("set", { doId: 4242, fields: [value(DTO3, "setRDB3", [1])] }),
    ).rejects.toMatchObject({
      code: "unknown_object",
    });
    await expect(client.db("create", { classId: 4242, fields: [] })).rejects.toMatchObject({
      code: "unknown_class",
    });
    expect(readable((await getAll(doId)).fields)).toEqual([[fieldId(DTO3, "setRDB3"), [1]]]);
  });
});

describe("datatypes", () => {
  it("stores and returns every datatype of DistributedDBTypeTestObject exactly", async () => {
    const doId = await create(TYPES);
    const cases: [string, FieldValue[]][] = [
      ["db_uint8", [88, 0, 2 ** 8 - 1]],
      ["db_int8", [88, 0, 2 ** 7 - 1, -(2 ** 7)]],
      ["db_uint16", [88, 0, 2 ** 16 - 1]],
      ["db_int16", [88, 0, 2 ** 15 - 1, -(2 ** 15)]],
      ["db_uint32", [88, 0, 2 ** 32 - 1]],
      ["db_int32", [88, 0, 2 ** 31 - 1, -(2 ** 31)]],
      ["db_uint64", [88n, 0n, 2n ** 64n - 1n]],
      ["db_int64", [88n, 0n, 2n ** 63n - 1n, -(2n ** 63n)]],
      ["db_char", ["H", "i", "\0", "\x7f"]],
      ["db_float64", [2.0, 8.7, -32.114]],
      ["db_string", ["Hey", "there", "", "Astron", "world"]],
      [
        "db_blob",
        [
          new Uint8Array([0]),
          new Uint8Array([0xff, 97, 98, 99]),
          new Uint8Array(0),
          new Uint8Array([0, 0, 0, 0, 1, 0, 0, 2]),
        ],
      ],
      ["db_fixstr", ["a".repeat(32), "b".repeat(32)]],
      ["db_fixblob", [new Uint8Array(16).fill(100), new Uint8Array(16).fill(101)]],
    ];
    for (const [name, values] of cases) {
      const field = dc.class(TYPES)!.field(name)!;
      for (const item of values) {
        const [id, bytes] = value(TYPES, name, item);
        await client.db("set", { doId, fields: [[id, bytes]] });
        const [back] = await getSome(doId, [[TYPES, name]]);
        expect(Buffer.from(back![1]), `${name} = ${String(item)}`).toEqual(Buffer.from(bytes));
        expect(plain(readable([back!])[0]![1]), `${name} = ${String(item)}`).toEqual(
          field.kind === "parameter" ? item : [item],
        );
      }
    }
    const block = (n: number) => ({ blockX: n, blockY: n + 1, blockZ: n + 2 });
    for (const length of [0, 1, 5]) {
      const named = Array.from({ length }, (_, i) => block(i * 3));
      const complex = value(TYPES, "db_complex", [named, [block(100), block(200), block(300)]]);
      await client.db("set", { doId, fields: [complex] });
      expect(Buffer.from((await getSome(doId, [[TYPES, "db_complex"]]))[0]![1])).toEqual(
        Buffer.from(complex[1]),
      );
    }
    // creating with all of them at once stores them all
    const all = (await getAll(doId)).fields;
    const copy = await create(TYPES, all);
    expect((await getAll(copy)).fields.map(([id, bytes]) => [id, Buffer.from(bytes)])).toEqual(
      all.map(([id, bytes]) => [id, Buffer.from(bytes)]),
    );
  });
});

describe("activation", () => {
  it("activates a stored object into a location, then writes its db fields back on every update", async () => {
    const doId = await create(DTO5, [
      value(DTO5, "setRDB3", [5337]),
      value(DTO5, "setDb3", ["from the database"]),
      value(DTO5, "setFoo", [123]),
    ]);
    const parent = 8_000_001;
    const location = await client.location(parent, 7);
    await client.db("activate", { doId, parentId: parent, zoneId: 7 });
    const enter = await location.nextOf("enter");
    expect(enter.object).toMatchObject({ doId, classId: classId(DTO5), parentId: parent, zoneId: 7 });
    // location sees required broadcast fields: setRequired1 (its default, 78) and setRDB3
    expect(readable(enter.object.fields)).toEqual([
      [fieldId(DTO5, "setRequired1"), [78]],
      [fieldId(DTO5, "setRDB3"), [5337]],
    ]);
    const live = await client.get(doId);
    expect(readable(live.fields)).toEqual([
      [fieldId(DTO5, "setRequired1"), [78]],
      [fieldId(DTO5, "setRDB3"), [5337]],
      [fieldId(DTO5, "setRDbD5"), [RDBD5_DEFAULT]],
      [fieldId(DTO5, "setDb3"), ["from the database"]],
    ]);

    // live updates of db fields reach Postgres before the answer; others do not touch it
    await client.ss("set", {
      doId,
      fields: [value(DTO5, "setRDB3", [1]), value(DTO5, "setBR1", ["ram only"])],
    });
    expect(await inPostgres(doId)).toContainEqual([fieldId(DTO5, "setRDB3"), [1]]);
    await client.ss("updates", {
      groups: [
        [
          0,
          [
            [doId, ...value(DTO5, "setFoo", [999])],
            [doId, ...value(DTO5, "setDb3", ["via a batch"])],
          ],
        ],
      ],
    });
    const stored = await inPostgres(doId);
    expect(stored).toContainEqual([fieldId(DTO5, "setFoo"), [999]]);
    expect(stored).toContainEqual([fieldId(DTO5, "setDb3"), ["via a batch"]]);
    expect(stored.map(([id]) => id)).not.toContain(fieldId(DTO5, "setBR1"));
    expect((await location.nextOf("update")).updates.map(([, id]) => id)).toEqual([
      fieldId(DTO5, "setRDB3"),
      fieldId(DTO5, "setBR1"),
    ]);

    // db writes keep the live copy in step
    await client.db("set", { doId, fields: [value(DTO5, "setDb3", ["written to the db"])] });
    expect(readable((await client.get(doId, [fieldId(DTO5, "setDb3")])).fields)).toEqual([
      [fieldId(DTO5, "setDb3"), ["written to the db"]],
    ]);

    await expect(client.db("activate", { doId, parentId: parent, zoneId: 7 })).rejects.toMatchObject({
      code: "exists",
    });
    await expect(client.db("activate", { doId: 31337, parentId: parent, zoneId: 7 })).rejects.toMatchObject({
      code: "unknown_object",
    });

    // deleting the live object leaves the stored one
    await client.ss("delete", { doId });
    expect((await getAll(doId)).classId).toBe(classId(DTO5));
  });

  it("delivers an update of a db field only once Postgres holds it", async () => {
    const doId = await create(DTO5, [value(DTO5, "setDb3", ["before"])]);
    const parent = 8_000_002;
    const location = await client.location(parent, 7);
    await client.db("activate", { doId, parentId: parent, zoneId: 7 });
    await location.nextOf("enter");
    for (let round = 0; round < 5; round++) {
      const written = `round ${round}`;
      const answered = client.ss("updates", {
        groups: [[0, [[doId, ...value(DTO5, "setRDB3", [round])]]]],
      });
      const heard = await location.nextOf("update");
      expect(heard.updates.map(([, id]) => id)).toEqual([fieldId(DTO5, "setRDB3")]);
      expect(await inPostgres(doId), written).toContainEqual([fieldId(DTO5, "setRDB3"), [round]]);
      await answered;
    }
  });

  it("activates with overriding fields", async () => {
    const doId = await create(DTO3, [value(DTO3, "setRDB3", [1])]);
    const parent = 8_000_002;
    const location = await client.location(parent, 1);
    await client.db("activate", {
      doId,
      parentId: parent,
      zoneId: 1,
      fields: [value(DTO3, "setRDB3", [2]), value(DTO3, "setBR1", ["override"])],
    });
    expect(readable((await location.nextOf("enter")).object.fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [78]],
      [fieldId(DTO3, "setRDB3"), [2]],
      [fieldId(DTO3, "setBR1"), ["override"]],
    ]);
    await client.ss("delete", { doId });
  });
});

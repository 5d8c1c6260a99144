/**
 * Live objects: create, get, set and the keyword routing of updates, after Astron's state-server
 * tests (create/delete, broadcast, airecv, ownrecv, ram, inheritance, molecular, set-fields, clrecv,
 * errors), on Astron's test dclasses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import {
  Client,
  classId,
  fieldId,
  type messages,
  namespace,
  readable,
  SENDER,
  startInProcess,
  TOOL,
  value,
} from "./support.ts";

const ns = namespace("fields");
let server: StateServerHandle;
let client: Client;
/** Each test works under a parent of its own, so their location channels never mix. */
let nextParent = 5000;
const freshParent = () => nextParent++;

const DTO1 = "DistributedTestObject1";
const DTO3 = "DistributedTestObject3";
const DTO4 = "DistributedTestObject4";
const AI = 0x1000_0001;
const OWNER = 0x2000_0001;

beforeAll(async () => {
  server = await startInProcess(ns);
  client = await Client.connect(ns);
});

afterAll(async () => {
  await server?.stop();
  await client?.cleanUp();
});

describe("create and delete", () => {
  it("creates an object with its required fields and announces it to its location", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1500);
    const doId = await client.create(DTO1, parent, 1500, [value(DTO1, "setRequired1", [6789])]);
    expect(doId).toBeGreaterThanOrEqual(1_000_000);
    const enter = await location.nextOf("enter");
    expect(enter.sender).toBe(SENDER);
    expect(enter.object).toMatchObject({ doId, classId: classId(DTO1), parentId: parent, zoneId: 1500 });
    expect(readable(enter.object.fields)).toEqual([[fieldId(DTO1, "setRequired1"), [6789]]]);

    const state = await client.get(doId);
    expect(state).toMatchObject({
      doId,
      classId: classId(DTO1),
      parentId: parent,
      zoneId: 1500,
      ai: 0,
      owner: 0,
    });
    expect(readable(state.fields)).toEqual([[fieldId(DTO1, "setRequired1"), [6789]]]);

    await client.ss("delete", { doId });
    expect(await location.nextOf("delete")).toMatchObject({ doId, sender: SENDER });
    await expect(client.get(doId)).rejects.toMatchObject({ code: "unknown_object" });
  });

  it("lets a deleted doId be used again", async () => {
    const parent = freshParent();
    for (let round = 0; round < 2; round++) {
      const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [round])], {
        doId: 101000000,
      });
      expect(doId).toBe(101000000);
      await client.ss("delete", { doId });
    }
  });

  it("creates with optional ram fields and refuses non-ram ones", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 2);
    const doId = await client.create(DTO1, parent, 2, [
      value(DTO1, "setRequired1", [1]),
      value(DTO1, "setBR1", ["hello"]),
    ]);
    const enter = await location.nextOf("enter");
    expect(readable(enter.object.fields)).toEqual([
      [fieldId(DTO1, "setRequired1"), [1]],
      [fieldId(DTO1, "setBR1"), ["hello"]],
    ]);
    await expect(
      client.create(DTO1, parent, 2, [value(DTO1, "setRequired1", [1]), value(DTO1, "setB1", [3])]),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringContaining("DistributedTestObject1.setB1"),
    });
    await client.ss("delete", { doId });
  });

  it("refuses a missing required field, an unknown class and a taken doId, naming them", async () => {
    const parent = freshParent();
    await expect(client.create(DTO1, parent, 1, [])).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringContaining("setRequired1"),
    });
    await expect(
      client.ss("create", { classId: 999, parentId: parent, zoneId: 1, fields: [] }),
    ).rejects.toMatchObject({ code: "unknown_class", message: expect.stringContaining("999") });
    const structId = 8; // Block is a struct, not a dclass
    await expect(
      client.ss("create", { classId: structId, parentId: parent, zoneId: 1, fields: [] }),
    ).rejects.toMatchObject({ code: "unknown_class", message: expect.stringContaining("Block") });
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [819442])]);
    await expect(
      client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [5])], { doId }),
    ).rejects.toMatchObject({ code: "exists", message: expect.stringContaining(String(doId)) });
    // the values are unchanged by the refused requests
    expect(readable((await client.get(doId)).fields)).toEqual([[fieldId(DTO1, "setRequired1"), [819442]]]);
    await client.ss("delete", { doId });
  });
});

describe("keyword routing", () => {
  it("broadcasts to the location, with the original sender", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create("DistributedTestObject2", parent, 1, []);
    await location.nextOf("enter");
    await client.ss("set", { doId, fields: [value("DistributedTestObject2", "setB2", [0x31415927])] });
    const update = await location.nextOf("update");
    expect(update.sender).toBe(SENDER);
    expect(readable(update.updates.map(([, id, bytes]) => [id, bytes] as [number, Uint8Array]))).toEqual([
      [fieldId("DistributedTestObject2", "setB2"), [0x31415927]],
    ]);
    expect(update.updates[0]![0]).toBe(doId);
    await client.ss("delete", { doId });
  });

  it("sends airecv fields to the AI as well, never back to the AI itself", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const ai = await client.channel(AI);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [6789])], { ai: AI });
    await location.nextOf("enter");
    const entered = await ai.nextOf("enter-ai");
    expect(entered.object.doId).toBe(doId);

    await client.ss("set", { doId, fields: [value(DTO1, "setBA1", [0xf00d])] });
    expect((await location.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setBA1"));
    expect((await ai.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setBA1"));

    // the AI's own update goes to the location but not back to it
    await client.ss("set", { as: AI, doId, fields: [value(DTO1, "setBA1", [0x1234])] });
    expect((await location.nextOf("update")).sender).toBe(AI);
    expect(await ai.drain()).toEqual([]);

    // a broadcast-only field does not reach the AI
    await client.ss("set", { doId, fields: [value(DTO1, "setB1", [7])] });
    await location.nextOf("update");
    expect(await ai.drain()).toEqual([]);

    await client.ss("delete", { doId });
    expect(await ai.nextOf("delete")).toMatchObject({ doId });
    ai.stop();
  });

  it("sends ownrecv fields to the owner, never back to the owner itself", async () => {
    const parent = freshParent();
    const owner = await client.channel(OWNER);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [1])]);
    await client.ss("set-owner", { doId, owner: OWNER });
    expect((await owner.nextOf("enter-owner")).object.doId).toBe(doId);

    await client.ss("set", { doId, fields: [value(DTO1, "setBRO1", [0xf005ba11])] });
    const update = await owner.nextOf("update");
    expect(readable([[update.updates[0]![1], update.updates[0]![2]]])).toEqual([
      [fieldId(DTO1, "setBRO1"), [0xf005ba11]],
    ]);
    await client.ss("set", { as: OWNER, doId, fields: [value(DTO1, "setBRO1", [0xc0ffee])] });
    expect(await owner.drain()).toEqual([]);

    await client.ss("delete", { doId });
    expect(await owner.nextOf("delete")).toMatchObject({ doId });
    owner.stop();
  });

  it("stores ram and required fields, and routes but forgets the others", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [12341234])]);
    await location.nextOf("enter");
    await client.ss("set", { doId, fields: [value(DTO1, "setBR1", ["a ram field"])] });
    await client.ss("set", { doId, fields: [value(DTO1, "setB1", [9])] });
    expect((await location.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setBR1"));
    expect((await location.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setB1"));
    const state = await client.get(doId);
    expect(readable(state.fields)).toEqual([
      [fieldId(DTO1, "setRequired1"), [12341234]],
      [fieldId(DTO1, "setBR1"), ["a ram field"]],
    ]);
    // a ram field that is set shows in the entering notice when the object moves
    const there = await client.location(parent, 2);
    await client.ss("set-location", { doId, parentId: parent, zoneId: 2 });
    expect(readable((await there.nextOf("enter")).object.fields)).toEqual([
      [fieldId(DTO1, "setRequired1"), [12341234]],
      [fieldId(DTO1, "setBR1"), ["a ram field"]],
    ]);
    await client.ss("delete", { doId });
  });

  it("handles inherited fields and refuses fields of unrelated classes", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO3, parent, 1, [
      value(DTO3, "setRequired1", [12123434]),
      value(DTO3, "setRDB3", [0xc0ffee]),
    ]);
    const enter = await location.nextOf("enter");
    expect(readable(enter.object.fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [12123434]],
      [fieldId(DTO3, "setRDB3"), [0xc0ffee]],
    ]);
    await client.ss("set", { doId, fields: [value(DTO3, "setB1", [1])] });
    await client.ss("set", { doId, fields: [value(DTO3, "setDb3", ["stored, not broadcast"])] });
    expect((await location.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setB1"));
    await expect(
      client.ss("set", { doId, fields: [value("DistributedTestObject2", "setB2", [1])] }),
    ).rejects.toMatchObject({
      code: "unknown_field",
      message: expect.stringMatching(/DistributedTestObject3 has no field 6 .*DistributedTestObject2\.setB2/),
    });
    expect(await location.drain()).toEqual([]);
    await client.ss("delete", { doId });
  });

  it("broadcasts a molecular field as itself and stores its atoms", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO4, parent, 1, [
      value(DTO4, "setX", [1]),
      value(DTO4, "setY", [2]),
      value(DTO4, "setUnrelated", [3]),
      value(DTO4, "setZ", [4]),
    ]);
    await location.nextOf("enter");
    await client.ss("set", { doId, fields: [value(DTO4, "setXyz", [10, 20, 30])] });
    const update = await location.nextOf("update");
    expect(update.updates.map(([, id]) => id)).toEqual([fieldId(DTO4, "setXyz")]);
    expect(readable((await client.get(doId)).fields)).toEqual([
      [fieldId(DTO4, "setX"), [10]],
      [fieldId(DTO4, "setY"), [20]],
      [fieldId(DTO4, "setUnrelated"), [3]],
      [fieldId(DTO4, "setZ"), [30]],
    ]);

    await client.ss("set", { doId, fields: [value(DTO4, "set123", [1, 2, 3])] });
    expect((await location.nextOf("update")).updates.map(([, id]) => id)).toEqual([fieldId(DTO4, "set123")]);
    const state = await client.get(doId);
    expect(readable(state.fields).slice(4)).toEqual([
      [fieldId(DTO4, "setOne"), [1]],
      [fieldId(DTO4, "setTwo"), [2]],
      [fieldId(DTO4, "setThree"), [3]],
    ]);
    // asking for molecular and atomic fields together
    const asked = await client.get(doId, [
      fieldId(DTO4, "setXyz"),
      fieldId(DTO4, "setTwo"),
      fieldId(DTO4, "set123"),
    ]);
    expect(readable(asked.fields)).toEqual([
      [fieldId(DTO4, "setXyz"), [10, 20, 30]],
      [fieldId(DTO4, "setTwo"), [2]],
      [fieldId(DTO4, "set123"), [1, 2, 3]],
    ]);
    await client.ss("delete", { doId });
  });

  it("sets several fields atomically, broadcasting the broadcast ones in one message, in order", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 66161);
    const doId = await client.create(DTO3, parent, 66161, [
      value(DTO3, "setRequired1", [0]),
      value(DTO3, "setRDB3", [0]),
    ]);
    await location.nextOf("enter");
    await client.ss("set", {
      doId,
      fields: [
        value(DTO3, "setDb3", ["Time is candy"]),
        value(DTO3, "setRequired1", [0xd00d]),
        value(DTO3, "setB1", [118]),
      ],
    });
    const update = await location.nextOf("update");
    expect(update.updates.map(([id, field]) => [id, field])).toEqual([
      [doId, fieldId(DTO3, "setRequired1")],
      [doId, fieldId(DTO3, "setB1")],
    ]);
    expect(readable((await client.get(doId)).fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [0xd00d]],
      [fieldId(DTO3, "setRDB3"), [0]],
      [fieldId(DTO3, "setDb3"), ["Time is candy"]],
    ]);
    // one bad value refuses the whole request
    await expect(
      client.ss("set", {
        doId,
        fields: [value(DTO3, "setRequired1", [1]), [fieldId(DTO3, "setB1"), new Uint8Array([1, 2])]],
      }),
    ).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringContaining("DistributedTestObject3.setB1"),
    });
    expect(readable(await client.get(doId, [fieldId(DTO3, "setRequired1")]).then((s) => s.fields))).toEqual([
      [fieldId(DTO3, "setRequired1"), [0xd00d]],
    ]);
    expect(await location.drain()).toEqual([]);
    await client.ss("delete", { doId });
  });

  it("shows clrecv fields on entry but does not broadcast their updates", async () => {
    const parent = 0xbad;
    const location = await client.location(parent, 0xf001);
    const chunk = "DistributedChunk";
    const block = (x: number, y: number, z: number) => ({ blockX: x, blockY: y, blockZ: z });
    const doId = await client.create(chunk, parent, 0xf001, [
      value(chunk, "blockList", [[block(43, 54, 65)]]),
      value(chunk, "lastBlock", [block(0, 0, 0)]),
    ]);
    const enter = await location.nextOf("enter");
    expect(enter.object.fields.map(([id]) => id)).toEqual([
      fieldId(chunk, "blockList"),
      fieldId(chunk, "lastBlock"),
    ]);
    await client.ss("set", {
      doId,
      fields: [
        value(chunk, "blockList", [[block(43, 54, 65), block(171, 282, 393)]]),
        value(chunk, "lastBlock", [block(43, 54, 65)]),
        value(chunk, "newBlock", [block(171, 282, 393)]),
      ],
    });
    const update = await location.nextOf("update");
    expect(readable(update.updates.map(([, id, bytes]) => [id, bytes] as [number, Uint8Array]))).toEqual([
      [fieldId(chunk, "newBlock"), [block(171, 282, 393)]],
    ]);
    expect(await location.drain()).toEqual([]);
    await client.ss("delete", { doId });
  });
});

describe("bad input", () => {
  it("answers each problem with an error naming it and keeps serving", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [819442])]);
    await location.nextOf("enter");
    const colorClass = "DistributedClientTestObject";
    const colored = await client.create(colorClass, parent, 2, [
      value(colorClass, "setName", ["x"]),
      value(colorClass, "setColor", [1, 2, 3]),
    ]);

    const cases: [string, object, messages.ErrorCode, RegExp][] = [
      [
        "unknown field",
        { doId, fields: [[0x1234, new Uint8Array([1])]] },
        "unknown_field",
        /DistributedTestObject1 has no field id 4660/,
      ],
      [
        "truncated value",
        { doId, fields: [[fieldId(DTO1, "setRequired1"), new Uint8Array([0, 0])]] },
        "bad_value",
        /DistributedTestObject1\.setRequired1.*truncated/,
      ],
      [
        "trailing bytes",
        { doId, fields: [[fieldId(DTO1, "setB1"), new Uint8Array([1, 2])]] },
        "bad_value",
        /setB1.*trailing_bytes/,
      ],
      [
        "out-of-range value",
        { doId: colored, fields: [[fieldId(colorClass, "setColor"), new Uint8Array([200, 1, 1])]] },
        "bad_value",
        /DistributedClientTestObject\.setColor.*0-100.*out_of_range/,
      ],
      [
        "unknown object",
        { doId: 424242, fields: [value(DTO1, "setB1", [1])] },
        "unknown_object",
        /object 424242 does not exist/,
      ],
      ["wrong message shape", { doId: "nine", fields: [] }, "malformed", /doId/],
      [
        "a value that is not bytes",
        { doId, fields: [[fieldId(DTO1, "setB1"), "five"]] },
        "malformed",
        /fields\.0\.1: expected bytes/,
      ],
    ];
    for (const [what, body, code, message] of cases) {
      await expect(client.ss("set", body), what).rejects.toMatchObject({
        code,
        message: expect.stringMatching(message),
      });
    }
    await expect(client.get(424242)).rejects.toMatchObject({ code: "unknown_object" });
    await expect(client.get(doId, [fieldId(DTO1, "setB1"), 9999])).rejects.toMatchObject({
      code: "unknown_field",
    });
    expect(await location.drain()).toEqual([]);

    // still serving, values unchanged
    await client.ss("set", { doId, fields: [value(DTO1, "setB1", [5])] });
    expect((await location.nextOf("update")).updates[0]![1]).toBe(fieldId(DTO1, "setB1"));
    expect(readable((await client.get(doId)).fields)).toEqual([[fieldId(DTO1, "setRequired1"), [819442]]]);
    await client.ss("delete", { doId });
    await client.ss("delete", { doId: colored });
  });

  it("gets what is set: unset fields are left out, fields of other classes are refused", async () => {
    const parent = freshParent();
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [5])]);
    const some = await client.get(doId, [fieldId(DTO1, "setRequired1"), fieldId(DTO1, "setBR1")]);
    expect(readable(some.fields)).toEqual([[fieldId(DTO1, "setRequired1"), [5]]]);
    expect((await client.get(doId, [fieldId(DTO1, "setBR1")])).fields).toEqual([]);
    await expect(client.get(doId, [fieldId(DTO3, "setRDB3")])).rejects.toMatchObject({
      code: "unknown_field",
      message: expect.stringContaining("DistributedTestObject3.setRDB3"),
    });
    await client.ss("delete", { doId });
  });
});

describe("update batches (the hot path)", () => {
  it("applies a batch with one message per location and per AI, refusing bad updates by index", async () => {
    const parent = freshParent();
    const zone1 = await client.location(parent, 1);
    const zone2 = await client.location(parent, 2);
    const ai = await client.channel(AI + 7);
    const a = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [1])], { ai: AI + 7 });
    const b = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [2])]);
    const c = await client.create(DTO1, parent, 2, [value(DTO1, "setRequired1", [3])]);
    await zone1.drain(50);
    await zone2.drain(50);
    await ai.drain(50);
    const updates: [number, number, Uint8Array][] = [
      [a, ...value(DTO1, "setBRA1", [10])],
      [b, ...value(DTO1, "setB1", [11])],
      [c, ...value(DTO1, "setBR1", ["c"])],
      [a, fieldId(DTO1, "setB1"), new Uint8Array([1, 2, 3])],
      [999_999, ...value(DTO1, "setB1", [1])],
      [a, ...value(DTO1, "setRequired1", [12])],
      [b, ...value(DTO1, "setBA1", [13])],
    ];
    const reply = await client.ss<{ applied: number; refused: { index: number; code: string }[] }>(
      "updates",
      { groups: [[0, updates]] },
    );
    expect(reply.applied).toBe(5);
    expect(reply.refused.map(({ index, code }) => [index, code])).toEqual([
      [3, "bad_value"],
      [4, "unknown_object"],
    ]);
    const one = await zone1.nextOf("update");
    expect(one.updates.map(([id, field]) => [id, field])).toEqual([
      [a, fieldId(DTO1, "setBRA1")],
      [a, fieldId(DTO1, "setRequired1")],
      [b, fieldId(DTO1, "setB1")],
      [b, fieldId(DTO1, "setBA1")],
    ]);
    expect((await zone2.nextOf("update")).updates.map(([id, field]) => [id, field])).toEqual([
      [c, fieldId(DTO1, "setBR1")],
    ]);
    expect((await ai.nextOf("update")).updates.map(([id, field]) => [id, field])).toEqual([
      [a, fieldId(DTO1, "setBRA1")],
    ]);
    expect([...(await zone1.drain()), ...(await zone2.drain()), ...(await ai.drain())]).toEqual([]);
    expect(readable((await client.get(a)).fields)).toEqual([
      [fieldId(DTO1, "setRequired1"), [12]],
      [fieldId(DTO1, "setBRA1"), [10]],
    ]);
    for (const doId of [a, b, c]) await client.ss("delete", { doId });
    ai.stop();
  });

  it("applies a published batch (no reply) all the same", async () => {
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [1])]);
    await location.nextOf("enter");
    const { encodeEnvelope } = await import("@overworld/protocol");
    client.nc.publish(
      ns.subjects.service("ss", "updates", TOOL),
      encodeEnvelope({ groups: [[0, [[doId, ...value(DTO1, "setBR1", ["published"])]]]] }),
    );
    expect((await location.nextOf("update")).updates[0]![0]).toBe(doId);
    expect(readable((await client.get(doId, [fieldId(DTO1, "setBR1")])).fields)).toEqual([
      [fieldId(DTO1, "setBR1"), ["published"]],
    ]);
    await client.ss("delete", { doId });
  });

  it("takes a batch as one binary frame, and answers a forged frame malformed, naming what is wrong", async () => {
    const { decodeEnvelope, encodeUpdateBatchFrame } = await import("@overworld/protocol");
    const parent = freshParent();
    const location = await client.location(parent, 1);
    const doId = await client.create(DTO1, parent, 1, [value(DTO1, "setRequired1", [1])]);
    await location.nextOf("enter");
    const subject = ns.subjects.service("ss", "updates", TOOL);
    const ask = async (bytes: Uint8Array) =>
      decodeEnvelope((await client.nc.request(subject, bytes, { timeout: 5000 })).data) as {
        ok: boolean;
        applied?: number;
        error?: { code: string; message: string };
      };
    const frame = encodeUpdateBatchFrame({ groups: [[0, [[doId, ...value(DTO1, "setBR1", ["framed"])]]]] });
    // cut short, and with a doId of 0 (one update of field 1 in one group for the sender's own channel)
    for (const [forged, reason] of [
      [frame.subarray(0, frame.length - 1), /update batch frame/],
      [Uint8Array.from([frame[0]!, 0, 0, 1, 0, 1, 0, 2, 0]), /doId 0 is outside 1\.\.2\^32-1/],
    ] as const) {
      const answer = await ask(forged);
      expect(answer.ok).toBe(false);
      expect(answer.error?.code).toBe("malformed");
      expect(answer.error?.message).toMatch(reason);
    }
    expect(await ask(frame)).toMatchObject({ ok: true, applied: 1, refused: [] });
    expect((await location.nextOf("update")).updates[0]![0]).toBe(doId);
    expect(readable((await client.get(doId, [fieldId(DTO1, "setBR1")])).fields)).toEqual([
      [fieldId(DTO1, "setBR1"), ["framed"]],
    ]);
    await client.ss("delete", { doId });
  });
});

describe("operations endpoint", () => {
  it("reports health and counts updates, deliveries and errors", async () => {
    const health = await fetch(`http://127.0.0.1:${server.port}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({
      ok: true,
      checks: { nats: true, redis: true, postgres: true },
    });
    const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
    expect(text).toMatch(/ow_ss_updates_applied_total\{[^}]*\} [1-9]/);
    expect(text).toMatch(/ow_ss_deliveries_total\{[^}]*\} [1-9]/);
    expect(text).toMatch(/ow_ss_errors_total\{[^}]*code="unknown_object"[^}]*\} [1-9]/);
  });
});

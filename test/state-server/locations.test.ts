/**
 * Locations, AI and owner, zone queries and deletion of trees, after Astron's state-server tests
 * (set_location, set_ai, set_owner, delete_ai_objects, get_zones_objects, delete_children,
 * active_zones), on Astron's test dclasses.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import { Client, fieldId, namespace, readable, SENDER, startInProcess, value } from "./support.ts";

const ns = namespace("locations");
let server: StateServerHandle;
let client: Client;
let nextId = 7000;
/** A number no other test uses, for parents that are not objects and for channels. */
const fresh = () => nextId++;

const DTO1 = "DistributedTestObject1";
const DTO3 = "DistributedTestObject3";
const required = (n: number) => [value(DTO1, "setRequired1", [n])];

beforeAll(async () => {
  server = await startInProcess(ns);
  client = await Client.connect(ns);
});

afterAll(async () => {
  await server?.stop();
  await client?.cleanUp();
});

describe("set location", () => {
  it("sends leave to the old zone, enter to the new one, changing-location to the AI and owner", async () => {
    const root = fresh();
    const doId1 = await client.create(DTO1, 0, 0, required(43214321));
    // no location yet: nothing announced; then into a zone of a plain parent
    const first = await client.location(root, 9800);
    await client.ss("set-location", { doId: doId1, parentId: root, zoneId: 9800 });
    expect((await first.nextOf("enter")).object).toMatchObject({ doId: doId1, parentId: root, zoneId: 9800 });

    // into a zone of another object
    const doId2 = await client.create(DTO1, root, 1, required(66668888));
    const second = await client.location(doId2, 9900);
    await client.ss("set-location", { doId: doId1, parentId: doId2, zoneId: 9900 });
    expect(await first.nextOf("leave")).toEqual({
      kind: "leave",
      sender: SENDER,
      doId: doId1,
      parentId: root,
      zoneId: 9800,
    });
    const enter = await second.nextOf("enter");
    expect(enter.object).toMatchObject({ doId: doId1, parentId: doId2, zoneId: 9900 });
    expect(readable(enter.object.fields)).toEqual([[fieldId(DTO1, "setRequired1"), [43214321]]]);

    // moving the parent does not move or announce its children
    const elsewhere = await client.location(root, 2);
    await client.ss("set-location", { doId: doId2, parentId: root, zoneId: 2 });
    expect((await elsewhere.nextOf("enter")).object.doId).toBe(doId2);
    expect(await second.drain()).toEqual([]);
    expect((await client.get(doId1)).parentId).toBe(doId2);

    // with an AI and an owner: both hear of the move
    const ai = fresh();
    const owner = fresh();
    const aiChannel = await client.channel(ai);
    const ownerChannel = await client.channel(owner);
    await client.ss("set-ai", { doId: doId1, ai });
    await client.ss("set-owner", { doId: doId1, owner });
    await aiChannel.nextOf("enter-ai");
    await ownerChannel.nextOf("enter-owner");
    await client.ss("set-location", { doId: doId1, parentId: root, zoneId: 9800 });
    const expected = {
      kind: "changing-location",
      sender: SENDER,
      doId: doId1,
      parentId: root,
      zoneId: 9800,
      oldParentId: doId2,
      oldZoneId: 9900,
    };
    expect(await aiChannel.nextOf("changing-location")).toEqual(expected);
    expect(await ownerChannel.nextOf("changing-location")).toEqual(expected);
    expect(await second.nextOf("leave")).toMatchObject({ doId: doId1 });
    expect(await first.nextOf("enter")).toMatchObject({ object: { doId: doId1 } });

    // the same location again: nothing happens
    await client.ss("set-location", { doId: doId1, parentId: root, zoneId: 9800 });
    expect([...(await first.drain()), ...(await aiChannel.drain()), ...(await ownerChannel.drain())]).toEqual(
      [],
    );

    for (const doId of [doId1, doId2]) await client.ss("delete", { doId });
    aiChannel.stop();
    ownerChannel.stop();
  });

  it("shows broadcast and required fields on entry but not other ram fields", async () => {
    const root = fresh();
    const doId = await client.create(DTO3, root, 1, [
      value(DTO3, "setRequired1", [44004400]),
      value(DTO3, "setRDB3", [88008800]),
      value(DTO3, "setDb3", ["Danger is my middle name!"]),
    ]);
    const there = await client.location(root, 2);
    await client.ss("set-location", { doId, parentId: root, zoneId: 2 });
    expect(readable((await there.nextOf("enter")).object.fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [44004400]],
      [fieldId(DTO3, "setRDB3"), [88008800]],
    ]);
    await client.ss("delete", { doId });
  });

  it("refuses a parent that is the object itself or one of its descendants, and unknown objects", async () => {
    const root = fresh();
    const a = await client.create(DTO1, root, 1, required(1));
    const b = await client.create(DTO1, a, 1, required(2));
    const c = await client.create(DTO1, b, 1, required(3));
    await expect(client.ss("set-location", { doId: a, parentId: a, zoneId: 1 })).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringContaining("its own parent"),
    });
    await expect(client.ss("set-location", { doId: a, parentId: c, zoneId: 1 })).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringContaining("descendants"),
    });
    await expect(
      client.ss("set-location", { doId: 4_000_000_000, parentId: root, zoneId: 1 }),
    ).rejects.toMatchObject({
      code: "unknown_object",
    });
    expect((await client.get(a)).parentId).toBe(root);
    await client.ss("delete", { doId: a });
  });
});

describe("AI and owner", () => {
  it("sets the AI, which children without one of their own inherit", async () => {
    const root = fresh();
    const ai1 = fresh();
    const ai2 = fresh();
    const one = await client.channel(ai1);
    const two = await client.channel(ai2);
    const parent = await client.create(DTO1, root, 1, required(6789));
    await client.ss("set-ai", { doId: parent, ai: ai1 });
    const entered = await one.nextOf("enter-ai");
    expect(entered.object).toMatchObject({ doId: parent, parentId: root, zoneId: 1 });

    // a child created under it inherits its AI
    const child = await client.create(DTO3, parent, 5, [
      value(DTO3, "setRequired1", [1337]),
      value(DTO3, "setRDB3", [2]),
      value(DTO3, "setDb3", ["the AI sees every ram field"]),
    ]);
    const childEntry = await one.nextOf("enter-ai");
    expect(childEntry.object.doId).toBe(child);
    expect(readable(childEntry.object.fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [1337]],
      [fieldId(DTO3, "setRDB3"), [2]],
      [fieldId(DTO3, "setDb3"), ["the AI sees every ram field"]],
    ]);
    expect((await client.get(child)).ai).toBe(ai1);

    // a child with an AI of its own keeps it
    const ai3 = fresh();
    const own = await client.create(DTO1, parent, 6, required(3), { ai: ai3 });

    // changing the parent's AI moves the inheriting child along
    await client.ss("set-ai", { doId: parent, ai: ai2 });
    const changes = [await one.nextOf("changing-ai"), await one.nextOf("changing-ai")];
    expect(changes.map(({ doId, ai, oldAi }) => [doId, ai, oldAi])).toEqual([
      [parent, ai2, ai1],
      [child, ai2, ai1],
    ]);
    const entries = [await two.nextOf("enter-ai"), await two.nextOf("enter-ai")];
    expect(entries.map((entry) => entry.object.doId)).toEqual([parent, child]);
    expect((await client.get(own)).ai).toBe(ai3);

    // a child moved under another parent takes that parent's AI
    const other = await client.create(DTO1, root, 2, required(4), { ai: ai1 });
    await one.nextOf("enter-ai");
    await client.ss("set-location", { doId: child, parentId: other, zoneId: 1 });
    expect(await two.nextOf("changing-location")).toMatchObject({ doId: child, parentId: other });
    expect(await two.nextOf("changing-ai")).toMatchObject({ doId: child, ai: ai1, oldAi: ai2 });
    expect((await one.nextOf("enter-ai")).object).toMatchObject({ doId: child, parentId: other, zoneId: 1 });

    // clearing an explicit AI (0) goes back to the parent's
    await client.ss("set-ai", { doId: own, ai: 0 });
    expect((await client.get(own)).ai).toBe(ai2);

    for (const doId of [parent, other]) await client.ss("delete", { doId });
    one.stop();
    two.stop();
  });

  it("moves an object and hands it to another AI in one step", async () => {
    const root = fresh();
    const [from, to] = [fresh(), fresh()];
    const oldAi = await client.channel(from);
    const newAi = await client.channel(to);
    const doId = await client.create(DTO1, root, 1, required(11), { ai: from });
    await oldAi.nextOf("enter-ai");
    const arriving = await client.location(root, 2);
    await client.ss("set-location", { doId, parentId: root, zoneId: 2, ai: to });
    expect(await oldAi.nextOf("changing-location")).toMatchObject({ doId, zoneId: 2, oldZoneId: 1 });
    expect(await oldAi.nextOf("changing-ai")).toMatchObject({ doId, ai: to, oldAi: from });
    expect((await newAi.nextOf("enter-ai")).object).toMatchObject({ doId, parentId: root, zoneId: 2 });
    expect(await arriving.nextOf("enter")).toMatchObject({ object: { doId, zoneId: 2 } });
    expect(await client.get(doId)).toMatchObject({ zoneId: 2, ai: to });
    // the same place and AI again: nothing to do
    await client.ss("set-location", { doId, parentId: root, zoneId: 2, ai: to });
    expect([...(await oldAi.drain()), ...(await newAi.drain())]).toEqual([]);
    await client.ss("delete", { doId });
    for (const recorder of [oldAi, newAi, arriving]) recorder.stop();
  });

  it("sets the owner: changing-owner to the old one, enter-owner with broadcast and ownrecv fields", async () => {
    const owner1 = fresh();
    const owner2 = fresh();
    const first = await client.channel(owner1);
    const second = await client.channel(owner2);
    const doId = await client.create(DTO3, 0, 0, [
      value(DTO3, "setRequired1", [0]),
      value(DTO3, "setRDB3", [0]),
      value(DTO3, "setDb3", ["Hey Princess! Want to do the SCIENCE DANCE with me?"]),
      value(DTO3, "setBRO1", [0x1337]),
      value(DTO3, "setBR1", ["I feel radder, faster... more adequate!"]),
    ]);
    await client.ss("set-owner", { doId, owner: owner1 });
    const entered = await first.nextOf("enter-owner");
    expect(readable(entered.object.fields)).toEqual([
      [fieldId(DTO3, "setRequired1"), [0]],
      [fieldId(DTO3, "setRDB3"), [0]],
      [fieldId(DTO3, "setBR1"), ["I feel radder, faster... more adequate!"]],
      [fieldId(DTO3, "setBRO1"), [0x1337]],
    ]);
    await client.ss("set-owner", { doId, owner: owner2 });
    expect(await first.nextOf("changing-owner")).toEqual({
      kind: "changing-owner",
      sender: SENDER,
      doId,
      owner: owner2,
      oldOwner: owner1,
    });
    expect((await second.nextOf("enter-owner")).object.doId).toBe(doId);
    await client.ss("set-owner", { doId, owner: owner2 });
    expect([...(await first.drain()), ...(await second.drain())]).toEqual([]);
    expect((await client.get(doId)).owner).toBe(owner2);
    await client.ss("delete", { doId });
    first.stop();
    second.stop();
  });

  it("deletes all objects of an AI (and their children), and nothing for another AI", async () => {
    const root = fresh();
    const ai = fresh();
    const location = await client.location(root, 1);
    const aiChannel = await client.channel(ai);
    const doId = await client.create(DTO1, root, 1, required(1), { ai });
    const child = await client.create(DTO1, doId, 3, required(2), { ai: fresh() });
    const bystander = await client.create(DTO1, root, 1, required(3));
    await location.drain(50);
    await aiChannel.drain(50);

    expect(await client.ss("delete-ai-objects", { ai: fresh() })).toEqual({ ok: true, deleted: [] });
    expect(await location.drain()).toEqual([]);

    const reply = await client.ss<{ deleted: number[] }>("delete-ai-objects", { ai });
    expect(reply.deleted).toEqual([doId, child]);
    expect(await location.nextOf("delete")).toMatchObject({ doId });
    expect(await aiChannel.nextOf("delete")).toMatchObject({ doId });
    await expect(client.get(child)).rejects.toMatchObject({ code: "unknown_object" });
    expect((await client.get(bystander)).doId).toBe(bystander);
    await client.ss("delete", { doId: bystander });
    aiChannel.stop();
  });
});

describe("zones", () => {
  it("answers which objects are in some zones, how many, and which zones are active", async () => {
    const parent = await client.create(DTO1, fresh(), 1, required(0));
    const make = (zone: number, n: number) => client.create(DTO1, parent, zone, required(n));
    const d1 = await make(912, 1);
    const d2 = await make(930, 2);
    const d3 = await make(930, 3);
    const d4 = await make(940, 4);
    const d5 = await make(950, 5);
    const query = async (zones: number[]) => {
      const reply = await client.ss<{
        objects: { doId: number; zoneId: number; fields: [number, Uint8Array][] }[];
      }>("query-zones", { parentId: parent, zones });
      return reply.objects;
    };
    const count = async (zones: number[]) =>
      (await client.ss<{ count: number }>("count-zones", { parentId: parent, zones })).count;

    const found = await query([912, 930]);
    expect(found.map((object) => object.doId)).toEqual([d1, d2, d3]);
    expect(readable(found[0]!.fields)).toEqual([[fieldId(DTO1, "setRequired1"), [1]]]);
    expect(await count([912, 930])).toBe(3);
    expect(await count([931])).toBe(0);
    expect(await client.ss("active-zones", { parentId: parent })).toEqual({
      ok: true,
      zones: [912, 930, 940, 950],
    });

    await client.ss("set-location", { doId: d4, parentId: parent, zoneId: 930 });
    await client.ss("delete", { doId: d2 });
    await client.ss("set-location", { doId: d3, parentId: fresh(), zoneId: 1 });
    expect((await query([912, 930])).map((object) => object.doId)).toEqual([d1, d4]);
    expect(await client.ss("active-zones", { parentId: parent })).toEqual({
      ok: true,
      zones: [912, 930, 950],
    });

    // deleting a zone deletes its objects and leaves the other zones alone
    const zone930 = await client.location(parent, 930);
    expect(await client.ss("delete-zone", { parentId: parent, zoneId: 930 })).toEqual({
      ok: true,
      deleted: [d4],
    });
    expect(await zone930.nextOf("delete")).toMatchObject({ doId: d4 });
    expect(await client.ss("active-zones", { parentId: parent })).toEqual({ ok: true, zones: [912, 950] });
    expect(await count([912, 950])).toBe(2);

    for (const doId of [parent, d3]) await client.ss("delete", { doId });
    expect(await client.ss("active-zones", { parentId: parent })).toEqual({ ok: true, zones: [] });
    void d5;
  });

  it("deletes children with their parent, and a parent's children on request", async () => {
    const root = await client.create(DTO1, fresh(), 1, required(0));
    const child1 = await client.create(DTO1, root, 710, required(1));
    const child2 = await client.create(DTO1, root, 720, required(2));
    const grandchild = await client.create(DTO1, child1, 1, required(3));
    const z710 = await client.location(root, 710);
    const z720 = await client.location(root, 720);
    const below = await client.location(child1, 1);

    const reply = await client.ss<{ deleted: number[] }>("delete-children", { parentId: root });
    expect(reply.deleted.sort()).toEqual([child1, child2, grandchild].sort());
    expect(await z710.nextOf("delete")).toMatchObject({ doId: child1 });
    expect(await z720.nextOf("delete")).toMatchObject({ doId: child2 });
    expect(await below.nextOf("delete")).toMatchObject({ doId: grandchild });
    expect((await client.get(root)).doId).toBe(root);
    expect(await client.ss("active-zones", { parentId: root })).toEqual({ ok: true, zones: [] });

    // deleting the root of a tree deletes it all
    const a = await client.create(DTO1, root, 1, required(4));
    const b = await client.create(DTO1, a, 2, required(5));
    const c = await client.create(DTO1, b, 3, required(6));
    const all = await client.ss<{ deleted: number[] }>("delete", { doId: root });
    expect(all.deleted).toEqual([root, a, b, c]);
    for (const doId of [a, b, c])
      await expect(client.get(doId)).rejects.toMatchObject({ code: "unknown_object" });
    await expect(client.ss("delete", { doId: root })).rejects.toMatchObject({ code: "unknown_object" });
  });
});

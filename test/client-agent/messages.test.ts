import { type DClass, loadDcFiles, packField, parseDcText } from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  dcFieldSizer,
  decodeAgentMessage,
  decodeClientMessage,
  EJECT_FOR_DECODE_FAILURE,
  EjectCode,
  encodeAgentMessage,
  encodeClientMessage,
  fieldKey,
  readFieldUpdates,
  readUnreadUpdates,
  type UnreadUpdates,
  type WireClasses,
} from "@overworld/protocol/client";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";

const dc = loadDcFiles([DC_FIXTURES.astronTest]);
const sizer = dcFieldSizer(dc);
const setColor = dc.class("DistributedClientTestObject")!.field("setColor")!;
const setName = dc.class("DistributedClientTestObject")!.field("setName")!;
const colorBytes = packField(setColor, [10, 20, 30]);
const nameBytes = packField(setName, ["héllo"]);
const testObject = setColor.owner as DClass;
const classId = testObject.id;
/** The client's view: objects 3, 9, 10 and 100000000-100000001 are test objects it saw enter. */
const known = new Set([3, 9, 10, 100_000_000, 100_000_001]);
const wire: WireClasses = { dc, classOf: (doId) => (known.has(doId) ? testObject : undefined) };
const encode = (message: AgentMessage) => encodeAgentMessage(message, dc);

const clientSamples: ClientMessage[] = [
  { type: ClientMessageType.Hello, version: "test-1", schemaHash: 0xdeadbeef },
  { type: ClientMessageType.Hello, version: "test-1", schemaHash: 0xdeadbeef, features: 1 },
  { type: ClientMessageType.Heartbeat },
  { type: ClientMessageType.Disconnect },
  {
    type: ClientMessageType.AddInterest,
    interestId: 3,
    context: 77,
    parent: 4000,
    zones: [1, 2, 0xffffffff],
  },
  { type: ClientMessageType.RemoveInterest, interestId: 3, context: 78 },
  { type: ClientMessageType.SetField, doId: 100_000_001, fieldId: setColor.id, value: colorBytes },
  {
    type: ClientMessageType.FollowInterest,
    interestId: 4,
    context: 79,
    doId: 100_000_002,
    width: 8,
    height: 8,
    radius: 1,
  },
  {
    type: ClientMessageType.Request,
    requestId: 0xffff_fffe,
    doId: 3,
    fieldId: setColor.id,
    value: colorBytes,
  },
];

const agentSamples: AgentMessage[] = [
  { type: AgentMessageType.HelloResp, clusterTime: 1_790_000_000_123.5 },
  {
    type: AgentMessageType.Plugins,
    push: 7,
    plugins: [
      { name: "emotes", version: "1.0.0", id: "ab".repeat(32) },
      { name: "hud", version: "2.1.0-beta.1", id: "0f".repeat(32) },
    ],
  },
  { type: AgentMessageType.Plugins, push: 0, plugins: [] },
  { type: AgentMessageType.Eject, code: EjectCode.NoHeartbeat, reason: "no heartbeat for 10 s" },
  { type: AgentMessageType.Clock, serverTime: 1_790_000_000_000, errorBound: 1.25 },
  {
    type: AgentMessageType.EnterObject,
    doId: 9,
    parent: 4000,
    zone: 2,
    classId: setColor.owner.id,
    tick: 300,
    fields: [
      { fieldId: setName.id, value: nameBytes },
      { fieldId: setColor.id, value: colorBytes },
    ],
  },
  { type: AgentMessageType.LeaveObject, doId: 9 },
  { type: AgentMessageType.DoneInterest, interestId: 3, context: 77 },
  { type: AgentMessageType.Reply, requestId: 7, value: colorBytes },
  { type: AgentMessageType.Reply, requestId: 8, value: new Uint8Array() },
  { type: AgentMessageType.RequestError, requestId: 9, code: "sold_out", message: "no map left" },
  {
    type: AgentMessageType.FieldUpdates,
    updates: [
      { doId: 9, classId, fieldId: setColor.id, value: colorBytes },
      { doId: 10, classId, fieldId: setName.id, value: nameBytes },
    ],
  },
  {
    type: AgentMessageType.StateUpdates,
    tick: 70_000,
    updates: [
      { doId: 9, classId, fieldId: setColor.id, value: colorBytes },
      { doId: 3, classId, fieldId: setName.id, value: nameBytes },
    ],
  },
];

function plain(value: unknown): unknown {
  return JSON.parse(
    JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? Array.from(v) : v)),
  );
}

describe("client message catalogue", () => {
  it("round-trips every client-to-agent message", () => {
    for (const message of clientSamples) {
      const decoded = decodeClientMessage(encodeClientMessage(message), sizer);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(plain(decoded.message)).toEqual(plain(message));
    }
  });

  it("round-trips every agent-to-client message", () => {
    for (const message of agentSamples) {
      const decoded = decodeAgentMessage(encode(message), wire);
      expect(decoded.ok).toBe(true);
      if (decoded.ok) expect(plain(decoded.message)).toEqual(plain(message));
    }
  });

  it("lays out HELLO byte for byte", () => {
    const bytes = encodeClientMessage({
      type: ClientMessageType.Hello,
      version: "v1",
      schemaHash: 0x01020304,
    });
    expect(Array.from(bytes)).toEqual([1, 2, 0, 0x76, 0x31, 4, 3, 2, 1]);
  });

  it("lays out FIELD_UPDATES compactly: a doId as the difference from the previous one, fields by class-local keys", () => {
    const bytes = encode({
      type: AgentMessageType.FieldUpdates,
      updates: [
        { doId: 100_000_001, classId, fieldId: setColor.id, value: colorBytes },
        { doId: 100_000_001, classId, fieldId: setName.id, value: nameBytes },
        { doId: 100_000_000, classId, fieldId: setColor.id, value: colorBytes },
      ],
    });
    const doId = [0x82, 0x84, 0xaf, 0x5f]; // zigzag(100000001) = 200000002 in LEB128
    const colorKey = testObject.fields.indexOf(setColor) * 2;
    const nameKey = testObject.fields.indexOf(setName) * 2;
    expect(Array.from(bytes)).toEqual([
      AgentMessageType.FieldUpdates,
      3,
      ...doId,
      colorKey,
      ...colorBytes,
      0, // the same object
      nameKey,
      ...nameBytes,
      1, // one less: zigzag(-1)
      colorKey,
      ...colorBytes,
    ]);
  });

  it("names a field by one byte of key where its global id takes two, and a nested change by the key's low bit", () => {
    // 150 fields in a class declared first: the second class's fields have global ids from 150 on
    const filler = Array.from({ length: 150 }, (_, i) => `  uint8 f${i} broadcast;`).join("\n");
    const big = parseDcText(`struct Item { uint32 id; uint16 count; };
dclass Filler {\n${filler}\n};
dclass Shop { Item stock[] broadcast ram; uint8 open broadcast ram; };`);
    const shop = big.class("Shop")!;
    const stock = shop.field("stock")!;
    const open = shop.field("open")!;
    expect(open.id).toBeGreaterThan(127);
    const encodeBig = (updates: { fieldId: number; value: Uint8Array; nested?: boolean }[]) =>
      encodeAgentMessage(
        {
          type: AgentMessageType.FieldUpdates,
          updates: updates.map((u) => ({ doId: 5, classId: shop.id, ...u })),
        },
        big,
      );
    // type, count, doId 5 (zigzag 10), key, value: the key is 1 byte where the global id (151) took 2
    expect(Array.from(encodeBig([{ fieldId: open.id, value: Uint8Array.of(1) }]))).toEqual([
      AgentMessageType.FieldUpdates,
      1,
      10,
      fieldKey(shop, open.id),
      1,
    ]);
    expect(fieldKey(shop, open.id)).toBe(2);
    // a nested change of the stock (element 1 set to { id: 4, count: 2 }): key 0 << 1 | 1, then the change
    const change = Uint8Array.of(0x00, 0x08, 4, 0, 0, 0, 2, 0);
    const nested = encodeBig([{ fieldId: stock.id, value: change, nested: true }]);
    expect(Array.from(nested)).toEqual([AgentMessageType.FieldUpdates, 1, 10, 1, ...change]);
    const shopWire: WireClasses = { dc: big, classOf: (doId) => (doId === 5 ? shop : undefined) };
    expect(decodeAgentMessage(nested, shopWire)).toMatchObject({
      ok: true,
      message: { updates: [{ doId: 5, classId: shop.id, fieldId: stock.id, nested: true, value: change }] },
    });
    // never in STATE_UPDATES: those are newest-value-wins, and a change must apply in order
    expect(() =>
      encodeAgentMessage(
        {
          type: AgentMessageType.StateUpdates,
          tick: 1,
          updates: [{ doId: 5, classId: shop.id, fieldId: stock.id, value: change, nested: true }],
        },
        big,
      ),
    ).toThrow(/nested change/);
  });

  it("stops at an object it does not know, handing back the rest to read once the object has entered", () => {
    const bytes = encode({
      type: AgentMessageType.StateUpdates,
      tick: 12,
      updates: [
        { doId: 9, classId, fieldId: setColor.id, value: colorBytes },
        { doId: 77, classId, fieldId: setName.id, value: nameBytes },
        { doId: 10, classId, fieldId: setColor.id, value: colorBytes },
      ],
    });
    const seen: [number, string][] = [];
    const visit = (doId: number, field: { name: string }) => seen.push([doId, field.name]);
    const read = readFieldUpdates(bytes, wire, visit);
    expect(read).toMatchObject({ ok: false, code: "unknown_object" });
    expect(seen).toEqual([[9, "setColor"]]);
    const unread = (read as { unread: UnreadUpdates }).unread;
    expect(unread).toMatchObject({ doId: 77, tick: 12, count: 2, previousDoId: 9 });
    known.add(77);
    expect(readUnreadUpdates(unread, wire, visit)).toEqual({ ok: true, message: 12 });
    known.delete(77);
    expect(seen).toEqual([
      [9, "setColor"],
      [77, "setName"],
      [10, "setColor"],
    ]);
  });

  it("names each failure with its ejection code", () => {
    const hello = encodeClientMessage(clientSamples[0]!);
    const truncated = decodeClientMessage(hello.subarray(0, hello.length - 1), sizer);
    expect(truncated).toMatchObject({ ok: false, code: "truncated" });
    // after the schema hash only HELLO's features (u32, revision 1) may follow, and nothing after them
    const cutFeatures = decodeClientMessage(new Uint8Array([...hello, 1]), sizer);
    expect(cutFeatures).toMatchObject({ ok: false, code: "truncated" });
    const trailing = decodeClientMessage(new Uint8Array([...hello, 1, 0, 0, 0, 0]), sizer);
    expect(trailing).toMatchObject({ ok: false, code: "trailing_bytes" });
    expect(decodeClientMessage(new Uint8Array([0x41]), sizer)).toMatchObject({ ok: false, code: "bad_type" });
    expect(decodeClientMessage(new Uint8Array(0), sizer)).toMatchObject({ ok: false, code: "truncated" });
    const unknownField = encodeClientMessage({
      type: ClientMessageType.SetField,
      doId: 1,
      fieldId: 60000,
      value: new Uint8Array([1]),
    });
    expect(decodeClientMessage(unknownField, sizer)).toMatchObject({ ok: false, code: "unknown_field" });
    const badUtf8 = new Uint8Array([1, 1, 0, 0xff, 0, 0, 0, 0]);
    expect(decodeClientMessage(badUtf8, sizer)).toMatchObject({ ok: false, code: "bad_member" });
    expect(EJECT_FOR_DECODE_FAILURE.truncated).toBe(109);
    expect(EJECT_FOR_DECODE_FAILURE.trailing_bytes).toBe(106);
    expect(EJECT_FOR_DECODE_FAILURE.bad_type).toBe(108);
  });

  it("refuses a field count the bytes cannot hold without reading past them", () => {
    const bytes = new Uint8Array([0x44, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0xff, 0xff]);
    expect(decodeAgentMessage(bytes, wire)).toMatchObject({ ok: false, code: "truncated" });
  });

  it("never throws on random, truncated or mutated bytes (fuzz)", () => {
    const encoded = [...clientSamples.map(encodeClientMessage), ...agentSamples.map(encode)];
    const mutated = fc
      .tuple(
        fc.constantFrom(...encoded),
        fc.array(fc.tuple(fc.nat(), fc.nat(255)), { maxLength: 4 }),
        fc.nat(),
      )
      .map(([bytes, flips, cut]) => {
        const copy = bytes.slice();
        for (const [at, value] of flips) copy[at % copy.length] = value;
        return copy.subarray(0, cut % (copy.length + 1));
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 64 }), mutated), (bytes) => {
        for (const result of [decodeClientMessage(bytes, sizer), decodeAgentMessage(bytes, wire)]) {
          if (!result.ok) expect(typeof result.detail).toBe("string");
        }
      }),
      { numRuns: 300 },
    );
  });

  it("refuses members out of range when encoding", () => {
    expect(() =>
      encodeClientMessage({ type: ClientMessageType.Hello, version: "v", schemaHash: 2 ** 32 }),
    ).toThrow(/schema hash/);
  });
});

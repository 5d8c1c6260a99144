import {
  applyDelta,
  applyTickDeltas,
  atomicField,
  classLayout,
  DatagramReader,
  DatagramWriter,
  type DClass,
  DcFile,
  DcPackError,
  type DcType,
  DeltaTracker,
  decodeNodeDelta,
  decodeObjectDelta,
  decodeRefresh,
  defaultFieldValue,
  encodeNodeDelta,
  encodeObjectDelta,
  encodeRefresh,
  encodeTickDeltas,
  type FieldValue,
  isEditableType,
  isFixedLength,
  loadDcFiles,
  molecularField,
  type ObjectDelta,
  ObjectState,
  parameterField,
  parseDcText,
  readTickDeltas,
  type StoredField,
  TrackedArray,
  TrackedMap,
  type TrackedNode,
  TrackedStruct,
} from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { buildType, fieldValueArb, type TypeSpec, typeSpecArb, valueArb } from "./pack.arbitraries.ts";

const AVATAR_DC = `
struct Item { uint16 id; uint8 count; };
struct Block { int16 x; int16 y; uint8 tiles[]; };
dclass Avatar {
  setXY(float32 x, float32 y) broadcast ram;
  setZ(float32 z) broadcast ram;
  setXYZ : setXY, setZ;
  setName(string name) broadcast ram;
  uint32 hp broadcast ram;
  setInventory(Item items[]) ram;
  Block home ram;
  uint8 flags[3] ram;
};
`;

const file = parseDcText(AVATAR_DC);
const Avatar = file.class("Avatar")!;
/** The key of a field entry: (local index + 1) << 2 | nestedBit << 1 (and the more bit, 1, if another follows). */
const fieldKey = (name: string, nested = false): number =>
  (classLayout(Avatar).indexByName.get(name)! + 1) * 4 + (nested ? 2 : 0);

function avatar(extra: Record<string, FieldValue> = {}): ObjectState {
  return new ObjectState(Avatar, {
    setXY: [1, 2],
    setZ: [0],
    setName: ["Flippy"],
    hp: 15,
    setInventory: [
      [
        { id: 1, count: 3 },
        { id: 7, count: 1 },
      ],
    ],
    home: { x: 4, y: -2, tiles: [1, 2, 3, 4] },
    flags: [0, 0, 0],
    ...extra,
  });
}

/** Source -> bytes -> replica, as a client would see it. */
function ship(source: ObjectState, replica: ObjectState): ObjectDelta | undefined {
  const delta = source.takeDelta();
  if (delta) replica.apply(decodeObjectDelta(encodeObjectDelta(delta, source.dclass), source.dclass));
  return delta;
}

function newcomer(source: ObjectState): ObjectState {
  const bytes = encodeObjectDelta(source.refresh(), source.dclass);
  return ObjectState.fromRefresh(source.dclass, decodeObjectDelta(bytes, source.dclass));
}

/** Unsigned LEB128, as the delta format writes counts, keys and doId gaps. */
function varuint(value: number): number[] {
  const out: number[] = [];
  let rest = value;
  while (rest > 0x7f) {
    out.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  out.push(rest);
  return out;
}

function float32Bytes(...values: number[]): number[] {
  const view = new DataView(new ArrayBuffer(4 * values.length));
  values.forEach((value, i) => {
    view.setFloat32(4 * i, value, true);
  });
  return [...new Uint8Array(view.buffer)];
}

describe("ObjectState: what a user sees", () => {
  it("has no delta when nothing changed, nor after a delta was taken, nor for a same-value set", () => {
    const state = avatar();
    expect(state.changed).toBe(false);
    expect(state.takeDelta()).toBeUndefined();
    state.set("hp", 14);
    expect(state.takeDelta()).toBeDefined();
    expect(state.takeDelta()).toBeUndefined();
    state.set("hp", 14);
    state.set("setXY", [1, 2]);
    state.set("home", { x: 4, y: -2, tiles: [1, 2, 3, 4] });
    expect(state.changed).toBe(false);
    expect(state.takeDelta()).toBeUndefined();
  });

  it("sends a moved object's position as one key byte + 8 bytes", () => {
    const state = avatar();
    state.set("setXY", [10.5, -3.25]);
    const delta = state.takeDelta()!;
    expect(delta.changes).toEqual([{ field: Avatar.field("setXY"), value: [10.5, -3.25] }]);
    const bytes = encodeObjectDelta(delta, Avatar);
    // setXY is the class's first stored field: local index 0, key (0 + 1) << 2 = 4.
    expect([...bytes]).toEqual([4, ...float32Bytes(10.5, -3.25)]);
    expect(bytes).toHaveLength(9);
  });

  it("chains entries with the more bit and writes an empty delta as a single 0", () => {
    const state = avatar();
    state.set("hp", 9);
    state.set("setZ", [0.5]);
    const bytes = encodeObjectDelta(state.takeDelta()!, Avatar);
    // Entries in local-index order; every key but the last has the more bit.
    expect([...bytes]).toEqual([fieldKey("setZ") | 1, ...float32Bytes(0.5), fieldKey("hp"), 9, 0, 0, 0]);
    expect([...encodeObjectDelta({ changes: [] }, Avatar)]).toEqual([0]);
    expect(decodeObjectDelta(new Uint8Array([0]), Avatar)).toEqual({ changes: [] });
    const writer = new DatagramWriter();
    state.writeDelta(writer);
    expect([...writer.toBytes()]).toEqual([0]);
  });

  it("names fields by their index in the class, so inherited fields get the subclass's index", () => {
    const dc = parseDcText(`
      dclass Base { uint8 a ram; };
      dclass Child : Base { uint8 b ram; };
    `);
    const Child = dc.class("Child")!;
    const child = new ObjectState(Child, { a: 1, b: 2 });
    child.set("a", 7);
    expect([...encodeObjectDelta(child.takeDelta()!, Child)]).toEqual([4, 7]);
    child.set("b", 8);
    expect([...encodeObjectDelta(child.takeDelta()!, Child)]).toEqual([8, 8]);
    const other = dc.class("Base")!;
    expect(() =>
      encodeObjectDelta({ changes: [{ field: Child.field("b") as StoredField, value: 1 }] }, other),
    ).toThrow(/'Child.b' is not a stored field of dclass 'Base'/);
  });

  it("lets the latest value win within one delta", () => {
    const state = avatar();
    state.set("hp", 1);
    state.set("setXY", [5, 5]);
    state.set("hp", 2);
    state.set("hp", 3);
    const delta = state.takeDelta()!;
    expect(
      delta.changes.map((change) => [change.field.name, "value" in change ? change.value : "nested"]),
    ).toEqual([
      ["setXY", [5, 5]],
      ["hp", 3],
    ]);
  });

  it("gives a refresh with every set field, which leaves pending changes alone", () => {
    const state = new ObjectState(Avatar, { setXY: [1, 2], hp: 9 });
    state.set("setName", ["Z"]);
    const refresh = state.refresh();
    expect(refresh.changes.map((change) => change.field.name)).toEqual(["setXY", "setName", "hp"]);
    expect(state.changed).toBe(true);
    const replica = newcomer(state);
    expect(replica.toObject()).toEqual({ setXY: [1, 2], setName: ["Z"], hp: 9 });
    expect(replica.changed).toBe(false);
    expect(replica.has("setZ")).toBe(false);
    expect(replica.get("setZ")).toBeUndefined();
  });

  it("sets the atoms of a molecular field and joins them back; deltas name the atoms", () => {
    const state = avatar();
    state.set("setXYZ", [7, 8, 9]);
    expect(state.get("setXY")).toEqual([7, 8]);
    expect(state.get("setZ")).toEqual([9]);
    expect(state.get("setXYZ")).toEqual([7, 8, 9]);
    expect(state.takeDelta()!.changes.map((change) => change.field.name)).toEqual(["setXY", "setZ"]);
    expect(() => state.edit("setXYZ")).toThrow(/molecular field 'Avatar.setXYZ'/);
    expect(new ObjectState(Avatar).get("setXYZ")).toBeUndefined();
  });

  it("propagates a change deep inside a field up to the object, and sends only that path", () => {
    const state = avatar();
    const inventory = state.editArray("setInventory", 0);
    const second = inventory.edit(1) as TrackedStruct;
    expect(state.changed).toBe(false);
    second.set("count", 5);
    expect(second.changed).toBe(true);
    expect(inventory.changed).toBe(true);
    expect(state.edit("setInventory").changed).toBe(true);
    expect(state.changed).toBe(true);

    const delta = state.takeDelta()!;
    expect(delta.changes).toEqual([
      {
        field: Avatar.field("setInventory"),
        delta: {
          kind: "struct",
          entries: [
            {
              key: 0,
              delta: {
                kind: "array",
                entries: [{ key: 1, delta: { kind: "struct", entries: [{ key: 1, value: 5 }] } }],
              },
            },
          ],
        },
      },
    ]);
    // field key, tuple: [key (argument 0, nested)], array: [length code, key (gap 1, nested)],
    // struct: [key (member 1)], uint8
    expect([...encodeObjectDelta(delta, Avatar)]).toEqual([fieldKey("setInventory", true), 6, 0, 10, 8, 5]);
    expect(second.changed || inventory.changed || state.changed).toBe(false);
    expect(state.get("setInventory")).toEqual([
      [
        { id: 1, count: 3 },
        { id: 7, count: 5 },
      ],
    ]);
  });

  it("sends one array element, and length changes as a length code", () => {
    const state = avatar();
    const replica = newcomer(state);
    const tiles = state.editArray("home", "tiles");
    tiles.set(2, 30);
    const setOne = encodeObjectDelta(state.takeDelta()!, Avatar);
    // field key, struct [key (member 2, nested)], array [unchanged, key (gap 2), 30]
    expect([...setOne]).toEqual([fieldKey("home", true), 3 * 4 + 2, 0, 3 * 4, 30]);
    replica.apply(decodeObjectDelta(setOne, Avatar));

    tiles.push(50, 60);
    tiles.pop();
    const pushed = state.takeDelta()!;
    expect(pushed.changes[0]).toMatchObject({
      delta: { entries: [{ key: 2, delta: { kind: "array", length: 5, entries: [{ key: 4, value: 50 }] } }] },
    });
    replica.apply(decodeObjectDelta(encodeObjectDelta(pushed, Avatar), Avatar));

    tiles.truncate(1);
    const truncated = state.takeDelta()!;
    expect(truncated.changes[0]).toMatchObject({
      delta: { entries: [{ key: 2, delta: { kind: "array", length: 1, entries: [] } }] },
    });
    replica.apply(decodeObjectDelta(encodeObjectDelta(truncated, Avatar), Avatar));
    expect(replica.get("home")).toEqual({ x: 4, y: -2, tiles: [1] });
    expect(replica.toObject()).toEqual(state.toObject());
  });

  it("keeps a newcomer who joined mid-tick in step, even when a length change was undone", () => {
    const state = avatar();
    const early = newcomer(state);
    const tiles = state.editArray("home", "tiles");
    tiles.push(5);
    const late = newcomer(state); // sees 5 tiles
    tiles.pop();
    const delta = state.takeDelta()!;
    expect(delta.changes[0]).toMatchObject({ delta: { entries: [{ delta: { length: 4, entries: [] } }] } });
    for (const replica of [early, late]) {
      replica.apply(decodeObjectDelta(encodeObjectDelta(delta, Avatar), Avatar));
      expect(replica.toObject()).toEqual(state.toObject());
    }
  });

  it("checks values when they are set, with the packer's error path", () => {
    const state = avatar();
    expect(() => state.set("hp", -1)).toThrow(DcPackError);
    expect(() => state.set("setXY", [1])).toThrow(/Avatar\.setXY/);
    expect(() => state.editStruct("home").set("x", 1e6)).toThrow(/x: expected int16/);
    expect(() => state.editArray("flags").push(1)).toThrow(/exactly 3 elements/);
    expect(() => state.editArray("home", "tiles").set(0, 300)).toThrow(DcPackError);
    expect(() => state.set("nope", 1)).toThrow(/dclass 'Avatar' has no field 'nope'/);
    expect(() => state.edit("hp")).toThrow(/cannot be edited in place/);
    expect(() => new ObjectState(Avatar).edit("setXY")).toThrow(/has no value to edit yet/);
    expect(state.get("hp")).toBe(15);
    expect(state.takeDelta()).toBeUndefined();
  });

  it("names the object's doId in the error of a bad value", () => {
    const state = new ObjectState(Avatar, { hp: 1 }, { doId: 4242 });
    let error: unknown;
    try {
      state.set("hp", 2 ** 40);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(DcPackError);
    expect((error as DcPackError).path).toBe("Avatar.hp");
    expect((error as DcPackError).message).toMatch(/^Avatar\.hp: expected uint32.*\(object doId 4242\)$/);
    expect(state.changed).toBe(false);
  });

  it("applies its own deltas as changes of the replica (so a relay can pass them on)", () => {
    const source = avatar();
    const relay = newcomer(source);
    const client = newcomer(relay);
    source.editArray("home", "tiles").set(0, 9);
    source.set("hp", 1);
    applyDelta(relay, source.takeDelta()!);
    ship(relay, client);
    expect(client.toObject()).toEqual(source.toObject());
  });
});

describe("ticks: many objects into one writer", () => {
  const OBJECTS = 1000;
  const MOVING = 100;

  it("writes only the objects that changed, found through the tracker", () => {
    const tracker = new DeltaTracker();
    const states = Array.from(
      { length: OBJECTS },
      (_, i) => new ObjectState(Avatar, { setXY: [i, i], hp: 100 }, { doId: 1000 + i, tracker }),
    );
    const replicas = new Map(states.map((state) => [state.doId, newcomer(state)]));
    expect(tracker.size).toBe(0);
    for (let i = 0; i < MOVING; i++) states[i * 10]!.set("setXY", [i + 0.5, -i]);
    expect(tracker.size).toBe(MOVING);

    const writer = new DatagramWriter();
    expect(encodeTickDeltas(tracker, writer)).toBe(MOVING);
    expect(tracker.size).toBe(0);
    // object count (1 byte), the first doId (1000: 2 bytes), the gaps to the next ones (9: 1 byte
    // each), then per object a field key and 8 bytes
    expect(writer.length).toBe(1 + 2 + (MOVING - 1) + MOVING * (1 + 8));

    const applied = applyTickDeltas(new DatagramReader(writer.toBytes()), (doId) => replicas.get(doId));
    expect(applied).toBe(MOVING);
    for (const state of states) expect(replicas.get(state.doId)!.toObject()).toEqual(state.toObject());

    writer.reset();
    expect(encodeTickDeltas(tracker, writer)).toBe(0);
    expect([...writer.toBytes()]).toEqual([0]);
  });

  it("reports an object once per tick and forgets one whose delta was taken directly", () => {
    const tracker = new DeltaTracker();
    const a = new ObjectState(Avatar, { hp: 1 }, { doId: 1, tracker });
    const b = new ObjectState(Avatar, { hp: 1 }, { doId: 2, tracker });
    a.set("hp", 2);
    a.set("hp", 3);
    b.set("hp", 2);
    b.takeDelta();
    b.set("hp", 3);
    b.takeDelta();
    const first = tracker.drain();
    expect(first.map((state) => state.doId)).toEqual([1]);
    b.set("hp", 4);
    expect(tracker.drain().map((state) => state.doId)).toEqual([2]);
    // `a` was handed over but its delta not taken: its next change reports it again.
    a.set("hp", 5);
    expect(tracker.drain().map((state) => state.doId)).toEqual([1]);
  });

  it("encodes any iterable of objects, skipping unchanged ones", () => {
    const states = [1, 2, 3].map((doId) => new ObjectState(Avatar, { hp: 1 }, { doId }));
    states[1]!.set("hp", 7);
    const writer = new DatagramWriter();
    expect(encodeTickDeltas(states, writer)).toBe(1);
    expect([...writer.toBytes()]).toEqual([1, 2, fieldKey("hp"), 7, 0, 0, 0]);
  });

  it("sorts the objects by doId and writes the gaps between them, whatever order they changed in", () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.nat(2 ** 32 - 1), { minLength: 1, maxLength: 40 }), (doIds) => {
        const tracker = new DeltaTracker();
        const states = doIds.map((doId) => new ObjectState(Avatar, { hp: 0 }, { doId, tracker }));
        states.forEach((state, i) => {
          state.set("hp", i + 1);
        });
        const writer = new DatagramWriter();
        expect(encodeTickDeltas(tracker, writer)).toBe(doIds.length);
        const sorted = [...doIds].sort((a, b) => a - b);
        const expected: number[] = [doIds.length];
        sorted.forEach((doId, k) => {
          const code = k === 0 ? doId : doId - sorted[k - 1]! - 1;
          const hp = doIds.indexOf(doId) + 1;
          expected.push(...varuint(code), fieldKey("hp"), hp & 0xff, hp >> 8, 0, 0);
        });
        expect([...writer.toBytes()]).toEqual(expected);
        const byDoId = new Map(states.map((state) => [state.doId, state]));
        const decoded = readTickDeltas(new DatagramReader(writer.toBytes()), () => Avatar);
        expect(decoded.map((tick) => tick.doId)).toEqual(sorted);
        for (const { doId, delta } of decoded) {
          expect(delta.changes).toEqual([{ field: Avatar.field("hp"), value: byDoId.get(doId)!.get("hp") }]);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("refuses two changed objects with one doId, or a doId that is not a uint32, before taking any delta", () => {
    for (const doIds of [[7, 3, 7], [1, 2 ** 32], [-1], [1.5]]) {
      const tracker = new DeltaTracker();
      const states = doIds.map((doId) => new ObjectState(Avatar, { hp: 0 }, { doId, tracker }));
      for (const state of states) state.set("hp", 1);
      const writer = new DatagramWriter();
      writer.writeUint8(99);
      expect(() => encodeTickDeltas(tracker, writer), String(doIds)).toThrow(
        /encoding the tick failed: (two changed objects have doId 7|doId .* is not a uint32)/,
      );
      expect([...writer.toBytes()]).toEqual([99]);
      // Nothing was taken, and the tracker still knows every changed object.
      expect(states.every((state) => state.changed)).toBe(true);
      expect(tracker.drain()).toHaveLength(states.length);
    }
  });

  it("rolls the writer back when a delta fails mid-tick, keeping the objects not yet written pending", () => {
    const tracker = new DeltaTracker();
    const states = [1, 2, 3].map((doId) => new ObjectState(Avatar, { setXY: [0, 0] }, { doId, tracker }));
    const broken: number[] = [5, 5];
    states[0]!.set("setXY", [1, 1]);
    states[1]!.set("setXY", broken);
    states[2]!.set("setXY", [3, 3]);
    (broken as unknown[])[1] = "not a number"; // values are kept by reference: mutating one is a bug
    const writer = new DatagramWriter();
    writer.writeUint8(99);
    expect(() => encodeTickDeltas(tracker, writer)).toThrow(
      /encoding the delta of doId 2 failed: Avatar\.setXY\.y: expected a number/,
    );
    expect([...writer.toBytes()]).toEqual([99]);
    expect(states[2]!.changed).toBe(true);
    expect(tracker.drain()).toEqual([states[2]]);
  });

  it("refuses a tick naming an object the receiver does not know", () => {
    const state = new ObjectState(Avatar, { hp: 1 }, { doId: 5 });
    state.set("hp", 2);
    const writer = new DatagramWriter();
    encodeTickDeltas([state], writer);
    expect(() => applyTickDeltas(new DatagramReader(writer.toBytes()), () => undefined)).toThrow(/doId 5/);
    // Knowing only the class is enough to read past it.
    expect(applyTickDeltas(new DatagramReader(writer.toBytes()), () => Avatar)).toBe(0);
  });
});

describe("the real .dc files", () => {
  const game = loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon]);

  it("refreshes every class of otp.dc + toon.dc (default values) through bytes into an equal replica", () => {
    let fields = 0;
    for (const dclass of game.classes) {
      const initial: Record<string, FieldValue> = {};
      for (const field of dclass.fields) {
        if (field.kind === "molecular") continue;
        initial[field.name] = defaultFieldValue(field);
        fields++;
      }
      const state = new ObjectState(dclass, initial);
      expect(newcomer(state).toObject(), dclass.name).toEqual(state.toObject());
    }
    expect(fields).toBeGreaterThan(2000);
  });
});

describe("decoding hostile bytes", () => {
  it("refuses a field index the class does not have, naming the class", () => {
    const outOfRange = (classLayout(Avatar).fields.length + 1) * 4; // one past the last local index
    for (const bytes of [[outOfRange, 1], [...varuint(1000 * 4)]]) {
      expect(() => decodeObjectDelta(new Uint8Array(bytes), Avatar)).toThrow(
        /field index \d+ is not a stored field of dclass 'Avatar'/,
      );
    }
    // A 0 where a further key was announced (more bit) is no key either.
    expect(() => decodeObjectDelta(new Uint8Array([fieldKey("hp") | 1, 1, 0, 0, 0, 0]), Avatar)).toThrow(
      DcPackError,
    );
  });

  it("refuses a tick whose doIds run past the uint32 range", () => {
    // two objects: doId 2^32 - 1, then a gap of 0 (doId 2^32)
    const bytes = new Uint8Array([2, ...varuint(2 ** 32 - 1), 0, 0]);
    expect(() => readTickDeltas(new DatagramReader(bytes), () => Avatar)).toThrow(/doId 4294967296/);
  });

  it("answers any bytes given as a tick with ticks or a DcPackError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          readTickDeltas(new DatagramReader(bytes), () => Avatar);
        } catch (error) {
          expect(error).toBeInstanceOf(DcPackError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("answers any bytes with a delta or a DcPackError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
        try {
          decodeObjectDelta(bytes, Avatar);
        } catch (error) {
          expect(error).toBeInstanceOf(DcPackError);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("answers every truncation of a real delta with a DcPackError", () => {
    const state = avatar();
    state.editArray("setInventory", 0).push({ id: 9, count: 9 });
    state.editArray("home", "tiles").set(1, 7);
    state.set("setName", ["Wobbly"]);
    const bytes = encodeObjectDelta(state.takeDelta()!, Avatar);
    for (let cut = 0; cut < bytes.length; cut++) {
      expect(() => decodeObjectDelta(bytes.subarray(0, cut), Avatar), `cut at ${cut}`).toThrow(DcPackError);
    }
  });
});

describe("generic tracked containers (msgpack)", () => {
  function players() {
    return new TrackedMap<number, unknown>([
      [1, new TrackedStruct({ name: "notch", pos: [2, 2], hp: 8 })],
      [2, new TrackedStruct({ name: "jeb", pos: [2, 3], hp: 1 })],
      [3, new TrackedStruct({ name: "c418", pos: [2, 4], hp: 7 })],
    ]);
  }

  it("sends one changed map entry only: {3: {hp: 6}}", () => {
    const source = players();
    const replica = decodeRefresh(encodeRefresh(source)) as TrackedMap<number, unknown>;
    (source.edit(3) as TrackedStruct).set("hp", 6);
    const delta = source.takeDelta()!;
    expect(delta).toEqual({
      kind: "map",
      clear: false,
      deleted: [],
      entries: [{ key: 3, delta: { kind: "struct", entries: [{ key: 2, value: 6 }] } }],
    });
    const bytes = encodeNodeDelta(delta);
    expect(bytes.length).toBeLessThanOrEqual(12);
    replica.applyDelta(decodeNodeDelta(bytes));
    expect(replica.toValue()).toEqual(source.toValue());
    expect(source.takeDelta()).toBeUndefined();
  });

  it("expresses deleted keys and clears", () => {
    const source = players();
    const replica = decodeRefresh(encodeRefresh(source));
    source.delete(2);
    source.set(4, { name: "dinnerbone", pos: [0, 0], hp: 20 });
    let delta = source.takeDelta()!;
    expect(delta).toMatchObject({ deleted: [2], entries: [{ key: 4 }] });
    replica.applyDelta(decodeNodeDelta(encodeNodeDelta(delta)));
    expect(replica.toValue()).toEqual(source.toValue());
    source.clear();
    source.set(9, "x");
    delta = source.takeDelta()!;
    expect(delta).toMatchObject({ clear: true, entries: [{ key: 9, value: "x" }] });
    replica.applyDelta(decodeNodeDelta(encodeNodeDelta(delta)));
    expect(replica.toValue()).toEqual(new Map([[9, "x"]]));
  });

  it("refuses to put one container into two parents", () => {
    const child = new TrackedArray([1]);
    const a = new TrackedMap([["k", child]]);
    expect(() => new TrackedMap([["k", child]])).toThrow(/already belongs/);
    a.delete("k");
    expect(() => new TrackedMap([["k", child]])).not.toThrow();
  });

  it("stops hearing from a removed child", () => {
    const child = new TrackedArray([1, 2]);
    const parent = new TrackedArray([child, 3]);
    parent.removeAt(0);
    parent.takeDelta();
    child.push(5);
    expect(parent.changed).toBe(false);
  });
});

// ---------------------------------------------------------------------------------------------
// Property: a replica fed the encoded deltas stays equal to the source

/**
 * Shrinking a failure of these generator-driven properties can take minutes; fast-check stops
 * after this long and reports the smallest counterexample found so far (a failure stays a failure).
 */
const SHRINK_TIME_LIMIT_MS = 20_000;

interface FieldSpec {
  readonly kind: "atomic" | "parameter";
  readonly types: readonly TypeSpec[];
}

const fieldSpecArb: fc.Arbitrary<FieldSpec> = fc.oneof(
  fc.record({
    kind: fc.constant("atomic" as const),
    types: fc.array(typeSpecArb, { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ kind: fc.constant("parameter" as const), types: fc.tuple(typeSpecArb) }),
);

/** A class with random fields (and a molecular field over the first two atomic ones, if any). */
function buildClass(specs: readonly FieldSpec[]): DClass {
  const dc = new DcFile();
  const dclass = dc.addClass("Random");
  const atomics: StoredField[] = [];
  specs.forEach((spec, i) => {
    const types = spec.types.map((t) => buildType(t, dc));
    if (spec.kind === "parameter") {
      dc.addField(parameterField(dclass, { name: `p${i}`, type: types[0]! }, ["ram"]));
    } else {
      const params = types.map((type, j) => ({ name: `a${j}`, type }));
      atomics.push(dc.addField(atomicField(dclass, `f${i}`, params, ["ram"])));
    }
  });
  if (atomics.length >= 2) dc.addField(molecularField(dclass, "both", atomics.slice(0, 2) as never));
  return dclass;
}

/** The element counts a DC array allows (the generated ones stay far below the uint16 cap). */
function arrayLimits(node: TrackedArray): [number, number] {
  const length = node.type!.length;
  if (isFixedLength(length)) return [length.fixed, length.fixed];
  return [length.range?.min ?? 0, length.range?.max ?? 8];
}

/** The DC type of a child slot of a typed container. */
function childType(node: TrackedNode, slot: number): DcType | undefined {
  if (node instanceof TrackedStruct) return node.shape.types?.[slot];
  if (node instanceof TrackedArray) return node.elementType;
  return undefined;
}

function slotCount(node: TrackedNode): number {
  return node instanceof TrackedStruct ? node.size : node instanceof TrackedArray ? node.length : 0;
}

/** Walks from a field's tracked view into a random editable descendant. */
function descend(g: fc.GeneratorValue, node: TrackedNode): TrackedNode {
  let current = node;
  while (g(fc.boolean)) {
    const count = slotCount(current);
    const editable = Array.from({ length: count }, (_, i) => i).filter((i) => {
      const type = childType(current, i);
      return type !== undefined && isEditableType(type);
    });
    if (editable.length === 0) break;
    const slot = g(fc.constantFrom, ...editable);
    current = current instanceof TrackedStruct ? current.edit(slot) : (current as TrackedArray).edit(slot);
  }
  return current;
}

function mutateStruct(g: fc.GeneratorValue, node: TrackedStruct): void {
  const member = g(fc.nat, node.size - 1);
  node.set(
    member,
    g(() => valueArb(node.shape.types![member]!)),
  );
}

function mutateArray(g: fc.GeneratorValue, node: TrackedArray): void {
  const [min, max] = arrayLimits(node);
  const length = node.length;
  const element = () => valueArb(node.elementType!);
  const choices: string[] = [];
  if (length > 0) choices.push("set", "set");
  if (length < max) choices.push("push", ...(length > 0 ? ["insert"] : []));
  if (length > min) choices.push("pop", "truncate", "removeAt");
  choices.push("replaceAll");
  switch (g(fc.constantFrom, ...choices)) {
    case "set":
      node.set(g(fc.nat, length - 1), g(element));
      break;
    case "push":
      node.push(g(element));
      break;
    case "insert":
      node.insert(g(fc.nat, length - 1), g(element));
      break;
    case "pop":
      node.pop();
      break;
    case "truncate":
      node.truncate(g(fc.integer, { min, max: length - 1 }));
      break;
    case "removeAt":
      node.removeAt(g(fc.nat, length - 1));
      break;
    default: {
      const count = g(fc.integer, { min, max: Math.min(max, min + 4) });
      node.replaceAll(g(() => fc.array(element(), { minLength: count, maxLength: count })));
    }
  }
}

/** The delta as bytes through `takeDelta` + `encodeObjectDelta` (undefined when nothing changed). */
function takeEncoded(source: ObjectState): Uint8Array | undefined {
  const delta = source.takeDelta();
  return delta ? encodeObjectDelta(delta, source.dclass) : undefined;
}

/** The delta as bytes straight from `writeDelta` (the tick path); one 0 byte when nothing changed. */
function writeEncoded(source: ObjectState): Uint8Array {
  const writer = new DatagramWriter();
  source.writeDelta(writer);
  return writer.toBytes();
}

function editableField(state: ObjectState, field: StoredField): boolean {
  if (!state.has(field)) return false;
  return field.kind === "atomic" || isEditableType(field.param.type);
}

describe("property: deltas, encoded and applied, keep replicas equal to the source", () => {
  it("holds for random classes, values and mutations", () => {
    fc.assert(
      fc.property(fc.array(fieldSpecArb, { minLength: 1, maxLength: 5 }), fc.gen(), (specs, g) => {
        const dclass = buildClass(specs);
        const stored = dclass.fields.filter((field): field is StoredField => field.kind !== "molecular");
        const initial: Record<string, FieldValue> = {};
        for (const field of stored) if (g(fc.boolean)) initial[field.name] = g(() => fieldValueArb(field));
        const source = new ObjectState(dclass, initial);
        const replicas = [newcomer(source)];
        const steps = g(fc.integer, { min: 1, max: 25 });
        for (let step = 0; step < steps; step++) {
          const action = g(
            fc.constantFrom,
            "set",
            "edit",
            "edit",
            "edit",
            "take",
            "take",
            "join",
            "molecular",
          );
          if (action === "set") {
            const field = stored[g(fc.nat, stored.length - 1)]!;
            source.set(
              field,
              g(() => fieldValueArb(field)),
            );
          } else if (action === "edit") {
            const candidates = stored.filter((field) => editableField(source, field));
            if (candidates.length === 0) continue;
            const target = descend(g, source.edit(candidates[g(fc.nat, candidates.length - 1)]!));
            if (target instanceof TrackedStruct) mutateStruct(g, target);
            else mutateArray(g, target as TrackedArray);
          } else if (action === "molecular") {
            const molecular = dclass.field("both");
            if (molecular)
              source.set(
                molecular,
                g(() => fieldValueArb(molecular)),
              );
          } else if (action === "join") {
            replicas.push(newcomer(source));
          } else {
            const bytes = g(fc.boolean) ? takeEncoded(source) : writeEncoded(source);
            expect(source.changed).toBe(false);
            expect(source.takeDelta()).toBeUndefined();
            for (const replica of replicas) {
              if (bytes) replica.apply(decodeObjectDelta(bytes, dclass));
              expect(replica.toObject()).toEqual(source.toObject());
            }
          }
        }
        const bytes = takeEncoded(source);
        for (const replica of replicas) {
          if (bytes) replica.apply(decodeObjectDelta(bytes, dclass));
          expect(replica.toObject()).toEqual(source.toObject());
        }
      }),
      { numRuns: 150, interruptAfterTimeLimit: SHRINK_TIME_LIMIT_MS },
    );
  });

  it("holds for generic maps of structs, arrays and maps (msgpack)", () => {
    const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 4 }), fc.boolean());
    const player = fc.record({
      name: fc.string({ maxLength: 6 }),
      hp: fc.integer({ min: 0, max: 100 }),
      pos: fc.tuple(fc.integer(), fc.integer()),
      tags: fc.array(fc.string({ maxLength: 3 }), { maxLength: 4 }),
      bag: fc.array(fc.tuple(fc.constantFrom("a", "b", "c", "d"), leaf)).map((entries) => new Map(entries)),
    });
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat(6), player), { maxLength: 4 }), fc.gen(), (initial, g) => {
        const source = new TrackedMap<number, unknown>(initial);
        const replica = decodeRefresh(encodeRefresh(source));
        const steps = g(fc.integer, { min: 1, max: 25 });
        for (let step = 0; step < steps; step++) {
          const keys = [...source.keys()];
          const action = g(fc.constantFrom, "put", "delete", "clear", "edit", "edit", "edit", "take", "take");
          if (action === "put")
            source.set(
              g(fc.nat, 6),
              g(() => player),
            );
          else if (action === "delete" && keys.length > 0) source.delete(g(fc.constantFrom, ...keys));
          else if (action === "clear" && g(fc.nat, 3) === 0) source.clear();
          else if (action === "edit" && keys.length > 0) {
            const struct = source.edit(g(fc.constantFrom, ...keys)) as TrackedStruct;
            const member = g(fc.constantFrom, "name", "hp", "pos", "tags", "bag");
            if (member === "tags") {
              const tags = struct.edit("tags") as TrackedArray;
              const change = tags.length > 0 ? g(fc.constantFrom, "set", "pop", "push") : "push";
              if (change === "set") tags.set(g(fc.nat, tags.length - 1), g(fc.string));
              else if (change === "pop") tags.pop();
              else tags.push(g(fc.string));
            } else if (member === "bag") {
              const bag = struct.edit("bag") as TrackedMap<string, unknown>;
              const key = g(fc.constantFrom, "a", "b", "c", "d");
              if (g(fc.boolean))
                bag.set(
                  key,
                  g(() => leaf),
                );
              else bag.delete(key);
            } else if (member === "pos") {
              (struct.edit("pos") as TrackedArray).set(g(fc.nat, 1), g(fc.integer));
            } else {
              struct.set(member, member === "hp" ? g(fc.nat, 100) : g(fc.string));
            }
          } else if (action === "take") {
            const delta = source.takeDelta();
            if (delta) replica.applyDelta(decodeNodeDelta(encodeNodeDelta(delta)));
            expect(replica.toValue()).toEqual(source.toValue());
          }
        }
        const delta = source.takeDelta();
        if (delta) replica.applyDelta(decodeNodeDelta(encodeNodeDelta(delta)));
        expect(replica.toValue()).toEqual(source.toValue());
      }),
      { numRuns: 150, interruptAfterTimeLimit: SHRINK_TIME_LIMIT_MS },
    );
  });
});

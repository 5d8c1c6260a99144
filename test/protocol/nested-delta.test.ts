/**
 * Nested changes of one field as the cluster carries them: a struct array used as a map (one entry set,
 * edited or deleted sends that entry), uniform data in runs (the flat seed's ByteHandler), the exact
 * bytes of each, and applying them to a plain value.
 */
import {
  applyFieldDelta,
  DcPackError,
  decodeFieldDelta,
  encodeFieldDelta,
  type FieldValue,
  isContainerField,
  loadDcFiles,
  ObjectState,
  type StoredField,
} from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { SHOP_DC } from "../support/shop.ts";

const dc = loadDcFiles([SHOP_DC]);
const shop = dc.class("DistributedShop")!;
const setStock = shop.field("setStock") as StoredField;
const board = shop.field("board") as StoredField;

const stock = [
  { id: 7, count: 1 },
  { id: 9, count: 4 },
  { id: 12, count: 2 },
];

function fresh(): ObjectState {
  return new ObjectState(shop, {
    setName: ["corner"],
    setStock: [stock],
    board: new Array(64).fill(0),
  });
}

/** The one change the object has: its field and bytes. */
function onlyChange(state: ObjectState): { field: StoredField; bytes: Uint8Array } {
  const delta = state.takeDelta()!;
  expect(delta.changes).toHaveLength(1);
  const change = delta.changes[0]!;
  if (!("delta" in change)) throw new Error(`expected a nested change of ${change.field.name}`);
  return { field: change.field, bytes: encodeFieldDelta(change.field, change.delta) };
}

describe("a struct array used as a map", () => {
  it("sends one entry when one entry is set: 9 bytes against 20 for the whole stock", () => {
    const state = fresh();
    state.editMap("setStock").set(9, { id: 9, count: 5 });
    const { field, bytes } = onlyChange(state);
    expect(field).toBe(setStock);
    // tuple(args): key of argument 0, nested; nested(array): length unchanged (0), key of index 1
    // (gap 1, whole), the Item packed (uint32 9, uint16 5)
    expect([...bytes]).toEqual([0x06, 0x00, 0x08, 9, 0, 0, 0, 5, 0]);
    expect(state.get("setStock")).toEqual([
      [
        { id: 7, count: 1 },
        { id: 9, count: 5 },
        { id: 12, count: 2 },
      ],
    ]);
    const whole = 2 + 3 * 6;
    expect(bytes.length).toBeLessThan(whole);
  });

  it("sends one member when an entry is edited in place, and the new length and one element on delete", () => {
    const state = fresh();
    state.editMap("setStock", "id").edit(12).set("count", 3);
    expect([...onlyChange(state).bytes]).toEqual([0x06, 0x00, 0x0e, 0x08, 3, 0]);

    const map = state.editMap("setStock");
    expect(map.delete(7)).toBe(true);
    expect(map.delete(7)).toBe(false);
    // length 2 (code 3), index 0 is now the last entry, 12
    expect([...onlyChange(state).bytes]).toEqual([0x06, 0x03, 0x04, 12, 0, 0, 0, 3, 0]);
    expect(map.keys()).toEqual([12, 9]);
    expect(map.get(9)).toEqual({ id: 9, count: 4 });
  });

  it("applies to a plain value as the sender's view changed, leaving the old value alone", () => {
    const state = fresh();
    const map = state.editMap("setStock");
    map.set(30, { id: 30, count: 8 });
    map.edit(7).set("count", 0);
    const { bytes } = onlyChange(state);
    const before: FieldValue = [stock];
    const after = applyFieldDelta(setStock, before, decodeFieldDelta(setStock, bytes));
    expect(after).toEqual(state.get("setStock"));
    expect(before).toEqual([stock]);
  });

  it("refuses entries whose key member disagrees and arrays of no struct", () => {
    const map = fresh().editMap("setStock");
    expect(() => map.set(5, { id: 6, count: 1 })).toThrow(/must have id: 5/);
    expect(() => fresh().editMap("setStock", "price")).toThrow(/no member 'price'/);
    expect(() => fresh().editMap("board")).toThrow(/array of DC structs/);
  });
});

describe("uniform data in runs (ByteHandler)", () => {
  it("sends a row of 8 changed cells as one run: 12 bytes, where keyed elements would take 17", () => {
    const state = fresh();
    const cells = state.editArray("board");
    for (let x = 0; x < 8; x++) cells.set(16 + x, 3);
    const { field, bytes } = onlyChange(state);
    expect(field).toBe(board);
    // lengthCode 0, run key (gap 16 + 1) << 2 | more 0, count 8, the bytes
    expect([...bytes]).toEqual([0x00, 17 << 2, 8, 3, 3, 3, 3, 3, 3, 3, 3]);
    expect(bytes.length).toBeLessThan(1 + 8 * 2);
  });

  it("sends one cell in 3 bytes and several runs with gaps from the previous run's end", () => {
    const state = fresh();
    state.editArray("board").set(5, 1);
    expect([...onlyChange(state).bytes]).toEqual([0x00, (6 << 2) | 2, 1]);
    const cells = state.editArray("board");
    cells.set(2, 4);
    cells.set(3, 4);
    cells.set(10, 6);
    const { bytes } = onlyChange(state);
    // run [2, 3]: gap 2, more; run [10]: gap 10 - 4 = 6, single
    expect([...bytes]).toEqual([0x00, (3 << 2) | 1, 2, 4, 4, (7 << 2) | 2, 6]);
    const before = new Array(64).fill(0);
    const after = applyFieldDelta(board, before, decodeFieldDelta(board, bytes)) as number[];
    expect(after.slice(0, 12)).toEqual([0, 0, 4, 4, 0, 0, 0, 0, 0, 0, 6, 0]);
  });

  it("refuses runs that name no element or promise more and stop", () => {
    expect(() => decodeFieldDelta(board, new Uint8Array([0, 2, 1]))).toThrow(DcPackError);
    expect(() => decodeFieldDelta(board, new Uint8Array([0, (1 << 2) | 3, 1]))).toThrow(DcPackError);
  });
});

describe("loading values heard from elsewhere", () => {
  it("sets without recording a change; a pending edit of the field goes as the loaded value", () => {
    const state = fresh();
    state.load("setName", ["kiosk"]);
    expect(state.changed).toBe(false);
    expect(state.get("setName")).toEqual(["kiosk"]);
    state.editArray("board").set(0, 9);
    state.load("board", new Array(64).fill(1));
    // the edit was pending: the loaded value is what goes
    const delta = state.takeDelta()!;
    expect(delta.changes).toEqual([{ field: board, value: new Array(64).fill(1) }]);
  });

  it("knows which fields hold containers", () => {
    expect(isContainerField(setStock)).toBe(true);
    expect(isContainerField(board)).toBe(true);
    expect(isContainerField(shop.field("setName")!)).toBe(false);
    expect(isContainerField(shop.field("restock")!)).toBe(false);
  });
});

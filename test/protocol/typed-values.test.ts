/**
 * `t.datetime` (a Date, packed as the int64 of its Unix milliseconds, an int64 in the `.dc` text) and
 * the schema's validators (`.validate`, `.pattern`: carried in the model, run by `validateField`,
 * ignored by printing and the hash).
 */
import {
  DcPackError,
  defineSchema,
  type FieldValues,
  legacyHash,
  packField,
  parseDcText,
  printDc,
  t,
  unpackField,
  validateField,
} from "@overworld/protocol";
import { describe, expect, expectTypeOf, it } from "vitest";

const world = defineSchema((s) => {
  const Item = s.struct("Item", { id: t.uint32, label: t.string({ max: 16 }).pattern(/^[a-z]+$/g) });
  const Shop = s.dclass("Shop", {
    setOpened: s.field([t.datetime.named("at")], ["broadcast", "ram"]),
    expires: s.param(t.datetime, ["ram"]),
    setStock: s.field([t.array(Item, { max: 8 })], ["broadcast", "ram"]),
    setPrice: s.field(
      [t.uint16.range(1, 1000).validate((price) => price % 5 === 0, "is a multiple of 5")],
      ["clsend"],
    ),
    setMotto: s.field(
      [t.string.validate((text) => (text.toLowerCase().includes("free") ? "nothing is free" : true))],
      ["clsend"],
    ),
  });
  return { Shop };
});
const { Shop } = world;

describe("t.datetime", () => {
  it("is a Date in game code, packed as the int64 of its milliseconds", () => {
    expectTypeOf<FieldValues<typeof Shop>["setOpened"]>().toEqualTypeOf<[Date]>();
    expectTypeOf<FieldValues<typeof Shop>["expires"]>().toEqualTypeOf<Date>();
    const at = new Date("2026-12-03T22:00:00.123Z");
    const bytes = packField(Shop.field("setOpened"), [at]);
    expect(bytes).toEqual(new Uint8Array(new BigInt64Array([BigInt(at.getTime())]).buffer));
    expect(unpackField(Shop.field("setOpened"), bytes)).toEqual([at]);
    expect(unpackField(Shop.field("expires"), packField(Shop.field("expires"), at))).toEqual(at);
  });

  it("refuses what is not a valid Date", () => {
    expect(() => packField(Shop.field("expires"), 5n)).toThrow(DcPackError);
    expect(() => packField(Shop.field("expires"), new Date(Number.NaN))).toThrow(/a valid Date for datetime/);
  });

  it("is an int64 in the .dc text, with the same hash; loaded from .dc it is the bigint of the same bytes", () => {
    const text = printDc(world.file);
    expect(text).toContain("setOpened(int64 at) broadcast ram;");
    const fromDc = parseDcText(text);
    expect(legacyHash(fromDc)).toBe(legacyHash(world.file));
    const at = new Date(1_700_000_000_000);
    const field = fromDc.class("Shop")!.field("setOpened")!;
    expect(unpackField(field, packField(Shop.field("setOpened"), [at]))).toEqual([1_700_000_000_000n]);
  });
});

describe("validators", () => {
  it("pass good values and name the first that fails, in arrays and structs too", () => {
    expect(validateField(Shop.field("setPrice"), [25])).toBeUndefined();
    expect(validateField(Shop.field("setPrice"), [26])).toBe(
      'Shop.setPrice[0]: 26 fails "is a multiple of 5"',
    );
    expect(validateField(Shop.field("setMotto"), ["Free beer"])).toBe("Shop.setMotto[0]: nothing is free");
    const stock = Shop.field("setStock");
    expect(
      validateField(stock, [
        [
          { id: 1, label: "apple" },
          { id: 2, label: "pear" },
        ],
      ]),
    ).toBeUndefined();
    expect(
      validateField(stock, [
        [
          { id: 1, label: "apple" },
          { id: 2, label: "Pear!" },
        ],
      ]),
    ).toBe('Shop.setStock[0][1].label: "Pear!" fails "matches /^[a-z]+$/g"');
    // a /g pattern keeps no state between values
    for (let i = 0; i < 3; i++) expect(validateField(stock, [[{ id: 1, label: "fig" }]])).toBeUndefined();
    expect(validateField(Shop.field("setOpened"), [new Date()])).toBeUndefined(); // no checks: nothing to run
  });

  it("are not in the .dc text or the hash: the same classes without them hash the same", () => {
    const bare = defineSchema((s) => {
      const Item = s.struct("Item", { id: t.uint32, label: t.string({ max: 16 }) });
      s.dclass("Shop", {
        setOpened: s.field([t.int64.named("at")], ["broadcast", "ram"]),
        expires: s.param(t.int64, ["ram"]),
        setStock: s.field([t.array(Item, { max: 8 })], ["broadcast", "ram"]),
        setPrice: s.field([t.uint16.range(1, 1000)], ["clsend"]),
        setMotto: s.field([t.string], ["clsend"]),
      });
    });
    expect(printDc(world.file)).toBe(printDc(bare.file));
    expect(legacyHash(world.file)).toBe(legacyHash(bare.file));
  });
});

/**
 * Type-level tests of the definition API. `pnpm typecheck` checks this file: each `@ts-expect-error`
 * line must really be a type error, and each `expectTypeOf` must hold.
 */
import {
  type DClassHandle,
  defineSchema,
  type FieldName,
  type FieldValues,
  setField,
  setFields,
  t,
  type ValueOf,
} from "@overworld/protocol";
import { describe, expect, expectTypeOf, it } from "vitest";

const world = defineSchema((s) => {
  s.keyword("gmonly");
  const DoId = s.typedef("DoId", t.uint32);
  const Vec2 = s.struct("Vec2", { x: t.float32, y: t.float32 });
  const Avatar = s.dclass(
    "DistributedAvatar",
    {},
    {
      DistributedAvatar: s.field([t.uint32.named("zone")]),
      setName: s.field([t.string({ max: 32 })], ["required", "broadcast", "db"]),
      setX: s.field([t.int16.divisor(10)], ["broadcast", "ram", "ownsend"]),
      setY: s.field([t.int16.divisor(10)], ["broadcast", "ram", "ownsend"]),
      setXY: s.molecular(["setX", "setY"]),
      hp: s.param(t.uint8.range(0, 100), ["broadcast", "ram"], 100),
      setPos2: s.field([t.struct(Vec2)], ["broadcast"]),
    },
  );
  const Named = s.dclass("Named", {
    setName: s.field([t.uint8], ["broadcast"]),
    setTitle: s.field([t.string], ["broadcast", "ram"]),
  });
  const Toon = s.dclass(
    "DistributedToon",
    { parents: [Avatar, Named] },
    {
      setFriends: s.field([t.array(DoId)], ["ownrecv", "db"]),
      setMoney: s.field([t.uint64, t.int64.divisor(100)], ["ownrecv"]),
      setDna: s.param(t.blob, ["required", "db"]),
      setChat: s.field([t.array(t.char, { max: 256 }), t.char], ["broadcast"]),
      setTrack: s.field([t.uint8.array(6), t.struct(Vec2).array()], ["ram"]),
      setHpAndTitle: s.molecular(["hp", "setTitle"]),
      setAvatar: s.field([t.struct(Avatar)], ["gmonly"]),
    },
  );
  return { Vec2, Avatar, Toon };
});

type ToonFields = FieldValues<typeof world.Toon>;

describe("definition API types", () => {
  it("maps DC types to value types as value.ts says", () => {
    expectTypeOf<ValueOf<typeof t.uint8>>().toEqualTypeOf<number>();
    expectTypeOf<ValueOf<typeof t.float64>>().toEqualTypeOf<number>();
    expectTypeOf<ValueOf<typeof t.int64>>().toEqualTypeOf<bigint>();
    expectTypeOf<ValueOf<typeof t.uint64>>().toEqualTypeOf<bigint>();
    expectTypeOf<ValueOf<ReturnType<typeof t.int64.divisor<1>>>>().toEqualTypeOf<bigint>();
    expectTypeOf<ValueOf<ReturnType<typeof t.uint64.divisor<1000>>>>().toEqualTypeOf<number>();
    expectTypeOf<ValueOf<typeof t.char>>().toEqualTypeOf<string>();
    expectTypeOf<ValueOf<typeof t.string>>().toEqualTypeOf<string>();
    expectTypeOf<ValueOf<ReturnType<typeof t.string>>>().toEqualTypeOf<string>();
    expectTypeOf<ValueOf<typeof t.blob>>().toEqualTypeOf<Uint8Array>();
    expectTypeOf<ValueOf<typeof t.blob32>>().toEqualTypeOf<Uint8Array>();
    const chars = t.array(t.char, 8);
    expectTypeOf<ValueOf<typeof chars>>().toEqualTypeOf<string>();
    const bytes = t.uint8.array();
    expectTypeOf<ValueOf<typeof bytes>>().toEqualTypeOf<readonly number[]>();
    const grid = t.array(t.int16.array(3), 3);
    expectTypeOf<ValueOf<typeof grid>>().toEqualTypeOf<readonly (readonly number[])[]>();
    expectTypeOf<ValueOf<typeof world.Vec2>>().toEqualTypeOf<{ readonly x: number; readonly y: number }>();
  });

  it("types every field of a class, inherited ones included", () => {
    expectTypeOf<ToonFields>().toEqualTypeOf<{
      setName: [string];
      setX: [number];
      setY: [number];
      setXY: [number, number];
      hp: number;
      setPos2: [{ readonly x: number; readonly y: number }];
      setTitle: [string];
      setFriends: [readonly number[]];
      setMoney: [bigint, number];
      setDna: Uint8Array;
      setChat: [string, string];
      setTrack: [readonly number[], readonly { readonly x: number; readonly y: number }[]];
      setHpAndTitle: [number, string];
      setAvatar: [{ readonly hp: number }];
    }>();
    expectTypeOf<FieldName<typeof world.Avatar>>().toEqualTypeOf<
      "setName" | "setX" | "setY" | "setXY" | "hp" | "setPos2"
    >();
  });

  it("the earlier parent wins a name clash, and the constructor is not a field", () => {
    expectTypeOf<ToonFields["setName"]>().toEqualTypeOf<[string]>();
    expectTypeOf<FieldValues<typeof world.Avatar>>().not.toHaveProperty("DistributedAvatar");
  });

  it("accepts right values and rejects wrong ones", () => {
    setField(world.Toon, "hp", 42);
    setField(world.Toon, "setXY", [1.5, -2]);
    setField(world.Toon, "setMoney", [10n, 3.25]);
    setFields(world.Toon, { hp: 1, setName: ["Flippy"] });

    expect(() =>
      // @ts-expect-error no such field
      setField(world.Toon, "setNope", 1),
    ).toThrow(/has no field 'setNope'/);

    // setField does not check values at run time (packing does): these must fail to compile.
    const wrongValues = [
      // @ts-expect-error a uint8 field takes a number, not a string
      () => setField(world.Toon, "hp", "x"),
      // @ts-expect-error an atomic field takes the tuple of its arguments
      () => setField(world.Toon, "setName", "Flippy"),
      // @ts-expect-error uint64 without a divisor is a bigint
      () => setField(world.Toon, "setMoney", [10, 3.25]),
      // @ts-expect-error a molecular field takes all its atoms' arguments
      () => setField(world.Toon, "setXY", [1]),
      // @ts-expect-error a blob is a Uint8Array
      () => setField(world.Toon, "setDna", "abc"),
      // @ts-expect-error struct members are typed
      () => setField(world.Toon, "setPos2", [{ x: 1, y: "2" }]),
      // @ts-expect-error values given together are typed too
      () => setFields(world.Toon, { hp: "full" }),
    ];
    expect(wrongValues).toHaveLength(7);
  });

  it("types defaults and rejects unknown molecular atoms", () => {
    defineSchema((s) => {
      s.param(t.uint8, [], 5);
      // @ts-expect-error the default of a uint8 is a number
      expect(() => s.param(t.uint8, [], "five")).toThrow(/expected an integer for uint8/);
      // @ts-expect-error the default of a string is a string
      expect(() => t.string.default(5)).toThrow(/expected text for string/);
      // @ts-expect-error the default of an int64 is a bigint
      expect(() => t.int64.default(5)).toThrow(/expected a bigint/);
    });
    expect(() =>
      defineSchema((s) => {
        s.dclass("Mol", {
          setA: s.field([t.uint8]),
          setB: s.field([t.uint8]),
          // @ts-expect-error setC is not a field of Mol
          setAB: s.molecular(["setA", "setC"]),
        });
      }),
    ).toThrow(/names 'setC'/);
  });

  it("keeps handles typed", () => {
    expectTypeOf(world.Toon).toExtend<DClassHandle>();
    expectTypeOf(world.file.classes).toEqualTypeOf<import("@overworld/protocol").DClass[]>();
  });
});

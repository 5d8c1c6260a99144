import { join } from "node:path";
import {
  type DcFile,
  DcModelError,
  defineSchema,
  loadDcFiles,
  parseDcText,
  printDc,
  printType,
  printValue,
  setField,
  setFields,
  t,
} from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { modelSummary } from "./dc-model-summary.ts";

const FIXTURES = "/work/shared/fixtures/dc";

/** The same schema as WORLD_DC, written with the definition API. */
function buildWorld(into?: DcFile) {
  return defineSchema(
    (s) => {
      s.import("game.world", ["DistributedAvatar/AI/OV", "DistributedToon/AI"]);
      s.import("game.util");
      s.keyword("gmonly");
      s.keyword("audited");
      const DoId = s.typedef("DoId", t.uint32);
      const DoIdList = s.typedef("DoIdList", t.array(DoId));
      const pair16 = s.typedef("pair16", t.int16.array(2));
      const Vec2 = s.struct("Vec2", { x: t.float32, y: t.float32.default(1.5) });
      const Path = s.typedef("Path", Vec2.array({ min: 0, max: 16 }));
      const DistributedObject = s.dclass("DistributedObject", {
        announce: s.field([t.string.named("message")], ["broadcast"]),
      });
      const Block = s.struct("Block", { blockX: t.uint32, tags: t.uint8.array(3).default([1, 2, 3]) });
      const place = ["broadcast", "ram", "ownsend"] as const;
      const DistributedAvatar = s.dclass(
        "DistributedAvatar",
        { parents: [DistributedObject] },
        {
          DistributedAvatar: s.field([t.uint32.named("zone")]),
          setName: s.field(
            [t.string({ min: 1, max: 32 }).named("name").default("Avatar")],
            ["required", "broadcast", "db"],
          ),
          setX: s.field([t.int16.divisor(10)], place),
          setY: s.field([t.int16.divisor(10)], place),
          setH: s.field([t.int16.modulus(360).divisor(10).named("h")], place),
          setXYH: s.molecular(["setX", "setY", "setH"]),
          hp: s.param(t.uint8.range(0, 100), ["broadcast", "ram"], 100),
          setPos2: s.field([Vec2.named("pos").default({ x: 0, y: 1.5 })], ["broadcast"]),
          setFriends: s.field([DoIdList.named("friends").default([1, 2])], ["ownrecv", "db"]),
          kick: s.field([t.string.named("reason")], ["gmonly", "airecv"]),
        },
      );
      const Named = s.dclass("Named", {
        setName: s.field([t.uint8], ["broadcast"]),
        setTitle: s.field([t.array(t.char, { max: 64 }).named("title").default("Sir")], ["broadcast"]),
        setMotto: s.field([t.string.named("motto").default('say "hi"\n\\ \u0001 é')], ["broadcast"]),
      });
      const DistributedToon = s.dclass(
        "DistributedToon",
        { parents: [DistributedAvatar, Named] },
        {
          setMoney: s.field(
            [
              t.uint64.named("bank").default(18446744073709551615n),
              t.int64.divisor(100).named("cash").default(-2.5),
            ],
            ["ownrecv", "db", "audited"],
          ),
          dna: s.param(t.blob, ["required", "db"], Uint8Array.from([0, 0, 0, 0, 255])),
          // Three arrays of two: int8[3][2], as in C.
          setGrid: s.field([t.int8.array(2).array(3)], ["ram"]),
          setPairs: s.field(
            [
              pair16.array().default([
                [1, 2],
                [3, 4],
              ]),
            ],
            ["ram"],
          ),
          setFlags: s.field(
            [t.uint32.range(0, 10).range(20).range(30, 40).array({ max: 5 }).named("flags")],
            ["ram"],
          ),
          setBlocks: s.field([t.struct(Block).array().named("blocks"), Path], ["clsend"]),
          setLetter: s.field([t.char.default("x")], ["broadcast"]),
          weight: s.param(t.float64, ["db"], 0.125),
          setTemp: s.field([t.int8.range(-10, -1).range(1, 10).named("temp")], ["broadcast"]),
          level: s.param(t.uint8, ["broadcast", "ram"]),
          setHpLevel: s.molecular(["hp", "level"]),
          setBig: s.field([t.blob32(4).named("raw"), t.string(8)], ["db"]),
        },
      );
      return { DistributedObject, DistributedAvatar, Named, DistributedToon };
    },
    into ? { into } : {},
  );
}

const WORLD_DC = String.raw`
from game.world import DistributedAvatar/AI/OV, DistributedToon/AI
import game.util
keyword gmonly;
keyword audited;
typedef uint32 DoId;
typedef DoId DoIdList[];
typedef int16 pair16[2];

struct Vec2 {
  float32 x;
  float32 y = 1.5;
};

typedef Vec2 Path[0-16];

dclass DistributedObject {
  announce(string message) broadcast;
};

struct Block {
  uint32 blockX;
  uint8 tags[3] = [1, 2, 3];
};

dclass DistributedAvatar : DistributedObject {
  DistributedAvatar(uint32 zone);
  setName(string(1-32) name = "Avatar") required broadcast db;
  setX(int16/10) broadcast ram ownsend;
  setY(int16 / 10) broadcast ram ownsend;
  setH(int16%360/10 h) broadcast ram ownsend;
  setXYH : setX, setY, setH;
  uint8(0-100) hp = 100 broadcast ram;
  setPos2(Vec2 pos = {0, 1.5}) broadcast;
  setFriends(DoIdList friends = [1, 2]) ownrecv db;
  kick(string reason) gmonly airecv;
};

dclass Named {
  setName(uint8) broadcast;
  setTitle(char title[0-64] = "Sir") broadcast;
  setMotto(string motto = "say \"hi\"\n\\ \x01 é") broadcast;
};

dclass DistributedToon : DistributedAvatar, Named {
  setMoney(uint64 bank = 18446744073709551615, int64/100 cash = -2.5) ownrecv db audited;
  blob dna = [0 * 4, 255] required db;
  setGrid(int8[3][2]) ram;
  setPairs(pair16[] = [[1, 2], [3, 4]]) ram;
  setFlags(uint32(0-10, 20, 30-40)[0-5] flags) ram;
  setBlocks(Block blocks[], Path) clsend;
  setLetter(char = 'x') broadcast;
  float64 weight = 0.125 db;
  setTemp(int8(-10--1, 1-10) temp) broadcast;
  uint8 level broadcast ram;
  setHpLevel : hp, level;
  setBig(blob32(4) raw, string(8)) db;
};
`;

function reparse(file: DcFile): DcFile {
  return parseDcText(printDc(file), "printed.dc");
}

describe("definition API", () => {
  it("builds the same model as the parser reading the same schema", () => {
    const built = buildWorld().file;
    const parsed = parseDcText(WORLD_DC, "world.dc");
    expect(modelSummary(built)).toEqual(modelSummary(parsed));
  });

  it("numbers structs and classes in one sequence and fields globally, like the parser", () => {
    const { file, DistributedToon } = buildWorld();
    expect(file.types.map((type) => `${type.id}:${type.name}`)).toEqual([
      "0:Vec2",
      "1:DistributedObject",
      "2:Block",
      "3:DistributedAvatar",
      "4:Named",
      "5:DistributedToon",
    ]);
    // Vec2 holds fields 0-1, announce is 2, Block 3-4, the constructor 5.
    expect(file.class("DistributedAvatar")!.constructorField!.id).toBe(5);
    expect(DistributedToon.field("setName").owner.name).toBe("DistributedAvatar");
    expect(DistributedToon.field("announce").id).toBe(2);
    const ids = DistributedToon.dclass.fields.map((field) => field.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });

  it("gives molecular fields their atoms' keywords and elements", () => {
    const { DistributedToon } = buildWorld();
    const molecule = DistributedToon.field("setHpLevel");
    expect(molecule.kind).toBe("molecular");
    expect(molecule.keywords).toEqual(["broadcast", "ram"]);
    expect(molecule.elements.map((element) => element.type.kind)).toEqual(["uint8", "uint8"]);
  });

  it("adds to an existing model with `into`", () => {
    const astron = loadDcFiles([join(FIXTURES, "astron-test.dc")]);
    const before = { types: astron.types.length, fields: astron.fields.length };
    const { file, Extra } = defineSchema(
      (s) => ({
        Extra: s.dclass("Extra", { setLevel: s.field([t.uint8.named("level")], ["broadcast", "ram"]) }),
      }),
      { into: astron },
    );
    expect(file).toBe(astron);
    expect(Extra.dclass.id).toBe(before.types);
    expect(Extra.field("setLevel").id).toBe(before.fields);
    expect(modelSummary(reparse(astron))).toEqual(modelSummary(astron));
  });

  it("builds typed field updates", () => {
    const { DistributedToon } = buildWorld();
    const update = setField(DistributedToon, "hp", 42);
    expect(update.field.name).toBe("hp");
    expect(update.value).toBe(42);
    const updates = setFields(DistributedToon, { setXYH: [1, 2, 90], hp: 7, setName: ["Flippy"] });
    expect(updates.map((u) => u.field.name)).toEqual(["setName", "setXYH", "hp"]);
    expect(() => setField(DistributedToon, "nope" as "hp", 1)).toThrow(/has no field 'nope'/);
  });

  it("rejects bad definitions with errors naming the problem", () => {
    const schema = (build: Parameters<typeof defineSchema>[0]) => () => defineSchema(build);
    expect(schema((s) => void s.dclass("A", { f: s.field([t.uint8], ["gmonly"]) }))).toThrow(
      /undeclared keyword 'gmonly'/,
    );
    expect(schema((s) => void s.dclass("A", { f: s.field([t.uint8], ["ram", "ram"]) }))).toThrow(
      /keyword 'ram' twice/,
    );
    expect(
      schema(
        (s) => void s.dclass("A", { a: s.field([t.uint8]), m: s.molecular(["a", "b"] as unknown as ["a"]) }),
      ),
    ).toThrow(/names 'b', which is not a field of 'A'/);
    expect(schema((s) => void s.dclass("A", { hp: s.param(t.uint8.range(0, 100), [], 200) }))).toThrow(
      /expected uint8\(0-100\): a value in 0-100, got 200/,
    );
    expect(() => t.string({ max: 3 }).default("abcd")).toThrow(/expected 0-3 bytes of UTF-8 for string/);
    expect(() => t.uint8.default(256)).toThrow(/expected uint8 within 0..255/);
    expect(() => t.uint8.default(256)).toThrow(DcModelError);
    expect(() => t.int16.divisor(0)).toThrow(/divisor of int16 must be a positive whole number/);
    expect(() => t.uint8.range(5, 1)).toThrow(/range 5-1 of uint8 is empty/);
    expect(schema((s) => void s.dclass("bad name", {}))).toThrow(
      /dclass name 'bad name' is not an identifier/,
    );
    expect(schema((s) => void s.struct("string", {}))).toThrow(/'string' is a built-in type name/);
    expect(schema((s) => void s.struct("S", { x: t.uint8.named("y") }))).toThrow(/named by its key/);
    expect(schema((s) => void s.typedef("T", t.uint8.default(1)))).toThrow(
      /cannot have a parameter name or a default/,
    );
    expect(schema((s) => void s.dclass("A", { A: s.param(t.uint8) }))).toThrow(
      /constructor of dclass 'A' must be an atomic field/,
    );
    const other = defineSchema((s) => ({ P: s.dclass("P", {}) }));
    expect(schema((s) => void s.dclass("C", { parents: [other.P] }, {}))).toThrow(/from another schema/);
  });
});

describe("printDc", () => {
  it("writes types, defaults, keywords, parents and molecules in DC syntax", () => {
    const text = printDc(buildWorld().file);
    const expected = [
      "from game.world import DistributedAvatar/AI/OV, DistributedToon/AI",
      "import game.util",
      "keyword gmonly;",
      "typedef DoId DoIdList[];",
      "typedef int16 pair16[2];",
      "  float32 y = 1.5;",
      "typedef Vec2 Path[0-16];",
      "  uint8[3] tags = [1, 2, 3];",
      "dclass DistributedAvatar : DistributedObject {",
      "  DistributedAvatar(uint32 zone);",
      '  setName(string(1-32) name = "Avatar") required broadcast db;',
      "  setX(int16/10) broadcast ram ownsend;",
      "  setH(int16%360/10 h) broadcast ram ownsend;",
      "  setXYH : setX, setY, setH;",
      "  uint8(0-100) hp = 100 broadcast ram;",
      "  setPos2(Vec2 pos = {0, 1.5}) broadcast;",
      "  setFriends(DoIdList friends = [1, 2]) ownrecv db;",
      '  setTitle(char[0-64] title = "Sir") broadcast;',
      String.raw`  setMotto(string motto = "say \"hi\"\n\\ \x01 é") broadcast;`,
      "dclass DistributedToon : DistributedAvatar, Named {",
      "  setMoney(uint64 bank = 18446744073709551615, int64/100 cash = -2.5) ownrecv db audited;",
      "  blob dna = [0 * 4, 255] required db;",
      "  setGrid(int8[3][2]) ram;",
      "  setPairs(pair16[] = [[1, 2], [3, 4]]) ram;",
      "  setFlags(uint32(0-10, 20, 30-40)[0-5] flags) ram;",
      "  setBlocks(Block[] blocks, Path) clsend;",
      '  setLetter(char = "x") broadcast;',
      "  setTemp(int8(-10--1, 1-10) temp) broadcast;",
      "  setBig(blob32(4) raw, string(8)) db;",
    ];
    const lines = text.split("\n");
    for (const line of expected) expect(lines).toContain(line);
    // A typedef naming a struct comes right after that struct, before the next declaration.
    expect(text.indexOf("typedef Vec2 Path[0-16];")).toBeGreaterThan(text.indexOf("struct Vec2 {"));
    expect(text.indexOf("typedef Vec2 Path[0-16];")).toBeLessThan(text.indexOf("dclass DistributedObject {"));
  });

  it("round-trips a schema built with the definition API", () => {
    const file = buildWorld().file;
    const again = reparse(file);
    expect(modelSummary(again)).toEqual(modelSummary(file));
    expect(printDc(again)).toBe(printDc(file));
  });

  it("round-trips astron-test.dc", () => {
    const file = loadDcFiles([join(FIXTURES, "astron-test.dc")]);
    const again = reparse(file);
    expect(modelSummary(again)).toEqual(modelSummary(file));
    expect(printDc(again)).toBe(printDc(file));
  });

  it("round-trips otp.dc + toon.dc", () => {
    const file = loadDcFiles(["otp.dc", "toon.dc"].map((name) => join(FIXTURES, name)));
    const summary = modelSummary(file);
    expect(summary.length).toBeGreaterThan(2000);
    const again = reparse(file);
    expect(modelSummary(again)).toEqual(summary);
    expect(printDc(again)).toBe(printDc(file));
  });

  it("prints single types and values", () => {
    expect(printType({ kind: "uint8", divisor: 1, ranges: [{ min: 0, max: 100 }] })).toBe("uint8(0-100)");
    expect(printType({ kind: "float64", divisor: 1, ranges: [{ min: -1.5, max: 2.5 }] })).toBe(
      "float64(-1.5-2.5)",
    );
    expect(printType({ kind: "string", length: { range: { min: 8, max: 8 } } })).toBe("string(8-8)");
    expect(printType({ kind: "string", length: { fixed: 32 } })).toBe("string(32)");
    expect(
      printType({
        kind: "array",
        element: { kind: "uint32", divisor: 1, alias: "DoId" },
        length: {},
        alias: "DoIdList",
      }),
    ).toBe("DoIdList");
    expect(printValue({ kind: "blob", length: {} }, new Uint8Array([7, 7, 7, 1]))).toBe("[7 * 3, 1]");
    expect(printValue({ kind: "int64", divisor: 1 }, -5n)).toBe("-5");
    expect(() => printValue({ kind: "uint8", divisor: 1 }, "x")).toThrow(/is not a number/);
  });

  it("keeps a degenerate length range apart from a fixed length", () => {
    const file = parseDcText("struct S { string(5-5) a; string(5) b; uint8 c[2-2]; };");
    expect(modelSummary(reparse(file))).toEqual(modelSummary(file));
  });
});

import {
  type AtomicField,
  type DcFile,
  DcSyntaxError,
  KW,
  loadDcFiles,
  type MolecularField,
  type ParameterField,
  parseDcText,
} from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";

function parse(source: string): DcFile {
  return parseDcText(source, "test.dc");
}

/** Parses and returns the error, failing if there is none. */
function parseError(source: string): DcSyntaxError {
  try {
    parse(source);
  } catch (error) {
    if (error instanceof DcSyntaxError) return error;
    throw error;
  }
  throw new Error("expected a DcSyntaxError, but the source parsed");
}

function field<T>(file: DcFile, cls: string, name: string): T {
  const found = file.class(cls)?.field(name) ?? file.struct(cls)?.field(name);
  if (!found) throw new Error(`no field ${cls}.${name}`);
  return found as T;
}

describe("the .dc files shipped with real games", () => {
  it("loads Astron's test file with its classes, struct and fields", () => {
    const file = loadDcFiles([DC_FIXTURES.astronTest]);
    expect(file.types.map((t) => t.name)).toEqual([
      "DistributedTestObject1",
      "DistributedTestObject2",
      "DistributedTestObject3",
      "DistributedTestObject4",
      "DistributedTestObject5",
      "UberDog1",
      "UberDog2",
      "DistributedClientTestObject",
      "Block",
      "DistributedChunk",
      "DistributedDBTypeTestObject",
    ]);
    expect(file.fields).toHaveLength(53);
  });

  it("loads otp.dc then toon.dc into one model of 398 classes and structs", () => {
    const file = loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon]);
    expect(file.types).toHaveLength(398);
    expect(file.classes).toHaveLength(352);
    expect(file.structs).toHaveLength(46);
    // toon.dc's classes extend otp.dc's: the second file sees the first one's declarations.
    const toon = file.class("DistributedToon")!;
    expect(toon.inheritsFrom(file.class("DistributedPlayer")!)).toBe(true);
    expect(toon.field("setName")?.owner.name).toBe("DistributedAvatar");
  });

  it("refuses toon.dc alone, naming the parent it cannot find", () => {
    expect(() => loadDcFiles([DC_FIXTURES.toon])).toThrow(/toon\.dc:\d+:\d+: .*not declared/);
  });
});

describe("numbering, as Panda3D and Astron number", () => {
  const file = loadDcFiles([DC_FIXTURES.astronTest]);

  it("numbers classes and structs in one sequence in declaration order", () => {
    expect(file.class("DistributedTestObject1")!.id).toBe(0);
    expect(file.struct("Block")!.id).toBe(8);
    expect(file.class("DistributedChunk")!.id).toBe(9);
    expect(file.typeById(8)?.name).toBe("Block");
  });

  it("numbers fields globally in declaration order, struct and molecular fields included", () => {
    expect(field<AtomicField>(file, "DistributedTestObject1", "setRequired1").id).toBe(0);
    expect(field<AtomicField>(file, "DistributedTestObject1", "setBRO1").id).toBe(5);
    expect(field<AtomicField>(file, "DistributedTestObject2", "setB2").id).toBe(6);
    expect(field<MolecularField>(file, "DistributedTestObject4", "setXyz").id).toBe(15);
    expect(field<ParameterField>(file, "Block", "blockX").id).toBe(32);
    expect(field<AtomicField>(file, "DistributedChunk", "blockList").id).toBe(35);
    expect(file.fieldById(35)?.name).toBe("blockList");
  });

  it("gives a subclass its parents' fields and its own, sorted by id", () => {
    const five = file.class("DistributedTestObject5")!;
    expect(five.fields.map((f) => f.id)).toEqual([0, 1, 2, 3, 4, 5, 8, 9, 10, 20, 21]);
    expect(five.baseFields.map((f) => f.name)).toEqual(["setRDbD5", "setFoo"]);
  });

  it("lets a field shadow an inherited one, and the first parent win between parents", () => {
    const shadow = parse(`
      dclass A { setX(uint8 x) broadcast; setY(uint8 y); };
      dclass B { setX(uint16 x) ram; setZ(uint8 z); };
      dclass C : A, B { setY(string y) ownrecv; };
    `);
    const c = shadow.class("C")!;
    expect(c.fields.map((f) => `${f.owner.name}.${f.name}`)).toEqual(["A.setX", "B.setZ", "C.setY"]);
    expect(c.field("setX")!.id).toBe(0);
  });

  it("keeps a field reached through two parents once (diamond inheritance)", () => {
    const diamond = parse(`
      dclass Base { setA(uint8); };
      dclass Left : Base { setL(uint8); };
      dclass Right : Base { setR(uint8); };
      dclass Both : Left, Right { };
    `);
    expect(diamond.class("Both")!.fields.map((f) => f.name)).toEqual(["setA", "setL", "setR"]);
  });
});

describe("every construct of the grammar", () => {
  it("reads imports with /AI /OV suffixes, module suffixes and stars", () => {
    const file = parse(`
      from direct.distributed import DistributedObject/AI/UD, DistributedNode/AI
      from game.world/AI import *
      import game.util/OV;
    `);
    expect(file.imports).toEqual([
      {
        module: "direct.distributed",
        moduleSuffixes: [],
        symbols: [
          { name: "DistributedObject", suffixes: ["AI", "UD"] },
          { name: "DistributedNode", suffixes: ["AI"] },
        ],
      },
      { module: "game.world", moduleSuffixes: ["AI"], symbols: [{ name: "*", suffixes: [] }] },
      { module: "game.util", moduleSuffixes: ["OV"], symbols: [] },
    ]);
  });

  it("reads typedefs, including typedefs of typedefs and of arrays", () => {
    const file = parse(`
      typedef uint8 bool;
      typedef uint32 DoId;
      typedef DoId DoIdList[];
      typedef int16 pair16[2];
      dclass A { setList(DoIdList ids, bool flag, pair16 p); };
    `);
    const [ids, flag, pair] = field<AtomicField>(file, "A", "setList").elements;
    expect(ids!.type).toMatchObject({
      kind: "array",
      alias: "DoIdList",
      element: { kind: "uint32", alias: "DoId" },
      length: {},
    });
    expect(flag!.type).toMatchObject({ kind: "uint8", alias: "bool" });
    expect(pair!.type).toMatchObject({ kind: "array", alias: "pair16", length: { fixed: 2 } });
  });

  it("reads keyword declarations and custom keywords on fields", () => {
    const file = parse(`keyword gmonly; dclass A { kick(uint32) gmonly airecv; };`);
    const kick = field<AtomicField>(file, "A", "kick");
    expect(kick.keywords).toEqual(["gmonly", "airecv"]);
    expect(kick.flags).toBe(KW.airecv);
    expect(file.keywords).toEqual(["gmonly"]);
  });

  it("reads structs and uses them as parameter types, before and inside arrays", () => {
    const file = parse(`
      struct Vec { int16/10 x; int16/10 y; };
      dclass A { setPath(Vec points[], Vec[3] corners, Vec home); };
    `);
    const [points, corners, home] = field<AtomicField>(file, "A", "setPath").elements;
    expect(points!.type).toMatchObject({
      kind: "array",
      element: { kind: "struct", name: "Vec" },
      length: {},
    });
    expect(corners!.type).toMatchObject({ kind: "array", length: { fixed: 3 } });
    expect(home!.type.kind === "struct" && home!.type.target().name).toBe("Vec");
  });

  it("reads atomic fields with named and unnamed parameters, and no parameters", () => {
    const file = parse(
      `dclass A { setPos(float32 x, float32 y) broadcast ram; ping() clsend; setN(uint8); };`,
    );
    expect(field<AtomicField>(file, "A", "setPos").elements.map((p) => p.name)).toEqual(["x", "y"]);
    expect(field<AtomicField>(file, "A", "ping").elements).toEqual([]);
    expect(field<AtomicField>(file, "A", "setN").elements[0]!.name).toBeUndefined();
    expect(field<AtomicField>(file, "A", "setPos").flags).toBe(KW.broadcast | KW.ram);
  });

  it("reads parameter fields with defaults and keywords", () => {
    const file = parse(`dclass A { uint32 hp = 100 broadcast ram; string name required; };`);
    const hp = field<ParameterField>(file, "A", "hp");
    expect(hp.kind).toBe("parameter");
    expect(hp.param.default).toBe(100);
    expect(hp.keywords).toEqual(["broadcast", "ram"]);
  });

  it("reads molecular fields, taking their atoms' keywords", () => {
    const file = parse(`dclass A { setX(int16) broadcast; setY(int16) broadcast; setXY : setX, setY; };`);
    const xy = field<MolecularField>(file, "A", "setXY");
    expect(xy.atoms.map((a) => a.name)).toEqual(["setX", "setY"]);
    expect(xy.keywords).toEqual(["broadcast"]);
    expect(xy.elements).toHaveLength(2);
  });

  it("reads fixed-point divisors, moduli and ranges in any order", () => {
    const file = parse(
      `dclass A { setH(int16 % 360 / 10 h, uint8(0-100) pct, int32(-5-5, 10-20) r, float64/100 f); };`,
    );
    const [h, pct, r, f] = field<AtomicField>(file, "A", "setH").elements;
    expect(h!.type).toEqual({ kind: "int16", divisor: 10, modulus: 360 });
    expect(pct!.type).toEqual({ kind: "uint8", divisor: 1, ranges: [{ min: 0, max: 100 }] });
    expect(r!.type).toMatchObject({
      ranges: [
        { min: -5, max: 5 },
        { min: 10, max: 20 },
      ],
    });
    expect(f!.type).toEqual({ kind: "float64", divisor: 100 });
  });

  it("reads string and blob lengths: fixed, ranged and free", () => {
    const file = parse(
      `dclass A { s(string(32) a, string(8-16) b, string c, blob(16) d, blob32 e, char [0-1024] f); };`,
    );
    const types = field<AtomicField>(file, "A", "s").elements.map((p) => p.type);
    expect(types).toEqual([
      { kind: "string", length: { fixed: 32 } },
      { kind: "string", length: { range: { min: 8, max: 16 } } },
      { kind: "string", length: {} },
      { kind: "blob", length: { fixed: 16 } },
      { kind: "blob32", length: {} },
      { kind: "array", element: { kind: "char" }, length: { range: { min: 0, max: 1024 } } },
    ]);
  });

  it("reads default values of every shape", () => {
    const file = parse(`
      struct P { uint8 a; string b; };
      dclass A {
        setA(uint32 r = 78, int8 n = -3, float64 f = 1.5e2, uint64 big = 18446744073709551615) required;
        setB(string s = "Avatar\\n", char c = 'x', blob b = <00ff10>, blob e = [0 * 3, 7]) required;
        setC(uint16[] l = [0, 1 * 2], P p = {5, "hi"}, uint8[] h = <0102>, char[] t = "abc") required;
        setD(int16/10 x = -12.5, uint32 hex = 0x10) required;
      };
    `);
    const defaults = (name: string) => field<AtomicField>(file, "A", name).elements.map((p) => p.default);
    expect(defaults("setA")).toEqual([78, -3, 150, 18446744073709551615n]);
    expect(defaults("setB")).toEqual([
      "Avatar\n",
      "x",
      new Uint8Array([0, 255, 16]),
      new Uint8Array([0, 0, 0, 7]),
    ]);
    expect(defaults("setC")).toEqual([[0, 1, 1], { a: 5, b: "hi" }, [1, 2], "abc"]);
    expect(defaults("setD")).toEqual([-12.5, 16]);
  });

  it("reads a constructor: an atomic field named like its class, declared first", () => {
    const file = parse(`dclass Door { Door(uint32 id); setOpen(uint8); };`);
    const door = file.class("Door")!;
    expect(door.constructorField?.id).toBe(0);
    expect(door.baseFields.map((f) => f.name)).toEqual(["setOpen"]);
  });

  it("skips // and /* */ comments and stray semicolons, and needs no ';' after a closing brace", () => {
    const file = parse(`
      // a comment
      /* a block
         comment */ ;;
      dclass A { setX(uint8 x); /* inline */ } // no semicolon here
      dclass B : A { };
    `);
    expect(file.types.map((t) => t.name)).toEqual(["A", "B"]);
  });

  it("nests array suffixes as C and Panda3D do: the first suffix is the outer array", () => {
    const file = parse(`dclass A { a(uint16[2][3] x, uint8[4] y[5]); };`);
    const [x, y] = field<AtomicField>(file, "A", "a").elements;
    expect(x!.type).toMatchObject({ length: { fixed: 2 }, element: { kind: "array", length: { fixed: 3 } } });
    expect(y!.type).toMatchObject({ length: { fixed: 4 }, element: { kind: "array", length: { fixed: 5 } } });
  });

  it("reads Panda3D's legacy array type names", () => {
    const file = parse(`dclass A { setL(uint16array l, int8array m); };`);
    expect(field<AtomicField>(file, "A", "setL").elements[0]!.type).toMatchObject({
      kind: "array",
      alias: "uint16array",
      element: { kind: "uint16" },
    });
  });

  it("adds several files in order into one model, continuing the numbering", () => {
    const file = parseDcText(`dclass A { setX(uint8); };`, "a.dc");
    parseDcText(`dclass B : A { setY(uint8); };`, "b.dc", file);
    expect(file.class("B")!.field("setY")!.id).toBe(1);
    expect(file.class("B")!.id).toBe(1);
  });
});

describe("errors name the file, line, column and what was expected", () => {
  const cases: [string, string, RegExp][] = [
    ["an unknown declaration", "dklass A {};", /test\.dc:1:1: expected a declaration .* found 'dklass'/],
    ["a missing class name", "dclass {};", /1:8: expected a dclass name, found '\{'/],
    [
      "an unclosed class",
      "dclass A { setX(uint8);",
      /1:24: expected '\}' to close dclass 'A', found end of file/,
    ],
    [
      "a missing semicolon after a field",
      "dclass A {\n  setX(uint8)\n};",
      /3:1: expected ';' after field 'setX', found '\}'/,
    ],
    [
      "an unclosed parameter list",
      "dclass A { setX(uint8 x; };",
      /1:24: expected '\)' to close the parameters of 'setX'/,
    ],
    ["an unknown type", "dclass A { setX(unit8 x); };", /1:17: unknown type 'unit8'/],
    [
      "an unknown parent",
      "dclass A : Base { };",
      /1:12: dclass 'A' inherits from 'Base', which is not declared/,
    ],
    [
      "a struct as parent",
      "struct S { uint8 a; }; dclass A : S { };",
      /inherits from 'S', which is a struct/,
    ],
    ["an undeclared keyword", "dclass A { setX(uint8) brodcast; };", /1:24: 'brodcast' is not a keyword/],
    [
      "a duplicate field",
      "dclass A { setX(uint8); setX(uint16); };",
      /1:25: dclass 'A' already has a field 'setX'/,
    ],
    ["a duplicate class", "dclass A { }; dclass A { };", /1:15: dclass 'A' is already declared/],
    [
      "a struct named like a typedef",
      "typedef uint8 T; struct T { uint8 a; };",
      /struct 'T' is already declared/,
    ],
    ["an atomic field in a struct", "struct S { setX(uint8); };", /struct 'S' can only hold typed fields/],
    [
      "a molecular atom that does not exist",
      "dclass A { setX(uint8); m : setX, setQ; };",
      /1:35: molecular field 'm' names 'setQ', which is not a field/,
    ],
    [
      "mismatched molecular keywords",
      "dclass A { a(uint8) ram; b(uint8) db; m : a, b; };",
      /the atoms of a molecular field must share their keywords/,
    ],
    ["a divisor on a string", "dclass A { s(string/10 x); };", /type 'string' is not numeric/],
    ["a zero divisor", "dclass A { s(int16/0 x); };", /divisor of 'int16' must be a positive whole number/],
    ["an empty range", "dclass A { s(uint8(10-5) x); };", /range 10-5 of 'uint8' is empty/],
    [
      "a negative array size",
      "dclass A { s(uint8[-1] x); };",
      /array size must be a whole number of zero or more, not -1/,
    ],
    ["an unclosed comment", "dclass A { }; /* no end", /1:15: comment '\/\*' is never closed/],
    ["an unclosed string", 'dclass A { s(string x = "abc); };', /1:25: string is not closed/],
    ["a bad character", "dclass A { s(uint8 x) @; };", /1:23: unexpected character '@'/],
    [
      "a string default for a number",
      'dclass A { s(uint8 x = "a"); };',
      /bad default for A\.s\.x: expected a number for type uint8/,
    ],
    ["a fraction for an integer", "dclass A { s(uint8 x = 1.5); };", /uint8 holds whole numbers, not 1\.5/],
    ["a uint64 default that does not fit", "dclass A { s(uint64 x = -1); };", /-1 does not fit in uint64/],
    [
      "a default outside its range",
      "dclass A { s(uint8(0-10) x = 11); };",
      /1:30: bad default for A\.s\.x: .*0-10, got 11/,
    ],
    [
      "a default string too long",
      'dclass A { s(string(0-2) x = "abc"); };',
      /bad default for A\.s\.x: .*0-2 bytes/,
    ],
    [
      "a wrong struct default",
      "struct P { uint8 a; }; dclass A { s(P p = {1, 2}); };",
      /expected 1 members, not 2/,
    ],
    ["switch", "switch S (uint8) { };", /'switch' declarations are not supported/],
    ["a class field without a name", "dclass A { uint8; };", /needs a name/],
    ["an odd hex literal", "dclass A { s(blob b = <abc>); };", /hex literal has an odd number of digits/],
  ];
  for (const [what, source, message] of cases) {
    it(`reports ${what}`, () => {
      const error = parseError(source);
      expect(error.message).toMatch(message);
      expect(error.position.file).toBe("test.dc");
    });
  }
});

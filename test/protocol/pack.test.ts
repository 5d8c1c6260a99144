import {
  DatagramReader,
  DatagramWriter,
  DcFile,
  DcPackError,
  type DcPackErrorCode,
  type DcType,
  type DcValue,
  defaultFieldValue,
  defaultValue,
  type Field,
  type FieldValue,
  INT_LIMITS,
  type IntType,
  isBigIntValued,
  loadDcFiles,
  packField,
  packValue,
  parameterField,
  parseDcText,
  readField,
  readValue,
  unpackField,
  unpackValue,
  writeField,
  writeValue,
} from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { buildType, fieldForSpec, fieldValueArb, type TypeSpec, typeSpecArb } from "./pack.arbitraries.ts";

const astron = loadDcFiles([DC_FIXTURES.astronTest]);

function field(file: DcFile, owner: string, name: string): Field {
  const found = file.class(owner)?.field(name) ?? file.struct(owner)?.field(name);
  if (!found) throw new Error(`no field ${owner}.${name}`);
  return found;
}

/** A type written in .dc syntax, through a one-field class. */
function dcType(text: string, prelude = ""): DcType {
  const file = parseDcText(`${prelude}\ndclass T { f(${text} v); };`, "type.dc");
  return field(file, "T", "f").elements[0]!.type;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function bytesOf(hexText: string): Uint8Array {
  return new Uint8Array(Buffer.from(hexText.replace(/\s+/g, ""), "hex"));
}

/** Runs `action`, which must throw a DcPackError; returns it. */
function packError(action: () => unknown): DcPackError {
  try {
    action();
  } catch (error) {
    if (error instanceof DcPackError) return error;
    throw error;
  }
  throw new Error("expected a DcPackError, but nothing was thrown");
}

function expectPackError(action: () => unknown, code: DcPackErrorCode, path: string): DcPackError {
  const error = packError(action);
  expect({ code: error.code, path: error.path }).toEqual({ code, path });
  expect(error.message).toContain(path);
  return error;
}

describe("exact bytes of each type (little-endian, as Astron and Panda3D pack)", () => {
  const vectors: [type: string, value: DcValue, hexBytes: string][] = [
    ["uint8", 200, "c8"],
    ["int8", -1, "ff"],
    ["int8", -128, "80"],
    ["uint16", 0x1234, "3412"],
    ["int16", -2, "feff"],
    ["uint32", 0x01020304, "04030201"],
    ["int32", -1, "ffffffff"],
    ["int32", -(2 ** 31), "00000080"],
    ["uint64", 0x0102030405060708n, "0807060504030201"],
    ["uint64", 2n ** 64n - 1n, "ffffffffffffffff"],
    ["int64", -2n, "feffffffffffffff"],
    ["float32", 1.5, "0000c03f"],
    ["float32", -2, "000000c0"],
    ["float64", 1.5, "000000000000f83f"],
    ["char", "A", "41"],
    ["char", "\u00e9", "e9"],
    // string/blob: uint16 byte count, then the bytes; blob32: uint32 byte count.
    ["string", "hi", "0200 6869"],
    ["string", "", "0000"],
    ["string", "\u00e9", "0200 c3a9"],
    ["string", "\u{1f600}", "0400 f09f9880"],
    ["blob", new Uint8Array([1, 2, 3]), "0300 010203"],
    ["blob32", new Uint8Array([1, 2, 3]), "03000000 010203"],
    // Fixed lengths: no prefix.
    ["string(4)", "abcd", "61626364"],
    ["string(3-3)", "abc", "616263"],
    ["blob(2)", new Uint8Array([9, 8]), "0908"],
    ["string(0-8)", "abc", "0300 616263"],
    // Variable arrays: a uint16 BYTE length (not an element count), then the elements.
    ["uint16[]", [1, 2], "0400 0100 0200"],
    ["uint32[0-4]", [7], "0400 07000000"],
    ["int8[]", [], "0000"],
    // Fixed arrays of fixed-size elements: no prefix.
    ["uint16[2]", [1, 2], "0100 0200"],
    [
      "uint8[2][2]",
      [
        [1, 2],
        [3, 4],
      ],
      "01020304",
    ],
    // A fixed count of variable-size elements keeps the byte-length prefix (Astron and Panda3D agree).
    ["string[2]", ["a", "bc"], "0700 0100 61 0200 6263"],
    // `T[a][b]` reads as in C and Panda3D: a elements, each a T[b].
    ["uint8[2][]", [[1], [2, 3]], "0700 0100 01 0200 0203"],
    [
      "uint8[][2]",
      [
        [1, 2],
        [3, 4],
      ],
      "0400 0102 0304",
    ],
    // Arrays of char are strings.
    ["char[]", "hi", "0200 6869"],
    ["char[0-10]", "hi", "0200 6869"],
    ["char[3]", "abc", "616263"],
    // Fixed point: round(value * divisor) of the underlying kind.
    ["int16/10", 12.3, "7b00"],
    ["int16/10", -12.3, "85ff"],
    // 1.005 * 100 is 100.49999999999999 in doubles, so it rounds down, as it does in Panda3D.
    ["uint32/100", 1.005, "64000000"],
    ["int32/1000", -0.0005, "00000000"],
    ["int8/10", 0.25, "03"],
    ["int8/10", -0.25, "fe"],
    ["int64/100", 1.5, "9600000000000000"],
    ["float32/100", 1.5, "00001643"],
    // Modulus: wrap into [0, modulus) before packing (scaled by the divisor too).
    ["int16%360/10", 370.5, "6900"],
    ["int16%360/10", -10, "ac0d"],
    ["int16%360/10", 720, "0000"],
    ["int16%360/10", 359.99, "100e"],
    ["uint16%360/100", -0.5, "6e8c"],
    ["uint8%10", 23, "03"],
    ["uint8%10", -1, "09"],
    ["float64%360", -90, "0000000000e07040"],
    // Ranged types pack like their kind.
    ["uint8(0-100)", 100, "64"],
    ["uint16/1000(0-1)", 1.0004, "e803"],
    ["int16(-5-5, 10-20)", 15, "0f00"],
  ];

  it.each(vectors)("%s %o packs to %s", (typeText, value, hexBytes) => {
    const type = dcType(typeText);
    expect(hex(packValue(type, value))).toBe(hexBytes.replace(/\s+/g, ""));
  });

  it("packs Panda3D's half-way cases upwards (floor(x + 0.5))", () => {
    expect(hex(packValue(dcType("int8/2"), 1.25))).toBe("03");
    expect(hex(packValue(dcType("int8/2"), -1.25))).toBe("fe");
  });

  it("packs structs as their fields in order", () => {
    const block = astron.struct("Block")!;
    const type: DcType = { kind: "struct", name: "Block", target: () => block };
    expect(hex(packValue(type, { blockX: 1, blockY: 2, blockZ: 3 }))).toBe("010000000200000003000000");
  });

  it("packs atomic fields as their arguments, parameter fields as their value, molecular fields as all atoms", () => {
    expect(hex(packField(field(astron, "DistributedClientTestObject", "setColor"), [1, 2, 3]))).toBe(
      "010203",
    );
    expect(hex(packField(field(astron, "DistributedDBTypeTestObject", "db_uint16"), 5))).toBe("0500");
    expect(hex(packField(field(astron, "DistributedTestObject4", "setXyz"), [1, 2, 3]))).toBe(
      "010000000200000003000000",
    );
    expect(hex(packField(field(astron, "DistributedTestObject4", "set123"), [1, 2, 3]))).toBe("010203");
  });

  it("packs an array of structs with the byte length of all its elements", () => {
    const blockList = field(astron, "DistributedChunk", "blockList");
    const blocks = [
      { blockX: 1, blockY: 2, blockZ: 3 },
      { blockX: 4, blockY: 5, blockZ: 6 },
    ];
    expect(hex(packField(blockList, [blocks]))).toBe("1800010000000200000003000000040000000500000006000000");
    expect(unpackField(blockList, packField(blockList, [blocks]))).toEqual([blocks]);
  });

  it("packs a dclass used as a type as its constructor and non-molecular fields, in order", () => {
    const file = parseDcText(`
      dclass Point { Point(int8 tag); setX(int16 x); setY(int16 y); setXY : setX, setY; uint8 hp; };
      dclass User { usePoint(Point p); };`);
    const usePoint = field(file, "User", "usePoint");
    const point = { Point: [1], setX: [2], setY: [-1], hp: 4 };
    expect(hex(packField(usePoint, [point]))).toBe("010200ffff04");
    expect(unpackField(usePoint, packField(usePoint, [point]))).toEqual([point]);
  });
});

describe("unpacking", () => {
  it("reads every vector back", () => {
    const type = dcType("int16%360/10");
    expect(unpackValue(type, bytesOf("6900"))).toBe(10.5);
    expect(unpackValue(dcType("uint64"), bytesOf("ffffffffffffffff"))).toBe(2n ** 64n - 1n);
    expect(unpackValue(dcType("int64/100"), bytesOf("9600000000000000"))).toBe(1.5);
    expect(unpackValue(dcType("char[3]"), bytesOf("616263"))).toBe("abc");
    expect(unpackValue(dcType("string[2]"), bytesOf("0700 0100 61 0200 6263"))).toEqual(["a", "bc"]);
    expect(unpackValue(dcType("char"), bytesOf("e9"))).toBe("\u00e9");
  });

  it("decodes invalid UTF-8 leniently (U+FFFD) and keeps a leading byte-order mark", () => {
    expect(unpackValue(dcType("string"), bytesOf("0300 61ff62"))).toBe("a\ufffdb");
    const bom = "\ufeffx";
    expect(unpackValue(dcType("string"), packValue(dcType("string"), bom))).toBe(bom);
  });

  it("copies blobs out of the input so that reusing the buffer does not change them", () => {
    const input = bytesOf("0200 0102");
    const blob = unpackValue(dcType("blob"), input) as Uint8Array;
    input.fill(0);
    expect([...blob]).toEqual([1, 2]);
  });

  it("rejects truncated input, trailing bytes and length prefixes pointing past the end", () => {
    const setColor = field(astron, "DistributedClientTestObject", "setColor");
    expectPackError(
      () => unpackField(setColor, bytesOf("0102")),
      "truncated",
      "DistributedClientTestObject.setColor.b",
    );
    expectPackError(
      () => unpackField(setColor, bytesOf("01020304")),
      "trailing_bytes",
      "DistributedClientTestObject.setColor",
    );
    const setName = field(astron, "DistributedClientTestObject", "setName");
    expectPackError(
      () => unpackField(setName, bytesOf("0500 6162")),
      "truncated",
      "DistributedClientTestObject.setName.name",
    );
    const blockList = field(astron, "DistributedChunk", "blockList");
    expectPackError(
      () => unpackField(blockList, bytesOf("ff00 01000000")),
      "truncated",
      "DistributedChunk.blockList.blocks",
    );
  });

  it("rejects a byte length that is not a whole number of fixed-size elements", () => {
    const error = expectPackError(
      () => unpackValue(dcType("uint16[]"), bytesOf("0300 010002")),
      "bad_length",
      "",
    );
    expect(error.message).toMatch(/3 bytes is not a whole number of 2-byte elements/);
  });

  it("rejects a truncated element inside an array with the element's index", () => {
    const blockList = field(astron, "DistributedChunk", "blockList");
    expectPackError(
      () => unpackField(blockList, bytesOf("1000 010000000200000003000000 01000000")),
      "bad_length",
      "DistributedChunk.blockList.blocks",
    );
    const names = dcType("string[]");
    expectPackError(() => unpackValue(names, bytesOf("0500 0100 61 0100"), "names"), "truncated", "names[1]");
  });

  it("checks declared ranges and length rules on the way in too", () => {
    const setColor = field(astron, "DistributedClientTestObject", "setColor");
    expectPackError(
      () => unpackField(setColor, bytesOf("016503")),
      "out_of_range",
      "DistributedClientTestObject.setColor.g",
    );
    const constrained = field(astron, "DistributedClientTestObject", "sendMessageConstraint");
    expectPackError(
      () => unpackField(constrained, bytesOf("0300 616263")),
      "bad_length",
      "DistributedClientTestObject.sendMessageConstraint.msg",
    );
    expectPackError(() => unpackValue(dcType("uint8[2-3]"), bytesOf("0100 01")), "bad_length", "");
  });

  it("never reads past the end of a subarray, even when the buffer goes on", () => {
    const whole = bytesOf("0200 6869 ffff");
    expectPackError(() => unpackValue(dcType("string"), whole.subarray(0, 3)), "truncated", "");
    expect(unpackValue(dcType("string"), whole.subarray(0, 4))).toBe("hi");
  });

  it("rejects input that is not a Uint8Array with a DcPackError", () => {
    const setColor = field(astron, "DistributedClientTestObject", "setColor");
    expect(packError(() => unpackField(setColor, [1, 2, 3] as unknown as Uint8Array)).code).toBe(
      "wrong_type",
    );
  });
});

describe("validation when packing", () => {
  const setColor = field(astron, "DistributedClientTestObject", "setColor");

  it("names the field and argument of an out-of-range value", () => {
    const error = expectPackError(
      () => packField(setColor, [1, 101, 3]),
      "out_of_range",
      "DistributedClientTestObject.setColor.g",
    );
    expect(error.message).toMatch(/0-100/);
  });

  it("names the array element and struct member of a bad value", () => {
    const blockList = field(astron, "DistributedChunk", "blockList");
    const blocks = [
      { blockX: 1, blockY: 2, blockZ: 3 },
      { blockX: 1, blockY: 2, blockZ: 3 },
      { blockX: "x", blockY: 2, blockZ: 3 },
    ];
    expectPackError(
      () => packField(blockList, [blocks]),
      "wrong_type",
      "DistributedChunk.blockList.blocks[2].blockX",
    );
    expectPackError(
      () => packField(blockList, [[{ blockX: 1, blockZ: 3 }]]),
      "wrong_type",
      "DistributedChunk.blockList.blocks[0].blockY",
    );
  });

  it("names the atom and argument of a bad value in a molecular field", () => {
    const setXyz = field(astron, "DistributedTestObject4", "setXyz");
    expectPackError(
      () => packField(setXyz, [1, -1, 3]),
      "out_of_range",
      "DistributedTestObject4.setXyz.setY.y",
    );
    expectPackError(() => packField(setXyz, [1, 2]), "bad_length", "DistributedTestObject4.setXyz");
  });

  it("names struct members relative to a bare value, or to its label", () => {
    const block = astron.struct("Block")!;
    const type: DcType = { kind: "struct", name: "Block", target: () => block };
    expectPackError(() => packValue(type, { blockX: 1, blockY: 2 }), "wrong_type", "blockZ");
    expectPackError(() => packValue(type, { blockX: 1, blockY: 2 }, "spawn"), "wrong_type", "spawn.blockZ");
    expectPackError(() => packValue(dcType("uint8[]"), [1, 300], "list"), "out_of_range", "list[1]");
  });

  it("checks type limits and declared ranges after scaling and wrapping", () => {
    expectPackError(() => packValue(dcType("uint16/1000(0-1)"), 1.001), "out_of_range", "");
    expectPackError(() => packValue(dcType("int16/10"), 3276.8), "out_of_range", "");
    expect(hex(packValue(dcType("int16/10"), 3276.7))).toBe("ff7f");
    expectPackError(() => packValue(dcType("uint8"), 256), "out_of_range", "");
    expectPackError(() => packValue(dcType("uint8"), -1), "out_of_range", "");
    expectPackError(() => packValue(dcType("int32"), 2 ** 31), "out_of_range", "");
    expectPackError(() => packValue(dcType("uint64"), 2n ** 64n), "out_of_range", "");
    expectPackError(() => packValue(dcType("int64"), -(2n ** 63n) - 1n), "out_of_range", "");
    expectPackError(() => packValue(dcType("int16(-5-5, 10-20)"), 7), "out_of_range", "");
    expectPackError(() => packValue(dcType("float32"), 1e39), "out_of_range", "");
    expectPackError(() => packValue(dcType("float64(0-1)"), 1.5), "out_of_range", "");
  });

  it("rejects fractions for integer types without a divisor, and the wrong JavaScript types", () => {
    expectPackError(() => packValue(dcType("uint8"), 1.5), "wrong_type", "");
    expectPackError(() => packValue(dcType("int16/10"), Number.NaN), "wrong_type", "");
    expectPackError(() => packValue(dcType("uint32"), 5n), "wrong_type", "");
    expectPackError(() => packValue(dcType("uint64"), 5), "wrong_type", "");
    expectPackError(() => packValue(dcType("string"), 5), "wrong_type", "");
    expectPackError(() => packValue(dcType("blob"), "abc"), "wrong_type", "");
    expectPackError(() => packValue(dcType("uint8[]"), "abc"), "wrong_type", "");
    expectPackError(() => packValue(dcType("char"), "\u0100"), "wrong_type", "");
    expectPackError(
      () => packField(setColor, { r: 1, g: 2, b: 3 } as unknown as FieldValue),
      "wrong_type",
      "DistributedClientTestObject.setColor",
    );
  });

  it("rejects strings, blobs, arrays and tuples that break their length rules", () => {
    expectPackError(() => packField(setColor, [1, 2]), "bad_length", "DistributedClientTestObject.setColor");
    const constrained = field(astron, "DistributedClientTestObject", "sendMessageConstraint");
    expectPackError(
      () => packField(constrained, ["short"]),
      "bad_length",
      "DistributedClientTestObject.sendMessageConstraint.msg",
    );
    expectPackError(
      () => packField(constrained, ["x".repeat(17)]),
      "bad_length",
      "DistributedClientTestObject.sendMessageConstraint.msg",
    );
    // Lengths count UTF-8 bytes: 8 characters of 2 bytes each fit 16, 9 do not.
    expect(packField(constrained, ["\u00e9".repeat(8)]).length).toBe(18);
    expectPackError(
      () => packField(constrained, ["\u00e9".repeat(9)]),
      "bad_length",
      "DistributedClientTestObject.sendMessageConstraint.msg",
    );
    expectPackError(() => packValue(dcType("char"), "ab"), "bad_length", "");
    expectPackError(() => packValue(dcType("uint16[2]"), [1]), "bad_length", "");
    expectPackError(() => packValue(dcType("blob(0-2)"), new Uint8Array(3)), "bad_length", "");
    expectPackError(() => packValue(dcType("string"), "x".repeat(65536)), "bad_length", "");
    expect(packValue(dcType("string"), "x".repeat(65535)).length).toBe(65537);
  });

  it("rejects a fixed-length string that is shorter or longer (as Panda3D does) rather than padding it", () => {
    const fixstr = field(astron, "DistributedDBTypeTestObject", "db_fixstr");
    expectPackError(() => packField(fixstr, "abc"), "bad_length", "DistributedDBTypeTestObject.db_fixstr");
    expectPackError(
      () => packField(fixstr, "x".repeat(33)),
      "bad_length",
      "DistributedDBTypeTestObject.db_fixstr",
    );
    expect(packField(fixstr, "x".repeat(32)).length).toBe(32);
  });

  it("rejects an array whose elements pack to more than a uint16 length prefix holds", () => {
    const big = Array.from({ length: 20000 }, () => 1);
    expectPackError(() => packValue(dcType("uint32[]"), big), "bad_length", "");
  });

  it("can only send empty arrays of elements that pack to zero bytes", () => {
    const type = dcType("uint8[][0]");
    expect(type).toMatchObject({ length: {}, element: { length: { fixed: 0 } } });
    expect(hex(packValue(type, []))).toBe("0000");
    expectPackError(() => packValue(type, [[]]), "bad_length", "");
    expectPackError(() => unpackValue(type, bytesOf("0100 00")), "bad_length", "");
  });
});

describe("writing into and reading from shared buffers", () => {
  it("packs several updates into one writer and reads them back in order", () => {
    const setColor = field(astron, "DistributedClientTestObject", "setColor");
    const setName = field(astron, "DistributedClientTestObject", "setName");
    const writer = new DatagramWriter(4);
    writeField(writer, setColor, [1, 2, 3]);
    writeField(writer, setName, ["Flippy"]);
    writeValue(writer, dcType("uint64"), 42n);
    expect(hex(writer.toBytes())).toBe(
      "010203" + "0600" + hex(new TextEncoder().encode("Flippy")) + "2a00000000000000",
    );
    const reader = new DatagramReader(writer.toBytes());
    expect(readField(reader, setColor)).toEqual([1, 2, 3]);
    expect(readField(reader, setName)).toEqual(["Flippy"]);
    expect(readValue(reader, dcType("uint64"))).toBe(42n);
    expect(reader.remaining).toBe(0);
  });

  it("rolls the writer back when a value is rejected halfway", () => {
    const blockList = field(astron, "DistributedChunk", "blockList");
    const writer = new DatagramWriter();
    writer.writeUint8(0xaa);
    const bad = [
      { blockX: 1, blockY: 2, blockZ: 3 },
      { blockX: -1, blockY: 2, blockZ: 3 },
    ];
    expectPackError(
      () => writeField(writer, blockList, [bad]),
      "out_of_range",
      "DistributedChunk.blockList.blocks[1].blockX",
    );
    expect(hex(writer.toBytes())).toBe("aa");
  });

  it("returns independent copies from packField", () => {
    const setColor = field(astron, "DistributedClientTestObject", "setColor");
    const first = packField(setColor, [1, 2, 3]);
    packField(setColor, [4, 5, 6]);
    expect(hex(first)).toBe("010203");
  });
});

describe("defaults", () => {
  it("uses the declared default, or zero, or the lowest allowed value", () => {
    expect(defaultFieldValue(field(astron, "DistributedTestObject1", "setRequired1"))).toEqual([78]);
    expect(defaultFieldValue(field(astron, "DistributedTestObject5", "setRDbD5"))).toEqual([20]);
    expect(defaultFieldValue(field(astron, "DistributedDBTypeTestObject", "db_uint64"))).toBe(0n);
    expect(defaultValue(dcType("uint8(5-10)"))).toBe(5);
    expect(defaultValue(dcType("int16(-5-5)"))).toBe(0);
    expect(defaultValue(dcType("char"))).toBe("\0");
  });

  it("gives the minimum length of text, blobs and arrays", () => {
    expect(defaultValue(dcType("string(4)"))).toBe("\0\0\0\0");
    expect(defaultValue(dcType("string(2-8)"))).toBe("\0\0");
    expect(defaultValue(dcType("blob(3)"))).toEqual(new Uint8Array(3));
    expect(defaultValue(dcType("uint8[2-4]"))).toEqual([0, 0]);
    expect(defaultValue(dcType("char[3]"))).toBe("\0\0\0");
  });

  it("builds structs member by member, and every default packs", () => {
    expect(defaultFieldValue(field(astron, "DistributedChunk", "lastBlock"))).toEqual([
      { blockX: 0, blockY: 0, blockZ: 0 },
    ]);
    for (const f of astron.fields) {
      const value = defaultFieldValue(f);
      expect(unpackField(f, packField(f, value))).toEqual(value);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties over generated types

const PROPERTY_RUNS = 250;

function isIntSpec(spec: TypeSpec): spec is Extract<TypeSpec, { t: "int" }> {
  return spec.t === "int";
}

describe("round trips over generated types", () => {
  it("unpacks what it packs, for nested arrays and structs of every type", () => {
    const caseArb = typeSpecArb.chain((spec) => {
      const f = fieldForSpec(spec);
      return fc.tuple(fc.constant(f), fieldValueArb(f));
    });
    fc.assert(
      fc.property(caseArb, ([f, value]) => {
        const bytes = packField(f, value);
        expect(unpackField(f, bytes)).toEqual(value);
        // Streaming gives the same bytes, after whatever came before.
        const writer = new DatagramWriter(1);
        writer.writeUint8(7);
        writeField(writer, f, value);
        expect(hex(writer.toBytes())).toBe(`07${hex(bytes)}`);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });
});

describe("rejections over generated types", () => {
  it("rejects integers outside the kind's limits or declared ranges, naming the field", () => {
    const intCase = typeSpecArb
      .filter(isIntSpec)
      .filter((spec) => spec.modulus === undefined)
      .chain((spec) => {
        const type = buildType(spec, new DcFile()) as IntType;
        const [lowest, highest] = allowedPackedBounds(type);
        // 64-bit values seen as numbers need steps above the double spacing near 2^63.
        const step = type.kind.endsWith("64") && !isBigIntValued(type) ? 8192n : 1n;
        const distance = fc.bigInt({ min: 1n, max: 1000n }).map((k) => k * step);
        return fc.tuple(
          fc.constant(spec),
          fc.oneof(
            distance.map((k) => highest + k),
            distance.map((k) => lowest - k),
          ),
        );
      });
    fc.assert(
      fc.property(intCase, ([spec, packed]) => {
        const f = fieldForSpec(spec);
        const type = f.elements[0]!.type as IntType;
        const value = isBigIntValued(type) ? packed : Number(packed) / type.divisor;
        const error = packError(() => packField(f, [value]));
        expect(error.code).toBe("out_of_range");
        expect(error.path).toBe("C.f.p");
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("rejects text longer than its length rule allows, naming the field", () => {
    const textCase = fc.record({
      max: fc.integer({ min: 1, max: 20 }),
      extra: fc.integer({ min: 1, max: 20 }),
      asCharArray: fc.boolean(),
      wide: fc.boolean(),
    });
    fc.assert(
      fc.property(textCase, ({ max, extra, asCharArray, wide }) => {
        const spec: TypeSpec = asCharArray
          ? { t: "array", element: { t: "char" }, length: { range: [0, max] } }
          : { t: "bytes", kind: "string", length: { range: [0, max] } };
        const f = fieldForSpec(spec);
        // "é" is two bytes of UTF-8: the rule counts bytes, not characters.
        const text = wide ? "\u00e9".repeat(Math.ceil((max + extra) / 2)) : "a".repeat(max + extra);
        const error = packError(() => packField(f, [text]));
        expect([error.code, error.path]).toEqual(["bad_length", "C.f.p"]);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });

  it("rejects values of the wrong JavaScript type, naming the field", () => {
    const anything = fc.oneof(
      fc.string(),
      fc.double(),
      fc.bigInt(),
      fc.boolean(),
      fc.constant(null),
      fc.constant(undefined),
      fc.uint8Array(),
      fc.array(fc.nat()),
      fc.object(),
    );
    fc.assert(
      fc.property(typeSpecArb, anything, (spec, value) => {
        const f = fieldForSpec(spec);
        const type = f.elements[0]!.type;
        fc.pre(isWrongType(type, value));
        const error = packError(() => packField(f, [value as DcValue]));
        expect(error.code).toBe("wrong_type");
        expect(error.path.startsWith("C.f.p")).toBe(true);
      }),
      { numRuns: PROPERTY_RUNS },
    );
  });
});

/** The lowest and highest packed integer an int type accepts (kind limits and declared ranges). */
function allowedPackedBounds(type: IntType): [bigint, bigint] {
  const limits = INT_LIMITS[type.kind];
  if (!type.ranges?.length) return [limits.min, limits.max];
  const scale = (bound: number) => BigInt(Math.floor(bound * type.divisor + 0.5));
  const lowest = type.ranges.map((range) => scale(range.min)).reduce(smaller);
  const highest = type.ranges.map((range) => scale(range.max)).reduce(larger);
  return [larger(lowest, limits.min), smaller(highest, limits.max)];
}

/** Math.min and Math.max do not take bigints. */
function smaller(a: bigint, b: bigint): bigint {
  if (a < b) return a;
  return b;
}

function larger(a: bigint, b: bigint): bigint {
  if (a > b) return a;
  return b;
}

/** Whether a value has the wrong JavaScript type for a type (the length and range are not looked at). */
function isWrongType(type: DcType, value: unknown): boolean {
  switch (type.kind) {
    case "char":
    case "string":
      return typeof value !== "string";
    case "blob":
    case "blob32":
      return !(value instanceof Uint8Array);
    case "array":
      return type.element.kind === "char" ? typeof value !== "string" : !Array.isArray(value);
    case "struct":
      return (
        typeof value !== "object" || value === null || Array.isArray(value) || value instanceof Uint8Array
      );
    case "float32":
    case "float64":
      return typeof value !== "number";
    default:
      if (isBigIntValued(type)) return typeof value !== "bigint";
      return (
        typeof value !== "number" || (type.divisor === 1 ? !Number.isInteger(value) : !Number.isFinite(value))
      );
  }
}

describe("types built by hand", () => {
  it("packs a struct added with parameterField like one parsed from text", () => {
    const file = new DcFile();
    const struct = file.addStruct("Pair");
    file.addField(parameterField(struct, { name: "a", type: { kind: "uint8", divisor: 1 } }, []));
    file.addField(parameterField(struct, { name: "b", type: { kind: "string", length: {} } }, []));
    const type: DcType = { kind: "struct", name: "Pair", target: () => struct };
    expect(hex(packValue(type, { a: 1, b: "x" }))).toBe("01010078");
    expect(unpackValue(type, bytesOf("01010078"))).toEqual({ a: 1, b: "x" });
  });
});

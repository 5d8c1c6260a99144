import { formatHash, HashGenerator, legacyHash, loadDcFiles, parseDcText } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";

/*
 * Expected values marked "reference" were measured with Panda3D's own dcparser (direct/src/dcparser
 * at panda3d commit c11cb68e, built standalone with its default configuration) reading the same
 * text and printing DCFile::get_hash().
 */

function hashOf(source: string): string {
  return formatHash(legacyHash(parseDcText(source, "test.dc")));
}

/** Feeds a sequence into a fresh generator: numbers with addInt, strings with addString. */
function hashSequence(items: readonly (number | string)[]): string {
  const hashgen = new HashGenerator();
  for (const item of items) {
    if (typeof item === "number") hashgen.addInt(item);
    else hashgen.addString(item);
  }
  return formatHash(hashgen.hash);
}

describe("legacyHash on real files", () => {
  it("gives Astron's recorded value for astron-test.dc", () => {
    expect(formatHash(legacyHash(loadDcFiles([DC_FIXTURES.astronTest])))).toBe("0x0b77baf2");
  });

  it("gives Panda3D's value for otp.dc then toon.dc (reference)", () => {
    expect(formatHash(legacyHash(loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon])))).toBe("0x209cece0");
  });
});

describe("legacyHash on targeted cases (reference values)", () => {
  const cases: readonly (readonly [string, string, string])[] = [
    ["an empty file", "", "0x00000002"],
    [
      "historical keywords",
      "dclass A { setA(uint8 a) broadcast ram required; setB(uint8 b); };",
      "0x00009840",
    ],
    [
      "all nine historical keywords",
      "dclass A { setA(uint8 a) required broadcast ownrecv ram db clsend clrecv ownsend airecv; };",
      "0x00009390",
    ],
    [
      "custom keywords",
      "keyword zeta; keyword alpha; dclass A { setA(uint8 a) zeta broadcast alpha; setB(uint8 b) alpha; };",
      "0x000643fb",
    ],
    [
      "keywords on parameter fields",
      "dclass A { uint32 hp ram broadcast; string name; uint8 lvl db; };",
      "0x0000076e",
    ],
    ["a custom keyword on a parameter field", "keyword foo; dclass A { uint32 hp foo ram; };", "0x00005ddf"],
    [
      "a historical keyword declared before use",
      "keyword broadcast; dclass A { setA(uint8 a) broadcast; };",
      "0x000155b4",
    ],
    [
      "a historical keyword declared between uses",
      "dclass A { setA(uint8 a) broadcast; }; keyword broadcast; dclass B { setB(uint8 b) broadcast; };",
      "0x0002fbb2",
    ],
    [
      "declared historical keywords mixed with undeclared ones",
      "keyword broadcast; keyword ram; dclass A { setA(uint8 a) broadcast ram required; setB(uint8 b) required; uint8 c ram; };",
      "0x00063e67",
    ],
    [
      "integer ranges",
      "dclass A { a(uint8(0-100) x, int16(-5-5) y, int8(0-3, 5-7) z, uint32(7) w); };",
      "0x00002ecd",
    ],
    [
      "ranges scaled by divisors, in either order",
      "dclass A { a(int16(0-10)/100 x, int32/1000(-2-2) y, uint16(0-6.5)/10 z); };",
      "0x0001f3a3",
    ],
    [
      "64-bit ranges past 32 bits",
      "dclass A { a(uint64(0-5000000000) x, int64(-5000000000-7) y); };",
      "0xb789258b",
    ],
    [
      "float ranges, truncated, and one too wide for an int",
      "dclass A { a(float64(-1.5-2.7) x, float64/100(-0.255-0.5) y, float64(-3000000000-3000000000) z); };",
      "0x00002e20",
    ],
    [
      "divisors",
      "dclass A { a(int16/10 x, uint32/1000 y, float64/7 z, uint8/3 w, int64/2 v); };",
      "0x0000ba17",
    ],
    [
      "moduli, scaled by the divisor and truncated",
      "dclass A { a(int16%360/10 x, uint16%360 y, float64%6.28/1000 z, int32%0.5/3 w, uint8/4%2.3 v, float64%2.7 u); };",
      "0x0009ff6d",
    ],
    [
      "moduli too large for an int",
      "dclass A { a(uint32%4294967296 x, int64%5000000000 y, float64%3000000000.5 z) broadcast; };",
      "0x80000dab",
    ],
    [
      "strings, blobs and char with their lengths",
      "dclass A { a(string s, string(8) f, string(2-10) r, blob b, blob(16) fb, blob32 b32, blob32(5) fb32, blob(1-9) rb, char c); };",
      "0x00005b2f",
    ],
    [
      "arrays with their sizes",
      "dclass A { a(uint8[] a, uint8[4] b, uint8[2-8] c, char[8] d, string[3] e, int16(0-9)/10[] f); };",
      "0x0000645f",
    ],
    [
      "Panda3D's old array types",
      "dclass A { a(uint8array a, int16array b, uint32array c, int8array d, uint16array e, int32array f); };",
      "0x00001cf3",
    ],
    [
      "typedefs, hashed as the types they name",
      "typedef uint8 bool; typedef uint32 DoId; typedef DoId DoIdList[]; dclass A { a(bool x, DoIdList y, DoIdList z[2], DoId w[3]); DoIdList ids ram; };",
      "0x00001832",
    ],
    [
      "typedefs of ranged, fixed-point, blob and char-array types",
      "typedef int16(0-360)/10 Deg; typedef blob Bin; typedef char Name[16]; typedef uint8 Small; typedef Small Tiny; dclass A { a(Deg d, Bin b, Name n, Tiny t, Deg ds[2]) broadcast; Bin raw db; };",
      "0x0008c717",
    ],
    [
      "structs and a dclass used as parameters",
      "struct P { uint8 x; int16/10 y; string name; }; dclass Q { setQ(uint8 q) broadcast; }; dclass A { a(P p, P ps[], P pf[2]) broadcast; b(Q q); P p2 ram; };",
      "0x0006ea2a",
    ],
    [
      "multiple inheritance, shadowing, a struct between classes and an inherited molecular atom",
      "dclass A { setA(uint8 a) broadcast; setX(uint8 x) ram; }; struct S { uint8 s; }; dclass B { setB(uint16 b) broadcast; }; dclass C : A, B { setC(uint32 c) broadcast; setA(uint8 a) broadcast; }; dclass D : C { setD(string d) db; ab : setA, setB; };",
      "0x00119b93",
    ],
    [
      "molecular fields",
      "dclass A { setX(int16 x) broadcast ram; setY(int16 y) broadcast ram; uint8 z broadcast ram; xy : setX, setY; }; dclass B : A { setW(uint8 w) ram broadcast; xw : setX, setW; };",
      "0x000cfffa",
    ],
    [
      "default values (which do not count)",
      'dclass A { setA(uint8 a = 5, string s = "hi") required broadcast; uint16 h = 3 ram; };',
      "0x0000308e",
    ],
  ];

  for (const [what, source, expected] of cases) {
    it(what, () => {
      expect(hashOf(source)).toBe(expected);
    });
  }

  it("does not depend on the order keywords are written in (reference)", () => {
    expect(hashOf("dclass A { setA(uint8 a) required ram broadcast; setB(uint8 b); };")).toBe("0x00009840");
    expect(
      hashOf(
        "keyword zeta; keyword alpha; dclass A { setA(uint8 a) alpha broadcast zeta; setB(uint8 b) alpha; };",
      ),
    ).toBe("0x000643fb");
  });

  it("treats T[2][3] as two arrays of three, as Panda3D does (reference)", () => {
    expect(hashOf("dclass A { a(uint16[2][3] x); };")).toBe("0x00000c5b");
  });
});

describe("legacyHash where Panda3D cannot parse the file (Astron's emulation)", () => {
  it("matches a sequence fed by hand for a Panda3D-parsable field (reference)", () => {
    // file marker, class count, class name, no parents, field count, then the atomic field:
    // name, number, argument count, uint8 (type 4, divisor 1), keywords (broadcast = 2)
    const sequence = [1, 1, "A", 0, 1, "a", 0, 1, 4, 1, 2];
    expect(hashSequence(sequence)).toBe("0x00000a32");
    expect(hashOf("dclass A { a(uint8 y) broadcast; };")).toBe("0x00000a32");
  });

  it("adds nothing for a float32 argument, but counts it", () => {
    const expected = hashSequence([1, 1, "A", 0, 1, "a", 0, 2, 4, 1, 2]);
    expect(hashOf("dclass A { a(float32 x, uint8 y) broadcast; };")).toBe(expected);
  });

  it("hashes a constructor like an atomic field, with the id the model gives it", () => {
    const expected = hashSequence([1, 1, "A", 0, "A", 0, 1, 4, 1, 0, 1, "setB", 1, 1, 4, 1, 2]);
    expect(hashOf("dclass A { A(uint8 x); setB(uint8 b) broadcast; };")).toBe(expected);
  });
});

describe("HashGenerator", () => {
  it("starts at zero", () => {
    expect(new HashGenerator().hash).toBe(0);
  });

  it("hashes strings as signed bytes and wraps ints like C (reference)", () => {
    expect(hashSequence(["café", -1, 2147483647, -2147483648])).toBe("0xfffffeb4");
  });

  it("cycles through the first 10,000 primes (reference)", () => {
    const hashgen = new HashGenerator();
    for (let i = 0; i < 10_003; i++) hashgen.addInt(i * 7919 - 5000);
    expect(formatHash(hashgen.hash)).toBe("0xdf089ded");
    const ones = new HashGenerator();
    for (let i = 0; i < 25_000; i++) ones.addInt(1);
    expect(formatHash(ones.hash)).toBe("0x41f83721");
  });

  it("refuses numbers that are not whole", () => {
    expect(() => new HashGenerator().addInt(1.5)).toThrow(/not a whole number/);
    expect(() => new HashGenerator().addInt(Number.NaN)).toThrow(/not a finite number/);
  });
});

describe("formatHash", () => {
  it("prints 0x and eight lowercase hex digits", () => {
    expect(formatHash(0xb77baf2)).toBe("0x0b77baf2");
    expect(formatHash(0xffffffff)).toBe("0xffffffff");
    expect(formatHash(0)).toBe("0x00000000");
  });
});

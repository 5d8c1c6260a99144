/**
 * `skipField` (where a receiver only needs to know where a value ends: the client's and the agent's
 * sizers) must agree with `readField` on every input: the same end for bytes that read, the same
 * DcPackError code for bytes that do not (out of a declared range, a bad length, cut short).
 */
import {
  DatagramReader,
  DcPackError,
  type DcPackErrorCode,
  type Field,
  loadDcFiles,
  packField,
  parseDcText,
  readField,
  skipField,
} from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { fieldForSpec, fieldValueArb, typeSpecArb } from "./pack.arbitraries.ts";

const game = loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon]);
const astron = loadDcFiles([DC_FIXTURES.astronTest]);
const fields: Field[] = [...astron.fields, ...game.fields];

type Outcome = { end: number } | { error: DcPackErrorCode };

function outcome(
  field: Field,
  bytes: Uint8Array,
  how: (reader: DatagramReader, field: Field) => unknown,
): Outcome {
  const reader = new DatagramReader(bytes);
  try {
    how(reader, field);
    return { end: reader.position };
  } catch (error) {
    if (error instanceof DcPackError) return { error: error.code };
    throw error;
  }
}

function expectAgreement(field: Field, bytes: Uint8Array): void {
  const read = outcome(field, bytes, readField);
  const skipped = outcome(field, bytes, skipField);
  expect(skipped, `${field.owner.name}.${field.name} on ${Buffer.from(bytes).toString("hex")}`).toEqual(read);
}

describe("skipField agrees with readField", () => {
  it("on valid encodings of every field of astron-test.dc, otp.dc and toon.dc, whole and cut short", () => {
    expect(fields.length).toBeGreaterThan(2000);
    fields.forEach((field, i) => {
      for (const value of fc.sample(fieldValueArb(field), { numRuns: 2, seed: 2000 + i })) {
        const bytes = packField(field, value);
        expectAgreement(field, bytes);
        expect(outcome(field, bytes, skipField)).toEqual({ end: bytes.length });
        for (let cut = 0; cut < bytes.length; cut += Math.max(1, Math.floor(bytes.length / 8)))
          expectAgreement(field, bytes.subarray(0, cut));
      }
    });
  });

  it("on random and mutated bytes of those fields", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.uint8Array({ maxLength: 48 }), (field, bytes) => {
        expectAgreement(field, bytes);
      }),
      { numRuns: 3000, seed: 77 },
    );
  });

  it("on generated types with ranges, lengths, moduli and divisors, valid values and random bytes", () => {
    fc.assert(
      fc.property(
        typeSpecArb.chain((spec) => {
          const field = fieldForSpec(spec);
          return fc.tuple(fc.constant(field), fieldValueArb(field), fc.uint8Array({ maxLength: 40 }));
        }),
        ([field, value, noise]) => {
          expectAgreement(field, packField(field, value));
          expectAgreement(field, noise);
        },
      ),
      { numRuns: 1500, seed: 78 },
    );
  });

  it("refuses a value outside a declared range, or a wrong length, as reading does", () => {
    const dc = parseDcText(
      `dclass T {
        level(uint8(1-10, 200-210) v);
        name(string(2-4) s, int16(-5-5) [] list);
      };`,
      "ranged.dc",
    );
    const level = dc.class("T")!.field("level")!;
    // every byte: those the ranges allow skip one byte, the others are out_of_range, as read says
    let refused = 0;
    for (let byte = 0; byte < 256; byte++) {
      const bytes = Uint8Array.of(byte);
      expectAgreement(level, bytes);
      const skipped = outcome(level, bytes, skipField);
      if ("error" in skipped) {
        expect(skipped.error).toBe("out_of_range");
        refused++;
      } else expect(skipped.end).toBe(1);
    }
    expect(refused).toBe(256 - 21);
    const name = dc.class("T")!.field("name")!;
    const packed = packField(name, ["abc", [-5, 0, 5]]);
    expect(outcome(name, packed, skipField)).toEqual({ end: packed.length });
    // a string of 5 bytes (over its 4), then an element of 6 (over its 5)
    const longName = Uint8Array.of(5, 0, 97, 98, 99, 100, 101, 0, 0);
    expect(outcome(name, longName, skipField)).toEqual({ error: "bad_length" });
    const bigElement = Uint8Array.of(2, 0, 97, 98, 2, 0, 6, 0);
    expect(outcome(name, bigElement, skipField)).toEqual({ error: "out_of_range" });
    expectAgreement(name, longName);
    expectAgreement(name, bigElement);
  });
});

import {
  DcPackError,
  type DcPackErrorCode,
  type Field,
  type FieldValue,
  loadDcFiles,
  packField,
  unpackField,
} from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { fieldValueArb } from "./pack.arbitraries.ts";

const game = loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon]);
const astron = loadDcFiles([DC_FIXTURES.astronTest]);
const fields: Field[] = [...astron.fields, ...game.fields];

type Outcome = { value: FieldValue } | { error: DcPackErrorCode };

/** Unpacks bytes that may be garbage: the only acceptable failure is a DcPackError. */
function tryUnpack(field: Field, bytes: Uint8Array): Outcome {
  try {
    return { value: unpackField(field, bytes) };
  } catch (error) {
    if (error instanceof DcPackError) return { error: error.code };
    throw new Error(
      `${field.owner.name}.${field.name} threw ${String(error)} on ${Buffer.from(bytes).toString("hex")}`,
    );
  }
}

/** A few valid encodings of every field, generated once (seeded, so runs repeat). */
const VALUES_PER_FIELD = 2;
const encodings: { field: Field; bytes: Uint8Array }[] = fields.flatMap((field, i) =>
  fc
    .sample(fieldValueArb(field), { numRuns: VALUES_PER_FIELD, seed: 1000 + i })
    .map((value) => ({ field, bytes: packField(field, value) })),
);

/** At most this many truncation points per encoding (evenly spread over its length). */
const MAX_CUTS = 24;

describe("unpacking hostile bytes for every field of astron-test.dc, otp.dc and toon.dc", () => {
  it("loaded the real files", () => {
    expect(fields.length).toBeGreaterThan(2000);
    expect(encodings.length).toBe(fields.length * VALUES_PER_FIELD);
  });

  it("reads back every valid encoding", () => {
    for (const { field, bytes } of encodings) {
      const outcome = tryUnpack(field, bytes);
      expect(outcome, `${field.owner.name}.${field.name}`).toHaveProperty("value");
      expect(packField(field, (outcome as { value: FieldValue }).value)).toEqual(bytes);
    }
  });

  it("answers random bytes with a value or a DcPackError", () => {
    fc.assert(
      fc.property(fc.constantFrom(...fields), fc.uint8Array({ maxLength: 48 }), (field, bytes) => {
        tryUnpack(field, bytes);
      }),
      { numRuns: 4000 },
    );
  });

  it("answers every truncation of a valid encoding with a 'truncated' DcPackError", () => {
    for (const { field, bytes } of encodings) {
      const step = Math.max(1, Math.ceil(bytes.length / MAX_CUTS));
      for (let cut = 0; cut < bytes.length; cut += step) {
        expect(
          tryUnpack(field, bytes.subarray(0, cut)),
          `${field.owner.name}.${field.name} cut at ${cut}`,
        ).toEqual({
          error: "truncated",
        });
      }
    }
  });

  it("answers a valid encoding with a byte appended with 'trailing_bytes'", () => {
    for (const { field, bytes } of encodings) {
      const longer = new Uint8Array(bytes.length + 1);
      longer.set(bytes);
      expect(tryUnpack(field, longer)).toEqual({ error: "trailing_bytes" });
    }
  });

  it("answers bit-flipped valid encodings with a value or a DcPackError", () => {
    const nonEmpty = encodings.filter(({ bytes }) => bytes.length > 0);
    fc.assert(
      fc.property(
        fc.constantFrom(...nonEmpty),
        fc.nat(),
        fc.integer({ min: 0, max: 7 }),
        (encoding, at, bit) => {
          const flipped = encoding.bytes.slice();
          const index = at % flipped.length;
          flipped[index] = flipped[index]! ^ (1 << bit);
          tryUnpack(encoding.field, flipped);
        },
      ),
      { numRuns: 6000 },
    );
  });
});

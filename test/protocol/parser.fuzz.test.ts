import { readFileSync } from "node:fs";
import { DcSyntaxError, parseDcText } from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";

const source = readFileSync(DC_FIXTURES.astronTest, "utf8");

/** Parses text that may be broken: the only acceptable failure is a DcSyntaxError. */
function parseOrSyntaxError(text: string): "parsed" | "syntax-error" {
  try {
    parseDcText(text, "fuzz.dc");
    return "parsed";
  } catch (error) {
    if (error instanceof DcSyntaxError) return "syntax-error";
    throw error;
  }
}

describe("the .dc parser on broken input", () => {
  it("answers mutated real files with a model or a DcSyntaxError, never another exception", () => {
    const mutation = fc.record({
      at: fc.nat({ max: source.length }),
      cut: fc.nat({ max: 40 }),
      insert: fc.string({ maxLength: 12, unit: fc.constantFrom(..."{}()[];:,=/%-*<>\"'0123456789abc_ \n") }),
    });
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        let text = source;
        for (const { at, cut, insert } of mutations) text = text.slice(0, at) + insert + text.slice(at + cut);
        expect(["parsed", "syntax-error"]).toContain(parseOrSyntaxError(text));
      }),
      { numRuns: 400 },
    );
  });

  it("answers random text with a model or a DcSyntaxError", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (text) => {
        expect(["parsed", "syntax-error"]).toContain(parseOrSyntaxError(text));
      }),
      { numRuns: 300 },
    );
  });
});

import { fileURLToPath } from "node:url";
import { formatHash, legacyHash, loadDcFiles, printDc } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import { modelSummary } from "./dc-model-summary.ts";

const demoDc = fileURLToPath(new URL("../../examples/demo/demo.dc", import.meta.url));

describe("the demo world's classes, in .dc and in TypeScript", () => {
  const parsed = loadDcFiles([demoDc]);

  it("are the same model: same ids, names, keywords, types and defaults", () => {
    expect(modelSummary(demo.file)).toEqual(modelSummary(parsed));
  });

  it("have the same schema hash, so clients of either agree", () => {
    expect(formatHash(legacyHash(demo.file))).toBe(formatHash(legacyHash(parsed)));
  });

  it("print to the same .dc text", () => {
    expect(printDc(demo.file)).toBe(printDc(parsed));
  });
});

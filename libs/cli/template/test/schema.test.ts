import { legacyHash, loadDcFiles } from "@overworld/protocol";
import { expect, it } from "vitest";
import { schema } from "../schema.ts";

it("schema.dc and schema.ts are the same classes (the same schema hash)", () => {
  expect(legacyHash(loadDcFiles(["schema.dc"]))).toBe(legacyHash(schema.file));
});

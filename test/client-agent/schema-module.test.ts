/**
 * SCHEMA_MODULE: the client agent takes the game's TypeScript schema (for its validators) only when it
 * defines DC_FILES' classes, and says why otherwise.
 */
import { fileURLToPath } from "node:url";
import { legacyHash, loadDcFiles, validateField } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { withSchemaModule } from "../../services/client-agent/src/schema-module.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";

const SCHEMA = fileURLToPath(new URL("../../examples/demo/schema.ts", import.meta.url));
const NOT_A_SCHEMA = fileURLToPath(new URL("../support/wait.ts", import.meta.url));

describe("SCHEMA_MODULE", () => {
  it("gives the schema's model, with its validators, for the same classes", async () => {
    const dc = loadDcFiles([DEMO_DC]);
    const model = await withSchemaModule(dc, SCHEMA);
    expect(legacyHash(model)).toBe(legacyHash(dc));
    const say = model.class("DistributedAvatar")!.field("say")!;
    expect(validateField(say, [" "])).toMatch(/fails "matches \/\\S\/"/);
    expect(validateField(dc.class("DistributedAvatar")!.field("say")!, [" "])).toBeUndefined();
    expect(await withSchemaModule(dc, undefined)).toBe(dc);
  });

  it("refuses a schema of other classes, a module without one, and a missing file, naming SCHEMA_MODULE", async () => {
    const astron = loadDcFiles([DC_FIXTURES.astronTest]);
    await expect(withSchemaModule(astron, SCHEMA)).rejects.toThrow(
      /SCHEMA_MODULE: .* defines other classes than DC_FILES \(schema hash 0x/,
    );
    await expect(withSchemaModule(astron, NOT_A_SCHEMA)).rejects.toThrow(
      /SCHEMA_MODULE: .* exports no schema/,
    );
    await expect(withSchemaModule(astron, "/nonexistent/schema.ts")).rejects.toThrow(
      /SCHEMA_MODULE: cannot load/,
    );
  });
});

/**
 * Uberdog's SERVICES module as operators name it: a path relative to the working directory with or
 * without "./" (compose gives `examples/demo/services.ts`), an absolute one, or a package specifier; a
 * name that is neither is refused naming SERVICES.
 */
import { resolve } from "node:path";
import { ConfigError } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { loadServices } from "../../services/uberdog/src/service-objects.ts";

describe("uberdog's SERVICES module", () => {
  it("loads the demo's services by a relative path with or without ./, and by an absolute one", async () => {
    for (const path of [
      "examples/demo/services.ts",
      "./examples/demo/services.ts",
      resolve("examples/demo/services.ts"),
    ]) {
      const services = await loadServices(path);
      expect(services, path).toBeDefined();
    }
  });

  it("refuses a module that is nowhere, naming SERVICES", async () => {
    const error = await loadServices("examples/demo/no-such-services.ts").catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/^SERVICES: cannot load examples\/demo\/no-such-services\.ts/);
  });
});

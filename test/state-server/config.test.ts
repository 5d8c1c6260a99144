/** The state server's configuration is checked at start, and every error names its variable. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { ConfigError } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { loadStateServerConfig, startStateServer } from "../../services/state-server/src/main.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";

const base = { DC_FILES: DC_FIXTURES.astronTest, CLUSTER_VERSION: "1.0.0", LOG_LEVEL: "silent" };

describe("state server configuration", () => {
  it("reads defaults and splits DC_FILES", () => {
    const config = loadStateServerConfig({
      DC_FILES: ` ${DC_FIXTURES.otp} , ${DC_FIXTURES.toon} `,
      CLUSTER_VERSION: "1.0.0",
    });
    expect(config.DC_FILES).toEqual([DC_FIXTURES.otp, DC_FIXTURES.toon]);
    expect(config).toMatchObject({
      SUBJECT_ROOT: "ow",
      REDIS_PREFIX: "ow:",
      DB_SCHEMA: "overworld",
      DB_BATCH_MS: 2,
      DOID_BLOCK: 1000,
    });
  });

  it("names each bad variable", () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadStateServerConfig(env);
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as Error).message;
      }
      throw new Error("expected a ConfigError");
    };
    expect(problems({})).toMatch(/DC_FILES: required/);
    expect(problems({ DC_FILES: DC_FIXTURES.astronTest })).toMatch(/CLUSTER_VERSION: required/);
    expect(problems({ ...base, DB_SCHEMA: "Bad-Name" })).toMatch(/DB_SCHEMA: .*SQL identifier/);
    expect(problems({ ...base, SUBJECT_ROOT: "a.b" })).toMatch(/SUBJECT_ROOT/);
    expect(problems({ ...base, DB_BATCH_MS: "soon" })).toMatch(/DB_BATCH_MS/);
    expect(problems({ ...base, DOID_BLOCK: "0" })).toMatch(/DOID_BLOCK/);
  });

  it("refuses a DC file it cannot load before connecting anywhere", async () => {
    await expect(
      startStateServer(loadStateServerConfig({ ...base, DC_FILES: "/nowhere/missing.dc" })),
    ).rejects.toThrow(/DC_FILES: cannot load \/nowhere\/missing\.dc/);
  });

  it("exits with status 2 and the reason when started with a bad environment", async () => {
    const main = fileURLToPath(new URL("../../services/state-server/src/main.ts", import.meta.url));
    const child = spawn(process.execPath, ["--import", "tsx", main], {
      cwd: fileURLToPath(new URL("../../", import.meta.url)),
      env: { PATH: process.env.PATH ?? "", DC_FILES: "", HTTP_PORT: "70000" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toMatch(/DC_FILES/);
    expect(stderr).toMatch(/HTTP_PORT/);
  });
});

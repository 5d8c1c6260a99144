import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { DC_FIXTURES } from "../support/fixtures.ts";

const run = promisify(execFile);
const MAIN = new URL("../../libs/cli/src/main.ts", import.meta.url).pathname;

/** Runs `overworld ...` as a user would, returning its exit code and output. */
async function overworld(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", MAIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

describe("pnpm overworld dc", () => {
  it("prints the hash of astron-test.dc as Astron records it", async () => {
    expect(await overworld("dc", "hash", DC_FIXTURES.astronTest)).toEqual({
      code: 0,
      stdout: "0x0b77baf2\n",
      stderr: "",
    });
  });

  it("checks otp.dc then toon.dc: 398 classes and structs, and Panda3D's hash", async () => {
    const { code, stdout } = await overworld("dc", "check", DC_FIXTURES.otp, DC_FIXTURES.toon);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /^398 classes and structs \(352 dclasses, 46 structs\), 2270 fields, .* hash 0x209cece0\n$/,
    );
  });

  it("reports a broken file with its line and column, and exits 1", async () => {
    const dir = mkdtempSync(join(tmpdir(), "overworld-cli-"));
    const path = join(dir, "broken.dc");
    writeFileSync(path, "dclass A {\n  setX(uint8) brodcast;\n};\n");
    const { code, stdout, stderr } = await overworld("dc", "check", path);
    expect(code).toBe(1);
    expect(stdout).toBe("");
    expect(stderr).toBe(
      `error: ${path}:2:15: 'brodcast' is not a keyword; declare it with 'keyword brodcast;' or check the spelling\n`,
    );
  });

  it("names a missing file", async () => {
    const { code, stderr } = await overworld("dc", "hash", "/nonexistent/game.dc");
    expect(code).toBe(1);
    expect(stderr).toBe("error: cannot read /nonexistent/game.dc: no such file\n");
  });

  it("shows usage for a wrong command", async () => {
    const { code, stderr } = await overworld("dc", "frobnicate");
    expect(code).toBe(2);
    expect(stderr).toMatch(/usage: pnpm overworld dc check\|hash FILE/);
  });
});

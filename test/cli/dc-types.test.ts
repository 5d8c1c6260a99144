/**
 * `pnpm overworld dc types`: the module generated from `.dc` files, run as a user would, is type-checked
 * with tsc together with a file that holds its types to what defineSchema gives for the same classes
 * (the demo world: `examples/demo/demo.dc` against `examples/demo/schema.ts`) and uses the typed client
 * and zone-AI APIs with it, `@ts-expect-error` on a wrong field, a wrong value and a send the client may
 * not make; the modules of Astron's test file and of otp.dc + toon.dc type-check too. Imported, each
 * module's model has the `.dc` files' hash.
 */
import { execFile } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { legacyHash, loadDcFiles } from "@overworld/protocol";
import { afterAll, describe, expect, it } from "vitest";
import { DEMO_DC } from "../support/avatars.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";

const run = promisify(execFile);
const ROOT = resolve(import.meta.dirname, "../..");
const MAIN = join(ROOT, "libs/cli/src/main.ts");
const TSC = join(ROOT, "node_modules/typescript/bin/tsc");
/** Inside the workspace, so that the modules resolve @overworld/protocol as a game's code would. */
const DIR = join(ROOT, "test/cli", `.dc-types-${process.pid}`);

const CHECK = `
import type { ObjectMirror } from "@overworld/client";
import { type FieldKeywords, type FieldValues, setField } from "@overworld/protocol";
import { onField } from "@overworld/zone-ai/plugin";
import { demo } from "../../../examples/demo/schema.ts";
import * as gen from "./demo.ts";
import * as astron from "./astron.ts";
import * as toon from "./toon.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same: [
  Equal<FieldValues<typeof gen.DistributedAvatar>, FieldValues<typeof demo.DistributedAvatar>>,
  Equal<FieldValues<typeof gen.DistributedBoss>, FieldValues<typeof demo.DistributedBoss>>,
  Equal<FieldKeywords<typeof gen.DistributedAvatar, "setXYH">, FieldKeywords<typeof demo.DistributedAvatar, "setXYH">>,
  Equal<FieldKeywords<typeof gen.DistributedAvatar, "kick">, FieldKeywords<typeof demo.DistributedAvatar, "kick">>,
] = [true, true, true, true];

export function play(mirror: ObjectMirror): void {
  if (!mirror.is(gen.DistributedAvatar)) return;
  const xy: [number, number] | undefined = mirror.get("setXY");
  mirror.send("say", ["hi"]);
  // @ts-expect-error a wrong field name
  mirror.get("setNope");
  // @ts-expect-error a wrong value
  mirror.send("setXY", ["1", 2]);
  // @ts-expect-error chat is broadcast: a client may not send it
  mirror.send("chat", [1, "hi"]);
  void xy;
}

export const handler = onField(gen.DistributedAvatar, "say", (zone, _state, avatar, [text]) =>
  zone.set(avatar, "chat", [avatar.doId, text]),
);
// @ts-expect-error a wrong value type for a zone's set
export const bad = onField(gen.DistributedAvatar, "say", (zone, _s, avatar) => zone.set(avatar, "hp", "full"));
setField(astron.DistributedTestObject1, "setRequired1", [1]);
// @ts-expect-error a uint32 is a number
setField(astron.DistributedTestObject1, "setRequired1", ["1"]);
export const classes = [toon.schema.file, same] as const;
`;

async function overworld(...args: string[]): Promise<void> {
  await run(process.execPath, ["--import", "tsx", MAIN, ...args]);
}

afterAll(() => rmSync(DIR, { recursive: true, force: true }));

describe("pnpm overworld dc types", () => {
  it("generates modules that type-check, typed as defineSchema types the same classes", async () => {
    mkdirSync(DIR, { recursive: true });
    await overworld("dc", "types", DEMO_DC, "--out", join(DIR, "demo.ts"));
    await overworld("dc", "types", DC_FIXTURES.astronTest, "--out", join(DIR, "astron.ts"));
    await overworld("dc", "types", DC_FIXTURES.otp, DC_FIXTURES.toon, "--out", join(DIR, "toon.ts"));
    writeFileSync(join(DIR, "check.ts"), CHECK);
    writeFileSync(
      join(DIR, "tsconfig.json"),
      JSON.stringify({
        extends: "../../../tsconfig.base.json",
        files: [
          "check.ts",
          // the ambient declarations the workspace's own tsconfig takes in
          "../../../libs/protocol/src/transport/netcode/sodium-native.d.ts",
          "../../../libs/manifest/src/sodium-native.d.ts",
          "../../../libs/service/src/cluster-key-slot.d.ts",
        ],
      }),
    );
    const checked = await run(process.execPath, [TSC, "-p", join(DIR, "tsconfig.json")]).then(
      () => "",
      (error: { stdout: string }) => error.stdout,
    );
    expect(checked).toBe("");

    for (const [module, files] of [
      ["demo.ts", [DEMO_DC]],
      ["astron.ts", [DC_FIXTURES.astronTest]],
      ["toon.ts", [DC_FIXTURES.otp, DC_FIXTURES.toon]],
    ] as const) {
      const generated = (await import(join(DIR, module))) as {
        schema: { file: Parameters<typeof legacyHash>[0] };
      };
      expect(legacyHash(generated.schema.file), module).toBe(legacyHash(loadDcFiles(files)));
    }
  }, 240_000);

  it("prints the module when no --out is given, and refuses --out without a path", async () => {
    const { stdout } = await run(process.execPath, ["--import", "tsx", MAIN, "dc", "types", DEMO_DC]);
    expect(stdout).toMatch(/^\/\/ Generated by `pnpm overworld dc types /);
    expect(stdout).toContain("export const DistributedAvatar = new DClassHandle<DistributedAvatarFields>(");
    await expect(
      run(process.execPath, ["--import", "tsx", MAIN, "dc", "types", DEMO_DC, "--out"]),
    ).rejects.toMatchObject({
      code: 2,
    });
  });
});

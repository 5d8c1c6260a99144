/**
 * `pnpm overworld assets ...` on a real temporary directory against a real main (Postgres, HTTP): an asset
 * is packed into chunks, signed with main's key and published in one step; a client fetches it back from
 * main and verifies every chunk; main refuses one signed by another key; the verbs name what is wrong.
 */

import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addKey, EMPTY_TRUST_LIST, fetchPackage, manifestId, verifyPackage } from "@overworld/manifest";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { dropSchema } from "../support/cleanup.ts";
import { runToEnd } from "../support/run.ts";
import { publicKeyOf } from "./support.ts";

const CLI = new URL("../../libs/cli/src/main.ts", import.meta.url).pathname;
const SCHEMA = schemaFor("assets_cli");
const root = mkdtempSync(join(tmpdir(), "overworld-assets-cli-"));
let main: TestMain;

beforeAll(async () => {
  main = await startMain(SCHEMA);
});
afterAll(async () => {
  await main?.stop();
  await dropSchema(SCHEMA);
  rmSync(root, { recursive: true, force: true });
});

function overworld(...args: string[]) {
  return runToEnd(process.execPath, ["--import", "tsx", CLI, "assets", ...args]);
}

const TEXTURE = randomBytes(10_000);
const MAP = Buffer.from('{"tiles": [1, 2, 3]}\n');

function makeAsset(dir: string, json: unknown): void {
  mkdirSync(join(dir, "maps"), { recursive: true });
  writeFileSync(join(dir, "asset.json"), JSON.stringify(json));
  writeFileSync(join(dir, "texture.bin"), TEXTURE);
  writeFileSync(join(dir, "maps", "town.json"), MAP);
  writeFileSync(join(dir, ".DS_Store"), "left out\n");
}

describe("pnpm overworld assets", () => {
  it("packs, signs and publishes an asset to main in one step; a client fetches and verifies every chunk", async () => {
    const dir = join(root, "town");
    makeAsset(dir, { name: "town-tiles", version: "1.0.0", description: "the town's tiles" });
    writeFileSync(join(root, "token"), `${ADMIN_TOKEN}\n`);

    const run = await overworld(
      "publish",
      dir,
      "--key",
      main.env.MAIN_KEY_FILE!,
      "--chunk-size",
      "4096",
      "--main",
      main.url,
      "--token",
      join(root, "token"),
    );
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    const signed = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    const id = manifestId(signed.manifest);
    const lines = run.stdout.split("\n");
    expect(lines[0]).toBe(
      `packed asset town-tiles@1.0.0: 2 files, ${TEXTURE.length + MAP.length} bytes in 4 chunks of 4096, in ${join(dir, "manifest.json")} (unsigned; sign it with: pnpm overworld assets sign ${dir} --key FILE)`,
    );
    expect(lines[1]).toMatch(/^signed asset town-tiles@1\.0\.0 with key [0-9a-f]{16} \(/);
    expect(lines[2]).toBe(`published: ${dir} as ${id} at ${main.url}`);
    expect(signed.manifest).toMatchObject({
      kind: "asset",
      name: "town-tiles",
      chunkSize: 4096,
      files: [
        { path: "maps/town.json", size: MAP.length },
        { path: "texture.bin", size: TEXTURE.length },
      ],
    });
    expect(signed.manifest.files[1].chunks).toHaveLength(3);

    // published again unchanged: main says so
    const again = await overworld("publish", dir, "--main", main.url, "--token", join(root, "token"));
    expect(again.stdout).toBe(`already published: ${dir} as ${id} at ${main.url}\n`);

    const trust = addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main");
    const fetched = await verifyPackage(await fetchPackage(main.url, "town-tiles", "1.0.0"), trust);
    expect(fetched.id).toBe(id);
    expect(Buffer.from(fetched.files.get("texture.bin")!).equals(TEXTURE)).toBe(true);

    const trustFile = join(root, "trust.json");
    writeFileSync(trustFile, JSON.stringify(trust));
    const verified = await overworld("verify", dir, "--trust", trustFile);
    expect(verified.stderr).toBe("");
    expect(verified.stdout).toMatch(
      new RegExp(
        `^ok: asset town-tiles@1\\.0\\.0, 2 files, ${TEXTURE.length + MAP.length} bytes, id ${id}, signed by main `,
      ),
    );
  }, 120_000);

  it("is refused by main when another key signed it, and names what is wrong with a directory", async () => {
    const dir = join(root, "stranger");
    makeAsset(dir, { name: "stranger", version: "1.0.0" });
    const strangerKey = join(root, "stranger.seed");
    writeFileSync(strangerKey, `${"ab".repeat(32)}\n`);
    writeFileSync(join(root, "token"), `${ADMIN_TOKEN}\n`);
    const refused = await overworld(
      "publish",
      dir,
      "--key",
      strangerKey,
      "--main",
      main.url,
      "--token",
      join(root, "token"),
    );
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(
      /^error: main refused it \(400\): asset stranger@1\.0\.0 refused \(untrusted\): signed by key [0-9a-f]{16} /,
    );

    const unsigned = join(root, "unsigned");
    makeAsset(unsigned, { name: "unsigned", version: "1.0.0" });
    expect((await overworld("pack", unsigned)).code).toBe(0);
    writeFileSync(join(root, "empty-trust.json"), '{"keys": []}\n');
    expect((await overworld("verify", unsigned, "--trust", join(root, "empty-trust.json"))).stderr).toBe(
      "error: asset unsigned@1.0.0 refused (unsigned): the manifest has no signature; main signs what it publishes: pnpm overworld assets sign DIR --key FILE\n",
    );

    const bad = join(root, "bad");
    makeAsset(bad, { name: "Bad Name", version: "1.0.0" });
    expect((await overworld("pack", bad)).stderr).toMatch(
      /^error: .*bad: manifest\.name: a name is 1-64 of a-z, 0-9/,
    );
    makeAsset(bad, { name: "bad", version: "1.0.0", edge: "server-client" });
    expect((await overworld("pack", bad)).stderr).toMatch(/^error: .*asset\.json: \(top\): Unrecognized key/);
    rmSync(join(bad, "asset.json"));
    expect((await overworld("pack", bad)).stderr).toBe(`error: ${join(bad, "asset.json")} is missing\n`);
    const usage = await overworld("publish", bad, "--main", main.url, "--token", "t", "--chunk-size", "1024");
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: --chunk-size goes with --key/);
  }, 120_000);
});

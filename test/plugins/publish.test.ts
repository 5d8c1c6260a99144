/**
 * Main publishes a package and a cluster fetches, verifies and loads it over main's REST API (a real main:
 * Postgres, HTTP). Main takes only what its own key signed, checked as a cluster would; the cluster trusts
 * nothing main serves until it verified it (a file changed in main's database is refused).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  addKey,
  EMPTY_TRUST_LIST,
  fetchPackage,
  loadPlugins,
  manifestId,
  PackageRefused,
  publishPackage,
  sha256,
  verifyPackage,
} from "@overworld/manifest";
import { connectPostgres } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ADMIN_TOKEN, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { dropSchema } from "../support/cleanup.ts";
import { runToEnd } from "../support/run.ts";
import { DATABASE_URL } from "../support/services.ts";
import { contentOf, newKey, pluginManifest, publicKeyOf, signedPlugin } from "./support.ts";

const SCHEMA = schemaFor("packages");
let main: TestMain;
const cacheDir = mkdtempSync(join(tmpdir(), "overworld-published-"));

beforeAll(async () => {
  main = await startMain(SCHEMA);
});
afterAll(async () => {
  await main?.stop();
  await dropSchema(SCHEMA);
  rmSync(cacheDir, { recursive: true, force: true });
});

const FILES = {
  "index.js": 'import { taunt } from "./lib/taunt.js";\nexport const greet = () => taunt("hello");\n',
  "lib/taunt.js": 'export const taunt = (text) => text + ", mortal";\n',
};

describe("packages published by main", () => {
  it("are published once by the operator and fetched, verified and loaded by a cluster", async () => {
    const { content, signed } = signedPlugin(
      { name: "boss-taunts", version: "1.0.0", files: FILES },
      main.key,
    );
    const id = manifestId(signed.manifest);

    expect(await publishPackage(main.url, "wrong-token", content)).toMatchObject({ status: 401 });
    expect(await publishPackage(main.url, ADMIN_TOKEN, content)).toEqual({
      status: 201,
      body: { id, name: "boss-taunts", version: "1.0.0", kind: "plugin" },
    });
    expect((await publishPackage(main.url, ADMIN_TOKEN, content)).status).toBe(200);
    const changed = signedPlugin(
      {
        name: "boss-taunts",
        version: "1.0.0",
        files: { ...FILES, "index.js": "export const greet = () => 1;\n" },
      },
      main.key,
    );
    expect(await publishPackage(main.url, ADMIN_TOKEN, changed.content)).toMatchObject({
      status: 409,
      body: {
        reason: "boss-taunts@1.0.0 is published already with other content; publish it under a new version",
      },
    });

    const trust = addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main");
    const fetched = await fetchPackage(main.url, "boss-taunts", "1.0.0");
    const [loaded] = await loadPlugins([fetched], { trust, cacheDir, side: "server" });
    expect(loaded!.id).toBe(id);
    expect((loaded!.module as { greet: () => string }).greet()).toBe("hello, mortal");

    await expect(fetchPackage(main.url, "boss-taunts", "9.9.9")).rejects.toThrow(
      `main at ${main.url} has no package boss-taunts@9.9.9 (404)`,
    );
  });

  it("are refused by main unless its own key signed them, whole and unchanged", async () => {
    const unsigned = contentOf(
      { manifest: pluginManifest({ name: "loot", version: "1.0.0" }) },
      { "index.js": "" },
    );
    const stranger = signedPlugin({ name: "loot", version: "1.0.0" }, newKey());
    const good = signedPlugin({ name: "loot", version: "1.0.0", files: FILES }, main.key);
    const missing = contentOf(good.signed, { "index.js": FILES["index.js"] });
    const cases: [typeof unsigned, RegExp][] = [
      [unsigned, /^plugin loot@1\.0\.0 refused \(unsigned\)/],
      [stranger.content, /^plugin loot@1\.0\.0 refused \(untrusted\): signed by key [0-9a-f]{16} \(/],
      [missing, /^plugin loot@1\.0\.0 refused \(tampered\): file lib\/taunt\.js is missing$/],
    ];
    for (const [content, reason] of cases) {
      const answer = await publishPackage(main.url, ADMIN_TOKEN, content);
      expect(answer.status).toBe(400);
      expect(answer.body.reason).toMatch(reason);
    }
  });

  it("are published from a directory with pnpm overworld plugin publish", async () => {
    const dir = mkdtempSync(join(tmpdir(), "overworld-publish-"));
    try {
      const { signed } = signedPlugin(
        { name: "hud", version: "1.0.0", edge: "client-server", files: FILES },
        main.key,
      );
      writeFileSync(join(dir, "manifest.json"), JSON.stringify(signed));
      mkdirSync(join(dir, "lib"));
      for (const [path, text] of Object.entries(FILES)) writeFileSync(join(dir, path), text);
      writeFileSync(join(dir, "token"), `${ADMIN_TOKEN}\n`);
      const cli = new URL("../../libs/cli/src/main.ts", import.meta.url).pathname;
      const args = [
        "--import",
        "tsx",
        cli,
        "plugin",
        "publish",
        dir,
        "--main",
        main.url,
        "--token",
        join(dir, "token"),
      ];
      const run = await runToEnd(process.execPath, args);
      expect(run.stderr).toBe("");
      expect(run.stdout).toBe(`published: ${dir} as ${manifestId(signed.manifest)} at ${main.url}\n`);
      expect(run.code).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);

  it("are refused by a cluster when a file changed in main's storage", async () => {
    const { content, signed } = signedPlugin({ name: "emotes", version: "2.0.0", files: FILES }, main.key);
    expect((await publishPackage(main.url, ADMIN_TOKEN, content)).status).toBe(201);
    const pool = await connectPostgres(DATABASE_URL, "test-plugins", 1);
    try {
      const hash = sha256(new TextEncoder().encode(FILES["lib/taunt.js"]));
      await pool.query(`UPDATE "${SCHEMA}".package_files SET bytes = $1 WHERE sha256 = $2`, [
        Buffer.from("export const taunt = () => process.exit(1);\n"),
        hash,
      ]);
    } finally {
      await pool.end();
    }
    const trust = addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main");
    const error = await verifyPackage(await fetchPackage(main.url, "emotes", "2.0.0"), trust).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(PackageRefused);
    expect((error as PackageRefused).message).toBe(
      `plugin emotes@2.0.0 refused (tampered): file lib/taunt.js is 44 bytes, the manifest says ${signed.manifest.files[1]!.size}`,
    );
  });
});

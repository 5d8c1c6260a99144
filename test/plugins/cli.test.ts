/**
 * `pnpm overworld plugin ...` on a real temporary directory, as a main operator and a cluster's operator
 * use it: a key, pack, sign, verify against a trust list, every refusal, key rotation; then the loader
 * loads what the commands made.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeKey, fingerprint } from "@overworld/federation";
import { loadPlugins, readPackageDirectory, readTrustList } from "@overworld/manifest";
import { afterAll, describe, expect, it } from "vitest";
import { runToEnd } from "../support/run.ts";

const MAIN = new URL("../../libs/cli/src/main.ts", import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), "overworld-plugin-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function overworld(...args: string[]) {
  return runToEnd(process.execPath, ["--import", "tsx", MAIN, "plugin", ...args]);
}

function makePlugin(dir: string, index: string): void {
  mkdirSync(join(dir, "lib"), { recursive: true });
  writeFileSync(
    join(dir, "plugin.json"),
    JSON.stringify({
      name: "boss-ai",
      version: "1.0.0",
      edge: "server-client",
      entry: "index.js",
      channels: ["main", "boss"],
    }),
  );
  writeFileSync(join(dir, "index.js"), index);
  writeFileSync(join(dir, "lib", "rage.js"), "export const rage = (hp) => hp < 100;\n");
  writeFileSync(join(dir, ".notes"), "left out\n");
}

describe.concurrent("pnpm overworld plugin", () => {
  const dir = join(root, "boss-ai");
  const mainKey = join(root, "main.seed");
  const trust = join(root, "trusted-mains.json");
  const INDEX = 'export { rage } from "./lib/rage.js";\nexport const version = 1;\n';

  it("packs, signs and verifies a plugin, and refuses it unsigned, untrusted, tampered or signed after retirement", async () => {
    makePlugin(dir, INDEX);

    const key = await overworld("key", mainKey);
    expect(key.code).toBe(0);
    expect(key.stderr).toBe(`made a new key in ${mainKey} (keep it secret)\n`);
    const publicKey = key.stdout.trim();
    expect(publicKey).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(statSync(mainKey).mode & 0o777).toBe(0o600);

    const packed = await overworld("pack", dir, "--chunk-size", "1024");
    expect(packed).toMatchObject({ code: 0, stderr: "" });
    expect(packed.stdout).toMatch(/^packed plugin boss-ai@1\.0\.0: 2 files, 102 bytes, in /);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(manifest.signature).toBeUndefined();
    expect(manifest.manifest.files.map((file: { path: string }) => file.path)).toEqual([
      "index.js",
      "lib/rage.js",
    ]);
    expect(manifest.manifest.channels).toEqual(["boss", "main"]);

    writeFileSync(trust, '{"keys": []}\n');
    const unsigned = await overworld("verify", dir, "--trust", trust);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toBe(
      "error: plugin boss-ai@1.0.0 refused (unsigned): the manifest has no signature; main signs what it publishes: pnpm overworld plugin sign DIR --key FILE\n",
    );

    const signed = await overworld("sign", dir, "--key", mainKey);
    expect(signed.code).toBe(0);
    expect(signed.stdout).toBe(
      `signed plugin boss-ai@1.0.0 with key ${fingerprint(decodeKey(publicKey)!)} (${publicKey})\n`,
    );

    const untrusted = await overworld("verify", dir, "--trust", trust);
    expect(untrusted.code).toBe(1);
    expect(untrusted.stderr).toContain("refused (untrusted): signed by key ");
    expect(untrusted.stderr).toContain(`(${publicKey}), which is not in the trust list of main keys`);

    expect((await overworld("trust", "add", trust, publicKey, "--label", "main")).stdout).toBe(
      `main (key ${fingerprint(decodeKey(publicKey)!)}) trusted (${trust})\n`,
    );
    const ok = await overworld("verify", dir, "--trust", trust);
    expect(ok.stderr).toBe("");
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(
      /^ok: plugin boss-ai@1\.0\.0 \(server-client\), 2 files, 102 bytes, id [0-9a-f]{64}, signed by main \(key [0-9a-f]{16}\) on \d{4}-\d\d-\d\dT/,
    );

    writeFileSync(join(dir, "lib", "rage.js"), "export const rage = (hp) => true;\n");
    const tampered = await overworld("verify", dir, "--trust", trust);
    expect(tampered.code).toBe(1);
    expect(tampered.stderr).toMatch(
      /^error: plugin boss-ai@1\.0\.0 refused \(tampered\): file lib\/rage\.js is 34 bytes, the manifest says 38\n$/,
    );
    const resign = await overworld("sign", dir, "--key", mainKey);
    expect(resign.code).toBe(1);
    expect(resign.stderr).toBe(
      "error: plugin boss-ai@1.0.0 refused (tampered): file lib/rage.js is 34 bytes, the manifest says 38; pack it again first\n",
    );
    writeFileSync(join(dir, "lib", "rage.js"), "export const rage = (hp) => hp < 100;\n");

    // main rotates its key: the old one is retired (here, before this package was signed), a new one signs
    await overworld("trust", "retire", trust, publicKey, "--at", "2000-01-01T00:00:00Z");
    const retired = await overworld("verify", dir, "--trust", trust);
    expect(retired.code).toBe(1);
    expect(retired.stderr).toContain(
      ", after its retirement on 2000-01-01T00:00:00.000Z; sign it with main's current key\n",
    );

    const nextKey = join(root, "main-2.seed");
    const nextPublic = (await overworld("key", nextKey)).stdout.trim();
    await overworld("trust", "add", trust, nextPublic, "--label", "main 2");
    expect((await overworld("sign", dir, "--key", nextKey)).code).toBe(0);
    expect((await overworld("verify", dir, "--trust", trust)).stdout).toMatch(/signed by main 2 \(key /);
    expect((await readTrustList(trust)).keys.map((entry) => entry.label)).toEqual(["main", "main 2"]);

    // what the commands made, the loader loads
    const loaded = await loadPlugins([await readPackageDirectory(dir)], {
      trust: await readTrustList(trust),
      cacheDir: join(root, "cache"),
      side: "server",
    });
    expect((loaded[0]!.module as { rage: (hp: number) => boolean }).rage(50)).toBe(true);
  }, 300_000);

  it("names what is wrong with a plugin directory, a key file or the arguments", async () => {
    const bad = join(root, "bad");
    makePlugin(bad, INDEX);
    writeFileSync(
      join(bad, "plugin.json"),
      JSON.stringify({ name: "x", version: "1.0.0", edge: "server-moon", entry: "index.js" }),
    );
    const edge = await overworld("pack", bad);
    expect(edge.code).toBe(1);
    expect(edge.stderr).toMatch(
      /^error: .*plugin\.json: edge: Invalid option: expected one of "client-client"\|/,
    );

    writeFileSync(
      join(bad, "plugin.json"),
      JSON.stringify({ name: "x", version: "1", edge: "server-main", entry: "main.js" }),
    );
    expect((await overworld("pack", bad)).stderr).toBe(
      `error: ${bad}: manifest.version: a version is semver: MAJOR.MINOR.PATCH[-prerelease]\n`,
    );
    rmSync(join(bad, "plugin.json"));
    expect((await overworld("pack", bad)).stderr).toBe(`error: ${join(bad, "plugin.json")} is missing\n`);

    writeFileSync(join(root, "short.seed"), "abcd\n");
    expect((await overworld("sign", dir, "--key", join(root, "short.seed"))).stderr).toBe(
      `error: ${join(root, "short.seed")}: a key seed is 64 hex digits (32 bytes), got 4 characters\n`,
    );
    const usage = await overworld("sign", dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error: --key FILE is needed\n\nusage: pnpm overworld plugin/);
    expect((await overworld("trust", "add", join(root, "t.json"), "not-a-key", "--label", "x")).stderr).toBe(
      "error: 'not-a-key' is not an Ed25519 public key (44 characters of base64)\n",
    );
  }, 300_000);
});

/**
 * Plugin packages: the format's canonical bytes (checked against an independent Ed25519 and SHA-256, Python's
 * PyNaCl and hashlib), and every refusal of the verifier and the loader with its message, key rotation, and
 * a set loaded in dependency order from the checked bytes.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { signingKeyFromSeed } from "@overworld/federation";
import {
  addKey,
  EMPTY_TRUST_LIST,
  loadPlugins,
  manifestId,
  PackageRefused,
  retireKey,
  revokeKey,
  signingBytes,
  signManifest,
  type TrustList,
  verifyPackage,
} from "@overworld/manifest";
import { afterAll, describe, expect, it } from "vitest";
import { runToEnd } from "../support/run.ts";
import { contentOf, newKey, pluginManifest, publicKeyOf, signedPlugin } from "./support.ts";

const PYTHON = process.env.PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

const main = newKey();
const trust: TrustList = addKey(EMPTY_TRUST_LIST, publicKeyOf(main), "main", T0);

async function refusal(promise: Promise<unknown>): Promise<PackageRefused> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(PackageRefused);
  return error as PackageRefused;
}

describe("the signed manifest's bytes", () => {
  it("are the canonical JSON the format defines, signed as PyNaCl signs them, hashed as hashlib hashes", async () => {
    const seed = new Uint8Array(32).fill(7);
    const key = signingKeyFromSeed(seed);
    const manifest = pluginManifest({
      name: "greeter",
      version: "1.0.0",
      edge: "client-server",
      dependencies: { zeta: "^1.0.0", alpha: "~2.1.0" },
      channels: ["main", "voice"],
      files: { "index.js": "export default 1;\n" },
      chunkSize: 1024,
    });
    const signed = signManifest(manifest, key, T0);
    const keyText = publicKeyOf(key);
    const fileHash = "96909e1dce85ca534fd8881f6c8369a8a87e06df5a4bf81ef44a72db195b0704";
    const expected =
      "overworld manifest v1\n" +
      `{"key":"${keyText}","manifest":{"channels":["main","voice"],"chunkSize":1024,` +
      `"dependencies":{"alpha":"~2.1.0","zeta":"^1.0.0"},"edge":"client-server","entry":"index.js",` +
      `"files":[{"chunks":["${fileHash}"],"path":"index.js","sha256":"${fileHash}","size":18}],` +
      `"format":1,"kind":"plugin","name":"greeter","version":"1.0.0"},"signedAt":${T0}}`;
    expect(new TextDecoder().decode(signingBytes(manifest, keyText, T0))).toBe(expected);

    const script = [
      "import base64, hashlib, sys, nacl.signing",
      "key = nacl.signing.SigningKey(bytes([7] * 32))",
      "message = sys.argv[1].encode()",
      "print(base64.b64encode(key.sign(message).signature).decode())",
      "print(base64.b64encode(bytes(key.verify_key)).decode())",
      "print(hashlib.sha256(b'export default 1;\\n').hexdigest())",
    ].join("\n");
    const python = await runToEnd(PYTHON, ["-c", script, expected]);
    expect(python.stderr).toBe("");
    expect(python.stdout.trim().split("\n")).toEqual([signed.signature!.value, keyText, fileHash]);
  });

  it("verify whatever the order of the JSON's members, and name the package by the hash of its manifest", async () => {
    const { signed, files } = signedPlugin({ name: "greeter", version: "1.0.0" }, main, T0 + DAY);
    const reversed = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(reversed)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(
              Object.entries(value)
                .reverse()
                .map(([k, v]) => [k, reversed(v)]),
            )
          : value;
    const verified = await verifyPackage(contentOf(reversed(signed), files), trust, T0 + DAY);
    expect(verified.id).toBe(manifestId(signed.manifest));
    expect(verified.id).toMatch(/^[0-9a-f]{64}$/);
    expect(new TextDecoder().decode(verified.files.get("index.js"))).toBe(files["index.js"]);
  });
});

describe("verification refuses", () => {
  const now = T0 + DAY;

  it("an unsigned package", async () => {
    const manifest = pluginManifest({ name: "boss-ai", version: "1.2.0" });
    const error = await refusal(verifyPackage(contentOf({ manifest }, { "index.js": "" }), trust, now));
    expect(error.message).toBe(
      "plugin boss-ai@1.2.0 refused (unsigned): the manifest has no signature; main signs what it publishes: pnpm overworld plugin sign DIR --key FILE",
    );
  });

  it("a manifest changed after signing: a version bumped, a range widened, a file's hash replaced", async () => {
    const { signed, files } = signedPlugin(
      { name: "boss-ai", version: "1.2.0", dependencies: { combat: "^2.0.0" } },
      main,
      now,
    );
    const changes = [
      { ...signed.manifest, version: "1.2.1" },
      { ...signed.manifest, dependencies: { combat: "*" } },
      {
        ...signed.manifest,
        files: [{ ...signed.manifest.files[0]!, sha256: "0".repeat(64) }],
      },
    ];
    for (const manifest of changes) {
      const error = await refusal(verifyPackage(contentOf({ ...signed, manifest }, files), trust, now));
      expect(error.refusal).toBe("tampered");
      expect(error.message).toMatch(
        /^plugin boss-ai@1\.2\.[01] refused \(tampered\): the manifest does not match its signature \(changed after it was signed/,
      );
    }
  });

  it("a signature by another key under the trusted key's name", async () => {
    const { signed, files } = signedPlugin({ name: "boss-ai", version: "1.2.0" }, newKey(), now);
    const forged = { ...signed, signature: { ...signed.signature!, key: publicKeyOf(main) } };
    const error = await refusal(verifyPackage(contentOf(forged, files), trust, now));
    expect(error.refusal).toBe("tampered");
  });

  it("a file whose bytes differ from the manifest's hash, naming the file and the chunk", async () => {
    const big = new Uint8Array(5000).map((_, i) => i % 251);
    const { content, signed } = signedPlugin(
      {
        name: "boss-ai",
        version: "1.2.0",
        files: { "index.js": "export {};", "art/boss.png": big },
        chunkSize: 1024,
      },
      main,
      now,
    );
    const bad = big.slice();
    bad[2 * 1024 + 5] = bad[2 * 1024 + 5]! ^ 1;
    const tampered = contentOf(signed, { "index.js": "export {};", "art/boss.png": bad });
    const expectedChunk = signed.manifest.files[0]!.chunks[2];
    const error = await refusal(verifyPackage(tampered, trust, now));
    expect(error.message).toMatch(
      new RegExp(
        `^plugin boss-ai@1\\.2\\.0 refused \\(tampered\\): file art/boss\\.png: chunk 2 has SHA-256 [0-9a-f]{64}, the manifest says ${expectedChunk}$`,
      ),
    );
    await expect(verifyPackage(content, trust, now)).resolves.toBeDefined();

    const short = contentOf(signed, { "index.js": "export {};", "art/boss.png": big.subarray(1) });
    expect((await refusal(verifyPackage(short, trust, now))).detail).toBe(
      "file art/boss.png is 4999 bytes, the manifest says 5000",
    );
    const missing = contentOf(signed, { "index.js": "export {};" });
    expect((await refusal(verifyPackage(missing, trust, now))).detail).toBe("file art/boss.png is missing");
  });

  it("a package signed by a key the trust list does not hold, naming the key", async () => {
    const stranger = newKey();
    const { content } = signedPlugin({ name: "boss-ai", version: "1.2.0" }, stranger, now);
    const error = await refusal(verifyPackage(content, trust, now));
    expect(error.refusal).toBe("untrusted");
    expect(error.message).toContain(publicKeyOf(stranger));
    expect(error.message).toMatch(
      /^plugin boss-ai@1\.2\.0 refused \(untrusted\): signed by key [0-9a-f]{16} \(/,
    );
    expect(error.message).toContain("which is not in the trust list of main keys");
  });

  it("what is not a manifest, naming the member and the rule", async () => {
    const good = pluginManifest({ name: "boss-ai", version: "1.2.0" });
    const cases: [unknown, string][] = [
      [{ ...good, version: "1.2" }, "manifest.version: a version is semver: MAJOR.MINOR.PATCH[-prerelease]"],
      [{ ...good, edge: "server-moon" }, 'manifest.edge: Invalid option: expected one of "client-client"|'],
      [
        { ...good, dependencies: { combat: "two" } },
        "manifest.dependencies.combat: a semver range, e.g. ^1.2.0",
      ],
      [
        { ...good, files: [{ ...good.files[0]!, path: "../escape.js" }] },
        "manifest.files[0].path: a path is relative",
      ],
      [{ ...good, entry: "main.js" }, "manifest.entry: the entry 'main.js' is not one of the files"],
      [{ ...good, owner: "someone" }, 'manifest: Unrecognized key: "owner"'],
      [{ ...good, format: 2 }, "manifest.format: Invalid input: expected 1"],
      [
        { ...good, files: [{ ...good.files[0]!, chunks: [] }] },
        "manifest.files[0].chunks: index.js: 31 bytes make 1 chunks, not 0",
      ],
    ];
    for (const [manifest, message] of cases) {
      const error = await refusal(verifyPackage(contentOf({ manifest }, {}), trust, now));
      expect(error.refusal).toBe("invalid");
      expect(error.detail.startsWith(message), `${error.detail} starts with ${message}`).toBe(true);
    }
  });
});

describe("the trust list", () => {
  it("rotates main's key: the old one's earlier signatures hold after its retirement, later ones do not", async () => {
    const old = newKey();
    const next = newKey();
    const retiredAt = T0 + 10 * DAY;
    let list = addKey(EMPTY_TRUST_LIST, publicKeyOf(old), "main 2026", T0);
    list = addKey(list, publicKeyOf(next), "main 2027", T0 + 9 * DAY);
    list = retireKey(list, publicKeyOf(old), retiredAt);
    const now = T0 + 20 * DAY;

    const before = signedPlugin({ name: "boss-ai", version: "1.0.0" }, old, retiredAt - 1);
    await expect(verifyPackage(before.content, list, now)).resolves.toBeDefined();

    const after = signedPlugin({ name: "boss-ai", version: "1.1.0" }, old, retiredAt);
    const error = await refusal(verifyPackage(after.content, list, now));
    expect(error.refusal).toBe("untrusted");
    expect(error.detail).toMatch(
      /^signed by main 2026 \(key [0-9a-f]{16}\) on 2026-01-11T00:00:00\.000Z, after its retirement on 2026-01-11T00:00:00\.000Z; sign it with main's current key$/,
    );

    const renewed = signedPlugin({ name: "boss-ai", version: "1.1.0" }, next, retiredAt);
    await expect(verifyPackage(renewed.content, list, now)).resolves.toBeDefined();

    const early = signedPlugin({ name: "boss-ai", version: "1.1.0" }, next, T0 + DAY);
    expect((await refusal(verifyPackage(early.content, list, now))).detail).toContain(
      "before the key became valid on 2026-01-10",
    );
    const future = signedPlugin({ name: "boss-ai", version: "1.1.0" }, next, now + DAY);
    expect((await refusal(verifyPackage(future.content, list, now))).detail).toContain(
      "in the future of this clock",
    );

    const revoked = revokeKey(list, publicKeyOf(old), now);
    expect((await refusal(verifyPackage(before.content, revoked, now))).detail).toMatch(
      /^signed by main 2026 \(key [0-9a-f]{16}\), revoked on /,
    );
    expect(() => addKey(list, publicKeyOf(next), "again", now)).toThrow(/is already in the trust list/);
    expect(() => retireKey(list, publicKeyOf(newKey()), now)).toThrow(/is not in the trust list/);
  });
});

describe("the loader", () => {
  const now = T0 + DAY;
  const cacheDirs: string[] = [];
  const cacheDir = () => {
    const dir = mkdtempSync(join(tmpdir(), "overworld-plugins-"));
    cacheDirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of cacheDirs) rmSync(dir, { recursive: true, force: true });
  });

  it("loads a set in dependency order, each from the bytes it checked", async () => {
    const combat = signedPlugin(
      {
        name: "combat",
        version: "2.3.0",
        files: {
          "index.js": 'export { damage } from "./lib/damage.js";',
          "lib/damage.js": "export const damage = (n) => n * 2;",
        },
      },
      main,
      now,
    );
    const boss = signedPlugin(
      {
        name: "boss-ai",
        version: "1.0.0",
        dependencies: { combat: "^2.1.0" },
        files: { "index.js": "export const hits = 3;" },
      },
      main,
      now,
    );
    const loaded = await loadPlugins([boss.content, combat.content], {
      trust,
      cacheDir: cacheDir(),
      side: "server",
      now,
    });
    expect(loaded.map((plugin) => `${plugin.manifest.name}@${plugin.manifest.version}`)).toEqual([
      "combat@2.3.0",
      "boss-ai@1.0.0",
    ]);
    expect((loaded[0]!.module as { damage: (n: number) => number }).damage(21)).toBe(42);
    expect((loaded[1]!.module as { hits: number }).hits).toBe(3);
    expect(loaded[0]!.id).toBe(manifestId(combat.signed.manifest));
  });

  it("refuses an unsatisfiable set, naming the plugin, the dependency and its range, and loads nothing", async () => {
    const boss = signedPlugin(
      { name: "boss-ai", version: "1.0.0", dependencies: { combat: "^2.1.0" } },
      main,
      now,
    );
    const oldCombat = signedPlugin({ name: "combat", version: "1.4.0" }, main, now);
    const newCombat = signedPlugin({ name: "combat", version: "2.2.0" }, main, now);
    const a = signedPlugin({ name: "a", version: "1.0.0", dependencies: { b: "*" } }, main, now);
    const b = signedPlugin({ name: "b", version: "1.0.0", dependencies: { a: "*" } }, main, now);
    const cases: [PackageContentList, string][] = [
      [
        [boss.content],
        "plugin boss-ai@1.0.0 refused (unsatisfiable): it needs combat ^2.1.0, which is not in the set",
      ],
      [
        [boss.content, oldCombat.content],
        "plugin boss-ai@1.0.0 refused (unsatisfiable): it needs combat ^2.1.0, but the set holds combat@1.4.0",
      ],
      [
        [newCombat.content, oldCombat.content],
        "plugin combat@1.4.0 refused (unsatisfiable): the set holds combat twice (2.2.0 and 1.4.0); a host runs one version of a plugin",
      ],
      [
        [a.content, b.content],
        "plugin a@1.0.0 refused (unsatisfiable): its dependencies go round: a -> b -> a",
      ],
    ];
    for (const [set, message] of cases) {
      const dir = cacheDir();
      const error = await refusal(loadPlugins(set, { trust, cacheDir: dir, now }));
      expect(error.message).toBe(message);
      expect(readdirSync(dir)).toEqual([]);
    }
  });

  it("refuses the whole set when one package is tampered, and a plugin of another side", async () => {
    const good = signedPlugin({ name: "combat", version: "2.2.0" }, main, now);
    const bad = signedPlugin({ name: "boss-ai", version: "1.0.0" }, main, now);
    const dir = cacheDir();
    const error = await refusal(
      loadPlugins([good.content, contentOf(bad.signed, { "index.js": "process.exit(1)" })], {
        trust,
        cacheDir: dir,
        now,
      }),
    );
    expect(error.refusal).toBe("tampered");
    expect(readdirSync(dir)).toEqual([]);

    const client = signedPlugin({ name: "hud", version: "1.0.0", edge: "client-server" }, main, now);
    expect(
      (await refusal(loadPlugins([client.content], { trust, cacheDir: dir, side: "server", now }))).message,
    ).toBe(
      "plugin hud@1.0.0 refused (wrong-edge): it attaches to the client-server edge and runs on a client; this host is a server",
    );
  });
});

type PackageContentList = Parameters<typeof loadPlugins>[0];

/**
 * `overworld new` as a game team outside this repository would use it: the workspace's packages packed
 * with `pnpm pack` (each built by its prepack: JavaScript and declarations), a new project made in a
 * temporary folder depending on those tarballs, installed with pnpm (the packages' dependencies from the
 * pnpm store the workspace's install filled, else the registry), and the project's own `pnpm test`: its
 * tsc over the packages' declarations, then its vitest, which starts a real cluster with the game's plugin
 * (the services from the installed tarballs, run by plain node) and has a player pick up a coin.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { packPackages } from "../../scripts/pack-packages.ts";
import { runToEnd } from "../support/run.ts";

const CLI = resolve(import.meta.dirname, "../../libs/cli/src/main.ts");
const work = mkdtempSync(join(tmpdir(), "ow-new-"));
const tarballs = join(work, "tarballs");

/** The environment of a command of the new project: this suite's own vitest and NATS left out, no colours. */
function projectEnv(): NodeJS.ProcessEnv {
  const own = ["NATS_URL", "OW_TEST_NATS_TRUST", "FORCE_COLOR"];
  return {
    ...Object.fromEntries(
      Object.entries(process.env).filter(([key]) => !key.startsWith("VITEST") && !own.includes(key)),
    ),
    NO_COLOR: "1",
  };
}

function overworld(args: readonly string[]) {
  return runToEnd(process.execPath, ["--import", "tsx", CLI, ...args]);
}

beforeAll(async () => {
  await packPackages(tarballs);
}, 300_000);

afterAll(() => rmSync(work, { recursive: true, force: true }));

describe("overworld new", () => {
  it("makes a project that installs from the packed tarballs and passes its own test", async () => {
    const game = join(work, "coins");
    const made = await overworld(["new", game, "--overworld-from", tarballs]);
    expect(made.stderr).toBe("");
    expect(made.code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(game, "package.json"), "utf8"));
    expect(manifest.name).toBe("coins");
    expect(manifest.dependencies["@overworld/client"]).toMatch(/^file:.*overworld-client-0\.1\.0\.tgz$/);
    // every package comes from the tarballs, those the others depend on included
    expect(Object.keys(manifest.pnpm.overrides)).toContain("@overworld/state-server");

    const env = projectEnv();
    const install = await runToEnd("pnpm", ["install", "--prefer-offline"], { cwd: game, env });
    expect(install.code, install.stdout + install.stderr).toBe(0);
    // the packed manifests: built JavaScript and declarations, workspace:* turned into versions
    const client = JSON.parse(
      readFileSync(join(game, "node_modules/@overworld/client/package.json"), "utf8"),
    );
    expect(client.exports["."]).toEqual({
      types: "./dist/npm/types/index.d.ts",
      browser: "./dist/npm/browser.js",
      default: "./dist/npm/index.js",
    });
    expect(client.dependencies["@overworld/protocol"]).toBe("0.1.0");
    expect(client.license).toBe("Apache-2.0");

    const test = await runToEnd("pnpm", ["test"], { cwd: game, env });
    expect(test.code, test.stdout + test.stderr).toBe(0);
    expect(test.stdout).toMatch(/Tests\s+2 passed/);
  }, 600_000);

  it("refuses a directory that is not empty, and tarballs that lack a package the game needs", async () => {
    const full = join(work, "full");
    mkdirSync(full);
    writeFileSync(join(full, "mine.txt"), "");
    const taken = await overworld(["new", full]);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain(`${full} exists and is not an empty directory`);

    const few = join(work, "few");
    mkdirSync(few);
    writeFileSync(join(few, "overworld-protocol-0.1.0.tgz"), "");
    const lacking = await overworld(["new", join(work, "other"), "--overworld-from", few]);
    expect(lacking.code).toBe(1);
    expect(lacking.stderr).toContain("no tarball of @overworld/cli, @overworld/client, @overworld/zone-ai");
  }, 120_000);
});

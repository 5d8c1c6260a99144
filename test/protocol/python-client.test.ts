/**
 * The Python client (clients/python, written from docs/protocol.md with Debian's python3-nacl) against a
 * real cluster: message director, state server, a client agent over UDP, uberdog and a zone-AI replica
 * running the demo world on a 2x2 grid, in-process. The client registers and logs in over HTTP, connects,
 * says hello, follows its avatar, sees an NPC appear and move, moves its avatar and says something; the
 * state server holds the move and the client hears its chat line come back from the zone's game logic.
 * Also: the Python implementation reads and writes the document's test vectors (clients/python/test_wire.py).
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { promisify } from "node:util";
import { legacyHash, loadDcFiles } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoWorld } from "../../examples/demo/plugin.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { type RunResult, runToEnd } from "../support/run.ts";
import { eventually } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

const CLIENT_DIR = resolve(import.meta.dirname, "../../clients/python");
/** Debian's python3 (where python3-nacl installs), unless PYTHON names another. */
const PYTHON = process.env.PYTHON ?? (existsSync("/usr/bin/python3") ? "/usr/bin/python3" : "python3");
const GRID = { width: 2, height: 2, cellSize: 50 };
const dc = loadDcFiles([DEMO_DC]);

let services: PlayerCluster;
let zoneAi: ZoneAiHandle;

beforeAll(async () => {
  services = await startPlayerCluster("python", {
    dcFiles: [DEMO_DC],
    agentEnv: { TICK_HZ: "20" },
    uberdogEnv: { CLUSTER_VERSION },
  });
  const { cluster } = services;
  zoneAi = await startTestZoneAi(cluster, demoWorld({ grid: GRID, worldId: 1000, npcsPerZone: 1 }));
}, 60_000);

afterAll(async () => {
  await zoneAi?.stop();
  await services?.stop();
});

/** Runs the Python client to its end; its exit code and what it printed. */
function play(args: string[]): Promise<RunResult> {
  return runToEnd(PYTHON, ["play.py", ...args], { cwd: CLIENT_DIR });
}

describe("the Python client", () => {
  it("reads and writes the test vectors of docs/protocol.md", async () => {
    const { stdout, stderr } = await promisify(execFile)(PYTHON, ["-m", "unittest", "-v", "test_wire"], {
      cwd: CLIENT_DIR,
    });
    expect(`${stdout}${stderr}`).toMatch(/\nOK\n?$/);
  });

  it("connects, sees an NPC appear and move, and sends fields another player sees", async () => {
    // a TypeScript player who sees the whole 2x2 map: the Python player's avatar appears to it and moves
    const observer = await services.join("observer", { file: dc, version: CLUSTER_VERSION });
    await observer.client.followInterest(observer.avatar, GRID, 1);
    const username = `py${process.pid}`;
    const seen: { field: string; value: unknown }[] = [];
    observer.client.on("update", (event) => {
      if ((event.object.fields.get("setName") as string[] | undefined)?.[0] === username)
        seen.push({ field: event.field, value: event.value });
    });

    const run = await play([
      "--uberdog",
      services.baseUrl,
      "--username",
      username,
      "--dc",
      DEMO_DC,
      "--schema-hash",
      `0x${legacyHash(dc).toString(16)}`,
      "--version",
      CLUSTER_VERSION,
      "--grid",
      `${GRID.width}x${GRID.height}`,
      "--say",
      "hello from python",
      "--timeout",
      "20",
    ]);
    expect(run.stderr, run.stdout).toBe("");
    expect(run.code).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines).toContainEqual(
      expect.stringMatching(/^connected to 127\.0\.0\.1:\d+ as client \d+ of \d+$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^hello answered: cluster time \d+$/));
    expect(lines).toContainEqual(expect.stringMatching(/^avatar \d+ DistributedAvatar in 1000\/[1-4] at \(/));
    expect(lines).toContainEqual(
      expect.stringMatching(/^interest 1 done \(context 1\): \d+ objects in view$/),
    );
    expect(lines).toContainEqual(expect.stringMatching(/^appeared \d+ DistributedNpc in 1000\/[1-4] at \(/));
    expect(lines).toContainEqual(expect.stringMatching(/^moved \d+ Distributed(Npc|Boss) \(.*\) -> \(.*\)$/));
    expect(lines).toContain("heard chat from my avatar: 'hello from python'");
    expect(lines).toContainEqual(expect.stringMatching(/^shop 1001 answered buy\(0\): 19 left$/));
    expect(lines.at(-2)).toMatch(/^ok: /);

    // the other player saw the move the Python client sent, and its chat line
    const sent = /^sent setXY\((.*), (.*)\)$/m.exec(run.stdout);
    expect(sent).not.toBeNull();
    await eventually(
      () =>
        seen.some(({ field, value }) => field === "chat" && (value as unknown[])[1] === "hello from python"),
      "the other player to hear the Python player's chat line",
    );
    expect(seen).toContainEqual({ field: "setXY", value: [Number(sent![1]), Number(sent![2])] });
  }, 90_000);
});

/**
 * The demo world's scripted behaviour in a real cluster (message director, state server, client agent,
 * uberdog, one zone-AI replica): its NPCs wander as the sandboxed script npc-wander says (steps of
 * NPC_STEP_UNITS on the script's 1/256 grid, inside their own zone) and a player sees them move; the
 * replica's ops server lists the script and serves its source, with the hash it was loaded with.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoWorld, NPC_STEP_UNITS } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const grid = { width: 2, height: 1, cellSize: 50 };
const WORLD = 1000;
const ZONE_IDS = [1, 2];
const WAIT_MS = 10_000;
const SOURCE = readFileSync(new URL("../../examples/demo/scripts/npc-wander.ts", import.meta.url), "utf8");

let services: PlayerCluster | undefined;
let replica: ZoneAiHandle | undefined;

beforeAll(async () => {
  services = await startPlayerCluster("zscr", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  const { cluster } = services;
  replica = await startTestZoneAi(
    cluster,
    demoWorld({ grid, worldId: WORLD, npcsPerZone: 1, cratesPerZone: 0, dungeonEntrance: false }),
    { LEASE_TTL_MS: "5000", SNAPSHOT_EVERY_MS: "500" },
  );
});

afterAll(async () => {
  await replica?.stop();
  await services?.stop();
  if (services) await dropNamespaceAndJournal(services.cluster);
});

describe("the demo world's wander script in a cluster", () => {
  it("moves each NPC as the script says, and a player sees it", async () => {
    const { client } = await services!.join("watcher", {
      file: demo.file,
      version: CLUSTER_VERSION,
      heartbeatMs: 200,
      timeoutMs: WAIT_MS,
    });
    await client.addInterest(WORLD, ZONE_IDS);
    await eventually(
      () =>
        [...client.objects.values()].filter((object) => object.dclass.name === "DistributedNpc").length === 2,
      "the two NPCs in sight",
      WAIT_MS,
    );
    const npcs = [...client.objects.values()].filter((object) => object.dclass.name === "DistributedNpc");
    const seen = new Map<number, [number, number][]>(npcs.map((npc) => [npc.doId, []]));
    const sample = () => {
      for (const npc of npcs) {
        const at = npc.fields.get("setXY") as [number, number];
        const track = seen.get(npc.doId)!;
        const last = track.at(-1);
        if (last === undefined || last[0] !== at[0] || last[1] !== at[1]) track.push([at[0], at[1]]);
      }
    };
    const sampler = setInterval(sample, 10);
    try {
      await eventually(
        () => [...seen.values()].every((track) => track.length >= 6),
        "five steps of each NPC",
        WAIT_MS,
      );
    } finally {
      clearInterval(sampler);
    }
    for (const npc of npcs) {
      const track = seen.get(npc.doId)!;
      const [x0, x1] = [(npc.zone - 1) * grid.cellSize, npc.zone * grid.cellSize];
      for (const [x, y] of track.slice(1)) {
        // the script's grid: every position it writes is a multiple of 1/256, which float32 holds exactly
        expect(x * 256).toBe(Math.round(x * 256));
        expect(y * 256).toBe(Math.round(y * 256));
        expect(x).toBeGreaterThanOrEqual(x0);
        expect(x).toBeLessThanOrEqual(x1);
        expect(y).toBeGreaterThanOrEqual(0);
        expect(y).toBeLessThanOrEqual(grid.cellSize);
      }
      // a step is NPC_STEP_UNITS long (less only when it reaches its waypoint); samples may skip a step
      const steps = track.slice(2).map(([x, y], i) => Math.hypot(x - track[i + 1]![0], y - track[i + 1]![1]));
      for (const step of steps) expect(step).toBeLessThanOrEqual(2 * NPC_STEP_UNITS + 0.01);
      expect(steps.filter((step) => Math.abs(step - NPC_STEP_UNITS) < 0.01).length).toBeGreaterThan(0);
    }
  });

  it("lists the script on the ops server and serves its source with its hash", async () => {
    const base = `http://127.0.0.1:${replica!.httpPort}`;
    const hash = createHash("sha256").update(SOURCE).digest("hex");
    const list = (await (await fetch(`${base}/scripts`)).json()) as {
      scripts: { name: string; sha256: string }[];
    };
    expect(list.scripts).toContainEqual(
      expect.objectContaining({ name: "npc-wander", language: "ts", sha256: hash }),
    );
    const response = await fetch(`${base}/scripts/npc-wander`);
    expect(response.status).toBe(200);
    expect(response.headers.get("x-script-sha256")).toBe(hash);
    expect(await response.text()).toBe(SOURCE);
    const missing = await fetch(`${base}/scripts/nope`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(
      /no script "nope" runs here; these do: .*npc-wander/,
    );
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/ow_zone_script_sandboxes\{service="zone-ai"\} [1-9]/);
  });
});

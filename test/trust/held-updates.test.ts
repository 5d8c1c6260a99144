/**
 * Nothing a client agent accepted is lost while the state server is down: alice walks while no state
 * server answers (stopped, then a new one started 2.5 s later, as after a crash and a restart); the new
 * state server applies every step she took, once each, bob sees them in order, and her last one is stored. When none comes back
 * within the agent's hold (UPDATES_HOLD_MS), the players whose moves are held are ejected with 190 and the
 * reason, instead of playing on with moves silently dropped.
 */
import { loadDcFiles, unpackField } from "@overworld/protocol";
import { EjectCode } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { aliceAndBob, type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually, sleep } from "../support/wait.ts";

const dc = loadDcFiles([DEMO_DC]);
const WORLD = 9300;
const ZONE = 4;
const STEPS = 20;
const STEP_MS = 125;
const HOLD_MS = 3000;

let services: PlayerCluster;
let cluster: Cluster;
let alice: Player;
let bob: Player;

beforeAll(async () => {
  services = await startPlayerCluster("held", {
    agentEnv: { TICK_HZ: "50", UPDATES_HOLD_MS: String(HOLD_MS) },
    dcFiles: [DEMO_DC],
  });
  ({ cluster } = services);
  ({ alice, bob } = await aliceAndBob(services, {
    file: dc,
    version: CLUSTER_VERSION,
    world: WORLD,
    zone: ZONE,
  }));
});

afterAll(async () => {
  await services?.stop();
});

describe("a client's accepted updates", () => {
  it("survive a state server down for 2.5 s: each step applied once, in order, and the last one stored", async () => {
    const seen: number[] = [];
    bob.client.on("update", (event) => {
      if (event.object.doId === alice.avatar.doId && event.field === "setSmXYH")
        seen.push((event.value as number[])[3]!);
    });
    const step = (t: number) => alice.client.sendField(alice.avatar.doId, "setSmXYH", [t, t, 0, t]);
    step(1);
    await eventually(() => seen.includes(1), "bob sees alice's first step");
    await cluster.restartStateServer(async () => {
      for (let t = 2; t <= STEPS; t++) {
        step(t);
        await sleep(STEP_MS);
      }
    });
    await eventually(() => seen.at(-1) === STEPS, "bob sees alice's last step", 10_000);
    // the new state server applied every held step exactly once (the agent sent them again until it answered)
    const metrics = await cluster.stateServer!.metrics.getSingleMetricAsString("ow_ss_updates_applied_total");
    expect(metrics, metrics).toMatch(new RegExp(`ow_ss_updates_applied_total(\\{[^}]*\\})? ${STEPS - 1}\\b`));
    // a state field is newest-value-wins on the way to bob: he may skip steps, never go back
    expect(seen.every((t, i) => i === 0 || t > seen[i - 1]!)).toBe(true);
    const stored = await cluster.ss<{ fields: [number, Uint8Array][] }>("get", { doId: alice.avatar.doId });
    const smooth = dc.class("DistributedAvatar")!.field("setSmXYH")!;
    const last = stored.fields.find(([id]) => id === smooth.id)!;
    expect(unpackField(smooth, last[1])).toEqual([STEPS, STEPS, 0, STEPS]);
    expect(alice.client.connected).toBe(true);
    // the agent says so on /metrics: batches sent again, nothing held now
    const agentMetrics = await (await fetch(`http://127.0.0.1:${cluster.agent.httpPort}/metrics`)).text();
    expect(agentMetrics).toMatch(/ow_client_agent_update_batches_resent_total(\{[^}]*\})? [1-9]/);
    expect(agentMetrics).toMatch(/ow_client_agent_updates_held(\{[^}]*\})? 0\b/);
  }, 30_000);

  it("held past UPDATES_HOLD_MS eject their player with 190 and the reason", async () => {
    const ejected = new Promise<{ code: number; reason: string }>((resolve) =>
      alice.client.on("eject", (event) => resolve(event)),
    );
    await cluster.restartStateServer(async () => {
      alice.client.sendField(alice.avatar.doId, "setSmXYH", [5, 5, 0, 999]);
      const ejection = await ejected;
      expect(ejection.code).toBe(EjectCode.UpdatesNotKept);
      expect(ejection.reason).toMatch(/not acknowledged these updates for \d+ ms/);
    });
    expect(bob.client.connected).toBe(true); // bob sent nothing meanwhile: he plays on
  }, 30_000);
});

/**
 * Client reconnection with session resume, against a real cluster of processes (the chaos harness's,
 * scripts/chaos/cluster.ts): a player walks to a known place; its client agent is killed with SIGKILL
 * and started again; the client library's `resume` logs in again, connects to the live agent and gets
 * the avatar back within the bound: owned, with the account's name, at the place where it was, as the
 * state server holds it; the old avatar is gone (no ghost).
 */
import { register, resume } from "@overworld/client";
import { unpackField } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGrid, zoneAt } from "../../examples/demo/grid.ts";
import { ChaosCluster } from "../../scripts/chaos/cluster.ts";
import { Ledger } from "../../scripts/chaos/ledger.ts";
import { waitFor } from "../support/wait.ts";

const GRID = "8x8@50";
/** The agent's client timeout is 3 s here; a restart of the agent takes a few seconds on a loaded machine. */
const BACK_WITHIN_MS = 45_000;
const PASSWORD = "resume-password";

let cluster: ChaosCluster;
let ledger: Ledger;

beforeAll(async () => {
  cluster = new ChaosCluster({
    replicas: { "message-director": 1, "state-server": 1, uberdog: 1, "client-agent": 1, "zone-ai": 1 },
    grid: GRID,
    npcsPerZone: 0,
    maxClients: 8,
    env: { uberdog: { TOKEN_TIMEOUT_SECONDS: "3" } },
  });
  await cluster.start();
  ledger = new Ledger(cluster);
  await ledger.open(0);
}, 180_000);

afterAll(async () => {
  await ledger?.close();
  await cluster?.stop();
}, 60_000);

/** The avatar's zone and setSmXYH position as the state server holds them; undefined once it is gone. */
async function heldPlace(doId: number): Promise<{ zone: number; x: number; y: number } | undefined> {
  const avatar = ledger.dc.class("DistributedAvatar")!;
  const field = avatar.field("setSmXYH")!;
  try {
    const state = await ledger.tool.request("ss", "get", { doId, fieldIds: [field.id] });
    const bytes = state.fields.find(([id]) => id === field.id)?.[1];
    if (bytes === undefined) return { zone: state.zoneId, x: Number.NaN, y: Number.NaN };
    const [x, y] = unpackField(field, bytes) as [number, number];
    return { zone: state.zoneId, x, y };
  } catch {
    return undefined;
  }
}

describe("resume after the client agent is killed", () => {
  it("comes back to a live agent with its avatar where it was", async () => {
    const username = `resume${Date.now().toString(36)}`;
    await register(cluster.uberdogUrl, username, PASSWORD);
    const options = {
      uberdog: cluster.uberdogUrl,
      username,
      password: PASSWORD,
      connect: { file: ledger.dc, version: cluster.version },
      withinMs: 60_000,
    };
    const first = await resume(options);
    expect(first.avatar.owned).toBe(true);
    const [x, y] = [123.5, 77.25];
    const zone = zoneAt(parseGrid(GRID), x, y);
    first.client.sendField(first.avatar.doId, "setSmXYH", [x, y, 90, 0]);
    first.client.flush();
    await waitFor(async () => {
      const place = await heldPlace(first.avatar.doId);
      return place?.zone === zone && place.x === x;
    }, `avatar ${first.avatar.doId} in zone ${zone}`);

    const lost = new Promise<string>((done) => first.client.on("disconnect", ({ reason }) => done(reason)));
    const killedAt = Date.now();
    const agent = cluster.replicas("client-agent")[0]!;
    cluster.kill(agent);
    await cluster.restart(agent);
    expect(await lost).not.toBe("closed");
    const back = await resume({ ...options, withinMs: BACK_WITHIN_MS }, first.avatar);
    try {
      expect(Date.now() - killedAt).toBeLessThan(BACK_WITHIN_MS);
      expect(back.avatar.owned).toBe(true);
      expect(back.avatar.doId).not.toBe(first.avatar.doId);
      expect(back.avatar.fields.get("setName")).toEqual([username]);
      expect(back.restored).toContain("setSmXYH");
      await waitFor(async () => {
        const place = await heldPlace(back.avatar.doId);
        return place?.zone === zone && place.x === x && place.y === y;
      }, `the new avatar ${back.avatar.doId} back in zone ${zone} at (${x}, ${y})`);
      // the old avatar went with the dead agent's session (the director's post-removes)
      await waitFor(
        async () => (await heldPlace(first.avatar.doId)) === undefined,
        `the old avatar ${first.avatar.doId} gone`,
      );
    } finally {
      await back.client.close();
    }
  }, 150_000);
});

/**
 * Requests that get an answer, through a real cluster in-process (message director, state server, client
 * agent, uberdog, zone-AI replicas running the demo world): a player buys from the demo's shop and gets
 * the reply, typed errors, a method the client may not call ejects it as a field would (118), a zone
 * calling another zone's object ("/stock"), a zone that is down (the request times out; a retried request
 * is answered once the zone is back, and runs once however many copies were journaled meanwhile).
 */
import { RequestError, RequestTimeoutError } from "@overworld/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arenaZone, demoWorld, SHOP_STOCK, shopId } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually, sleep } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const WORLD = 1000;
const SHOP = shopId(WORLD);
const ZONE_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
// no dungeon entrance: it stands in the middle of zone 1, where /stock's asker walks (it would be taken away)
const plugin = demoWorld({ grid, worldId: WORLD, npcsPerZone: 1, dungeonEntrance: false });
/** Waits allow a busy machine: zones start and move in the background, and the suite runs files side by side. */
const WAIT_MS = 20_000;
const { DistributedShop } = demo;

let services: PlayerCluster;
let cluster: Cluster;
const replicas: ZoneAiHandle[] = [];

async function replica(): Promise<ZoneAiHandle> {
  // no failover here: a lease long enough that a busy machine (CI runs files side by side) never loses one
  const handle = await startTestZoneAi(cluster, plugin, { LEASE_TTL_MS: "5000", SNAPSHOT_EVERY_MS: "300" });
  replicas.push(handle);
  await eventually(() => handle.replica.zones.length === ZONE_IDS.length, "every zone running", WAIT_MS);
  return handle;
}

/** A player who sees the whole map (the shop included). */
async function player(name: string) {
  const joined = await services.join(name, {
    file: demo.file,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
    timeoutMs: WAIT_MS,
  });
  await joined.client.addInterest(WORLD, ZONE_IDS);
  await eventually(() => joined.client.objects.has(SHOP), "the shop in view", WAIT_MS);
  return joined;
}

const buy = (client: Awaited<ReturnType<typeof player>>["client"], item: number, timeoutMs = WAIT_MS) =>
  client.request(SHOP, "buy", [item], { dclass: DistributedShop, timeoutMs });

beforeAll(async () => {
  services = await startPlayerCluster("req", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
  await replica();
});

afterAll(async () => {
  for (const handle of replicas) await handle.stop();
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("requests that get an answer", () => {
  it("answers a player's request with the typed reply, in the shop's zone", async () => {
    const { client } = await player("buyer");
    expect(client.objects.get(SHOP)!.zone).toBe(arenaZone(grid));
    const first: [number] = await buy(client, 0);
    expect(first).toEqual([SHOP_STOCK[0] - 1]);
    // typed by a typed mirror: the arguments and the reply are the shop's
    const shop = client.objects.get(SHOP)!;
    if (!shop.is(DistributedShop)) throw new Error("the shop's mirror is of another class");
    const [left]: [number] = await client.request(shop, "buy", [0]);
    expect(left).toBe(SHOP_STOCK[0] - 2);
  });

  it("answers with typed errors: an item it does not sell, one sold out", async () => {
    const { client } = await player("haggler");
    const unknown = await buy(client, 7).catch((error: unknown) => error);
    expect(unknown).toBeInstanceOf(RequestError);
    expect((unknown as RequestError).code).toBe("unknown_item");
    expect(await buy(client, 2)).toEqual([0]); // the only map
    const soldOut = await buy(client, 2).catch((error: unknown) => error);
    expect((soldOut as RequestError).code).toBe("sold_out");
    expect((soldOut as RequestError).message).toMatch(/no map left/);
    // the session goes on after an error
    expect(await buy(client, 0)).toEqual([SHOP_STOCK[0] - 3]);
  });

  it("ejects a player calling a method it may not call (118), as a field update would", async () => {
    const { client } = await player("cheat");
    const ejected = new Promise<{ code: number; reason: string }>((resolve) => client.on("eject", resolve));
    const call = client.request(SHOP, "count", [0]).catch((error: unknown) => error);
    const { code, reason } = await ejected;
    expect(code).toBe(118);
    expect(reason).toMatch(/DistributedShop\.count/);
    expect(await call).toBeInstanceOf(Error); // the client closed: the request fails
  });

  it("lets a zone call another zone's object and act on the reply (/stock)", async () => {
    const { client, avatar } = await player("asker");
    client.sendField(avatar.doId, "setSmXYH", [25, 25, 0, 0]); // zone 1: not the shop's zone
    await eventually(() => avatar.zone === 1, "the avatar in zone 1", WAIT_MS);
    const heard: [number, string][] = [];
    client.on("update", ({ object, field, value }) => {
      if (object.doId === avatar.doId && field === "chat") heard.push(value as [number, string]);
    });
    await sleep(200); // the zone saw the step
    client.sendField(avatar.doId, "say", ["/stock 2"]);
    client.sendField(avatar.doId, "say", ["/stock 9"]);
    await eventually(() => heard.length === 2, "both answers said", WAIT_MS);
    expect(heard).toEqual([
      [SHOP, "map: 0 left"],
      [SHOP, "item 9: unknown_item"],
    ]);
  });

  it("times out while the zone is down; a retried request then runs once", async () => {
    const { client } = await player("patient");
    const [running] = replicas.splice(0);
    await running!.stop(); // no replica runs the shop's zone now: calls wait in its journal
    const late = await buy(client, 1, 300).catch((error: unknown) => error);
    expect(late).toBeInstanceOf(RequestTimeoutError);
    // the same request (one id) sent every 100 ms while the zone is down: several copies journaled
    const retried = client.request(SHOP, "buy", [0], {
      dclass: DistributedShop,
      timeoutMs: 20_000,
      retryMs: 100,
    });
    await sleep(500);
    await replica(); // resumes the zone from its snapshot and replays the copies
    expect(await retried).toEqual([SHOP_STOCK[0] - 4]);
    // it ran once: the next purchase finds one fewer, not several
    expect(await buy(client, 0)).toEqual([SHOP_STOCK[0] - 5]);
    // the request that timed out was journaled too, and ran once when the zone came back
    expect(await buy(client, 1)).toEqual([SHOP_STOCK[1] - 2]);
  });
});

/**
 * The game on a real cluster: the services as local processes with this project's classes and zone
 * plugin (startLocalCluster: it starts a NATS of its own, so it needs nats-server on the PATH, and Redis
 * and PostgreSQL: REDIS_URL, DATABASE_URL, else the local ones). A player connects, sees its avatar and
 * the coins, and picks one up.
 */
import { type LocalCluster, startLocalCluster } from "@overworld/cli/cluster";
import { afterAll, beforeAll, expect, it } from "vitest";
import { coins, type Joined, joinGame, until, walkOnto } from "../client.ts";
import { SIZE } from "../schema.ts";

let cluster: LocalCluster;
let player: Joined | undefined;

beforeAll(async () => {
  cluster = await startLocalCluster({ dcFiles: ["schema.dc"], plugin: "plugin.ts" });
}, 120_000);

afterAll(async () => {
  await player?.client.close();
  await cluster?.stop();
}, 60_000);

it("a player sees its avatar and the coins, and picks one up", async () => {
  player = await joinGame(
    cluster.uberdogUrl,
    `player${process.pid}`,
    "correct horse battery",
    cluster.version,
  );
  const { client, avatar } = player;
  expect(avatar.dclass.name).toBe("Player");
  expect(avatar.fields.get("setScore")).toEqual([0]);

  const seen = await until(client, () => (coins(client).length >= 3 ? coins(client) : undefined));
  for (const coin of seen) {
    const [x, y] = coin.fields.get("setXY") as [number, number];
    expect(x).toBeGreaterThanOrEqual(0);
    expect(y).toBeLessThanOrEqual(SIZE);
  }
  const coin = seen[0]!;
  expect(await walkOnto(client, avatar, coin)).toBe(1);
  // the coin is gone, and another came
  await until(client, () => (!client.objects.has(coin.doId) && coins(client).length === 3) || undefined);
}, 60_000);

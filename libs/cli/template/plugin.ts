/**
 * The game's zone logic, run by the cluster's zone-AI replicas: one zone with coins in it. A player who
 * arrives gets an avatar it owns; a player who walks onto a coin picks it up (its score goes up) and a new
 * coin appears somewhere else. Keep a zone's state plain data, take randomness from `zone.random()` and
 * time from `zone.now`: a zone resumed on another replica replays its inputs to the same state.
 */
import { definePlugin, onField } from "@overworld/zone-ai/plugin";
import { PICK_UP_DISTANCE, SIZE, schema, WORLD_ID, ZONE } from "./schema.ts";

const { World, Player, Coin } = schema;
const COINS = 3;

export const plugin = definePlugin({
  name: "__NAME__",
  schema,
  tickHz: 10,
  async zones(cluster) {
    if (!(await cluster.exists(WORLD_ID))) {
      await cluster
        .create(World, { setSize: [SIZE, SIZE] }, { parent: 0, zone: 0, doId: WORLD_ID })
        .catch(async (error: unknown) => {
          if (!(await cluster.exists(WORLD_ID))) throw error; // else another replica made it first
        });
    }
    return [{ parent: WORLD_ID, zone: ZONE, kind: "field" }];
  },
  kinds: {
    field: {
      init: () => ({ picked: 0 }),
      start: (zone) => {
        const coins = [...zone.objects.values()].filter((object) => object.is(Coin)).length;
        for (let i = coins; i < COINS; i++) {
          zone.spawn(Coin, { setXY: [zone.random() * SIZE, zone.random() * SIZE] });
        }
      },
      fields: [
        // a player moved: a coin under its feet is picked up
        onField(Player, "setXY", (zone, state, player, [x, y]) => {
          for (const coin of zone.objects.values()) {
            if (!coin.is(Coin)) continue;
            const [cx, cy] = coin.get("setXY") ?? [Number.NaN, Number.NaN];
            if (Math.hypot(cx - x, cy - y) > PICK_UP_DISTANCE) continue;
            zone.delete(coin);
            zone.spawn(Coin, { setXY: [zone.random() * SIZE, zone.random() * SIZE] });
            const [score] = player.get("setScore") ?? [0];
            zone.set(player, "setScore", [score + 1]);
            state.picked += 1;
            return;
          }
        }),
      ],
    },
  },
  // a client said hello: give it a player it owns, deleted when it goes
  async clientArrived(client, cluster) {
    const doId = await cluster.create(
      Player,
      { setName: [client.username.slice(0, 32) || "player"], setXY: [SIZE / 2, SIZE / 2], setScore: [0] },
      { parent: WORLD_ID, zone: ZONE, owner: client.channel },
    );
    cluster.addSessionObject(client.channel, doId);
  },
});

export default plugin;

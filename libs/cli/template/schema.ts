/**
 * The game's distributed classes in TypeScript: the same classes as schema.dc, with the same schema hash
 * (test/schema.test.ts checks it). A field's keywords say who may set it and who hears it: `ownsend`, the
 * player who owns the object may send it; `airecv`, the zone plugin hears it; `broadcast`, everyone who
 * sees the object does; `ram`/`required`, the cluster keeps it and sends it to whoever comes later.
 */
import { defineSchema, t } from "@overworld/protocol";

export const schema = defineSchema((s) => {
  const World = s.dclass("World", {
    setSize: s.field([t.uint16.named("width"), t.uint16.named("height")], ["required", "broadcast", "ram"]),
  });
  const Player = s.dclass("Player", {
    setName: s.field([t.string({ min: 1, max: 32 }).named("name")], ["required", "broadcast", "ram"]),
    setXY: s.field(
      [t.float32.named("x"), t.float32.named("y")],
      ["required", "broadcast", "ram", "ownsend", "airecv"],
    ),
    setScore: s.field([t.uint32.named("score")], ["required", "broadcast", "ram"]),
  });
  const Coin = s.dclass("Coin", {
    setXY: s.field([t.float32.named("x"), t.float32.named("y")], ["required", "broadcast", "ram"]),
  });
  return { World, Player, Coin };
});

/** The world object's doId: the parent of the game's zones. */
export const WORLD_ID = 1000;
/** The one zone of this small game, a square of SIZE units. */
export const ZONE = 1;
export const SIZE = 20;
/** A player this close to a coin picks it up. */
export const PICK_UP_DISTANCE = 1;

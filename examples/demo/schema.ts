/**
 * The demo world's distributed classes written with the TypeScript definition API. They are the
 * same classes as `demo.dc` beside this file: same ids, same field numbers, same schema hash (a test
 * checks it), so a Panda3D client loading `demo.dc` and a TypeScript service importing this agree.
 */
import { defineSchema, t } from "@overworld/protocol";

export const demo = defineSchema((s) => {
  s.keyword("gmonly");
  s.keyword("shared");
  s.keyword("request");
  const DoId = s.typedef("DoId", t.uint32);
  s.struct("Vec2", { x: t.float32, y: t.float32 });
  const DamageEntry = s.struct("DamageEntry", { attacker: DoId, total: t.uint32 });

  const DistributedWorld = s.dclass("DistributedWorld", {
    setGrid: s.field(
      [t.uint16.named("width"), t.uint16.named("height"), t.float32.named("cellSize")],
      ["required", "broadcast", "ram"],
    ),
  });
  const mover = ["required", "broadcast", "ram", "ownsend", "airecv"] as const;
  const DistributedMover = s.dclass("DistributedMover", {
    setXY: s.field([t.float32.named("x"), t.float32.named("y")], mover),
    setH: s.field([t.int16.modulus(360).divisor(10).named("h")], mover),
    setXYH: s.molecular(["setXY", "setH"]),
    setSmXYH: s.field(
      [
        t.float32.named("x"),
        t.float32.named("y"),
        t.int16.modulus(360).divisor(10).named("h"),
        t.uint32.named("t"),
      ],
      ["broadcast", "ram", "ownsend", "airecv"],
    ),
  });
  const DistributedAvatar = s.dclass(
    "DistributedAvatar",
    { parents: [DistributedMover] },
    {
      setName: s.field([t.string({ min: 1, max: 32 }).named("name")], ["required", "broadcast", "db"]),
      hp: s.param(t.uint8.range(0, 100), ["required", "broadcast", "ram"], 100),
      // a validator (not in the .dc text): the client agent refuses blank text with eject 127
      say: s.field([t.string({ min: 1, max: 200 }).pattern(/\S/).named("text")], ["clsend", "airecv"]),
      chat: s.field([DoId.named("from"), t.string({ min: 1, max: 200 }).named("text")], ["broadcast"]),
      attack: s.field([DoId.named("target")], ["ownsend", "airecv"]),
      kick: s.field([t.string.named("reason")], ["gmonly", "airecv"]),
    },
  );
  const DistributedNpc = s.dclass(
    "DistributedNpc",
    { parents: [DistributedMover] },
    { setKind: s.field([t.uint8.named("kind")], ["required", "broadcast", "ram"]) },
  );
  const DistributedBoss = s.dclass(
    "DistributedBoss",
    { parents: [DistributedMover] },
    {
      hp: s.param(t.uint32, ["required", "broadcast", "ram"], 10000),
      setTarget: s.field([DoId.named("target")], ["broadcast", "ram"]),
      setDamageTable: s.field(
        [t.array(DamageEntry, { min: 0, max: 64 }).named("entries")],
        ["ram", "airecv"],
      ),
      setClusterDamage: s.field(
        [
          t.string({ min: 1, max: 32 }).named("cluster"),
          t.uint32.named("epoch"),
          t.array(DamageEntry, { min: 0, max: 64 }).named("entries"),
        ],
        ["broadcast", "ram", "airecv", "shared"],
      ),
      setTargetOf: s.field(
        [t.string({ min: 0, max: 32 }).named("cluster"), DoId.named("target")],
        ["broadcast", "ram"],
      ),
    },
  );
  const DistributedShop = s.dclass("DistributedShop", {
    setName: s.field([t.string({ min: 1, max: 32 }).named("name")], ["required", "broadcast", "ram"]),
    buy: s.field([t.uint8.named("item")], ["clsend", "airecv", "request"]),
    buyReply: s.field([t.uint16.named("left")]),
    count: s.field([t.uint8.named("item")], ["airecv", "request"]),
    countReply: s.field([t.uint16.named("left")]),
  });
  const DistributedCrate = s.dclass("DistributedCrate", {
    setShape: s.field([t.uint8.named("kind"), t.float32.named("size")], ["required", "broadcast", "ram"]),
    setMotion: s.field(
      [
        t.float32.named("x"),
        t.float32.named("y"),
        t.float32.named("angle"),
        t.float32.named("vx"),
        t.float32.named("vy"),
        t.float32.named("spin"),
      ],
      ["required", "broadcast", "ram"],
    ),
    bump: s.field([DoId.named("by")], ["broadcast"]),
  });
  const DistributedDirectory = s.dclass("DistributedDirectory", {
    setName: s.field([t.string({ min: 1, max: 32 }).named("name")], ["required", "broadcast", "ram"]),
    whois: s.field([DoId.named("avatar")], ["clsend", "airecv", "request"]),
    whoisReply: s.field([t.string.named("name")]),
    lookups: s.field([t.uint8.named("unused")], ["airecv", "request"]),
    lookupsReply: s.field([t.uint32.named("count")]),
  });
  return {
    DistributedWorld,
    DistributedMover,
    DistributedAvatar,
    DistributedNpc,
    DistributedBoss,
    DistributedShop,
    DistributedCrate,
    DistributedDirectory,
  };
});

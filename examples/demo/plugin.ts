/**
 * The demo world's zone logic, as a zone-AI plugin: a grid of zones under one world object, player
 * avatars that walk (each crossing into the zone it walks into, AI and all), NPCs that wander (a world
 * script, scripts/npc-wander.ts, run sandboxed in every zone: its source is served at the zone AI's
 * `GET /scripts/npc-wander`), a chat
 * channel (what an avatar says is broadcast to its zone as `chat`), in the middle zone a boss that
 * targets whoever dealt it the most damage, even from across a zone border, and in the first zone the
 * entrance to a dungeon, an instance per party (dungeon.ts).
 *
 * The boss is a shared object (federation): every linked cluster runs its own instance of it, with its
 * own players hitting it. Each cluster reports the damage its players dealt (its slot of the shared field
 * `setClusterDamage`, refreshed twice a second); every instance merges the slots the same way: its hp is
 * the maximum less every hit dealt in every cluster, and its target the top attacker of all (most damage;
 * ties go to the cluster whose name sorts first, then the lower doId), so all instances attack the same
 * player (`setTargetOf(cluster, doId)`; `setTarget` names the avatar when it is one of this cluster's). A
 * peer not heard from for 1.5 s (a partition) no longer counts for the target: each boss goes on choosing
 * among its own players, counting for its hp whatever it last knew; when the link returns, the slots flow
 * again and every instance comes to the same hp and target. A fight that ends starts a new epoch; a slot
 * of an older epoch no longer counts.
 *
 * A shop stands in the middle zone (doId: the world's + 1): players buy from it with a request
 * (`client.request(shop, "buy", [item])`), which the arena zone answers with how many are left, or with
 * an error (`unknown_item`, `sold_out`; a sold-out item comes back after RESTOCK_MS). An avatar that says
 * "/stock N" asks, through its own zone, the shop's zone how many of item N are left (a zone calling
 * another zone's object), and says the answer.
 *
 * Every zone is also a physics sim (`physicsZone`): crates (balls and boxes) lie about, avatars push them
 * (an avatar is a kinematic body following its walk), and they roll on across zone borders, each zone
 * simulating its neighbours' bodies near the border and handing a crate to the zone it rolls into. A
 * crate hit by another body says so (`bump`), told by the zone that owns it.
 *
 * Configured by environment variables: DEMO_GRID (e.g. "8x8@50": zones across, down, and their size;
 * default 8x8@50), DEMO_WORLD_ID (the world object's doId, default 1000), DEMO_NPCS_PER_ZONE (default 2),
 * DEMO_CRATES_PER_ZONE (default 1), DEMO_DUNGEON_GRACE_MS (how long a dungeon without players stays up,
 * default 30 s), CLUSTER_NAME (this cluster's name among linked clusters, default `local`).
 */

import type { DClassHandle } from "@overworld/protocol";
import { type PhysicsData, physicsZone } from "@overworld/zone-ai/physics";
import {
  definePlugin,
  onField,
  onRequest,
  RequestError,
  type RequestResult,
  type Zone,
  type ZoneHooks,
  type ZoneObject,
  type ZonePlugin,
  type ZoneSpec,
} from "@overworld/zone-ai/plugin";
import { compileScriptFile, loadScript, withScript } from "@overworld/zone-ai/scripts";
import { type Slots, sharedField } from "@overworld/zone-ai/shared";
import { DUNGEON, dungeon } from "./dungeon.ts";
import { DEFAULT_GRID, extent, type Grid, neighbourhood, parseGrid, zoneAt, zonesOf } from "./grid.ts";
import { demo } from "./schema.ts";

const {
  DistributedWorld,
  DistributedMover,
  DistributedAvatar,
  DistributedNpc,
  DistributedBoss,
  DistributedCrate,
  DistributedShop,
  DistributedDirectory,
} = demo;

export interface DemoOptions {
  readonly grid: Grid;
  /** The world object's doId (below the director's id ranges, so it can be fixed). */
  readonly worldId: number;
  readonly npcsPerZone: number;
  /** Crates spawned in each zone when it first starts (default 1). */
  readonly cratesPerZone?: number;
  /** This cluster's name among linked clusters: its slot of the shared boss is written under it (`local`). */
  readonly cluster?: string;
  /** How long a dungeon stays up without players (ms; DEMO_DUNGEON_GRACE_MS, default 30 s). */
  readonly dungeonGraceMs?: number;
  /** Places the dungeon's entrance in the first zone (default true). */
  readonly dungeonEntrance?: boolean;
}

export const DEFAULT_WORLD_ID = 1000;

/** The options from DEMO_GRID, DEMO_WORLD_ID and DEMO_NPCS_PER_ZONE. */
export function demoOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoOptions {
  return {
    grid: env.DEMO_GRID ? parseGrid(env.DEMO_GRID) : DEFAULT_GRID,
    worldId: Number(env.DEMO_WORLD_ID ?? DEFAULT_WORLD_ID),
    npcsPerZone: Number(env.DEMO_NPCS_PER_ZONE ?? 2),
    cratesPerZone: Number(env.DEMO_CRATES_PER_ZONE ?? 1),
    cluster: env.CLUSTER_NAME ?? "local",
    ...(env.DEMO_DUNGEON_GRACE_MS ? { dungeonGraceMs: Number(env.DEMO_DUNGEON_GRACE_MS) } : {}),
  };
}

/** The boss's zone: the middle of the map. */
export function arenaZone(grid: Grid): number {
  return zoneAt(grid, extent(grid).x / 2, extent(grid).y / 2);
}
/** The world object's own place: zone 0 of parent 0 (it is the parent of every zone of the map). */
const WORLD_PLACE = { parent: 0, zone: 0 };
/** NPCs take a step every this many ticks, of this many units (the wander script's pace). */
const NPC_STEP_TICKS = 5;
export const NPC_STEP_UNITS = 4;
/** The NPCs' wander, a world script (its map and pace given per world as its config). */
const NPC_WANDER = await loadScript(
  await compileScriptFile(new URL("./scripts/npc-wander.ts", import.meta.url)),
  {
    schema: demo,
  },
);
/** How far an avatar may be from the boss to hit it: two zones' width. */
const ATTACK_RANGE_CELLS = 2;
const HIT_DAMAGE = 10;
export const BOSS_HP = 10_000;
const BOSS_RESPAWN_MS = 10_000;
const MAX_DAMAGE_ROWS = 64;
const TICK_HZ = 10;
/** A crate's radius (a ball) or half side (a box), and an avatar's radius as a body (as the canvas draws it), in world units. */
export const CRATE_SIZE = 4;
const AVATAR_RADIUS = 5;
/** Bodies this close to a bordering zone are simulated there too. */
const BORDER_MARGIN = 12;
/** What the shop sells (by item number), and how many of each it holds when full. */
export const SHOP_ITEMS = ["potion", "sword", "map"] as const;
export const SHOP_STOCK = [20, 5, 1] as const;
const RESTOCK_MS = 30_000;

/** The shop's doId: fixed, next to the world's, so that every zone can call it. */
export function shopId(worldId: number): number {
  return worldId + 1;
}

/** The directory's doId (uberdog's service, services.ts): fixed, next to the shop's. */
export function directoryId(worldId: number): number {
  return worldId + 2;
}

/** A field zone's own state (its NPCs' wander is the script's, kept in the script's sandbox). */
type FieldState = object;

type BossFields = typeof DistributedBoss extends DClassHandle<infer G> ? G : never;

interface DamageRow {
  readonly attacker: number;
  readonly total: number;
}

/** A cluster's slot of the boss's damage: [epoch of the fight, the damage its players dealt]. */
type DamageSlot = [number, readonly DamageRow[]];

/** The damage of every cluster, merged: the newest epoch, the damage dealt in it, its top attacker. */
interface MergedDamage {
  readonly epoch: number;
  readonly dealt: number;
  readonly top: { readonly cluster: string; readonly attacker: number; readonly total: number } | undefined;
}

interface ArenaState extends FieldState {
  boss: number;
  /** Damage dealt to the boss by this cluster's players, by attacker doId (this epoch). */
  damage: Record<number, number>;
  /** The fight: a new one starts when the boss comes back. */
  epoch: number;
  /** Every cluster's slot of the boss's damage (this one's included). */
  slots: Slots<DamageSlot>;
  /** What the boss shows now: written again only when it changes. */
  shown: { hp: number; cluster: string; target: number };
  dying: boolean;
  /** The shop's stock, by item number. */
  stock: number[];
}

/** Most damage first; a tie goes to the cluster whose name sorts first, then to the lower doId. */
function before(
  a: { cluster: string; attacker: number; total: number },
  b: { cluster: string; attacker: number; total: number },
): boolean {
  if (a.total !== b.total) return a.total > b.total;
  if (a.cluster !== b.cluster) return a.cluster < b.cluster;
  return a.attacker < b.attacker;
}

/** The merge of the clusters' damage slots: only the newest epoch counts. */
export function mergeDamage(slots: readonly (readonly [string, DamageSlot])[]): MergedDamage {
  const epoch = slots.reduce((newest, [, [slotEpoch]]) => Math.max(newest, slotEpoch), 0);
  let dealt = 0;
  let top: MergedDamage["top"];
  for (const [cluster, [slotEpoch, rows]] of slots) {
    if (slotEpoch !== epoch) continue;
    for (const row of rows) {
      dealt += row.total;
      const candidate = { cluster, attacker: row.attacker, total: row.total };
      if (top === undefined || before(candidate, top)) top = candidate;
    }
  }
  return { epoch, dealt, top };
}

/** The demo world as a plugin, for a given map. */
export function demoWorld(options: DemoOptions = demoOptionsFromEnv()): ZonePlugin {
  const {
    grid,
    worldId: WORLD_ID,
    npcsPerZone: NPCS_PER_ZONE,
    cratesPerZone: CRATES_PER_ZONE = 1,
    cluster: CLUSTER = "local",
  } = options;
  const ARENA_ZONE = arenaZone(grid);
  // the dungeon's entrance stands in the middle of the first zone
  const dungeons = dungeon({
    cellSize: grid.cellSize,
    entranceZone: options.dungeonEntrance === false ? undefined : zoneAt(grid, 0, 0),
    entranceAt: [grid.cellSize / 2, grid.cellSize / 2],
    ...(options.dungeonGraceMs === undefined ? {} : { emptyGraceMs: options.dungeonGraceMs }),
  });
  const SHOP_ID = shopId(WORLD_ID);
  const npcWander = {
    ...NPC_WANDER,
    config: {
      width: grid.width,
      cellSize: grid.cellSize,
      stepTicks: NPC_STEP_TICKS,
      stepUnits: NPC_STEP_UNITS,
    },
  };
  const DIRECTORY_ID = directoryId(WORLD_ID);
  const sharedDamage = sharedField<ArenaState, BossFields, "setClusterDamage", MergedDamage>(
    DistributedBoss,
    "setClusterDamage",
    { cluster: CLUSTER, rule: { rule: "merge", merge: mergeDamage } },
  );

  /** Bounds of a zone, in world units. */
  function boundsOf(zone: number): { x0: number; y0: number; x1: number; y1: number } {
    const index = zone - 1;
    const x0 = (index % grid.width) * grid.cellSize;
    const y0 = Math.floor(index / grid.width) * grid.cellSize;
    return { x0, y0, x1: x0 + grid.cellSize, y1: y0 + grid.cellSize };
  }

  function randomPointIn(zone: Zone, zoneId: number): [number, number] {
    const b = boundsOf(zoneId);
    return [b.x0 + zone.random() * (b.x1 - b.x0), b.y0 + zone.random() * (b.y1 - b.y0)];
  }

  function spawnNpcs(zone: Zone): void {
    let present = 0;
    for (const object of zone.objects.values()) if (object.is(DistributedNpc)) present += 1;
    for (let i = present; i < NPCS_PER_ZONE; i++) {
      const [x, y] = randomPointIn(zone, zone.zone);
      zone.spawn(DistributedNpc, { setXY: [x, y], setH: [0], setKind: [i % 4] });
    }
  }

  /** Crates at random points of the zone, balls and boxes in turn. */
  function spawnCrates(zone: Zone): void {
    let present = 0;
    for (const object of zone.objects.values()) if (object.is(DistributedCrate)) present += 1;
    for (let i = present; i < CRATES_PER_ZONE; i++) {
      const [x, y] = randomPointIn(zone, zone.zone);
      zone.spawn(DistributedCrate, { setShape: [i % 2, CRATE_SIZE], setMotion: [x, y, 0, 0, 0, 0] });
    }
  }

  /**
   * A zone of the map as a physics sim around the game's own hooks: crates are dynamic bodies, avatars
   * kinematic ones following their walk (`setSmXYH`); the map's edges are walls.
   */
  function withPhysics<S extends object>(game: ZoneHooks<S>): ZoneHooks<S & { physics: PhysicsData }> {
    return physicsZone<S>({
      stepMs: 1000 / TICK_HZ,
      margin: BORDER_MARGIN,
      bounds: { x0: 0, y0: 0, x1: extent(grid).x, y1: extent(grid).y },
      neighbours: (zone) => neighbourhood(grid, zone),
      area: boundsOf,
      zoneAt: (x, y) => zoneAt(grid, x, y),
      body: (object) => {
        if (object.is(DistributedCrate)) {
          const [kind, size] = object.get("setShape") ?? [0, CRATE_SIZE];
          const [x, y, angle, vx, vy, spin] = object.get("setMotion") ?? [0, 0, 0, 0, 0, 0];
          const shape = kind === 1 ? { box: [size, size] as const } : { ball: size };
          return {
            type: "dynamic",
            shape,
            x,
            y,
            angle,
            vx,
            vy,
            spin,
            damping: 0.8,
            angularDamping: 1,
            restitution: 0.4,
          };
        }
        if (object.is(DistributedAvatar)) {
          const [x, y] = object.get("setSmXYH") ?? object.get("setXY") ?? [0, 0];
          return { type: "kinematic", shape: { ball: AVATAR_RADIUS }, x, y };
        }
        return undefined;
      },
      steer: [[DistributedMover, "setSmXYH"]],
      write: (zone, object, m) => {
        if (object.is(DistributedCrate))
          zone.set(object, "setMotion", [m.x, m.y, m.angle, m.vx, m.vy, m.spin]);
      },
      hit: (zone, _state, object, other) => {
        if (object.is(DistributedCrate)) zone.set(object, "bump", [other]);
      },
      game,
    });
  }

  const clampToMap = (value: number, limit: number) => Math.min(limit - 0.001, Math.max(0, value));

  /** What every zone of the map does with avatars: walking (across borders), chat, attacks. */
  const avatarHandlers = [
    onField(DistributedMover, "setSmXYH", (zone, _state, mover, [x, y]) => {
      const size = extent(grid);
      const next = zoneAt(grid, clampToMap(x, size.x), clampToMap(y, size.y));
      if (next !== mover.zone) zone.move(mover, next);
    }),
    onField(DistributedAvatar, "say", (zone, _state, avatar, [text], sender) => {
      // say is clsend: anyone who sees the avatar may send it, but only its owner speaks through it
      if (sender !== avatar.owner) return;
      // "/whois N": this zone asks uberdog's directory (a request to a service object) who is behind avatar N
      const whois = /^\/whois (\d+)$/.exec(text);
      if (whois !== null) {
        const target = Math.min(0xffff_ffff, Number(whois[1]));
        zone.request(DIRECTORY_ID, DistributedDirectory, "whois", [target], {
          onReply: "whois",
          data: { avatar: avatar.doId, target },
        });
        return;
      }
      // "/stock N": this zone asks the shop's zone (a request to another zone's object); `replied` says the answer
      const asked = /^\/stock (\d+)$/.exec(text);
      if (asked === null) {
        if (!text.startsWith("/")) zone.set(avatar, "chat", [avatar.doId, text]); // other commands are not chat
        return;
      }
      const item = Math.min(255, Number(asked[1]));
      zone.request(SHOP_ID, DistributedShop, "count", [item], {
        onReply: "stock",
        data: { avatar: avatar.doId, item },
      });
    }),
    onField(DistributedAvatar, "attack", (zone, _state, avatar, [target], sender) => {
      if (sender !== avatar.owner) return; // only a player attacks, through its own avatar
      const boss = zone.find(target);
      if (boss === undefined || !boss.is(DistributedBoss)) return;
      const [ax, ay] = avatar.get("setSmXYH") ?? avatar.get("setXY") ?? [0, 0];
      const [bx, by] = boss.get("setXY") ?? [0, 0];
      if (Math.hypot(ax - bx, ay - by) > ATTACK_RANGE_CELLS * grid.cellSize) return;
      // the boss's zone keeps the damage table: the hit goes there, journaled with its other inputs
      zone.sendEvent(boss.zone, "damage", { attacker: avatar.doId, amount: HIT_DAMAGE }, boss.doId);
    }),
    ...dungeons.world.fields,
  ];

  /** The answer to an avatar's "/whois N", said as the directory's words. */
  function sayWhois(zone: Zone, result: RequestResult, data: unknown): void {
    const { avatar, target } = data as { avatar: number; target: number };
    const speaker = zone.objects.get(avatar);
    if (speaker === undefined || !speaker.is(DistributedAvatar)) return; // it walked on meanwhile
    const text = result.ok ? `${target} is ${(result.value as [string])[0]}` : `${target}: ${result.code}`;
    zone.set(speaker, "chat", [DIRECTORY_ID, text.slice(0, 200)]);
  }

  /** The answer to an avatar's "/stock N", said by the avatar as the shop's words. */
  function sayStock(zone: Zone, result: RequestResult, data: unknown): void {
    const { avatar, item } = data as { avatar: number; item: number };
    const speaker = zone.objects.get(avatar);
    if (speaker === undefined || !speaker.is(DistributedAvatar)) return; // it walked on meanwhile
    const name = SHOP_ITEMS[item] ?? `item ${item}`;
    const text = result.ok ? `${name}: ${(result.value as [number])[0]} left` : `${name}: ${result.code}`;
    zone.set(speaker, "chat", [SHOP_ID, text]);
  }

  const field: ZoneHooks<FieldState> = {
    init: () => ({}),
    start: (zone, state) => {
      spawnNpcs(zone);
      spawnCrates(zone);
      dungeons.world.start(zone, state);
    },
    enter: dungeons.world.enter,
    leave: dungeons.world.leave,
    fields: avatarHandlers,
    event: dungeons.world.event,
    replied: (zone, _state, name, result, data) => {
      if (name === "stock") sayStock(zone, result, data);
      if (name === "whois") sayWhois(zone, result, data);
    },
  };

  /** The shop's stock of an item; an error the caller can tell apart for an item it does not sell. */
  function stockOf(state: ArenaState, item: number): number {
    state.stock ??= [...SHOP_STOCK]; // a zone resumed from a snapshot of before the shop
    const left = state.stock[item];
    if (left === undefined) {
      throw new RequestError(
        "unknown_item",
        `the shop sells items 0 to ${SHOP_ITEMS.length - 1}, not ${item}`,
      );
    }
    return left;
  }

  /** This cluster's damage table, as its slot of the shared damage and as the boss's own table. */
  function writeOwnDamage(zone: Zone, state: ArenaState, boss: ZoneObject): void {
    const rows = Object.entries(state.damage)
      .map(([id, total]) => ({ attacker: Number(id), total }))
      .sort((a, b) => b.total - a.total || a.attacker - b.attacker)
      .slice(0, MAX_DAMAGE_ROWS);
    sharedDamage.write(zone, boss, state.slots, [state.epoch, rows]);
    zone.set(boss as ZoneObject<BossFields>, "setDamageTable", [rows]);
  }

  /**
   * What the boss shows, from every cluster's damage: hp from all it knows; the target from the clusters
   * heard lately (during a partition, this cluster's players only). Writes only what changed.
   */
  function decide(zone: Zone, state: ArenaState): void {
    const boss = zone.objects.get(state.boss);
    if (boss === undefined || !boss.is(DistributedBoss)) return;
    const known = sharedDamage.resolve(zone, state.slots, "known") as MergedDamage;
    if (known.epoch > state.epoch) {
      // a peer's boss came back first: this one joins the new fight
      state.epoch = known.epoch;
      state.damage = {};
      state.dying = false;
      writeOwnDamage(zone, state, boss);
    }
    const fresh = sharedDamage.resolve(zone, state.slots, "fresh") as MergedDamage;
    const hp = Math.max(0, BOSS_HP - known.dealt);
    const top = fresh.epoch === state.epoch ? fresh.top : undefined;
    const target = { cluster: top?.cluster ?? "", target: top?.attacker ?? 0 };
    if (hp !== state.shown.hp) zone.set(boss, "hp", hp);
    if (target.cluster !== state.shown.cluster || target.target !== state.shown.target) {
      zone.set(boss, "setTargetOf", [target.cluster, target.target]);
      zone.set(boss, "setTarget", [target.cluster === CLUSTER ? target.target : 0]);
    }
    state.shown = { hp, ...target };
    if (hp === 0 && !state.dying) {
      state.dying = true;
      zone.after(BOSS_RESPAWN_MS, "respawn", state.epoch);
    }
  }

  /** The boss's zone: a field zone whose boss targets the top attacker of every linked cluster. */
  const arena: ZoneHooks<ArenaState> = {
    init: () => ({
      boss: 0,
      damage: {},
      epoch: 0,
      slots: {},
      shown: { hp: BOSS_HP, cluster: "", target: 0 },
      dying: false,
      stock: [...SHOP_STOCK],
    }),
    start: (zone, state) => {
      spawnNpcs(zone);
      spawnCrates(zone);
      dungeons.world.start(zone, state);
      for (const object of zone.objects.values()) if (object.is(DistributedBoss)) state.boss = object.doId;
      if (state.boss === 0) {
        const b = boundsOf(zone.zone);
        state.boss = zone.spawn(DistributedBoss, {
          setXY: [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2],
          setH: [0],
          hp: BOSS_HP,
          setTarget: [0],
          setDamageTable: [[]],
          setTargetOf: ["", 0],
          setClusterDamage: [CLUSTER, 0, []],
        });
      }
      state.slots[CLUSTER] = { value: [state.epoch, []], at: zone.now };
    },
    tick: (zone, state) => {
      const boss = zone.objects.get(state.boss);
      if (boss === undefined) return;
      sharedDamage.refresh(zone, boss, state.slots); // peers hear this cluster's slot while the link is up
      decide(zone, state); // a peer gone quiet no longer counts for the target
    },
    fields: [
      ...avatarHandlers,
      sharedDamage.handler(
        (state) => state.slots,
        (zone, state) => decide(zone, state),
      ),
    ],
    enter: dungeons.world.enter,
    leave: dungeons.world.leave,
    event: (zone, state, event) => {
      if (dungeons.world.event(zone, state, event)) return;
      if (event.name !== "damage" || event.target !== state.boss) return;
      const boss = zone.objects.get(state.boss);
      if (boss === undefined || !boss.is(DistributedBoss) || state.shown.hp === 0) return;
      const { attacker, amount } = event.data as { attacker: number; amount: number };
      state.damage[attacker] = (state.damage[attacker] ?? 0) + amount;
      writeOwnDamage(zone, state, boss);
      decide(zone, state);
    },
    requests: [
      onRequest(DistributedShop, "buy", (zone, state, _shop, [item]): [number] => {
        const left = stockOf(state, item);
        if (left === 0) throw new RequestError("sold_out", `no ${SHOP_ITEMS[item]} left: come back later`);
        state.stock[item] = left - 1;
        if (left === 1) zone.after(RESTOCK_MS, "restock", item);
        return [left - 1];
      }),
      onRequest(DistributedShop, "count", (_zone, state, _shop, [item]): [number] => [stockOf(state, item)]),
    ],
    replied: (zone, _state, name, result, data) => {
      if (name === "stock") sayStock(zone, result, data);
      if (name === "whois") sayWhois(zone, result, data);
    },
    timer: (zone, state, name, data) => {
      if (name === "restock") {
        state.stock[data as number] = SHOP_STOCK[data as number] ?? 0;
        return;
      }
      const boss = zone.objects.get(state.boss);
      if (name !== "respawn" || boss === undefined || !boss.is(DistributedBoss)) return;
      if (data !== state.epoch) return; // this cluster already joined a newer fight
      state.epoch += 1;
      state.damage = {};
      state.dying = false;
      writeOwnDamage(zone, state, boss);
      decide(zone, state);
    },
  };

  return definePlugin({
    name: "demo-world",
    schema: demo,
    tickHz: TICK_HZ,
    async zones(cluster) {
      if (!(await cluster.exists(WORLD_ID))) {
        await cluster
          .create(
            DistributedWorld,
            { setGrid: [grid.width, grid.height, grid.cellSize] },
            { ...WORLD_PLACE, doId: WORLD_ID },
          )
          .catch(async (error: unknown) => {
            if (!(await cluster.exists(WORLD_ID))) throw error; // else another replica made it first
          });
      }
      if (!(await cluster.exists(SHOP_ID))) {
        await cluster
          .create(
            DistributedShop,
            { setName: ["the shop"] },
            { parent: WORLD_ID, zone: ARENA_ZONE, doId: SHOP_ID },
          )
          .catch(async (error: unknown) => {
            if (!(await cluster.exists(SHOP_ID))) throw error;
          });
      }
      return zonesOf(grid).map(
        (zone): ZoneSpec => ({ parent: WORLD_ID, zone, kind: zone === ARENA_ZONE ? "arena" : "field" }),
      );
    },
    neighbours: (spec) => neighbourhood(grid, spec.zone),
    kinds: {
      field: withScript(npcWander, withPhysics(field)),
      arena: withScript(npcWander, withPhysics(arena)),
      [DUNGEON]: dungeons.kind,
    },
    instances: { [DUNGEON]: dungeons.template },
    async clientArrived(client, cluster) {
      const size = extent(grid);
      const x = Math.random() * size.x;
      const y = Math.random() * size.y;
      const doId = await cluster.create(
        DistributedAvatar,
        {
          setXY: [x, y],
          setH: [0],
          setSmXYH: [x, y, 0, 0],
          setName: [client.username.slice(0, 32) || "player"],
          hp: 100,
        },
        { parent: WORLD_ID, zone: zoneAt(grid, x, y), owner: client.channel },
      );
      cluster.addSessionObject(client.channel, doId);
    },
  });
}

export const plugin = demoWorld();
export default plugin;

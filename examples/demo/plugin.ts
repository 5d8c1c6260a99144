/**
 * The demo world's zone logic, as a zone-AI plugin: a grid of zones under one world object, player
 * avatars that walk (each crossing into the zone it walks into, AI and all), NPCs that wander, a chat
 * channel (what an avatar says is broadcast to its zone as `chat`), and in the middle zone a boss that
 * targets whoever dealt it the most damage, even from across a zone border.
 *
 * Configured by environment variables: DEMO_GRID (e.g. "8x8@50": zones across, down, and their size;
 * default 8x8@50), DEMO_WORLD_ID (the world object's doId, default 1000), DEMO_NPCS_PER_ZONE (default 2).
 */
import {
  definePlugin,
  onField,
  type Zone,
  type ZoneHooks,
  type ZonePlugin,
  type ZoneSpec,
} from "@overworld/zone-ai/plugin";
import { DEFAULT_GRID, extent, type Grid, neighbourhood, parseGrid, zoneAt, zonesOf } from "./grid.ts";
import { demo } from "./schema.ts";

const { DistributedWorld, DistributedMover, DistributedAvatar, DistributedNpc, DistributedBoss } = demo;

export interface DemoOptions {
  readonly grid: Grid;
  /** The world object's doId (below the director's id ranges, so it can be fixed). */
  readonly worldId: number;
  readonly npcsPerZone: number;
}

export const DEFAULT_WORLD_ID = 1000;

/** The options from DEMO_GRID, DEMO_WORLD_ID and DEMO_NPCS_PER_ZONE. */
export function demoOptionsFromEnv(env: NodeJS.ProcessEnv = process.env): DemoOptions {
  return {
    grid: env.DEMO_GRID ? parseGrid(env.DEMO_GRID) : DEFAULT_GRID,
    worldId: Number(env.DEMO_WORLD_ID ?? DEFAULT_WORLD_ID),
    npcsPerZone: Number(env.DEMO_NPCS_PER_ZONE ?? 2),
  };
}

/** The boss's zone: the middle of the map. */
export function arenaZone(grid: Grid): number {
  return zoneAt(grid, extent(grid).x / 2, extent(grid).y / 2);
}
/** The world object's own place: zone 0 of parent 0 (it is the parent of every zone of the map). */
const WORLD_PLACE = { parent: 0, zone: 0 };
/** NPCs take a step every this many ticks. */
const NPC_STEP_TICKS = 5;
const NPC_STEP_UNITS = 4;
/** How far an avatar may be from the boss to hit it: two zones' width. */
const ATTACK_RANGE_CELLS = 2;
const HIT_DAMAGE = 10;
export const BOSS_HP = 10_000;
const BOSS_RESPAWN_MS = 10_000;
const MAX_DAMAGE_ROWS = 64;

interface FieldState {
  /** Each NPC's current waypoint. */
  waypoints: Record<number, [number, number]>;
  ticks: number;
}

interface ArenaState extends FieldState {
  boss: number;
  /** Damage dealt to the boss, by attacker doId. */
  damage: Record<number, number>;
}

/** The demo world as a plugin, for a given map. */
export function demoWorld(options: DemoOptions = demoOptionsFromEnv()): ZonePlugin {
  const { grid, worldId: WORLD_ID, npcsPerZone: NPCS_PER_ZONE } = options;
  const ARENA_ZONE = arenaZone(grid);

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

  function spawnNpcs(zone: Zone, state: FieldState): void {
    let present = 0;
    for (const object of zone.objects.values()) if (object.is(DistributedNpc)) present += 1;
    for (let i = present; i < NPCS_PER_ZONE; i++) {
      const [x, y] = randomPointIn(zone, zone.zone);
      const doId = zone.spawn(DistributedNpc, { setXY: [x, y], setH: [0], setKind: [i % 4] });
      state.waypoints[doId] = randomPointIn(zone, zone.zone);
    }
  }

  /** NPCs walk towards their waypoint, and pick another once there; they stay in their zone. */
  function wander(zone: Zone, state: FieldState): void {
    state.ticks += 1;
    if (state.ticks % NPC_STEP_TICKS !== 0) return;
    for (const npc of zone.objects.values()) {
      if (!npc.is(DistributedNpc)) continue;
      const [x, y] = npc.get("setXY") ?? randomPointIn(zone, zone.zone);
      let target = state.waypoints[npc.doId];
      if (target === undefined || Math.hypot(target[0] - x, target[1] - y) < NPC_STEP_UNITS) {
        target = randomPointIn(zone, zone.zone);
        state.waypoints[npc.doId] = target;
      }
      const angle = Math.atan2(target[1] - y, target[0] - x);
      zone.set(npc, "setXY", [x + Math.cos(angle) * NPC_STEP_UNITS, y + Math.sin(angle) * NPC_STEP_UNITS]);
    }
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
      zone.set(avatar, "chat", [avatar.doId, text]);
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
  ];

  const field: ZoneHooks<FieldState> = {
    init: () => ({ waypoints: {}, ticks: 0 }),
    start: spawnNpcs,
    tick: wander,
    leave: (_zone, state, object) => {
      delete state.waypoints[object.doId];
    },
    fields: avatarHandlers,
  };

  /** The boss's zone: a field zone whose boss picks as target the top of its damage table. */
  const arena: ZoneHooks<ArenaState> = {
    init: () => ({ waypoints: {}, ticks: 0, boss: 0, damage: {} }),
    start: (zone, state) => {
      spawnNpcs(zone, state);
      for (const object of zone.objects.values()) if (object.is(DistributedBoss)) state.boss = object.doId;
      if (state.boss === 0) {
        const b = boundsOf(zone.zone);
        state.boss = zone.spawn(DistributedBoss, {
          setXY: [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2],
          setH: [0],
          hp: BOSS_HP,
          setTarget: [0],
          setDamageTable: [[]],
        });
      }
    },
    tick: wander,
    fields: avatarHandlers,
    event: (zone, state, event) => {
      if (event.name !== "damage" || event.target !== state.boss) return;
      const boss = zone.objects.get(state.boss);
      if (boss === undefined || !boss.is(DistributedBoss) || (boss.get("hp") ?? 0) === 0) return;
      const { attacker, amount } = event.data as { attacker: number; amount: number };
      state.damage[attacker] = (state.damage[attacker] ?? 0) + amount;
      const table = Object.entries(state.damage)
        .map(([id, total]) => ({ attacker: Number(id), total }))
        .sort((a, b) => b.total - a.total || a.attacker - b.attacker);
      const dealt = table.reduce((sum, row) => sum + row.total, 0);
      zone.set(boss, "hp", Math.max(0, BOSS_HP - dealt));
      zone.set(boss, "setTarget", [table[0]!.attacker]);
      zone.set(boss, "setDamageTable", [table.slice(0, MAX_DAMAGE_ROWS)]);
      if (dealt >= BOSS_HP) zone.after(BOSS_RESPAWN_MS, "respawn");
    },
    timer: (zone, state, name) => {
      const boss = zone.objects.get(state.boss);
      if (name !== "respawn" || boss === undefined || !boss.is(DistributedBoss)) return;
      state.damage = {};
      zone.set(boss, "hp", BOSS_HP);
      zone.set(boss, "setTarget", [0]);
      zone.set(boss, "setDamageTable", [[]]);
    },
  };

  return definePlugin({
    name: "demo-world",
    schema: demo,
    tickHz: 10,
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
      return zonesOf(grid).map(
        (zone): ZoneSpec => ({ parent: WORLD_ID, zone, kind: zone === ARENA_ZONE ? "arena" : "field" }),
      );
    },
    neighbours: (spec) => neighbourhood(grid, spec.zone),
    kinds: { field, arena },
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

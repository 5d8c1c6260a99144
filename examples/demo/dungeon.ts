/**
 * The demo world's dungeon: an instance (a copy of one zone under a parent object of its own) per party.
 *
 * In the world: an entrance (a plain DistributedMover, standing still in the middle of the entrance
 * zone: no NPC, so the world's NPC counts stay what they were). An avatar that steps onto it goes into a dungeon of its own; one that says `/dungeon NAME` goes
 * into party NAME's dungeon (everyone of the zone who says the same name shares one), `/dungeon` alone into
 * its own. Each world zone keeps its parties' dungeons (`parties`) until it hears they closed.
 *
 * In the dungeon (zone 1 of the instance, so that a followed interest on the world's grid covers it): two
 * guards wander, and an exit (an NPC of kind EXIT_KIND) in the far corner. An avatar arrives at
 * ARRIVAL; stepping onto the exit or saying `/leave` brings it back to the zone it came from, at the place
 * it stood. A dungeon without players for `emptyGraceMs` closes, and everything in it goes.
 */
import type { DClassHandle } from "@overworld/protocol";
import {
  INSTANCE_CLOSED,
  type InstanceClosed,
  type InstanceTemplate,
  instanceParent,
  onField,
  type Zone,
  type ZoneEventInput,
  type ZoneHooks,
  type ZoneObject,
} from "@overworld/zone-ai/plugin";
import { demo } from "./schema.ts";

const { DistributedWorld, DistributedMover, DistributedAvatar, DistributedNpc } = demo;

export const DUNGEON = "dungeon";
/** The dungeon's one zone. */
export const DUNGEON_ZONE = 1;
/** The kinds of a dungeon's NPCs: its exit (standing still) and its guards. */
export const EXIT_KIND = 10;
export const GUARD_KIND = 3;
const GUARDS = 2;
/** How near the entrance or the exit an avatar must step. */
export const STEP_RADIUS = 3;
/** Where an avatar stands when it arrives in a dungeon, and where the exit is (dungeon units). */
export const ARRIVAL: readonly [number, number] = [5, 5];
const GUARD_STEP_TICKS = 5;
const GUARD_STEP_UNITS = 3;

type MoverFields = typeof DistributedMover extends DClassHandle<infer G> ? G : never;

/** The entrance: an object of the base class itself (avatars, NPCs and the boss are of classes deriving from it). */
export function isEntrance(object: { readonly dclass: { readonly id: number } }): boolean {
  return object.dclass.id === DistributedMover.dclass.id;
}

/** What a world zone keeps about dungeons. */
interface EntranceState {
  /** The entrance's doId in this zone (0 where there is none). */
  marker: number;
  /** Each party's open dungeon (its parent doId). */
  parties: Record<string, number>;
  /** Avatars in a dungeon: where they stood here, and which dungeon. */
  away: Record<number, [x: number, y: number, h: number, dungeon: number]>;
  /** Avatars standing on the entrance now (they step off before it takes them again). */
  standing: Record<number, true>;
}

interface DungeonState {
  exit: number;
  waypoints: Record<number, [number, number]>;
  ticks: number;
}

export interface DungeonOptions {
  /** The side of the dungeon's zone (the world's cell size). */
  readonly cellSize: number;
  /** The world zone with the entrance (none: no entrance; `/dungeon` still works). */
  readonly entranceZone: number | undefined;
  /** The middle of the entrance zone (world units). */
  readonly entranceAt: readonly [number, number];
  /** How long a dungeon stays up without players (ms; default 30 s). */
  readonly emptyGraceMs?: number;
}

function positionOf(mover: ZoneObject<MoverFields>): [number, number, number] {
  const smooth = mover.get("setSmXYH");
  if (smooth) return [smooth[0], smooth[1], smooth[2]];
  const [x, y] = mover.get("setXY") ?? [0, 0];
  return [x, y, mover.get("setH")?.[0] ?? 0];
}

function place(zone: Zone, mover: ZoneObject<MoverFields>, x: number, y: number, h: number): void {
  zone.set(mover, "setXY", [x, y]);
  zone.set(mover, "setSmXYH", [x, y, h, 0]);
}

const near = (a: readonly number[], b: readonly number[]) =>
  Math.hypot(a[0]! - b[0]!, a[1]! - b[1]!) <= STEP_RADIUS;

/** The dungeon: its instance template, its zone kind, and what the world's zones add for its entrance. */
export function dungeon(options: DungeonOptions) {
  const { cellSize, entranceZone, entranceAt } = options;
  const exitAt: [number, number] = [cellSize - ARRIVAL[0], cellSize - ARRIVAL[1]];

  const template: InstanceTemplate = {
    zones: [{ zone: DUNGEON_ZONE, kind: DUNGEON }],
    parent: instanceParent(DistributedWorld, { setGrid: [1, 1, cellSize] }),
    ...(options.emptyGraceMs === undefined ? {} : { emptyGraceMs: options.emptyGraceMs }),
  };

  const entranceOf = (state: object): EntranceState => {
    const holder = state as { entrance?: EntranceState };
    holder.entrance ??= { marker: 0, parties: {}, away: {}, standing: {} };
    return holder.entrance;
  };

  /** Sends an avatar into its party's dungeon, opening it if the party has none. */
  function enter(zone: Zone, state: object, avatar: ZoneObject<MoverFields>, party: string): void {
    const entrance = entranceOf(state);
    let parent = entrance.parties[party];
    if (parent === undefined) {
      parent = zone.openInstance(DUNGEON, { data: { party } }).parent;
      entrance.parties[party] = parent;
    }
    entrance.away[avatar.doId] = [...positionOf(avatar), parent];
    zone.moveToInstance(avatar, { parent, template: DUNGEON });
  }

  /** What every zone of the world adds: the entrance, `/dungeon`, coming back, dungeons closing. */
  const world = {
    /** Puts the entrance in its zone (once). */
    start(zone: Zone, state: object): void {
      if (zone.zone !== entranceZone) return;
      const entrance = entranceOf(state);
      for (const object of zone.objects.values()) if (isEntrance(object)) entrance.marker = object.doId;
      if (entrance.marker === 0) {
        const [x, y] = entranceAt;
        entrance.marker = zone.spawn(DistributedMover, { setXY: [x, y], setH: [0], setSmXYH: [x, y, 0, 0] });
      }
    },
    fields: [
      onField(DistributedAvatar, "say", (zone, state: object, avatar, [text], sender) => {
        if (sender !== avatar.owner) return;
        const command = /^\/dungeon(?:\s+(\S{1,32}))?\s*$/.exec(text);
        if (command) enter(zone, state, avatar, command[1] ?? `solo:${avatar.doId}`);
      }),
      onField(DistributedAvatar, "setSmXYH", (zone, state: object, avatar, [x, y]) => {
        if (zone.zone !== entranceZone) return;
        const entrance = entranceOf(state);
        if (!near([x, y], entranceAt)) {
          delete entrance.standing[avatar.doId];
          return;
        }
        if (entrance.standing[avatar.doId] || entrance.away[avatar.doId]) return;
        entrance.standing[avatar.doId] = true;
        enter(zone, state, avatar, `solo:${avatar.doId}`);
      }),
    ],
    /** An avatar back from a dungeon stands where it stood before it went. */
    enter(zone: Zone, state: object, object: ZoneObject): void {
      const entrance = entranceOf(state);
      const away = entrance.away[object.doId];
      if (away === undefined || !object.is(DistributedMover) || object.parent === away[3]) return;
      delete entrance.away[object.doId];
      place(zone, object, away[0], away[1], away[2]);
      if (zone.zone === entranceZone && near(away, entranceAt)) entrance.standing[object.doId] = true;
    },
    leave(_zone: Zone, state: object, object: ZoneObject): void {
      delete entranceOf(state).standing[object.doId];
    },
    /** A dungeon this zone opened has closed: its party gets a new one next time. */
    event(_zone: Zone, state: object, event: ZoneEventInput): boolean {
      if (event.name !== INSTANCE_CLOSED) return false;
      const { parent } = event.data as InstanceClosed;
      const entrance = entranceOf(state);
      for (const [party, open] of Object.entries(entrance.parties))
        if (open === parent) delete entrance.parties[party];
      for (const [doId, away] of Object.entries(entrance.away))
        if (away[3] === parent) delete entrance.away[Number(doId)]; // its player left the game in there
      return true;
    },
  };

  const randomPoint = (zone: Zone): [number, number] => [zone.random() * cellSize, zone.random() * cellSize];

  const kind: ZoneHooks<DungeonState> = {
    init: () => ({ exit: 0, waypoints: {}, ticks: 0 }),
    start: (zone, state) => {
      // a dungeon whose replica died before its first snapshot starts afresh elsewhere, with its objects
      let guards = 0;
      for (const object of zone.objects.values()) {
        if (!object.is(DistributedNpc)) continue;
        if (object.get("setKind")?.[0] === EXIT_KIND) state.exit = object.doId;
        else guards += 1;
      }
      if (state.exit === 0)
        state.exit = zone.spawn(DistributedNpc, { setXY: exitAt, setH: [0], setKind: [EXIT_KIND] });
      for (let i = guards; i < GUARDS; i++) {
        const doId = zone.spawn(DistributedNpc, {
          setXY: randomPoint(zone),
          setH: [0],
          setKind: [GUARD_KIND],
        });
        state.waypoints[doId] = randomPoint(zone);
      }
    },
    tick: (zone, state) => {
      state.ticks += 1;
      if (state.ticks % GUARD_STEP_TICKS !== 0) return;
      for (const guard of zone.objects.values()) {
        if (!guard.is(DistributedNpc) || guard.doId === state.exit) continue;
        const [x, y] = guard.get("setXY") ?? randomPoint(zone);
        let target = state.waypoints[guard.doId] ?? randomPoint(zone);
        if (Math.hypot(target[0] - x, target[1] - y) < GUARD_STEP_UNITS) target = randomPoint(zone);
        state.waypoints[guard.doId] = target;
        const angle = Math.atan2(target[1] - y, target[0] - x);
        zone.set(guard, "setXY", [
          x + Math.cos(angle) * GUARD_STEP_UNITS,
          y + Math.sin(angle) * GUARD_STEP_UNITS,
        ]);
      }
    },
    /** A player arrives at the dungeon's door. */
    enter: (zone, _state, object) => {
      if (object.owner !== 0 && object.is(DistributedMover)) place(zone, object, ARRIVAL[0], ARRIVAL[1], 0);
    },
    fields: [
      onField(DistributedAvatar, "say", (zone, _state, avatar, [text], sender) => {
        if (sender !== avatar.owner) return;
        if (text.trim() === "/leave") zone.leaveInstance(avatar);
        else zone.set(avatar, "chat", [avatar.doId, text]);
      }),
      onField(DistributedAvatar, "setSmXYH", (zone, _state, avatar, [x, y]) => {
        if (near([x, y], exitAt)) zone.leaveInstance(avatar);
      }),
    ],
  };

  return { template, kind, world };
}

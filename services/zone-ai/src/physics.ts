/**
 * Physics as its own sim (the Metatopia seed): a zone kind whose objects are rigid bodies of a 2D
 * physics world (Rapier, its cross-platform deterministic build), stepped at a fixed rate.
 *
 * - **Its clock is the journal.** A step happens only while a journaled input is applied: before any
 *   input at time t the world steps up to step ⌊t / stepMs⌋, and while something moves the zone sends
 *   itself a `physics:clock` event every tick to keep time going. Ticks and timers (wall-clock, not
 *   journaled) never step it. So the world is a function of the zone's journal: a zone resumed on another
 *   replica from its snapshot (the Rapier world's own snapshot, `save`) and the inputs after it reaches
 *   bit-identical bodies.
 * - **Neighbours subscribe to each other.** After stepping, a zone sends each bordering physics zone the
 *   bodies it owns within `margin` of that zone's area (`physics:border`, journaled there like any input).
 *   The receiver simulates them as ghosts: bodies like its own that collide with its own, corrected to
 *   what their owner says each time it speaks. A ghost is never written, reported or handed anywhere.
 * - **Hand-off.** A dynamic body whose position falls in another zone's area is moved there
 *   (`zone.move`, its AI goes with it) and is a ghost here from that step on; its new zone, which had
 *   it as a ghost, keeps simulating the same body as its own. Kinematic bodies are steered and moved by
 *   the game (an avatar walking): they become ghosts here once their position is elsewhere.
 * - **Events by ownership.** A collision between A (owned by Y) and B (owned by Z) is seen by both:
 *   Y reports "A was hit by B" (`hit` with A), Z reports "B was hit by A". Each zone reports only its own
 *   bodies' hits; what it learns about a ghost stays inside.
 */
import RAPIER from "@dimforge/rapier2d-deterministic-compat";
import type { DClassHandle } from "@overworld/protocol";
import { z } from "zod";
import type { FieldHandler, Zone, ZoneEventInput, ZoneHooks, ZoneObject } from "./plugin.ts";

await RAPIER.init();

/** A ball of a radius, or a box of half-extents. */
export type Shape = { readonly ball: number } | { readonly box: readonly [number, number] };

/** An object's body as its fields describe it (`PhysicsOptions.body`). */
export interface BodyDef {
  /** Dynamic bodies are pushed around; kinematic ones go where they are steered and push the rest. */
  readonly type: "dynamic" | "kinematic";
  readonly shape: Shape;
  readonly x: number;
  readonly y: number;
  readonly angle?: number;
  readonly vx?: number;
  readonly vy?: number;
  /** Angular velocity, radians per second. */
  readonly spin?: number;
  readonly density?: number;
  readonly friction?: number;
  readonly restitution?: number;
  /** Linear and angular damping: how fast it slows down by itself (top-down worlds have no gravity). */
  readonly damping?: number;
  readonly angularDamping?: number;
}

/** A body's place and speed after a step. */
export interface Motion {
  readonly x: number;
  readonly y: number;
  readonly angle: number;
  readonly vx: number;
  readonly vy: number;
  readonly spin: number;
}

export interface Area {
  readonly x0: number;
  readonly y0: number;
  readonly x1: number;
  readonly y1: number;
}

export interface PhysicsOptions<S> {
  /** One step's length in ms (the zone tick: 1000 / tickHz). */
  readonly stepMs: number;
  readonly gravity?: readonly [number, number];
  /** The whole world's extent, if it has walls at its edges (a crate stays on the map). */
  readonly bounds?: Area;
  /** Bodies this close to a bordering zone's area are simulated there too, as ghosts. */
  readonly margin: number;
  /** The physics zones bordering a zone (the zone itself may be among them: it is skipped). */
  readonly neighbours: (zone: number) => readonly number[];
  /** The area a zone owns. */
  readonly area: (zone: number) => Area;
  /** The zone owning a point (a body there belongs to it). */
  readonly zoneAt: (x: number, y: number) => number;
  /**
   * An object's body from its fields, or undefined for an object that has none. Read when the object
   * enters the zone and after each update of a `steer` field: it should read the fields those carry.
   */
  readonly body: (object: ZoneObject) => BodyDef | undefined;
  /** Fields whose updates steer a kinematic body to the position `body` then gives (an avatar's walk). */
  // biome-ignore lint/suspicious/noExplicitAny: any class's handle
  readonly steer?: readonly (readonly [DClassHandle<any>, string])[];
  /** Writes a dynamic body's new motion into its object's fields (after the steps of an input). */
  readonly write: (zone: Zone, object: ZoneObject, motion: Motion) => void;
  /** One of this zone's bodies was hit by another (its own or a ghost): the event of its owner. */
  readonly hit?: (zone: Zone, state: S, object: ZoneObject, other: number) => void;
  /** The game's own hooks; its state (an object) gets a `physics` member beside its own. */
  readonly game: ZoneHooks<S>;
}

/** What a physics zone keeps: the game's state and, beside it, the physics as plain data. */
export type PhysicsState<S> = S & { physics: PhysicsData };

export interface PhysicsData {
  /** The Rapier world as of the last `save` (the live world is kept beside the state). */
  world: Uint8Array | null;
  /** Steps taken: the world's time is step × stepMs (-1 before the first input). */
  step: number;
  /** Every body, by doId: this zone's own (owner 0) and its neighbours' ghosts (owner: their zone). */
  bodies: Record<number, BodyRecord>;
  /**
   * The bodies each neighbour last heard of (by doId): a neighbour hears again when one of its bodies
   * moves or the list changes (an empty list once, to drop their ghosts), not while they all rest.
   */
  sent: Record<number, number[]>;
}

export interface BodyRecord {
  readonly body: number;
  readonly collider: number;
  /** 0 for this zone's own, else the zone that owns it. */
  owner: number;
  readonly def: PlainDef;
  /** A kinematic body's next position. */
  target?: [number, number];
  /** The zone that handed it to this one, and the step it did (its border event of then still counts). */
  handedBy?: number;
  adoptedAt?: number;
}

/** The part of a body's definition that stays: its kind, shape and material. */
type PlainDef = z.infer<typeof plainDef>;

const plainDef = z.object({
  type: z.enum(["dynamic", "kinematic"]),
  ball: z.number().positive().finite().optional(),
  box: z.tuple([z.number().positive().finite(), z.number().positive().finite()]).optional(),
  density: z.number().nonnegative().finite().optional(),
  friction: z.number().nonnegative().finite().optional(),
  restitution: z.number().nonnegative().finite().optional(),
  damping: z.number().nonnegative().finite().optional(),
  angularDamping: z.number().nonnegative().finite().optional(),
});

const motionTuple = z.tuple([
  z.number().finite(),
  z.number().finite(),
  z.number().finite(),
  z.number().finite(),
  z.number().finite(),
  z.number().finite(),
]);

/** A `physics:border` event: the sender's bodies near the receiver, after its step `step`. */
const borderEvent = z.object({
  zone: z.number().int(),
  step: z.number().int(),
  bodies: z.array(z.tuple([z.number().int().nonnegative(), plainDef, motionTuple])).max(4096),
});
type BorderEvent = z.infer<typeof borderEvent>;

export const CLOCK_EVENT = "physics:clock";
export const BORDER_EVENT = "physics:border";
/** Steps taken at most to catch up in one input; a longer gap (a stalled zone) jumps its clock. */
const MAX_CATCH_UP_STEPS = 100;
const WALL_THICKNESS = 1;

/** The live Rapier world of one zone's state, beside it (not in it: the state stays plain data). */
interface Live {
  readonly world: RAPIER.World;
  readonly queue: RAPIER.EventQueue;
  /** Collider handle to doId. */
  readonly doIdOf: Map<number, number>;
  /** True when the last steps left something moving (the zone keeps its clock going). */
  moving: boolean;
}

/**
 * A zone kind whose objects with a body are simulated (see the module comment), around the game's own
 * hooks: they get the zone's state, whose `physics` member is the sim's. Returns the hooks to list under
 * `kinds`.
 */
export function physicsZone<S extends object>(options: PhysicsOptions<S>): ZoneHooks<PhysicsState<S>> {
  const { game, stepMs } = options;
  const dt = stepMs / 1000;
  const lives = new WeakMap<PhysicsData, Live>();
  // a Rapier world lives in WebAssembly memory, which the GC does not reclaim: freed once its zone's state
  // is gone (a zone stopped, handed to another replica, an instance closed)
  const unused = new FinalizationRegistry<Live>(({ world, queue }) => {
    queue.free();
    world.free();
  });

  function live(data: PhysicsData): Live {
    let found = lives.get(data);
    if (found !== undefined) return found;
    const world = data.world === null ? newWorld() : RAPIER.World.restoreSnapshot(data.world);
    world.timestep = dt;
    const doIdOf = new Map<number, number>();
    for (const [doId, record] of Object.entries(data.bodies)) doIdOf.set(record.collider, Number(doId));
    found = { world, queue: new RAPIER.EventQueue(true), doIdOf, moving: true };
    lives.set(data, found);
    unused.register(data, found);
    return found;
  }

  /** A fresh world, with walls at the edges of `bounds`. */
  function newWorld(): RAPIER.World {
    const world = new RAPIER.World({ x: options.gravity?.[0] ?? 0, y: options.gravity?.[1] ?? 0 });
    const b = options.bounds;
    if (b === undefined) return world;
    const [w, h, t] = [(b.x1 - b.x0) / 2, (b.y1 - b.y0) / 2, WALL_THICKNESS];
    const walls: [number, number, number, number][] = [
      [b.x0 + w, b.y0 - t, w + 2 * t, t],
      [b.x0 + w, b.y1 + t, w + 2 * t, t],
      [b.x0 - t, b.y0 + h, t, h + 2 * t],
      [b.x1 + t, b.y0 + h, t, h + 2 * t],
    ];
    for (const [x, y, hw, hh] of walls) {
      const wall = world.createRigidBody(RAPIER.RigidBodyDesc.fixed().setTranslation(x, y));
      world.createCollider(RAPIER.ColliderDesc.cuboid(hw, hh), wall);
    }
    return world;
  }

  function addBody(data: PhysicsData, doId: number, def: PlainDef, motion: Motion, owner: number): void {
    const { world, doIdOf } = live(data);
    const desc = (
      def.type === "dynamic" ? RAPIER.RigidBodyDesc.dynamic() : RAPIER.RigidBodyDesc.kinematicPositionBased()
    )
      .setTranslation(motion.x, motion.y)
      .setRotation(motion.angle)
      .setLinvel(motion.vx, motion.vy)
      .setAngvel(motion.spin)
      .setLinearDamping(def.damping ?? 0)
      .setAngularDamping(def.angularDamping ?? 0);
    const body = world.createRigidBody(desc);
    const collider = world.createCollider(
      (def.box ? RAPIER.ColliderDesc.cuboid(def.box[0], def.box[1]) : RAPIER.ColliderDesc.ball(def.ball ?? 1))
        .setDensity(def.density ?? 1)
        .setFriction(def.friction ?? 0.5)
        .setRestitution(def.restitution ?? 0)
        .setActiveEvents(RAPIER.ActiveEvents.COLLISION_EVENTS),
      body,
    );
    doIdOf.set(collider.handle, doId);
    data.bodies[doId] = { body: body.handle, collider: collider.handle, owner, def };
  }

  function removeBody(data: PhysicsData, doId: number): void {
    const record = data.bodies[doId];
    if (record === undefined) return;
    const { world, doIdOf } = live(data);
    const body = world.getRigidBody(record.body);
    if (body) world.removeRigidBody(body);
    doIdOf.delete(record.collider);
    delete data.bodies[doId];
  }

  function motionOf(body: RAPIER.RigidBody): Motion {
    const { x, y } = body.translation();
    const { x: vx, y: vy } = body.linvel();
    return { x, y, angle: body.rotation(), vx, vy, spin: body.angvel() };
  }

  /** Puts a body where its owner says it is (a ghost) or where it is steered to (a kinematic one). */
  function place(data: PhysicsData, record: BodyRecord, motion: Motion): void {
    const body = live(data).world.getRigidBody(record.body);
    if (body === undefined) return;
    body.setTranslation({ x: motion.x, y: motion.y }, true);
    body.setRotation(motion.angle, true);
    if (record.def.type === "dynamic") {
      body.setLinvel({ x: motion.vx, y: motion.vy }, true);
      body.setAngvel(motion.spin, true);
    } else record.target = [motion.x + motion.vx * dt, motion.y + motion.vy * dt];
  }

  /** Steps the world up to the step of `time` (a journaled input's), then reports, writes and shares. */
  function advance(zone: Zone, state: PhysicsState<S>, time: number): void {
    const data = state.physics;
    const target = Math.floor(time / stepMs);
    if (data.step < 0) data.step = target;
    if (data.step >= target) return;
    const current = live(data);
    if (target - data.step > MAX_CATCH_UP_STEPS) data.step = target - MAX_CATCH_UP_STEPS;
    const hits: [number, number][] = [];
    while (data.step < target) {
      for (const key in data.bodies) {
        const record = data.bodies[key]!;
        if (record.target === undefined) continue;
        current.world
          .getRigidBody(record.body)
          ?.setNextKinematicTranslation({ x: record.target[0], y: record.target[1] });
      }
      current.world.step(current.queue);
      data.step += 1;
      current.queue.drainCollisionEvents((a, b, started) => {
        if (!started) return;
        const first = current.doIdOf.get(a);
        const second = current.doIdOf.get(b);
        if (first !== undefined && second !== undefined) hits.push([first, second]);
      });
    }
    for (const [a, b] of hits) {
      report(zone, state, a, b);
      report(zone, state, b, a);
    }
    settle(zone, state);
  }

  /** The event of a hit, only for this zone's own body. */
  function report(zone: Zone, state: PhysicsState<S>, doId: number, other: number): void {
    if (state.physics.bodies[doId]?.owner !== 0) return;
    const object = zone.objects.get(doId);
    if (object !== undefined) options.hit?.(zone, state, object, other);
  }

  /** After steps: writes what moved, hands off what left, tells the neighbours about the border. */
  function settle(zone: Zone, state: PhysicsState<S>): void {
    const data = state.physics;
    const current = live(data);
    let moving = false;
    const near = new Map<number, BorderEvent["bodies"]>();
    const stirring = new Set<number>(); // the neighbours near a body that moves
    const moves: [ZoneObject, number][] = [];
    const neighbours = options.neighbours(zone.zone).filter((each) => each !== zone.zone);
    const areas = neighbours.map((neighbour) => [neighbour, options.area(neighbour)] as const);
    for (const key in data.bodies) {
      const record = data.bodies[key]!;
      const doId = Number(key);
      const body = current.world.getRigidBody(record.body);
      if (body === undefined) continue;
      if (record.owner !== 0) {
        moving ||= !body.isSleeping();
        continue;
      }
      const motion = motionOf(body);
      const object = zone.objects.get(doId);
      if (record.def.type === "dynamic" && !body.isSleeping()) {
        moving = true;
        if (object !== undefined) options.write(zone, object, motion);
      }
      if (record.target !== undefined && (record.target[0] !== motion.x || record.target[1] !== motion.y))
        moving = true;
      const owner = options.zoneAt(motion.x, motion.y);
      if (owner !== zone.zone) {
        record.owner = owner;
        if (record.def.type === "dynamic" && object !== undefined) moves.push([object, owner]);
      }
      for (const [neighbour, area] of areas) {
        if (distance(area, motion.x, motion.y) > options.margin) continue;
        const list = near.get(neighbour) ?? [];
        list.push([doId, record.def, [motion.x, motion.y, motion.angle, motion.vx, motion.vy, motion.spin]]);
        near.set(neighbour, list);
        if (!body.isSleeping()) stirring.add(neighbour);
      }
    }
    current.moving = moving;
    for (const neighbour of neighbours) {
      const bodies = near.get(neighbour) ?? [];
      const ids = bodies.map(([doId]) => doId);
      const before = data.sent[neighbour] ?? [];
      if (!stirring.has(neighbour) && sameIds(ids, before)) continue;
      zone.sendEvent(neighbour, BORDER_EVENT, { zone: zone.zone, step: data.step, bodies });
      if (ids.length === 0) delete data.sent[neighbour];
      else data.sent[neighbour] = ids;
    }
    // after the border: its last word on a body it hands over is the new owner's starting point
    for (const [object, owner] of moves) zone.move(object, owner);
  }

  /** A neighbour's bodies near this zone: its ghosts here, as it says they are. */
  function ghosts(zone: Zone, state: PhysicsState<S>, event: ZoneEventInput): void {
    const parsed = borderEvent.safeParse(event.data);
    const from = parsed.data?.zone;
    if (!parsed.success || from === undefined || !options.neighbours(zone.zone).includes(from)) {
      zone.log.warn("physics: a border event that is not a neighbour's bodies was ignored", {
        from: event.from,
        problem: parsed.success ? `zone ${from} does not border this one` : parsed.error.message,
      });
      return;
    }
    const data = state.physics;
    const listed = new Set<number>();
    // its owner's step may be behind this zone's: a ghost goes on from where it was, as far as it went since
    const ahead = Math.max(0, data.step - parsed.data.step) * dt;
    for (const [doId, def, [x, y, angle, vx, vy, spin]] of parsed.data.bodies) {
      const record = data.bodies[doId];
      // this zone's own: what it says about it is the truth (but for the last word of who handed it over)
      const handedOver = record?.owner === 0 && record.handedBy === from && record.adoptedAt === data.step;
      if (record?.owner === 0 && !handedOver) continue;
      listed.add(doId);
      const motion = { x: x + vx * ahead, y: y + vy * ahead, angle: angle + spin * ahead, vx, vy, spin };
      if (record === undefined) addBody(data, doId, def, motion, from);
      if (!handedOver) data.bodies[doId]!.owner = from;
      place(data, data.bodies[doId]!, motion);
    }
    for (const key in data.bodies) {
      if (data.bodies[key]!.owner === from && !listed.has(Number(key))) removeBody(data, Number(key));
    }
    live(data).moving = true;
  }

  /** An object came under this zone: its body becomes its own (a ghost it had goes on as it was). */
  function adopt(state: PhysicsState<S>, object: ZoneObject): void {
    const def = options.body(object);
    if (def === undefined) return;
    const data = state.physics;
    const record = data.bodies[object.doId];
    const motion = motionOfDef(def);
    if (record === undefined || record.def.type !== def.type) {
      removeBody(data, object.doId);
      addBody(data, object.doId, plainOf(def), motion, 0);
    } else if (record.owner !== 0) {
      record.handedBy = record.owner;
      record.adoptedAt = data.step;
      record.owner = 0;
    }
    const adopted = data.bodies[object.doId]!;
    if (def.type === "kinematic") adopted.target = [motion.x, motion.y];
    live(data).moving = true;
  }

  /** A steer field changed: a kinematic body goes there (and is a ghost here once that is elsewhere). */
  function steered(zone: Zone, state: PhysicsState<S>, object: ZoneObject): void {
    const record = state.physics.bodies[object.doId];
    const def = options.body(object);
    if (record === undefined || record.owner !== 0 || def?.type !== "kinematic") return;
    record.target = [def.x, def.y];
    const owner = options.zoneAt(def.x, def.y);
    if (owner !== zone.zone) record.owner = owner;
    live(state.physics).moving = true;
  }

  const steerHandlers: FieldHandler<PhysicsState<S>>[] = (options.steer ?? []).map(([handle, name]) => {
    handle.field(name); // throws now, naming the class, if it has no such field
    return {
      dclass: handle.dclass,
      fieldName: name,
      handle: (zone, state, object) => {
        advance(zone, state, zone.now);
        steered(zone, state, object);
      },
    };
  });
  const gameHandlers: FieldHandler<PhysicsState<S>>[] = (game.fields ?? []).map((handler) => ({
    dclass: handler.dclass,
    fieldName: handler.fieldName,
    handle: (zone, state, object, value, sender) => {
      advance(zone, state, zone.now);
      handler.handle(zone, state, object, value, sender);
    },
  }));

  return {
    ...game, // the hooks the physics has no part in (requests, notifications, ...) as the game gives them
    init: (zone) => ({
      ...game.init(zone),
      physics: { world: null, step: -1, bodies: {}, sent: {} },
    }),
    start: (zone, state) => game.start?.(zone, state),
    // a hot swap: the game migrates its part; the bodies go on as they were (rebuilt from their data)
    migrate: game.migrate
      ? (state, from) => ({
          ...game.migrate!(state, from),
          physics: (state as PhysicsState<S>).physics,
        })
      : undefined,
    tick: (zone, state, dtMs) => {
      // the clock goes on while something moves: as an event, journaled, so replays step the same
      if (live(state.physics).moving) zone.sendEvent(zone.zone, CLOCK_EVENT);
      game.tick?.(zone, state, dtMs);
    },
    enter: (zone, state, object) => {
      advance(zone, state, zone.now);
      adopt(state, object);
      game.enter?.(zone, state, object);
    },
    leave: (zone, state, object) => {
      advance(zone, state, zone.now);
      // deleted, or moved away by the game: gone from here (a neighbour's border brings it back as a ghost)
      if (state.physics.bodies[object.doId]?.owner === 0) removeBody(state.physics, object.doId);
      game.leave?.(zone, state, object);
    },
    fields: [...steerHandlers, ...gameHandlers],
    event: (zone, state, event) => {
      advance(zone, state, zone.now);
      if (event.name === CLOCK_EVENT) return;
      if (event.name === BORDER_EVENT) ghosts(zone, state, event);
      else game.event?.(zone, state, event);
    },
    timer: (zone, state, name, data) => game.timer?.(zone, state, name, data),
    save: (state) => {
      const data = state.physics;
      const copy: PhysicsState<S> = structuredClone({ ...state, physics: { ...data, world: null } });
      copy.physics.world = live(data).world.takeSnapshot();
      return copy;
    },
  };
}

/** The bodies in a physics zone's snapshot state (`save`'s): for tests and tools (doId, owner, motion). */
export function bodiesOf(saved: PhysicsState<object>): { doId: number; owner: number; motion: Motion }[] {
  if (saved.physics.world === null) throw new Error("bodiesOf takes a snapshot's state: its world is saved");
  const world = RAPIER.World.restoreSnapshot(saved.physics.world);
  const out = Object.entries(saved.physics.bodies).map(([doId, record]) => {
    const body = world.getRigidBody(record.body);
    const { x, y } = body.translation();
    const { x: vx, y: vy } = body.linvel();
    return {
      doId: Number(doId),
      owner: record.owner,
      motion: { x, y, angle: body.rotation(), vx, vy, spin: body.angvel() },
    };
  });
  world.free();
  return out;
}

function plainOf(def: BodyDef): PlainDef {
  const { type, shape, density, friction, restitution, damping, angularDamping } = def;
  const plain: PlainDef =
    "ball" in shape ? { type, ball: shape.ball } : { type, box: [shape.box[0], shape.box[1]] };
  if (density !== undefined) plain.density = density;
  if (friction !== undefined) plain.friction = friction;
  if (restitution !== undefined) plain.restitution = restitution;
  if (damping !== undefined) plain.damping = damping;
  if (angularDamping !== undefined) plain.angularDamping = angularDamping;
  return plain;
}

function motionOfDef(def: BodyDef): Motion {
  return { x: def.x, y: def.y, angle: def.angle ?? 0, vx: def.vx ?? 0, vy: def.vy ?? 0, spin: def.spin ?? 0 };
}

function sameIds(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((id, i) => id === b[i]);
}

/** How far a point is from an area (0 inside). */
function distance(area: Area, x: number, y: number): number {
  const dx = Math.max(area.x0 - x, 0, x - area.x1);
  const dy = Math.max(area.y0 - y, 0, y - area.y1);
  return Math.hypot(dx, dy);
}

/**
 * What a world script sees: the types its author writes against (`import type` only: a script imports
 * nothing at run time, the import is stripped). A script is a module whose exports are its hooks:
 *
 * ```ts
 * import type { ScriptZone } from "@overworld/zone-ai/scripts";
 * export function init(zone: ScriptZone) { return { ticks: 0 }; }
 * export function tick(zone: ScriptZone, state: { ticks: number }, dtMs: number) { state.ticks += 1; }
 * export const fields = { "DistributedAvatar.say": (zone, state, avatar, [text], sender) => {} };
 * ```
 *
 * Everything crossing into or out of the sandbox is plain JSON data (numbers, strings, arrays, objects):
 * an atomic field's value is its argument array, as in the plugin API. The state a script's `init`
 * returns is its own, kept inside the sandbox between calls and saved (as JSON) in the zone's snapshot.
 */

/** An object of the zone as a script sees it. */
export interface ScriptObject {
  readonly doId: number;
  /** Its class's name (as in the .dc file). */
  readonly dclass: string;
  readonly parent: number;
  readonly zone: number;
  /** The owner's channel (a client's), 0 for none. */
  readonly owner: number;
  /** The fields asked for by `zone.objects(dclass, fields)`, by name (undefined: never set). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Fixed-point numbers (16 fractional bits, integers in a double): exact and the same on every machine. */
export interface FixedPoint {
  /** 1.0 as a fixed-point number (65536). */
  readonly ONE: number;
  /** A number as fixed point (rounded to the nearest 1/65536). */
  from(value: number): number;
  /** A fixed-point number as a plain number. */
  toNumber(value: number): number;
  mul(a: number, b: number): number;
  div(a: number, b: number): number;
  /** The length of (dx, dy), both fixed point. */
  hypot(dx: number, dy: number): number;
  /** A point `step` further from (x, y) towards (tx, ty), or the target itself when closer than that. */
  toward(x: number, y: number, tx: number, ty: number, step: number): [number, number];
  /** A fixed-point number in [lo, hi) from the zone's seeded random numbers. */
  random(lo: number, hi: number): number;
}

/** The zone API inside the sandbox: all a script can reach. */
export interface ScriptZone {
  readonly parent: number;
  readonly zone: number;
  readonly kind: string;
  /** The zone's clock: the time of the tick or input being handled (cluster ms). `Date.now()` is the same. */
  readonly now: number;
  /** What the plugin configured the script with (plain data, the same in every zone of the kind). */
  readonly config: unknown;
  /** A number in [0, 1) from the zone's seeded generator. `Math.random()` is the same generator. */
  random(): number;
  /**
   * The objects this zone runs, of a class (or inheriting from it) when named, in doId order; with the
   * values of `fields` when asked (one call instead of a `get` each).
   */
  objects(dclass?: string, fields?: readonly string[]): ScriptObject[];
  /** A field's latest value (an atomic field's argument array), undefined if never set or not seen here. */
  get(doId: number, field: string): unknown;
  /**
   * Sets a field of an object the zone runs or sees nearby. Writes reach the zone together when the hook
   * returns or the script next calls the zone (in the order they were made).
   */
  set(doId: number, field: string, value: unknown): void;
  /** Creates an object in this zone (or `zone`); returns its doId. */
  spawn(dclass: string, fields: Record<string, unknown>, zone?: number): number;
  /** Moves an object this zone runs to another zone of the same parent. */
  move(doId: number, zone: number): void;
  delete(doId: number): void;
  /** Sends a zone event to a zone of the same parent (this one included). */
  sendEvent(zone: number, name: string, data?: unknown, target?: number): void;
  /** Calls the script's `timer` hook with `name` and `data` after `ms`. */
  after(ms: number, name: string, data?: unknown): void;
  log(message: string, details?: Record<string, unknown>): void;
  readonly fx: FixedPoint;
}

/** A zone event as a script's `event` hook gets it. */
export interface ScriptEvent {
  readonly name: string;
  readonly target: number;
  readonly data: unknown;
  /** The sending zone's channel. */
  readonly from: number;
}

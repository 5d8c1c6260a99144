/**
 * Which tick each stored field's value is of. Stored state comes on the unreliable channel as
 * STATE_UPDATES stamped with the client agent's tick: a datagram may arrive late, after a newer value
 * (or the agent may send a value again after counting it lost), so a value older than the one held is
 * skipped. An entry carries the tick its values are of: state of older ticks is stale too. State may
 * also come before its object's entry (that came reliably, and was held back by a loss): it is kept a
 * while, and applied once the object enters.
 */

/** An update of an object that had not entered yet, kept until it does. */
export interface EarlyUpdate {
  readonly fieldId: number;
  readonly tick: number;
  readonly value: Uint8Array;
}

/** Objects whose updates are kept before they enter, at most (the oldest go first). */
const MAX_EARLY_OBJECTS = 1024;
/** How long updates of an object not yet entered are kept. */
const EARLY_KEEP_MS = 5000;

/** An object's ticks: of its entry (older state is stale) and of each field's value since. */
interface ObjectTicks {
  entered: number;
  readonly fields: Map<number, number>;
}

export class StateTicks {
  private readonly ticks = new Map<number, ObjectTicks>();
  private readonly early = new Map<
    number,
    { readonly since: number; readonly updates: Map<number, EarlyUpdate> }
  >();

  /** The object entered (or entered again, as owned) with values of `tick`. */
  enter(doId: number, tick: number): void {
    const object = this.ticks.get(doId);
    if (object === undefined) this.ticks.set(doId, { entered: tick, fields: new Map() });
    else object.entered = Math.max(object.entered, tick);
  }

  /** True when the field holds a value of `tick` or newer (an entry's value of `tick` is no newer). */
  holdsNewer(doId: number, fieldId: number, tick: number): boolean {
    const held = this.ticks.get(doId)?.fields.get(fieldId);
    return held !== undefined && held >= tick;
  }

  /**
   * True (and recorded) when a value of `tick` is news for the field: the object entered, at that tick
   * or before, and the field holds no value of that tick or newer.
   */
  advance(doId: number, fieldId: number, tick: number): boolean {
    const object = this.ticks.get(doId);
    if (object === undefined || tick < object.entered) return false;
    const held = object.fields.get(fieldId);
    if (held !== undefined && held >= tick) return false;
    object.fields.set(fieldId, tick);
    return true;
  }

  /** Keeps (a copy of) an update of an object that has not entered; the newest per field wins. */
  keepEarly(doId: number, fieldId: number, tick: number, value: Uint8Array, now: number): void {
    let entry = this.early.get(doId);
    if (entry !== undefined && now - entry.since > EARLY_KEEP_MS) {
      this.early.delete(doId);
      entry = undefined;
    }
    if (entry === undefined) {
      if (this.early.size >= MAX_EARLY_OBJECTS) this.early.delete(this.early.keys().next().value!);
      entry = { since: now, updates: new Map() };
      this.early.set(doId, entry);
    }
    const kept = entry.updates.get(fieldId);
    if (kept === undefined || kept.tick < tick)
      entry.updates.set(fieldId, { fieldId, tick, value: value.slice() });
  }

  /** The updates kept for an object that now entered (none if they are too old), and forgets them. */
  takeEarly(doId: number, now: number): readonly EarlyUpdate[] {
    const entry = this.early.get(doId);
    if (entry === undefined) return [];
    this.early.delete(doId);
    return now - entry.since > EARLY_KEEP_MS ? [] : [...entry.updates.values()];
  }

  /** The object left: its ticks go (if it comes back, its entry brings its values afresh). */
  forget(doId: number): void {
    this.ticks.delete(doId);
    this.early.delete(doId);
  }

  clear(): void {
    this.ticks.clear();
    this.early.clear();
  }
}

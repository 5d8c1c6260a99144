/**
 * The binary form of object deltas and refreshes, packed with the dclass.
 *
 * Byte layout (integers little-endian; `varuint` is unsigned LEB128: 7 bits a byte, low bits first,
 * high bit set on every byte but the last, so 0-127 take one byte, and readers refuse more than 5):
 *
 *   entries      := 0                              (the empty list)
 *                 | (key:varuint body)+            (the last key's moreBit is 0, all others' 1)
 *     key        =  (slot + 1) << 2 | nestedBit << 1 | moreBit      (never 0)
 *
 *   objectDelta  := entries, slot = the field's local index: its position among the class's stored
 *                   (atomic and parameter) fields in field-id order (`classLayout(dclass).fields`)
 *     body       =  whole value (nestedBit 0): the field packed as the packer packs it (an atomic
 *                   field's arguments in order, a parameter field's value);
 *                   nested change (nestedBit 1): nested(type) of a parameter field's type, or
 *                   tuple(arguments) of an atomic field
 *   nested(array T)  := lengthCode:varuint  entries, slot = gap, body = nested(T) or T packed
 *     lengthCode     =  0 when the length was not changed, else newLength + 1 (also when it changed
 *                       and came back: a newcomer may have joined in between)
 *     gap            =  index - previousIndex - 1 (the first: index); indices ascend, so a run of
 *                       neighbours costs one byte a key
 *   nested(struct S) := entries, slot = member index in S's declaration order,
 *                       body = nested(M) or M packed
 *   tuple(args)      := entries, slot = argument index, body = nested(A) or A packed
 *
 *   tick         := objectCount:varuint  (doIdCode:varuint  objectDelta){objectCount}
 *     objects       in ascending doId order, each doId at most once
 *     doIdCode   =  doId for the first object, doId - previousDoId - 1 for the next ones
 *
 * A refresh is an objectDelta whose entries are all whole values. The common case, an object whose
 * `setXY(float32, float32)` (local index 0) changed, is 1 (key 4) + 8 (two float32) = 9 bytes, plus
 * its doIdCode in a tick: 100 movers among 1000 consecutive doIds cost about 10 bytes each.
 *
 * The receiver must know the class of every doId in a tick (deltas carry no length, to stay small):
 * `readTickDeltas` asks a resolver for it. Both ends must use the same .dc (local indices, like field
 * ids, follow it).
 */
import type { DClass } from "../dc/dclass.ts";
import type { FieldValue } from "../dc/value.ts";
import { DcPackError } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import {
  type ClassLayout,
  classLayout,
  DeltaTracker,
  type FieldChange,
  isNestedChange,
  type ObjectDelta,
  type ObjectState,
} from "./object-state.ts";
import {
  checkFollowingKey,
  EMPTY_LIST,
  entryKey,
  KEY_MORE,
  type ReadKey,
  readFieldNested,
  readKey,
  writeFieldNested,
} from "./wire.ts";

/** The largest doId a tick carries (doIds are uint32). */
const MAX_DOID = 0xffffffff;

// ---------------------------------------------------------------------------------------------
// Object deltas

/** Appends an object delta (or refresh) of an object of `dclass`. */
export function writeObjectDelta(w: DatagramWriter, delta: ObjectDelta, dclass: DClass): void {
  const layout = classLayout(dclass);
  const changes = delta.changes;
  if (changes.length === 0) {
    w.writeUint8(EMPTY_LIST);
    return;
  }
  for (let k = 0; k < changes.length; k++) {
    const change = changes[k]!;
    const at = localIndex(layout, change);
    const nested = isNestedChange(change);
    w.writeVarUint(entryKey(at, nested) + (k < changes.length - 1 ? KEY_MORE : 0));
    if (nested) writeFieldNested(w, change.field, change.delta);
    else layout.codecs[at]!.write(w, change.value);
  }
}

function localIndex(layout: ClassLayout, change: FieldChange): number {
  const at = layout.indexById.get(change.field.id);
  if (at === undefined || layout.fields[at] !== change.field) {
    throw new Error(
      `field '${change.field.owner.name}.${change.field.name}' is not a stored field of dclass '${layout.dclass.name}'`,
    );
  }
  return at;
}

/** Reused by `readObjectDelta`: reading a key allocates nothing. */
const scratchKey: ReadKey = { slot: 0, nested: false, more: false };

/** Reads an object delta (or refresh) of an object of `dclass`. */
export function readObjectDelta(r: DatagramReader, dclass: DClass): ObjectDelta {
  return readLayoutDelta(r, classLayout(dclass));
}

function readLayoutDelta(r: DatagramReader, layout: ClassLayout): ObjectDelta {
  const changes: FieldChange[] = [];
  const key = readKey(r, scratchKey);
  if (key.slot < 0) return { changes };
  for (;;) {
    const field = layout.fields[key.slot];
    if (field === undefined) {
      throw new DcPackError(
        "out_of_range",
        `field index ${key.slot} is not a stored field of dclass '${layout.dclass.name}' (it has ${layout.fields.length})`,
      );
    }
    // The key is read again below, so take what we need from it first.
    const more = key.more;
    if (key.nested) changes.push({ field, delta: readFieldNested(r, field) });
    else changes.push({ field, value: layout.codecs[key.slot]!.read(r) as FieldValue });
    if (!more) return { changes };
    checkFollowingKey(readKey(r, key));
  }
}

/** An object delta as fresh bytes. */
export function encodeObjectDelta(delta: ObjectDelta, dclass: DClass): Uint8Array {
  const w = new DatagramWriter();
  writeObjectDelta(w, delta, dclass);
  return w.toBytes();
}

/** Reads an object delta from exactly these bytes. */
export function decodeObjectDelta(bytes: Uint8Array, dclass: DClass): ObjectDelta {
  const r = new DatagramReader(bytes);
  const delta = readObjectDelta(r, dclass);
  if (r.remaining !== 0) {
    throw new DcPackError(
      "trailing_bytes",
      `the delta ended after ${r.position} byte(s) but ${r.remaining} more follow`,
    );
  }
  return delta;
}

// ---------------------------------------------------------------------------------------------
// Ticks: the deltas of many objects in one writer

/** One object's part of a decoded tick. */
export interface TickDelta {
  readonly doId: number;
  readonly delta: ObjectDelta;
}

/**
 * Takes the deltas of the objects that changed and appends them as one tick, in ascending doId
 * order; unchanged objects cost nothing. With a `DeltaTracker` only the reported objects are
 * visited; with any other iterable each object is asked (O(1) for an unchanged one). Returns the
 * number of objects written.
 *
 * Two changed objects with the same doId, or a doId that is not a uint32, are refused before any
 * delta is taken. If encoding fails, the writer is rolled back to where it was, objects whose deltas
 * were not taken yet stay pending (and reported to their tracker), and the error (naming the doId)
 * is thrown; values are checked when they are set, so that means a bug.
 */
export function encodeTickDeltas(source: DeltaTracker | Iterable<ObjectState>, w: DatagramWriter): number {
  // A tracker lends arrays kept from tick to tick: refilling a JavaScript array that was emptied
  // regrows its storage step by step, which showed in the cost of a tick.
  const arrays: readonly [ObjectState[], ObjectState[], ObjectState[]] =
    source instanceof DeltaTracker ? source._tickArrays : [[], [], []];
  const changed = collectChanged(source, arrays[0]);
  const count = changed.length;
  const start = w.position;
  let next = 0;
  let writing: ObjectState | undefined;
  let ordered: readonly ObjectState[] = changed;
  try {
    ordered = orderByDoId(changed, arrays[1], arrays[2]);
    w.writeVarUint(count);
    let previous = -1;
    for (; next < count; next++) {
      writing = ordered[next]!;
      w.writeVarUint(writing.doId - previous - 1);
      previous = writing.doId;
      writing.writeDelta(w);
    }
  } catch (error) {
    w.position = start;
    reportPending(ordered, next);
    const reason = error instanceof Error ? error.message : String(error);
    const what = writing === undefined ? "the tick" : `the delta of doId ${writing.doId}`;
    throw new Error(`encoding ${what} failed: ${reason}`, { cause: error });
  }
  return count;
}

function collectChanged(source: DeltaTracker | Iterable<ObjectState>, into: ObjectState[]): ObjectState[] {
  if (source instanceof DeltaTracker) return source.drain(into);
  for (const state of source) if (state.changed) into.push(state);
  return into;
}

/**
 * The objects sorted by doId (the list itself when already in order, the usual case with few
 * changes; else a reused array), after checking every doId: a uint32, none twice.
 */
function orderByDoId(states: ObjectState[], first: ObjectState[], second: ObjectState[]): ObjectState[] {
  const bounds = runBounds(states);
  const sorted = bounds.length > 2 ? mergeAllRuns(states, bounds, first, second) : states;
  if (sorted === undefined) throw new Error(duplicateMessage(states));
  return sorted;
}

/**
 * Where the strictly ascending runs of doIds start, and the length at the end: [0, ..., length].
 * Throws for a doId that is not a uint32.
 */
function runBounds(states: readonly ObjectState[]): number[] {
  const bounds = [0];
  let previous = -1;
  for (let k = 0; k < states.length; k++) {
    const doId = states[k]!.doId;
    if (!(doId >= 0 && doId <= MAX_DOID && Number.isInteger(doId))) {
      throw new Error(`doId ${doId} is not a uint32 (0-${MAX_DOID})`);
    }
    if (doId <= previous) bounds.push(k);
    previous = doId;
  }
  bounds.push(states.length);
  return bounds;
}

/**
 * Sorts by doId with a natural merge sort: the ascending runs already there are merged pairwise
 * until one is left. A tracker lists objects in the order they first changed, which is mostly a few
 * ascending runs, so this costs about one pass per doubling of the runs, with the comparisons inline
 * (`Array.prototype.sort` calls a comparator for every pair). Returns the sorted objects in `first`
 * or `second` (two arrays to merge into), or undefined if two have the same doId.
 */
function mergeAllRuns(
  states: readonly ObjectState[],
  runs: readonly number[],
  first: ObjectState[],
  second: ObjectState[],
): ObjectState[] | undefined {
  let bounds = runs;
  let from: readonly ObjectState[] = states;
  let to = first;
  while (bounds.length > 2) {
    const merged = [0];
    for (let i = 0; i + 1 < bounds.length; i += 2) {
      const end = bounds[i + 2] ?? bounds[i + 1]!;
      if (!mergeRuns(from, to, bounds[i]!, bounds[i + 1]!, end)) return undefined;
      merged.push(end);
    }
    bounds = merged;
    const next = from === states ? second : (from as ObjectState[]);
    from = to;
    to = next;
  }
  const sorted = from as ObjectState[];
  if (sorted.length !== states.length) sorted.length = states.length; // left longer by a bigger tick
  return sorted;
}

/**
 * Merges the ascending runs from[start, middle) and from[middle, end) into to[start, end); false if
 * the two runs share a doId.
 */
function mergeRuns(
  from: readonly ObjectState[],
  to: ObjectState[],
  start: number,
  middle: number,
  end: number,
): boolean {
  let left = start;
  let right = middle;
  let k = start;
  while (left < middle && right < end) {
    const a = from[left]!;
    const b = from[right]!;
    if (a.doId < b.doId) {
      to[k++] = a;
      left++;
    } else if (a.doId > b.doId) {
      to[k++] = b;
      right++;
    } else {
      return false;
    }
  }
  while (left < middle) to[k++] = from[left++]!;
  while (right < end) to[k++] = from[right++]!;
  return true;
}

function duplicateMessage(states: readonly ObjectState[]): string {
  const seen = new Set<number>();
  for (const state of states) {
    if (seen.has(state.doId)) return `two changed objects have doId ${state.doId}`;
    seen.add(state.doId);
  }
  return "two changed objects have the same doId";
}

/** After a failure: objects from `from` on kept their changes; make sure their tracker knows. */
function reportPending(states: readonly ObjectState[], from: number): void {
  for (let k = from; k < states.length; k++) {
    const state = states[k]!;
    if (state.changed && !state._queued) state.tracker?._report(state);
  }
}

/** Where a tick's doIds lead: the object to apply to, or just its class (to decode and skip it). */
export type TickResolver = (doId: number) => ObjectState | DClass | undefined;

/** Reads a tick written by `encodeTickDeltas`. */
export function readTickDeltas(r: DatagramReader, resolve: TickResolver): TickDelta[] {
  const count = r.readVarUint();
  const out: TickDelta[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const doId = readDoId(r, previous);
    previous = doId;
    out.push({ doId, delta: readLayoutDelta(r, layoutOf(doId, resolve(doId))) });
  }
  return out;
}

/** Reads a tick and applies each object's delta to the object `resolve` gives; returns how many applied. */
export function applyTickDeltas(r: DatagramReader, resolve: TickResolver): number {
  const count = r.readVarUint();
  let applied = 0;
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const doId = readDoId(r, previous);
    previous = doId;
    const target = resolve(doId);
    const delta = readLayoutDelta(r, layoutOf(doId, target));
    if (target !== undefined && !isDClass(target)) {
      target._applyDecoded(delta);
      applied++;
    }
  }
  return applied;
}

function readDoId(r: DatagramReader, previous: number): number {
  const doId = previous + 1 + r.readVarUint();
  if (doId > MAX_DOID) {
    throw new DcPackError("out_of_range", `the tick names doId ${doId}, past the largest (${MAX_DOID})`);
  }
  return doId;
}

function layoutOf(doId: number, target: ObjectState | DClass | undefined): ClassLayout {
  if (target === undefined) {
    throw new DcPackError(
      "out_of_range",
      `the tick names doId ${doId}, whose class the receiver does not know`,
    );
  }
  return isDClass(target) ? classLayout(target) : target.layout;
}

/** Tells a class from an object without `instanceof` (which is slow on hot paths under some loaders). */
function isDClass(target: ObjectState | DClass): target is DClass {
  return (target as { readonly kind?: unknown }).kind === "class";
}

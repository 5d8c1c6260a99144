/**
 * The binary form of object deltas and refreshes, packed with the dclass.
 *
 * Byte layout (integers little-endian; `varuint` is unsigned LEB128: 7 bits a byte, low bits first,
 * high bit set on every byte but the last, so 0-127 take one byte):
 *
 *   objectDelta  := fieldCount:varuint  fieldEntry{fieldCount}
 *   fieldEntry   := header:uint16  body
 *     header     =  field id (bits 0-14) | 0x8000 when the body is a nested change
 *     body       =  whole value: the field packed as the packer packs it (an atomic field's arguments
 *                   in order, a parameter field's value);
 *                   nested change: nested(type) of a parameter field's type, or tuple(arguments)
 *                   of an atomic field
 *   nested(array T)  := lengthCode:varuint  count:varuint  arrayItem{count}
 *     lengthCode     =  0 when the length was not changed, else newLength + 1 (also when it changed
 *                       and came back: a newcomer may have joined in between)
 *     arrayItem      := key:varuint  (nested(T) | T packed)
 *     key            =  (gap << 1) | nestedBit, gap = index - previousIndex - 1 (the first: index);
 *                       indices ascend, so a run of neighbours costs one byte a key
 *   nested(struct S) := count:varuint  member{count}     (S's fields in declaration order)
 *   tuple(args)      := count:varuint  member{count}     (the field's arguments in order)
 *     member         := key:varuint  (nested(M) | M packed),  key = (memberIndex << 1) | nestedBit
 *
 *   tick         := objectCount:varuint  (doId:uint32  objectDelta){objectCount}
 *
 * A refresh is an objectDelta whose entries are all whole values. The common case, one object whose
 * `setXY(float32, float32)` changed, is 1 (count) + 2 (field id) + 8 (two float32) = 11 bytes, plus
 * 4 for its doId in a tick. Field ids must stay below 32768 (bit 15 is the nested flag).
 *
 * The receiver must know the class of every doId in a tick (deltas carry no length, to stay small):
 * `readTickDeltas` asks a resolver for it.
 */
import type { DClass } from "../dc/dclass.ts";
import type { FieldValue } from "../dc/value.ts";
import { fieldCodec } from "../pack/codec.ts";
import { DcPackError } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import {
  classLayout,
  DeltaTracker,
  type FieldChange,
  isNestedChange,
  type ObjectDelta,
  ObjectState,
} from "./object-state.ts";
import {
  MAX_DELTA_FIELD_ID,
  NESTED_FLAG,
  readFieldNested,
  readVarUint,
  writeNestedEntry,
  writeVarUint,
  writeWholeEntry,
} from "./wire.ts";

// ---------------------------------------------------------------------------------------------
// Object deltas

/** Appends an object delta (or refresh). */
export function writeObjectDelta(w: DatagramWriter, delta: ObjectDelta): void {
  writeVarUint(w, delta.changes.length);
  for (const change of delta.changes) {
    if (isNestedChange(change)) writeNestedEntry(w, change.field, change.delta);
    else writeWholeEntry(w, change.field, fieldCodec(change.field), change.value);
  }
}

/** Reads an object delta (or refresh) of an object of `dclass`. */
export function readObjectDelta(r: DatagramReader, dclass: DClass): ObjectDelta {
  const layout = classLayout(dclass);
  const count = readVarUint(r);
  const changes: FieldChange[] = [];
  for (let i = 0; i < count; i++) {
    const header = r.readUint16();
    const id = header & MAX_DELTA_FIELD_ID;
    const at = layout.indexById.get(id);
    if (at === undefined) {
      throw new DcPackError(
        "out_of_range",
        `field id ${id} is not a stored field of dclass '${dclass.name}'`,
      );
    }
    const field = layout.fields[at]!;
    if ((header & NESTED_FLAG) === 0) {
      changes.push({ field, value: fieldCodec(field).read(r) as FieldValue });
    } else {
      changes.push({ field, delta: readFieldNested(r, field) });
    }
  }
  return { changes };
}

/** An object delta as fresh bytes. */
export function encodeObjectDelta(delta: ObjectDelta): Uint8Array {
  const w = new DatagramWriter();
  writeObjectDelta(w, delta);
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

/** Reused between calls so that collecting a tick allocates nothing of its own. */
const changedScratch: ObjectState[] = [];

/**
 * Takes the deltas of the objects that changed and appends them as one tick: `(doId, delta)` for each
 * changed object, unchanged ones cost nothing. With a `DeltaTracker` only the reported objects are
 * visited; with any other iterable each object is asked (O(1) for an unchanged one). Returns the
 * number of objects written. If encoding fails, the writer is rolled back to where it was and the
 * error (naming the doId) is thrown; values are checked when they are set, so this means a bug.
 */
export function encodeTickDeltas(source: DeltaTracker | Iterable<ObjectState>, w: DatagramWriter): number {
  const changed = collectChanged(source);
  const count = changed.length;
  const start = w.position;
  let doId = 0;
  try {
    writeVarUint(w, count);
    for (const state of changed) {
      doId = state.doId;
      w.writeUint32(state.doId);
      state.writeDelta(w);
    }
  } catch (error) {
    w.position = start;
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(`encoding the delta of doId ${doId} failed: ${reason}`, { cause: error });
  } finally {
    changed.length = 0;
  }
  return count;
}

function collectChanged(source: DeltaTracker | Iterable<ObjectState>): ObjectState[] {
  if (source instanceof DeltaTracker) return source.drain(changedScratch);
  changedScratch.length = 0;
  for (const state of source) if (state.changed) changedScratch.push(state);
  return changedScratch;
}

/** Where a tick's doIds lead: the object to apply to, or just its class (to decode and skip it). */
export type TickResolver = (doId: number) => ObjectState | DClass | undefined;

/** Reads a tick written by `encodeTickDeltas`. */
export function readTickDeltas(r: DatagramReader, resolve: TickResolver): TickDelta[] {
  const count = readVarUint(r);
  const out: TickDelta[] = [];
  for (let i = 0; i < count; i++) {
    const doId = r.readUint32();
    out.push({ doId, delta: readObjectDelta(r, classOf(doId, resolve(doId))) });
  }
  return out;
}

/** Reads a tick and applies each object's delta to the object `resolve` gives; returns how many applied. */
export function applyTickDeltas(r: DatagramReader, resolve: TickResolver): number {
  const count = readVarUint(r);
  let applied = 0;
  for (let i = 0; i < count; i++) {
    const doId = r.readUint32();
    const target = resolve(doId);
    const delta = readObjectDelta(r, classOf(doId, target));
    if (target instanceof ObjectState) {
      target.apply(delta);
      applied++;
    }
  }
  return applied;
}

function classOf(doId: number, target: ObjectState | DClass | undefined): DClass {
  if (target === undefined) {
    throw new DcPackError(
      "out_of_range",
      `the tick names doId ${doId}, whose class the receiver does not know`,
    );
  }
  return target instanceof ObjectState ? target.dclass : target;
}

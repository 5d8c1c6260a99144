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
 *     lengthCode     =  0 when the length did not change, else newLength + 1
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
import type { DcType } from "../dc/types.ts";
import type { FieldValue } from "../dc/value.ts";
import { fieldCodec, typeCodec } from "../pack/codec.ts";
import { DcPackError, withPathPrefix } from "../pack/errors.ts";
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import {
  classLayout,
  DeltaTracker,
  type FieldChange,
  isNestedChange,
  type ObjectDelta,
  ObjectState,
  type StoredField,
} from "./object-state.ts";
import { type DeltaEntry, dcStructShape, isNestedEntry, type NodeDelta } from "./tracked.ts";

/** Bit 15 of a field entry's header: the body is a nested change, not a whole value. */
export const NESTED_FLAG = 0x8000;
/** The largest field id a delta can name. */
export const MAX_DELTA_FIELD_ID = 0x7fff;
const VARUINT_PAYLOAD = 0x7f;
const VARUINT_MORE = 0x80;
/** Varuints longer than this (more than 2^35) are refused as corrupt. */
const MAX_VARUINT_BYTES = 5;

// ---------------------------------------------------------------------------------------------
// varuint

export function writeVarUint(w: DatagramWriter, value: number): void {
  let rest = value;
  while (rest > VARUINT_PAYLOAD) {
    w.writeUint8((rest & VARUINT_PAYLOAD) | VARUINT_MORE);
    rest = Math.floor(rest / (VARUINT_PAYLOAD + 1));
  }
  w.writeUint8(rest);
}

export function readVarUint(r: DatagramReader): number {
  let value = 0;
  let scale = 1;
  for (let count = 0; count < MAX_VARUINT_BYTES; count++) {
    const byte = r.readUint8();
    value += (byte & VARUINT_PAYLOAD) * scale;
    if ((byte & VARUINT_MORE) === 0) return value;
    scale *= VARUINT_PAYLOAD + 1;
  }
  throw new DcPackError("out_of_range", `a varuint is longer than ${MAX_VARUINT_BYTES} bytes`);
}

// ---------------------------------------------------------------------------------------------
// Object deltas

/** Appends an object delta (or refresh). */
export function writeObjectDelta(w: DatagramWriter, delta: ObjectDelta): void {
  writeVarUint(w, delta.changes.length);
  for (const change of delta.changes) writeFieldChange(w, change);
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

function writeFieldChange(w: DatagramWriter, change: FieldChange): void {
  const field = change.field;
  if (field.id > MAX_DELTA_FIELD_ID) {
    throw new Error(
      `field '${field.owner.name}.${field.name}' has id ${field.id}; deltas can name ids up to ${MAX_DELTA_FIELD_ID}`,
    );
  }
  if (isNestedChange(change)) {
    w.writeUint16(field.id | NESTED_FLAG);
    try {
      writeFieldNested(w, field, change.delta);
    } catch (error) {
      throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
    }
  } else {
    w.writeUint16(field.id);
    fieldCodec(field).write(w, change.value);
  }
}

function writeFieldNested(w: DatagramWriter, field: StoredField, delta: NodeDelta): void {
  if (field.kind === "parameter") {
    writeNested(w, delta, field.param.type);
    return;
  }
  writeMembers(
    w,
    expectKind(delta, "struct", "an atomic field's arguments").entries,
    field.elements.map((element) => element.type),
  );
}

function readFieldNested(r: DatagramReader, field: StoredField): NodeDelta {
  try {
    if (field.kind === "parameter") return readNested(r, field.param.type);
    return {
      kind: "struct",
      entries: readMembers(
        r,
        field.elements.map((element) => element.type),
      ),
    };
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Nested changes inside arrays and structs

function writeNested(w: DatagramWriter, delta: NodeDelta, type: DcType): void {
  if (type.kind === "array") {
    writeArray(w, expectKind(delta, "array", `an array of type ${typeName(type)}`), type.element);
    return;
  }
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct") {
      writeMembers(
        w,
        expectKind(delta, "struct", `struct '${target.name}'`).entries,
        dcStructShape(target).types!,
      );
      return;
    }
  }
  throw new Error(`a ${delta.kind} change cannot be encoded for a value of type ${typeName(type)}`);
}

function readNested(r: DatagramReader, type: DcType): NodeDelta {
  if (type.kind === "array") return readArray(r, type.element);
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct")
      return { kind: "struct", entries: readMembers(r, dcStructShape(target).types!) };
  }
  throw new DcPackError("wrong_type", `a nested change was sent for a value of type ${typeName(type)}`);
}

function writeArray(
  w: DatagramWriter,
  delta: { readonly length?: number; readonly entries: readonly DeltaEntry<number>[] },
  element: DcType,
): void {
  writeVarUint(w, delta.length === undefined ? 0 : delta.length + 1);
  writeVarUint(w, delta.entries.length);
  let previous = -1;
  for (const entry of delta.entries) {
    const gap = entry.key - previous - 1;
    if (gap < 0)
      throw new Error(`array delta entries must have ascending indices (${entry.key} after ${previous})`);
    previous = entry.key;
    writeItem(w, entry, gap, element, `[${entry.key}]`);
  }
}

function readArray(r: DatagramReader, element: DcType): NodeDelta {
  const lengthCode = readVarUint(r);
  const count = readVarUint(r);
  const entries: DeltaEntry<number>[] = [];
  let previous = -1;
  for (let i = 0; i < count; i++) {
    const key = readVarUint(r);
    const index = previous + 1 + Math.floor(key / 2);
    previous = index;
    entries.push(readItem(r, index, (key & 1) === 1, element, `[${index}]`));
  }
  return lengthCode === 0 ? { kind: "array", entries } : { kind: "array", length: lengthCode - 1, entries };
}

function writeMembers(
  w: DatagramWriter,
  entries: readonly DeltaEntry<number>[],
  types: readonly DcType[],
): void {
  writeVarUint(w, entries.length);
  for (const entry of entries) {
    const type = types[entry.key];
    if (type === undefined)
      throw new Error(`member index ${entry.key} is out of range (${types.length} members)`);
    writeItem(w, entry, entry.key, type, `[${entry.key}]`);
  }
}

function readMembers(r: DatagramReader, types: readonly DcType[]): DeltaEntry<number>[] {
  const count = readVarUint(r);
  const entries: DeltaEntry<number>[] = [];
  for (let i = 0; i < count; i++) {
    const key = readVarUint(r);
    const index = Math.floor(key / 2);
    const type = types[index];
    if (type === undefined) {
      throw new DcPackError(
        "out_of_range",
        `member index ${index} is out of range (${types.length} members)`,
      );
    }
    entries.push(readItem(r, index, (key & 1) === 1, type, `[${index}]`));
  }
  return entries;
}

function writeItem(
  w: DatagramWriter,
  entry: DeltaEntry<number>,
  keyBase: number,
  type: DcType,
  label: string,
): void {
  const nested = isNestedEntry(entry);
  writeVarUint(w, keyBase * 2 + (nested ? 1 : 0));
  try {
    if (nested) writeNested(w, entry.delta, type);
    else typeCodec(type).write(w, entry.value);
  } catch (error) {
    throw withPathPrefix(error, label);
  }
}

function readItem(
  r: DatagramReader,
  key: number,
  nested: boolean,
  type: DcType,
  label: string,
): DeltaEntry<number> {
  try {
    return nested ? { key, delta: readNested(r, type) } : { key, value: typeCodec(type).read(r) };
  } catch (error) {
    throw withPathPrefix(error, label);
  }
}

function expectKind<K extends NodeDelta["kind"]>(
  delta: NodeDelta,
  kind: K,
  what: string,
): Extract<NodeDelta, { kind: K }> {
  if (delta.kind !== kind) throw new Error(`a ${delta.kind} change cannot be encoded for ${what}`);
  return delta as Extract<NodeDelta, { kind: K }>;
}

function typeName(type: DcType): string {
  if (type.alias) return type.alias;
  if (type.kind === "struct") return type.name;
  if (type.kind === "array") return `${typeName(type.element)}[]`;
  return type.kind;
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
      const delta = state.takeDelta();
      if (delta) writeObjectDelta(w, delta);
      else writeVarUint(w, 0); // its changes were taken meanwhile (e.g. by a direct takeDelta on a child)
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

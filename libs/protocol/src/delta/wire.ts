/**
 * The low-level pieces of the delta wire format (see `codec.ts` for the layout): varuints, entry
 * keys, and nested changes inside DC arrays and structs, typed by the dclass.
 *
 * Every list of changes (an object's fields, a struct's members, a tuple's arguments, an array's
 * elements) is an entry list: each entry starts with a key
 *
 *   key = (slot + 1) << 2 | nestedBit << 1 | moreBit
 *
 * where `slot` says which field, member or element (see `codec.ts`), `nestedBit` whether the body
 * is a nested change rather than a whole value, and `moreBit` whether another entry of the same
 * list follows. No valid key is 0, so an empty list is the single byte 0.
 *
 * Uniform data (the flat seed's ByteHandler): inside a field with the keyword `uniform` (declared by
 * the game: `keyword uniform;`), changes of arrays of scalars (a board of bytes, a height map) are
 * runs of neighbouring elements, each packed one after another with no key between them:
 *
 *   nested(array T), uniform := lengthCode:varuint  runs
 *     runs  := 0 | (runKey:varuint  [count:varuint]  T packed{count})+
 *     runKey = (gap + 1) << 2 | singleBit << 1 | moreBit, gap = first index - the previous run's end
 *              (the first run's: its first index); singleBit: one element, and no count follows
 *
 * so a row of 8 changed bytes costs 3 bytes of framing rather than 8 keys. A whole value (a refresh) is
 * the DC packing, which already sends such an array as its length and the elements back to back.
 */
import { hasKeyword } from "../dc/field.ts";
import type { DcType } from "../dc/types.ts";
import { typeCodec } from "../pack/codec.ts";
import { DcPackError, withPathPrefix } from "../pack/errors.ts";
import type { DatagramReader } from "../pack/reader.ts";
import type { DatagramWriter } from "../pack/writer.ts";
import type { StoredField } from "./object-state.ts";
import { type DeltaEntry, dcStructShape, isEditableType, isNestedEntry, type NodeDelta } from "./tracked.ts";

/** Bit 0 of a key: another entry of the same list follows. */
export const KEY_MORE = 1;
/** Bit 1 of a key: the body is a nested change, not a whole value. */
export const KEY_NESTED = 2;
/** Slots start at bit 2, shifted by one so that no key is 0. */
const KEY_SLOT_SCALE = 4;
/** The keyword that makes a field's arrays of scalars change in runs (see the top of this file). */
export const UNIFORM_KEYWORD = "uniform";
/** Bit 1 of a run key: the run is one element long, and no count follows. */
const RUN_SINGLE = 2;
/** The whole of an empty entry list. */
export const EMPTY_LIST = 0;
const VARUINT_PAYLOAD = 0x7f;
const VARUINT_MORE = 0x80;

// ---------------------------------------------------------------------------------------------
// varuint and keys

/** Appends an unsigned LEB128 integer (see `DatagramWriter.writeVarUint`). */
export function writeVarUint(w: DatagramWriter, value: number): void {
  w.writeVarUint(value);
}

/** Reads an unsigned LEB128 integer of at most 5 bytes; a DcPackError if cut off or longer. */
export function readVarUint(r: DatagramReader): number {
  return r.readVarUint();
}

/** The key of an entry at `slot`, without the more bit. */
export function entryKey(slot: number, nested: boolean): number {
  return (slot + 1) * KEY_SLOT_SCALE + (nested ? KEY_NESTED : 0);
}

/**
 * Sets the more bit of a key already written at `at`. The more bit is bit 0 of the key, and a
 * varuint's first byte holds its lowest 7 bits, so only that byte changes.
 */
export function setMoreBit(w: DatagramWriter, at: number, key: number): void {
  const more = key + KEY_MORE;
  w.patchUint8(at, more > VARUINT_PAYLOAD ? (more & VARUINT_PAYLOAD) | VARUINT_MORE : more);
}

/** A key as read: its slot (-1 for the empty list's 0), whether nested, whether more follow. */
export interface ReadKey {
  slot: number;
  nested: boolean;
  more: boolean;
}

/** Reads a key into `into` (reused by the caller: nothing is allocated). */
export function readKey(r: DatagramReader, into: ReadKey): ReadKey {
  const key = r.readVarUint();
  into.slot = Math.floor(key / KEY_SLOT_SCALE) - 1;
  into.nested = (key & KEY_NESTED) !== 0;
  into.more = (key & KEY_MORE) !== 0;
  return into;
}

/** Throws unless a key read inside a list (not as its first key) names a slot. */
export function checkFollowingKey(key: ReadKey): void {
  if (key.slot < 0) {
    throw new DcPackError("out_of_range", "an entry key of 0 follows an entry that announced more");
  }
}

// ---------------------------------------------------------------------------------------------
// Nested changes inside a field

/** The DC types of an atomic field's arguments (cached: nested changes are encoded often). */
const argumentTypeCache = new WeakMap<StoredField, readonly DcType[]>();

function argumentTypes(field: StoredField): readonly DcType[] {
  let types = argumentTypeCache.get(field);
  if (types === undefined) {
    types = field.elements.map((element) => element.type);
    argumentTypeCache.set(field, types);
  }
  return types;
}

/** Appends the changes inside a field's value: nested(type) of a parameter field, tuple of an atomic one. */
export function writeFieldNested(w: DatagramWriter, field: StoredField, delta: NodeDelta): void {
  const runs = hasKeyword(field, UNIFORM_KEYWORD);
  try {
    if (field.kind === "parameter") {
      writeNested(w, delta, field.param.type, runs);
    } else {
      const entries = expectKind(delta, "struct", "the arguments of an atomic field").entries;
      writeMembers(w, entries, argumentTypes(field), runs);
    }
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

export function readFieldNested(r: DatagramReader, field: StoredField): NodeDelta {
  const runs = hasKeyword(field, UNIFORM_KEYWORD);
  try {
    if (field.kind === "parameter") return readNested(r, field.param.type, runs);
    return { kind: "struct", entries: readMembers(r, argumentTypes(field), runs) };
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Nested changes inside arrays and structs

/** `runs`: arrays of scalars change in runs (inside a `uniform` field). */
export function writeNested(w: DatagramWriter, delta: NodeDelta, type: DcType, runs = false): void {
  if (type.kind === "array") {
    const changes = expectKind(delta, "array", type);
    if (runs && !isEditableType(type.element)) writeRuns(w, changes, type.element);
    else writeArray(w, changes, type.element, runs);
    return;
  }
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct") {
      writeMembers(w, expectKind(delta, "struct", type).entries, dcStructShape(target).types!, runs);
      return;
    }
  }
  throw new Error(`a ${delta.kind} change cannot be encoded for a value of type ${typeName(type)}`);
}

export function readNested(r: DatagramReader, type: DcType, runs = false): NodeDelta {
  if (type.kind === "array") {
    if (runs && !isEditableType(type.element)) return readRuns(r, type.element);
    return readArray(r, type.element, runs);
  }
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct")
      return { kind: "struct", entries: readMembers(r, dcStructShape(target).types!, runs) };
  }
  throw new DcPackError("wrong_type", `a nested change was sent for a value of type ${typeName(type)}`);
}

type ArrayChanges = { readonly length?: number; readonly entries: readonly DeltaEntry<number>[] };

/** nested(array T) := lengthCode, then the changed elements; an element's slot is its gap. */
function writeArray(w: DatagramWriter, delta: ArrayChanges, element: DcType, runs: boolean): void {
  w.writeVarUint(delta.length === undefined ? 0 : delta.length + 1);
  const entries = delta.entries;
  if (entries.length === 0) {
    w.writeUint8(EMPTY_LIST);
    return;
  }
  let previous = -1;
  for (let k = 0; k < entries.length; k++) {
    const entry = entries[k]!;
    const gap = entry.key - previous - 1;
    if (gap < 0)
      throw new Error(`array delta entries must have ascending indices (${entry.key} after ${previous})`);
    previous = entry.key;
    writeItem(w, entry, gap, k < entries.length - 1, element, runs);
  }
}

function readArray(r: DatagramReader, element: DcType, runs: boolean): NodeDelta {
  const lengthCode = r.readVarUint();
  const entries: DeltaEntry<number>[] = [];
  const key = readKey(r, { slot: 0, nested: false, more: false });
  let previous = -1;
  if (key.slot >= 0) {
    for (;;) {
      const index = previous + 1 + key.slot;
      previous = index;
      entries.push(readItem(r, index, key.nested, element, runs));
      if (!key.more) break;
      checkFollowingKey(readKey(r, key));
    }
  }
  return arrayDelta(lengthCode, entries);
}

/** nested(array T) of a uniform field: lengthCode, then runs of neighbouring elements (top of file). */
function writeRuns(w: DatagramWriter, delta: ArrayChanges, element: DcType): void {
  w.writeVarUint(delta.length === undefined ? 0 : delta.length + 1);
  const entries = delta.entries;
  if (entries.length === 0) {
    w.writeUint8(EMPTY_LIST);
    return;
  }
  const codec = typeCodec(element);
  let end = 0;
  for (let first = 0; first < entries.length; ) {
    let last = first;
    while (last + 1 < entries.length && entries[last + 1]!.key === entries[last]!.key + 1) last++;
    const start = entries[first]!.key;
    if (start < end)
      throw new Error(`array delta entries must have ascending indices (${start} after ${end - 1})`);
    const count = last - first + 1;
    const more = last < entries.length - 1;
    w.writeVarUint(
      (start - end + 1) * KEY_SLOT_SCALE + (count === 1 ? RUN_SINGLE : 0) + (more ? KEY_MORE : 0),
    );
    if (count > 1) w.writeVarUint(count);
    for (let k = first; k <= last; k++) {
      const entry = entries[k]!;
      if (isNestedEntry(entry))
        throw new Error(`element [${entry.key}] of an array of ${typeName(element)} cannot change in place`);
      try {
        codec.write(w, entry.value);
      } catch (error) {
        throw withPathPrefix(error, `[${entry.key}]`);
      }
    }
    end = start + count;
    first = last + 1;
  }
}

function readRuns(r: DatagramReader, element: DcType): NodeDelta {
  const lengthCode = r.readVarUint();
  const entries: DeltaEntry<number>[] = [];
  const codec = typeCodec(element);
  let end = 0;
  let key = r.readVarUint();
  if (key === EMPTY_LIST) return arrayDelta(lengthCode, entries);
  for (;;) {
    if (key < KEY_SLOT_SCALE) throw new DcPackError("out_of_range", `run key ${key} names no element`);
    const start = end + Math.floor(key / KEY_SLOT_SCALE) - 1;
    const count = (key & RUN_SINGLE) !== 0 ? 1 : r.readVarUint();
    if (count === 0) throw new DcPackError("out_of_range", "a run of array changes holds no element");
    for (let index = start; index < start + count; index++) {
      try {
        entries.push({ key: index, value: codec.read(r) });
      } catch (error) {
        throw withPathPrefix(error, `[${index}]`);
      }
    }
    end = start + count;
    if ((key & KEY_MORE) === 0) return arrayDelta(lengthCode, entries);
    key = r.readVarUint();
  }
}

function arrayDelta(lengthCode: number, entries: DeltaEntry<number>[]): NodeDelta {
  return lengthCode === 0 ? { kind: "array", entries } : { kind: "array", length: lengthCode - 1, entries };
}

/** The changed members of a struct (or arguments of a tuple); a member's slot is its index. */
function writeMembers(
  w: DatagramWriter,
  entries: readonly DeltaEntry<number>[],
  types: readonly DcType[],
  runs: boolean,
): void {
  if (entries.length === 0) {
    w.writeUint8(EMPTY_LIST);
    return;
  }
  for (let k = 0; k < entries.length; k++) {
    const entry = entries[k]!;
    const type = types[entry.key];
    if (type === undefined)
      throw new Error(`member index ${entry.key} is out of range (${types.length} members)`);
    writeItem(w, entry, entry.key, k < entries.length - 1, type, runs);
  }
}

function readMembers(r: DatagramReader, types: readonly DcType[], runs: boolean): DeltaEntry<number>[] {
  const entries: DeltaEntry<number>[] = [];
  const key = readKey(r, { slot: 0, nested: false, more: false });
  if (key.slot < 0) return entries;
  for (;;) {
    const type = types[key.slot];
    if (type === undefined) {
      throw new DcPackError(
        "out_of_range",
        `member index ${key.slot} is out of range (${types.length} members)`,
      );
    }
    entries.push(readItem(r, key.slot, key.nested, type, runs));
    if (!key.more) return entries;
    checkFollowingKey(readKey(r, key));
  }
}

function writeItem(
  w: DatagramWriter,
  entry: DeltaEntry<number>,
  slot: number,
  more: boolean,
  type: DcType,
  runs: boolean,
): void {
  const nested = isNestedEntry(entry);
  w.writeVarUint(entryKey(slot, nested) + (more ? KEY_MORE : 0));
  try {
    if (nested) writeNested(w, entry.delta, type, runs);
    else typeCodec(type).write(w, entry.value);
  } catch (error) {
    throw withPathPrefix(error, `[${entry.key}]`);
  }
}

function readItem(
  r: DatagramReader,
  index: number,
  nested: boolean,
  type: DcType,
  runs: boolean,
): DeltaEntry<number> {
  try {
    return nested
      ? { key: index, delta: readNested(r, type, runs) }
      : { key: index, value: typeCodec(type).read(r) };
  } catch (error) {
    throw withPathPrefix(error, `[${index}]`);
  }
}

/** The delta as the kind its place calls for; `where` (a description or the value's type) names the place. */
function expectKind<K extends NodeDelta["kind"]>(
  delta: NodeDelta,
  kind: K,
  where: string | DcType,
): Extract<NodeDelta, { kind: K }> {
  if (delta.kind !== kind) {
    const what = typeof where === "string" ? where : `a value of type ${typeName(where)}`;
    throw new Error(`a ${delta.kind} change cannot be encoded for ${what}`);
  }
  return delta as Extract<NodeDelta, { kind: K }>;
}

function typeName(type: DcType): string {
  if (type.alias) return type.alias;
  if (type.kind === "struct") return type.name;
  if (type.kind === "array") return `${typeName(type.element)}[]`;
  return type.kind;
}

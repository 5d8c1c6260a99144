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
 */
import type { DcType } from "../dc/types.ts";
import { typeCodec } from "../pack/codec.ts";
import { DcPackError, withPathPrefix } from "../pack/errors.ts";
import type { DatagramReader } from "../pack/reader.ts";
import type { DatagramWriter } from "../pack/writer.ts";
import type { StoredField } from "./object-state.ts";
import { type DeltaEntry, dcStructShape, isNestedEntry, type NodeDelta } from "./tracked.ts";

/** Bit 0 of a key: another entry of the same list follows. */
export const KEY_MORE = 1;
/** Bit 1 of a key: the body is a nested change, not a whole value. */
export const KEY_NESTED = 2;
/** Slots start at bit 2, shifted by one so that no key is 0. */
const KEY_SLOT_SCALE = 4;
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
  try {
    if (field.kind === "parameter") {
      writeNested(w, delta, field.param.type);
    } else {
      const entries = expectKind(delta, "struct", "the arguments of an atomic field").entries;
      writeMembers(w, entries, argumentTypes(field));
    }
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

export function readFieldNested(r: DatagramReader, field: StoredField): NodeDelta {
  try {
    if (field.kind === "parameter") return readNested(r, field.param.type);
    return { kind: "struct", entries: readMembers(r, argumentTypes(field)) };
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Nested changes inside arrays and structs

export function writeNested(w: DatagramWriter, delta: NodeDelta, type: DcType): void {
  if (type.kind === "array") {
    writeArray(w, expectKind(delta, "array", type), type.element);
    return;
  }
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct") {
      writeMembers(w, expectKind(delta, "struct", type).entries, dcStructShape(target).types!);
      return;
    }
  }
  throw new Error(`a ${delta.kind} change cannot be encoded for a value of type ${typeName(type)}`);
}

export function readNested(r: DatagramReader, type: DcType): NodeDelta {
  if (type.kind === "array") return readArray(r, type.element);
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind === "struct")
      return { kind: "struct", entries: readMembers(r, dcStructShape(target).types!) };
  }
  throw new DcPackError("wrong_type", `a nested change was sent for a value of type ${typeName(type)}`);
}

/** nested(array T) := lengthCode, then the changed elements; an element's slot is its gap. */
function writeArray(
  w: DatagramWriter,
  delta: { readonly length?: number; readonly entries: readonly DeltaEntry<number>[] },
  element: DcType,
): void {
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
    writeItem(w, entry, gap, k < entries.length - 1, element);
  }
}

function readArray(r: DatagramReader, element: DcType): NodeDelta {
  const lengthCode = r.readVarUint();
  const entries: DeltaEntry<number>[] = [];
  const key = readKey(r, { slot: 0, nested: false, more: false });
  let previous = -1;
  if (key.slot >= 0) {
    for (;;) {
      const index = previous + 1 + key.slot;
      previous = index;
      entries.push(readItem(r, index, key.nested, element));
      if (!key.more) break;
      checkFollowingKey(readKey(r, key));
    }
  }
  return lengthCode === 0 ? { kind: "array", entries } : { kind: "array", length: lengthCode - 1, entries };
}

/** The changed members of a struct (or arguments of a tuple); a member's slot is its index. */
function writeMembers(
  w: DatagramWriter,
  entries: readonly DeltaEntry<number>[],
  types: readonly DcType[],
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
    writeItem(w, entry, entry.key, k < entries.length - 1, type);
  }
}

function readMembers(r: DatagramReader, types: readonly DcType[]): DeltaEntry<number>[] {
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
    entries.push(readItem(r, key.slot, key.nested, type));
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
): void {
  const nested = isNestedEntry(entry);
  w.writeVarUint(entryKey(slot, nested) + (more ? KEY_MORE : 0));
  try {
    if (nested) writeNested(w, entry.delta, type);
    else typeCodec(type).write(w, entry.value);
  } catch (error) {
    throw withPathPrefix(error, `[${entry.key}]`);
  }
}

function readItem(r: DatagramReader, index: number, nested: boolean, type: DcType): DeltaEntry<number> {
  try {
    return nested
      ? { key: index, delta: readNested(r, type) }
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

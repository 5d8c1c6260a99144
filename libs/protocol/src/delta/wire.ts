/**
 * The low-level pieces of the delta wire format (see `codec.ts` for the layout): varuints, field
 * entries, and nested changes inside DC arrays and structs, typed by the dclass.
 */
import type { DcType } from "../dc/types.ts";
import { type Codec, typeCodec } from "../pack/codec.ts";
import { DcPackError, withPathPrefix } from "../pack/errors.ts";
import type { DatagramReader } from "../pack/reader.ts";
import type { DatagramWriter } from "../pack/writer.ts";
import type { StoredField } from "./object-state.ts";
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
// Field entries

/** Throws unless the field's id fits the 15 bits a field entry's header has for it. */
export function checkDeltaFieldId(field: StoredField): void {
  if (field.id > MAX_DELTA_FIELD_ID) {
    throw new Error(
      `field '${field.owner.name}.${field.name}' has id ${field.id}; deltas can name ids up to ${MAX_DELTA_FIELD_ID}`,
    );
  }
}

/** Appends a field entry holding the field's whole value, packed by `codec` (the field's codec). */
export function writeWholeEntry(w: DatagramWriter, field: StoredField, codec: Codec, value: unknown): void {
  checkDeltaFieldId(field);
  w.writeUint16(field.id);
  codec.write(w, value);
}

/** Appends a field entry holding the changes inside the field's value. */
export function writeNestedEntry(w: DatagramWriter, field: StoredField, delta: NodeDelta): void {
  checkDeltaFieldId(field);
  w.writeUint16(field.id | NESTED_FLAG);
  try {
    writeFieldNested(w, field, delta);
  } catch (error) {
    throw withPathPrefix(error, `${field.owner.name}.${field.name}`);
  }
}

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

// ---------------------------------------------------------------------------------------------
// Nested changes inside arrays and structs

export function writeFieldNested(w: DatagramWriter, field: StoredField, delta: NodeDelta): void {
  if (field.kind === "parameter") {
    writeNested(w, delta, field.param.type);
    return;
  }
  writeMembers(
    w,
    expectKind(delta, "struct", "the arguments of an atomic field").entries,
    argumentTypes(field),
  );
}

export function readFieldNested(r: DatagramReader, field: StoredField): NodeDelta {
  try {
    if (field.kind === "parameter") return readNested(r, field.param.type);
    return {
      kind: "struct",
      entries: readMembers(r, argumentTypes(field)),
    };
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

/**
 * The binary form of deltas of untyped tracked containers (a Map of players, a struct of game
 * settings: anything DC has no type for), encoded with msgpackr. Keys and values are whatever msgpackr
 * carries (numbers, strings, bigints, byte arrays, arrays, objects, Maps).
 *
 * Layout: one msgpack array per container delta, nested deltas in the same form:
 *
 *   struct: [0, key, item, key, item, ...]          key = (memberIndex << 1) | nestedBit
 *   array:  [1, lengthCode, key, item, ...]         lengthCode = 0 when unchanged, else newLength + 1;
 *                                                   key = (index << 1) | nestedBit, indices ascending
 *   map:    [2, cleared (0|1), [deletedKey, ...], [key, value, ...], [key, nestedDelta, ...]]
 *   item    = the plain value (nestedBit 0) or the nested delta (nestedBit 1)
 *
 * Inside a DatagramWriter: a varuint byte count, then the msgpack bytes. A refresh is the container's
 * plain value (`toValue()`) packed with the same msgpackr settings.
 */
import { Packr } from "msgpackr";
import { DcPackError } from "../pack/errors.ts";
import type { DatagramReader } from "../pack/reader.ts";
import type { DatagramWriter } from "../pack/writer.ts";
import {
  type ArrayDelta,
  type DeltaEntry,
  isNestedEntry,
  type MapDelta,
  type NodeDelta,
  type StructDelta,
  type TrackedNode,
  track,
} from "./tracked.ts";
import { readVarUint, writeVarUint } from "./wire.ts";

const STRUCT_TAG = 0;
const ARRAY_TAG = 1;
const MAP_TAG = 2;

/** Records keep objects and Maps apart on the way back; `moreTypes` keeps Uint8Array a Uint8Array. */
const packr = new Packr({ moreTypes: true });

type Wire = unknown[];

/** A container delta as msgpack bytes. */
export function encodeNodeDelta(delta: NodeDelta): Uint8Array {
  return packr.pack(toWire(delta));
}

export function decodeNodeDelta(bytes: Uint8Array): NodeDelta {
  return fromWire(packr.unpack(bytes), "delta");
}

/** Appends a container delta: varuint byte count, then its msgpack bytes. */
export function writeNodeDelta(w: DatagramWriter, delta: NodeDelta): void {
  const bytes = encodeNodeDelta(delta);
  writeVarUint(w, bytes.length);
  w.writeBytes(bytes);
}

export function readNodeDelta(r: DatagramReader): NodeDelta {
  const length = readVarUint(r);
  r.need(length);
  const start = r.position;
  r.position += length;
  return decodeNodeDelta(r.bytes.subarray(start, start + length));
}

/** A container's full value (its refresh) as msgpack bytes. */
export function encodeRefresh(node: TrackedNode): Uint8Array {
  return packr.pack(node.toValue());
}

/** A replica container from a refresh (deeper containers are wrapped when first edited or changed). */
export function decodeRefresh(bytes: Uint8Array): TrackedNode {
  return track(packr.unpack(bytes));
}

// ---------------------------------------------------------------------------------------------

function toWire(delta: NodeDelta): Wire {
  switch (delta.kind) {
    case "struct":
      return [STRUCT_TAG, ...flattenKeyed(delta.entries)];
    case "array":
      return [ARRAY_TAG, delta.length === undefined ? 0 : delta.length + 1, ...flattenKeyed(delta.entries)];
    case "map":
      return mapToWire(delta);
  }
}

function flattenKeyed(entries: readonly DeltaEntry<number>[]): unknown[] {
  const out: unknown[] = [];
  for (const entry of entries) {
    if (isNestedEntry(entry)) out.push(entry.key * 2 + 1, toWire(entry.delta));
    else out.push(entry.key * 2, entry.value);
  }
  return out;
}

function mapToWire(delta: MapDelta): Wire {
  const sets: unknown[] = [];
  const nested: unknown[] = [];
  for (const entry of delta.entries) {
    if (isNestedEntry(entry)) nested.push(entry.key, toWire(entry.delta));
    else sets.push(entry.key, entry.value);
  }
  return [MAP_TAG, delta.clear ? 1 : 0, delta.deleted, sets, nested];
}

function fromWire(wire: unknown, where: string): NodeDelta {
  if (!Array.isArray(wire) || wire.length === 0) throw malformed(where, "expected a tagged array");
  switch (wire[0]) {
    case STRUCT_TAG:
      return { kind: "struct", entries: keyedFromWire(wire, 1, where) } satisfies StructDelta;
    case ARRAY_TAG: {
      const lengthCode = wire[1];
      if (!isCount(lengthCode)) throw malformed(where, "the array length code is not a count");
      const entries = keyedFromWire(wire, 2, where);
      const delta: ArrayDelta =
        lengthCode === 0 ? { kind: "array", entries } : { kind: "array", length: lengthCode - 1, entries };
      return delta;
    }
    case MAP_TAG:
      return mapFromWire(wire, where);
    default:
      throw malformed(where, `unknown container tag ${String(wire[0])}`);
  }
}

function keyedFromWire(wire: readonly unknown[], start: number, where: string): DeltaEntry<number>[] {
  if ((wire.length - start) % 2 !== 0) throw malformed(where, "keys and items do not pair up");
  const entries: DeltaEntry<number>[] = [];
  for (let at = start; at < wire.length; at += 2) {
    const key = wire[at];
    if (!isCount(key)) throw malformed(where, `entry key ${String(key)} is not a count`);
    const index = Math.floor(key / 2);
    const item = wire[at + 1];
    entries.push(
      key % 2 === 1
        ? { key: index, delta: fromWire(item, `${where}[${index}]`) }
        : { key: index, value: item },
    );
  }
  return entries;
}

function mapFromWire(wire: readonly unknown[], where: string): MapDelta {
  const [, cleared, deleted, sets, nested] = wire;
  if (
    (cleared !== 0 && cleared !== 1) ||
    !Array.isArray(deleted) ||
    !Array.isArray(sets) ||
    !Array.isArray(nested)
  ) {
    throw malformed(where, "expected [2, cleared, deleted[], sets[], nested[]]");
  }
  if (sets.length % 2 !== 0 || nested.length % 2 !== 0)
    throw malformed(where, "map keys and values do not pair up");
  const entries: DeltaEntry<unknown>[] = [];
  for (let at = 0; at < sets.length; at += 2) entries.push({ key: sets[at], value: sets[at + 1] });
  for (let at = 0; at < nested.length; at += 2) {
    entries.push({ key: nested[at], delta: fromWire(nested[at + 1], `${where}[${String(nested[at])}]`) });
  }
  return { kind: "map", clear: cleared === 1, deleted, entries };
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value >= 0;
}

function malformed(where: string, detail: string): DcPackError {
  return new DcPackError("wrong_type", `malformed generic delta at ${where}: ${detail}`);
}

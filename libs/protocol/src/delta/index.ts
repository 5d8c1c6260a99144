/**
 * Change tracking and minimal deltas.
 *
 * - `tracked.ts`: tracked containers (`TrackedStruct`, `TrackedArray`, `TrackedMap`) that nest and
 *   report their first change to their parent, so a delta walks only the dirty paths.
 * - `object-state.ts`: `ObjectState`, the tracked fields of one DC object (`set`, `get`, `edit`,
 *   `takeDelta`, `refresh`, `apply`), and `DeltaTracker`, the set of objects changed this tick.
 * - `codec.ts` + `wire.ts`: the compact binary form of object deltas, refreshes and ticks, packed
 *   with the dclass (byte layout at the top of `codec.ts`).
 * - `field-delta.ts`: one field's nested change as bytes of its own (what travels through the cluster
 *   beside the field's whole value), and applying it to a plain value.
 * - `keyed.ts`: `KeyedArray`, a struct array used as a map (DC has no map type).
 * - `generic.ts`: msgpack form of deltas of untyped containers (Maps and friends).
 */
export {
  applyTickDeltas,
  decodeObjectDelta,
  encodeObjectDelta,
  encodeTickDeltas,
  readObjectDelta,
  readTickDeltas,
  type TickDelta,
  type TickResolver,
  writeObjectDelta,
} from "./codec.ts";
export { sameValue } from "./equal.ts";
export { applyFieldDelta, decodeFieldDelta, encodeFieldDelta, isContainerField } from "./field-delta.ts";
export {
  decodeNodeDelta,
  decodeRefresh,
  encodeNodeDelta,
  encodeRefresh,
  readNodeDelta,
  writeNodeDelta,
} from "./generic.ts";
export { KeyedArray } from "./keyed.ts";
export {
  applyDelta,
  type ClassLayout,
  classLayout,
  DeltaTracker,
  type FieldChange,
  type FieldRef,
  isNestedChange,
  type ObjectDelta,
  ObjectState,
  type ObjectStateOptions,
  type StoredField,
} from "./object-state.ts";
export {
  type ArrayDelta,
  type ChangeListener,
  type DeltaEntry,
  dcStructShape,
  isEditableType,
  isNestedEntry,
  type MapDelta,
  type NodeDelta,
  type StructDelta,
  type StructShape,
  structShape,
  TrackedArray,
  TrackedMap,
  TrackedNode,
  TrackedStruct,
  track,
} from "./tracked.ts";
export { readVarUint, UNIFORM_KEYWORD, writeVarUint } from "./wire.ts";

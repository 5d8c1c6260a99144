/**
 * The tracked state of one distributed object: the values of its fields, with every change recorded
 * so that `takeDelta()` returns what changed since the last call and `refresh()` the full form.
 *
 * Rules:
 * - Only atomic and parameter fields are stored. A parameter field's value is the value itself; an
 *   atomic field's is the tuple (array) of its arguments.
 * - Molecular fields are not stored: setting one sets each of its atoms (from consecutive slices of
 *   its tuple) and reading one joins its atoms' values (undefined until all of them are set). A
 *   delta therefore never names a molecular field; it names the atoms that changed.
 * - A field has no value until it is set (by the initial values, `set`, or an applied delta). Values
 *   given at construction are the starting point, not changes.
 * - Setting a field to a value deep-equal to its current one is not a change.
 * - Within one delta, the latest value of a field wins: a field set three times is sent once.
 * - `edit(field, ...path)` returns a tracked view (array, struct or argument tuple) of a field's value
 *   for changes in place; only what changed inside it is sent (see `tracked.ts`).
 * - Applying a delta to a replica makes the same changes there, and they count as the replica's own
 *   changes (so a relay can apply what it receives and pass on its own deltas); a replica that only
 *   reads may ignore that or call `clearChanges()`.
 * - A refresh may be taken at any time; a newcomer that starts from it and then applies every later
 *   delta ends equal to the source (deltas carry latest values, so re-applying a change is harmless).
 */
import type { DClass } from "../dc/dclass.ts";
import type { AtomicField, Field, MolecularField, ParameterField } from "../dc/field.ts";
import type { FieldValue } from "../dc/value.ts";
import { type Codec, fieldCodec } from "../pack/codec.ts";
import { DcPackError } from "../pack/errors.ts";
import type { DatagramWriter } from "../pack/writer.ts";
import { sameValue } from "./equal.ts";
import { KeyedArray } from "./keyed.ts";
import {
  adopt,
  type ChangeListener,
  type NodeDelta,
  release,
  type StructShape,
  structShape,
  TrackedArray,
  TrackedMap,
  type TrackedNode,
  TrackedStruct,
  track,
} from "./tracked.ts";
import { checkFieldValue } from "./validate.ts";
import { EMPTY_LIST, entryKey, setMoreBit, writeFieldNested } from "./wire.ts";

/** A field stored in an object: atomic (a tuple of arguments) or parameter (one value). */
export type StoredField = AtomicField | ParameterField;

/** A field named by its name or given as the model's field object. */
export type FieldRef = string | Field;

/** One changed field: its whole new value, or the changes inside its edited value. */
export type FieldChange =
  | { readonly field: StoredField; readonly value: FieldValue }
  | { readonly field: StoredField; readonly delta: NodeDelta };

/**
 * What changed in an object (from `takeDelta`), or all of it (from `refresh`). Its binary form names
 * fields by their index in the class's layout, so encoding and decoding need the object's class.
 */
export interface ObjectDelta {
  readonly changes: readonly FieldChange[];
}

export function isNestedChange(
  change: FieldChange,
): change is { readonly field: StoredField; readonly delta: NodeDelta } {
  return "delta" in change;
}

export interface ObjectStateOptions {
  /** The object's id, written with its delta by `encodeTickDeltas`. */
  readonly doId?: number;
  /** The tracker this object reports to when it changes (once until the tracker is drained). */
  readonly tracker?: DeltaTracker;
}

/** A field's mark: unchanged, set to a new whole value, or changed inside its tracked view. */
const CLEAN = 0;
const REPLACED = 1;
const NESTED = 2;
const MARK_BITS = 3;
/** Set beside the mark while a field's value is a tracked view (`edit`) rather than a plain value. */
const EDITING = 4;

// ---------------------------------------------------------------------------------------------
// Class layout: which fields an object stores, at which local index

/** How the objects of one class store their fields; computed once per class. */
export interface ClassLayout {
  readonly dclass: DClass;
  /**
   * Stored fields (atomic and parameter), in field-id order. A field's position here is its local
   * index: an object's values use it, and deltas name the field by it.
   */
  readonly fields: readonly StoredField[];
  readonly indexByName: ReadonlyMap<string, number>;
  readonly indexById: ReadonlyMap<number, number>;
  readonly molecularByName: ReadonlyMap<string, MolecularField>;
  /** For atomic fields, the shape of their argument tuple; undefined for parameter fields. */
  readonly tuples: readonly (StructShape | undefined)[];
  /** The packer's codec of each stored field (checks values, packs whole values). */
  readonly codecs: readonly Codec[];
  /** `dclass.fields.length` when the layout was made (a class that grew gets a new layout). */
  readonly sourceFieldCount: number;
}

const layouts = new WeakMap<DClass, ClassLayout>();
/** An object keeps the local indices of its changed fields in 16 bits (see `ObjectState.slots`). */
const MAX_STORED_FIELDS = 0xffff;

export function classLayout(dclass: DClass): ClassLayout {
  const known = layouts.get(dclass);
  if (known && known.sourceFieldCount === dclass.fields.length) return known;
  const layout = buildLayout(dclass);
  layouts.set(dclass, layout);
  return layout;
}

function buildLayout(dclass: DClass): ClassLayout {
  const fields: StoredField[] = [];
  const molecularByName = new Map<string, MolecularField>();
  for (const field of dclass.fields) {
    if (field.kind === "molecular") molecularByName.set(field.name, field);
    else fields.push(field);
  }
  if (fields.length > MAX_STORED_FIELDS) {
    throw new Error(
      `dclass '${dclass.name}' has ${fields.length} stored fields; objects can track at most ${MAX_STORED_FIELDS}`,
    );
  }
  const indexByName = new Map<string, number>();
  const indexById = new Map<number, number>();
  fields.forEach((field, at) => {
    indexByName.set(field.name, at);
    indexById.set(field.id, at);
  });
  const tuples = fields.map((field) => (field.kind === "atomic" ? tupleShape(field) : undefined));
  return {
    dclass,
    fields,
    indexByName,
    indexById,
    molecularByName,
    tuples,
    codecs: fields.map((field) => fieldCodec(field)),
    sourceFieldCount: dclass.fields.length,
  };
}

/** The shape of an atomic field's argument tuple: its arguments by name (or position), typed. */
export function tupleShape(field: AtomicField): StructShape {
  const names = field.elements.map((element, at) => element.name ?? String(at));
  return structShape(
    names,
    true,
    field.elements.map((element) => element.type),
  );
}

// ---------------------------------------------------------------------------------------------
// ObjectState

export class ObjectState implements ChangeListener {
  readonly dclass: DClass;
  /** The object's id (0 when not given). */
  doId: number;
  readonly layout: ClassLayout;
  /** Per stored field: undefined (not set), a plain value, or a tracked view being edited. */
  private readonly values: unknown[];
  /**
   * Bookkeeping in one array, so that a change touches few cache lines: `slots[at]` is the mark of
   * stored field `at` plus the EDITING bit; `slots[dirtyBase + k]` for k < dirtyCount are the stored
   * indices of the changed fields (below MAX_STORED_FIELDS).
   */
  private readonly slots: Uint16Array;
  private readonly dirtyBase: number;
  private dirtyCount = 0;
  private _changed = false;
  private _tracker: DeltaTracker | undefined;
  /** @internal Whether this object sits in its tracker's queue. */
  _queued = false;

  constructor(
    dclass: DClass,
    initial?: { readonly [field: string]: FieldValue },
    options: ObjectStateOptions = {},
  ) {
    this.dclass = dclass;
    this.doId = options.doId ?? 0;
    this.layout = classLayout(dclass);
    this.values = new Array<unknown>(this.layout.fields.length).fill(undefined);
    this.dirtyBase = this.layout.fields.length;
    this.slots = new Uint16Array(2 * this.layout.fields.length);
    if (initial) {
      for (const name of Object.keys(initial)) this.set(name, initial[name]!);
      this.clearChanges();
    }
    this._tracker = options.tracker;
  }

  /** A replica built from a refresh (or any delta), starting with no pending changes. */
  static fromRefresh(dclass: DClass, refresh: ObjectDelta, options: ObjectStateOptions = {}): ObjectState {
    const state = new ObjectState(dclass, undefined, { ...options, tracker: undefined });
    state.apply(refresh);
    state.clearChanges();
    state.tracker = options.tracker;
    return state;
  }

  /** Whether anything changed since the last `takeDelta` or `clearChanges`. */
  get changed(): boolean {
    return this._changed;
  }

  get tracker(): DeltaTracker | undefined {
    return this._tracker;
  }

  /** Moves the object to another tracker (or none); pending changes are reported to the new one. */
  set tracker(tracker: DeltaTracker | undefined) {
    if (tracker === this._tracker) return;
    this._tracker = tracker;
    this._queued = false;
    if (this._changed) tracker?._report(this);
  }

  has(field: FieldRef): boolean {
    const at = this.indexOf(field);
    if (at >= 0) return this.values[at] !== undefined;
    return this.molecular(field).atoms.every((atom) => this.has(atom));
  }

  /** The field's current value (a copy when it is being edited in place), or undefined if unset. */
  get(field: FieldRef): FieldValue | undefined {
    const at = this.indexOf(field);
    if (at >= 0) return this.plainAt(at);
    return this.getMolecular(this.molecular(field));
  }

  /** Sets a field (a molecular field sets its atoms). The value is kept by reference: don't mutate it. */
  set(field: FieldRef, value: FieldValue): void {
    const at = this.indexOf(field);
    if (at >= 0) this.setAt(at, value);
    else this.setMolecular(this.molecular(field), value);
  }

  /**
   * A tracked view of a field's value for changes in place: an atomic field's argument tuple (a
   * `TrackedStruct` whose value is an array), or a parameter field's array or struct. A `path` goes
   * further in: `edit("setInventory", 0)` is the first argument, `edit("setBlocks", 0, 3, "x")` a
   * member of an element of it.
   */
  edit(field: FieldRef, ...path: readonly (string | number)[]): TrackedNode {
    let node = this.editAt(this.storedIndexOf(field, "edit"));
    for (const step of path) node = editChild(node, step);
    return node;
  }

  /** `edit` that checks the result is an array. */
  editArray(field: FieldRef, ...path: readonly (string | number)[]): TrackedArray {
    const node = this.edit(field, ...path);
    if (!(node instanceof TrackedArray))
      throw new Error(`${this.describe(field, path)} is a ${node.kind}, not an array`);
    return node;
  }

  /** `edit` that checks the result is a struct (or an argument tuple). */
  editStruct(field: FieldRef, ...path: readonly (string | number)[]): TrackedStruct {
    const node = this.edit(field, ...path);
    if (!(node instanceof TrackedStruct))
      throw new Error(`${this.describe(field, path)} is a ${node.kind}, not a struct`);
    return node;
  }

  /**
   * A map view of a field's struct array (or of an array inside it, by `path`; an atomic field of one
   * argument goes into it by itself): entries found, set, edited and deleted by the value of `keyMember`
   * (the struct's first member by default). See `keyed.ts`:
   * `state.editMap("setInventory").set(7, { id: 7, count: 3 })` sends that entry alone.
   */
  editMap(field: FieldRef, keyMember?: string, ...path: readonly (string | number)[]): KeyedArray {
    const at = this.storedIndexOf(field, "edit");
    const onlyArgument = path.length === 0 && this.layout.tuples[at]?.names.length === 1;
    return new KeyedArray(this.editArray(field, ...(onlyArgument ? [0] : path)), keyMember);
  }

  /**
   * Sets a field to a value that came from elsewhere (a replica hearing it, decoded by the packer, so
   * not checked again) without recording a change. A molecular field sets its atoms. Take or clear the
   * field's pending changes first: one still pending is sent with the loaded value.
   */
  load(field: FieldRef, value: FieldValue): void {
    const at = this.indexOf(field);
    if (at >= 0) {
      this.loadAt(at, value);
      return;
    }
    const parts = value as readonly FieldValue[];
    let offset = 0;
    for (const atom of this.molecular(field).atoms) {
      const count = atom.elements.length;
      const part = atom.kind === "parameter" ? parts[offset]! : parts.slice(offset, offset + count);
      this.loadAt(this.storedIndexOf(atom, "load"), part);
      offset += count;
    }
  }

  /** The changes since the last call, or undefined if nothing changed (O(1), no allocation, then). */
  takeDelta(): ObjectDelta | undefined {
    if (!this._changed) return undefined;
    this._changed = false;
    this.sortDirty();
    const changes: FieldChange[] = [];
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = this.slots[this.dirtyBase + k]!;
      const mark = this.takeMark(at);
      const field = this.layout.fields[at]!;
      if (mark === NESTED) {
        const delta = (this.values[at] as TrackedNode).takeDelta();
        if (delta) changes.push({ field, delta });
      } else {
        changes.push({ field, value: this.plainAndClearAt(at) });
      }
    }
    this.dirtyCount = 0;
    return changes.length > 0 ? { changes } : undefined;
  }

  /**
   * Takes the delta and appends its binary form (`objectDelta` in `codec.ts`) straight to a writer,
   * without building delta objects; this is what `encodeTickDeltas` uses. An unchanged object (or
   * one whose edits came to nothing) writes the empty delta, a single 0.
   */
  writeDelta(w: DatagramWriter): void {
    if (!this._changed) {
      w.writeUint8(EMPTY_LIST);
      return;
    }
    this._changed = false;
    this.sortDirty();
    const dirtyCount = this.dirtyCount;
    this.dirtyCount = 0;
    // Each key is written without the more bit; the next entry, if any, sets it on the previous key.
    let lastKeyAt = -1;
    let lastKey = 0;
    for (let k = 0; k < dirtyCount; k++) {
      const at = this.slots[this.dirtyBase + k]!;
      const mark = this.takeMark(at);
      const nested = mark === NESTED ? (this.values[at] as TrackedNode).takeDelta() : undefined;
      if (mark === NESTED && nested === undefined) continue; // edited, then changed back
      if (lastKeyAt >= 0) setMoreBit(w, lastKeyAt, lastKey);
      lastKeyAt = w.position;
      lastKey = entryKey(at, nested !== undefined);
      w.writeVarUint(lastKey);
      if (nested !== undefined) writeFieldNested(w, this.layout.fields[at]!, nested);
      else this.layout.codecs[at]!.write(w, this.plainAndClearAt(at));
    }
    if (lastKeyAt < 0) w.writeUint8(EMPTY_LIST);
  }

  /** Forgets the pending changes without producing a delta. */
  clearChanges(): void {
    if (!this._changed) return;
    this._changed = false;
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = this.slots[this.dirtyBase + k]!;
      this.takeMark(at);
      if (this.editing(at)) (this.values[at] as TrackedNode).clearChanges();
    }
    this.dirtyCount = 0;
  }

  /** Every set field with its whole value, in field-id order: what a newcomer needs. Changes nothing. */
  refresh(): ObjectDelta {
    const changes: FieldChange[] = [];
    this.layout.fields.forEach((field, at) => {
      const value = this.plainAt(at);
      if (value !== undefined) changes.push({ field, value });
    });
    return { changes };
  }

  /** Makes the changes of a delta (or a refresh) here. Fields are matched by id; values are checked. */
  apply(delta: ObjectDelta): void {
    this.applyChanges(delta, true);
  }

  /**
   * @internal `apply` for a delta just decoded from bytes: the decoder checked its whole values
   * already, so they are not packed again to check them.
   */
  _applyDecoded(delta: ObjectDelta): void {
    this.applyChanges(delta, false);
  }

  private applyChanges(delta: ObjectDelta, check: boolean): void {
    for (const change of delta.changes) {
      const at = this.layout.indexById.get(change.field.id);
      if (at === undefined) {
        throw new Error(
          `field '${change.field.name}' (id ${change.field.id}) is not a field of dclass '${this.dclass.name}'`,
        );
      }
      if (isNestedChange(change)) this.editAt(at).applyDelta(change.delta);
      else this.setAt(at, change.value, check);
    }
  }

  /** The set fields as an object keyed by field name (plain copies), for inspection and tests. */
  toObject(): Record<string, FieldValue> {
    const out: Record<string, FieldValue> = {};
    this.layout.fields.forEach((field, at) => {
      const value = this.plainAt(at);
      if (value !== undefined) out[field.name] = value;
    });
    return out;
  }

  /** @internal A tracked field value reports that it changed inside. */
  onChildChanged(slot: unknown): void {
    this.mark(slot as number, NESTED);
  }

  /** Sets a stored field; `check` packs the value first to check it (a DcPackError naming the doId). */
  private setAt(at: number, value: FieldValue, check = true): void {
    const previous = this.values[at];
    const edited = this.editing(at);
    if (!edited && previous !== undefined && sameFieldValue(previous, value)) return;
    if (check) this.checkAt(at, value);
    if (edited) {
      release(previous);
      this.slots[at] = this.slots[at]! & MARK_BITS;
    }
    this.values[at] = value;
    this.mark(at, REPLACED);
  }

  private loadAt(at: number, value: FieldValue): void {
    const slot = this.slots[at]!;
    if ((slot & EDITING) !== 0) release(this.values[at]);
    // a pending change inside the old tracked view is now a change of the whole value
    this.slots[at] = (slot & MARK_BITS) === CLEAN ? CLEAN : REPLACED;
    this.values[at] = value;
  }

  private checkAt(at: number, value: FieldValue): void {
    try {
      checkFieldValue(this.layout.fields[at]!, value, this.layout.codecs[at]);
    } catch (error) {
      throw this.doId !== 0 && error instanceof DcPackError
        ? new DcPackError(error.code, `${error.detail} (object doId ${this.doId})`, error.path)
        : error;
    }
  }

  /** The plain value of a stored field (a copy when it is being edited in place), or undefined. */
  private plainAt(at: number): FieldValue | undefined {
    const value = this.values[at];
    return (this.editing(at) ? (value as TrackedNode).toValue() : value) as FieldValue | undefined;
  }

  /** The plain value of a set stored field, forgetting the pending changes of its tracked view. */
  private plainAndClearAt(at: number): FieldValue {
    const value = this.values[at];
    if (!this.editing(at)) return value as FieldValue;
    const node = value as TrackedNode;
    const plain = node.toValue() as FieldValue;
    node.clearChanges();
    return plain;
  }

  private editAt(at: number): TrackedNode {
    const current = this.values[at];
    if (this.editing(at)) return current as TrackedNode;
    const field = this.layout.fields[at]!;
    if (current === undefined) {
      throw new Error(`field '${this.dclass.name}.${field.name}' has no value to edit yet; set it first`);
    }
    const node =
      field.kind === "atomic"
        ? TrackedStruct.withShape(this.layout.tuples[at]!, current as readonly unknown[])
        : track(current, field.param.type);
    adopt(node, this, at);
    this.values[at] = node;
    this.slots[at] = this.slots[at]! | EDITING;
    return node;
  }

  /** Whether the field's value is a tracked view. */
  private editing(at: number): boolean {
    return (this.slots[at]! & EDITING) !== 0;
  }

  /** The field's mark, leaving it CLEAN. */
  private takeMark(at: number): number {
    const slot = this.slots[at]!;
    this.slots[at] = slot & EDITING;
    return slot & MARK_BITS;
  }

  private mark(at: number, how: typeof REPLACED | typeof NESTED): void {
    const slot = this.slots[at]!;
    const current = slot & MARK_BITS;
    if (current === CLEAN) {
      this.slots[at] = slot | how;
      this.slots[this.dirtyBase + this.dirtyCount++] = at;
      this._changed = true;
    } else if (how === REPLACED) {
      this.slots[at] = (slot & EDITING) | REPLACED;
    }
    if (this._tracker !== undefined && !this._queued) this._tracker._report(this);
  }

  /** Sorts the dirty list by stored index (= field-id order) when it holds more than one. */
  private sortDirty(): void {
    const base = this.dirtyBase;
    if (this.dirtyCount > 1) this.slots.subarray(base, base + this.dirtyCount).sort();
  }

  private setMolecular(field: MolecularField, value: FieldValue): void {
    if (!Array.isArray(value) || value.length !== field.elements.length) {
      throw new Error(
        `molecular field '${this.dclass.name}.${field.name}' takes an array of its ${field.elements.length} ` +
          `atom arguments (${field.atoms.map((atom) => atom.name).join(", ")}), got ${describeShape(value)}`,
      );
    }
    let offset = 0;
    for (const atom of field.atoms) {
      const at = this.storedIndexOf(atom, "set");
      const count = atom.elements.length;
      this.setAt(
        at,
        atom.kind === "parameter" ? (value[offset] as FieldValue) : value.slice(offset, offset + count),
      );
      offset += count;
    }
  }

  private getMolecular(field: MolecularField): FieldValue | undefined {
    const joined: FieldValue[] = [];
    for (const atom of field.atoms) {
      const value = this.get(atom);
      if (value === undefined) return undefined;
      if (atom.kind === "parameter") joined.push(value);
      else joined.push(...(value as readonly FieldValue[]));
    }
    return joined;
  }

  /** The stored index of a field, -1 for a molecular field of this class; throws for other fields. */
  private indexOf(field: FieldRef): number {
    const at =
      typeof field === "string" ? this.layout.indexByName.get(field) : this.layout.indexById.get(field.id);
    if (at !== undefined) return at;
    const name = typeof field === "string" ? field : field.name;
    if (this.layout.molecularByName.has(name)) return -1;
    throw new Error(`dclass '${this.dclass.name}' has no field '${name}'`);
  }

  private storedIndexOf(field: FieldRef, action: string): number {
    const at = this.indexOf(field);
    if (at >= 0) return at;
    const name = typeof field === "string" ? field : field.name;
    throw new Error(`cannot ${action} molecular field '${this.dclass.name}.${name}' here; use its atoms`);
  }

  private molecular(field: FieldRef): MolecularField {
    const name = typeof field === "string" ? field : field.name;
    return this.layout.molecularByName.get(name)!;
  }

  private describe(field: FieldRef, path: readonly (string | number)[]): string {
    const name = typeof field === "string" ? field : field.name;
    return [`${this.dclass.name}.${name}`, ...path.map(String)].join(" > ");
  }
}

function editChild(node: TrackedNode, step: string | number): TrackedNode {
  if (node instanceof TrackedStruct) return node.edit(step);
  if (node instanceof TrackedArray) {
    if (typeof step !== "number") throw new Error(`an array is indexed by number, not '${step}'`);
    return node.edit(step);
  }
  if (node instanceof TrackedMap) return node.edit(step);
  throw new Error(`cannot go into a ${node.kind}`);
}

/**
 * Whether a new field value equals the current one. A tuple of scalars (the common case: a position)
 * is compared here, element by element; anything deeper goes to `sameValue`. Elements are read with
 * `at(i)`, not `[i]`, for the reason given in the packer's `tupleCodec` (pack/codec.ts).
 */
function sameFieldValue(previous: unknown, next: unknown): boolean {
  if (previous === next) return true;
  if (!Array.isArray(previous) || !Array.isArray(next)) return sameValue(previous, next);
  const count = previous.length;
  if (next.length !== count) return false;
  for (let i = 0; i < count; i++) {
    const a: unknown = previous.at(i);
    const b: unknown = next.at(i);
    if (Object.is(a, b)) continue;
    if (typeof a !== "object" || typeof b !== "object" || !sameValue(a, b)) return false;
  }
  return true;
}

function describeShape(value: unknown): string {
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

/** Applies a delta (or refresh) to a replica: the same as `replica.apply(delta)`. */
export function applyDelta(replica: ObjectState, delta: ObjectDelta): void {
  replica.apply(delta);
}

// ---------------------------------------------------------------------------------------------
// DeltaTracker

/**
 * The set of objects that changed since the last tick. An object reports itself the first time it
 * changes after its delta was taken, so collecting a tick's deltas costs O(changed objects), not
 * O(all objects). Typically one tracker per zone (or per destination) and tick.
 */
export class DeltaTracker {
  /**
   * The reported objects: the first `count` entries. The array is kept from tick to tick (emptying
   * a JavaScript array drops its storage, and refilling it regrows it step by step).
   */
  private readonly queue: (ObjectState | undefined)[] = [];
  private count = 0;
  /**
   * @internal The arrays `encodeTickDeltas` reuses from tick to tick (the drained objects and two
   * sorting buffers). They may hold objects of the last tick until the next one; they go with the
   * tracker.
   */
  readonly _tickArrays: readonly [ObjectState[], ObjectState[], ObjectState[]] = [[], [], []];

  /** How many objects reported a change since the last drain (an upper bound of the changed ones). */
  get size(): number {
    return this.count;
  }

  /** @internal Called by an object the first time it changes. */
  _report(state: ObjectState): void {
    state._queued = true;
    this.queue[this.count++] = state;
  }

  /**
   * The objects that changed since the last drain and still have changes to take, in the order
   * they first changed; empties the tracker. The caller takes their deltas (as `encodeTickDeltas`
   * does); one whose delta is left pending is reported again by its next change. Pass `into` to
   * reuse an array (its previous content is replaced).
   */
  drain(into: ObjectState[] = []): ObjectState[] {
    const queue = this.queue;
    let kept = 0;
    for (let k = 0; k < this.count; k++) {
      const state = queue[k]!;
      queue[k] = undefined;
      if (state.tracker !== this) continue; // it moved to another tracker meanwhile
      state._queued = false;
      if (state.changed) into[kept++] = state;
    }
    this.count = 0;
    if (into.length !== kept) into.length = kept;
    return into;
  }
}

/**
 * Tracked containers: structs (fixed members), arrays and Maps whose mutations are recorded so that
 * `takeDelta()` returns only what changed since the previous call.
 *
 * How changes travel: every container keeps, per slot (member, index or key), whether the slot was
 * *replaced* (send its whole value) or holds a child container that changed *inside* (ask the child
 * for its own delta). The first time a container changes after a `takeDelta`, it tells its parent
 * (`onChildChanged(slot)`), which marks that slot and, if it was clean itself, tells its own parent,
 * and so on up to the root (a container or an `ObjectState`). So a change costs O(depth) once per
 * tick and O(1) after, and `takeDelta()` at the root visits only the dirty paths.
 *
 * Values held in a container are either plain values (numbers, strings, byte arrays, arrays and
 * objects that are *not* edited in place) or child containers. `edit(slot)` turns a plain array,
 * object or Map held in a slot into a tracked child the first time it is asked for, so that deep
 * values cost nothing until somebody edits inside them. Plain values given to `set` are kept by
 * reference and must not be mutated afterwards (the DC value types are `readonly` for this reason).
 *
 * Containers made from DC values (by `ObjectState.edit`) know their DC types: every value entering
 * them is checked by the packer, and arrays keep to their length rule, so bad values fail where
 * they are set, not when a tick is encoded. Untyped containers accept anything msgpackr carries.
 *
 * A container belongs to at most one parent. Putting it into a second one is an error; put a copy
 * (`toValue()`) instead.
 */
import type { DStruct } from "../dc/dclass.ts";
import { type ArrayType, type DcType, isFixedLength, isTextual } from "../dc/types.ts";
import { isPlainObject, sameValue } from "./equal.ts";
import { checkTypedValue } from "./validate.ts";

/** A change of one slot: either its new whole value or, for a child container, the child's delta. */
export type DeltaEntry<K> =
  | { readonly key: K; readonly value: unknown }
  | { readonly key: K; readonly delta: NodeDelta };

/** Changes of a struct (or of a field's argument tuple); keys are member indices. */
export interface StructDelta {
  readonly kind: "struct";
  readonly entries: readonly DeltaEntry<number>[];
}

/**
 * Changes of an array: the new length if it changed (even if it came back to where it was, since a
 * newcomer may have joined from a refresh in between), then the changed elements by index, ascending.
 * Every index at or past the previous length is among the entries, so a replica truncates to
 * `length` (if shorter) and then applies the entries in order, appending where an index is new.
 */
export interface ArrayDelta {
  readonly kind: "array";
  readonly length?: number;
  readonly entries: readonly DeltaEntry<number>[];
}

/** Changes of a Map: cleared first (if `clear`), then the deleted keys, then the set or changed entries. */
export interface MapDelta {
  readonly kind: "map";
  readonly clear: boolean;
  readonly deleted: readonly unknown[];
  readonly entries: readonly DeltaEntry<unknown>[];
}

export type NodeDelta = StructDelta | ArrayDelta | MapDelta;

/** Whatever holds a tracked container and wants to hear when it first changes. */
export interface ChangeListener {
  onChildChanged(slot: unknown): void;
}

/** Slot states. */
const CLEAN = 0;
const REPLACED = 1;
const NESTED = 2;
const DELETED = 3;
type Mark = typeof REPLACED | typeof NESTED;

export function isNestedEntry<K>(
  entry: DeltaEntry<K>,
): entry is { readonly key: K; readonly delta: NodeDelta } {
  return "delta" in entry;
}

export abstract class TrackedNode implements ChangeListener {
  abstract readonly kind: "struct" | "array" | "map";
  /** @internal The container (or object) this one belongs to. */
  _listener: ChangeListener | undefined = undefined;
  /** @internal Where this container sits in its listener. */
  _slot: unknown = undefined;
  protected _changed = false;

  /** Whether anything changed since the last `takeDelta` or `clearChanges`. */
  get changed(): boolean {
    return this._changed;
  }

  /** The changes since the last call (and forgets them), or undefined if nothing changed. */
  abstract takeDelta(): NodeDelta | undefined;
  /** Forgets the pending changes (here and in every changed child) without producing a delta. */
  abstract clearChanges(): void;
  /** A plain deep copy of the current value: the full form a newcomer needs. */
  abstract toValue(): unknown;
  /** Applies a delta produced by a container of the same shape (the inverse of `takeDelta`). */
  abstract applyDelta(delta: NodeDelta): void;
  abstract onChildChanged(slot: unknown): void;

  protected touch(): void {
    if (this._changed) return;
    this._changed = true;
    this._listener?.onChildChanged(this._slot);
  }

  protected expectKind<D extends NodeDelta>(delta: NodeDelta, kind: D["kind"]): asserts delta is D {
    if (delta.kind !== kind) throw new Error(`cannot apply a ${delta.kind} delta to a tracked ${kind}`);
  }
}

/** The plain form of a slot's value (a copy for child containers). */
export function plainValue(value: unknown): unknown {
  return value instanceof TrackedNode ? value.toValue() : value;
}

/** The plain form of a slot's value, forgetting the pending changes of a child container. */
function plainAndClear(value: unknown): unknown {
  if (!(value instanceof TrackedNode)) return value;
  const plain = value.toValue();
  value.clearChanges();
  return plain;
}

/** @internal Makes `value` (if a container) belong to `listener` at `slot`. */
export function adopt(value: unknown, listener: ChangeListener, slot: unknown): void {
  if (!(value instanceof TrackedNode)) return;
  if (value._listener !== undefined && value._listener !== listener) {
    throw new Error(
      `this tracked ${value.kind} already belongs to another container; put a copy in (toValue())`,
    );
  }
  value._listener = listener;
  value._slot = slot;
}

/** @internal Releases a container that left its slot, so that its later changes no longer reach the old parent. */
export function release(value: unknown): void {
  if (!(value instanceof TrackedNode)) return;
  value._listener = undefined;
  value._slot = undefined;
}

/** Whether putting `next` where `previous` is would change nothing. */
function unchanged(previous: unknown, next: unknown): boolean {
  if (previous === next) return true;
  if (previous instanceof TrackedNode || next instanceof TrackedNode) return false;
  return sameValue(previous, next);
}

// ---------------------------------------------------------------------------------------------
// Shapes and wrapping

/** The members of a struct: their names, their DC types (when typed) and whether the value is a tuple. */
export interface StructShape {
  readonly names: readonly string[];
  /** DC member types, for a DC struct or a field's argument tuple; absent for untyped structs. */
  readonly types?: readonly DcType[];
  /** A tuple's value is an array (a field's arguments); a struct's is an object keyed by name. */
  readonly tuple: boolean;
  readonly index: ReadonlyMap<string, number>;
}

export function structShape(
  names: readonly string[],
  tuple: boolean,
  types?: readonly DcType[],
): StructShape {
  const index = new Map<string, number>();
  names.forEach((name, at) => {
    index.set(name, at);
  });
  return types ? { names, tuple, types, index } : { names, tuple, index };
}

const dcStructShapes = new WeakMap<DStruct, StructShape>();

/** The shape of a DC struct: its fields in declaration order (the order they pack in). */
export function dcStructShape(struct: DStruct): StructShape {
  let shape = dcStructShapes.get(struct);
  if (!shape || shape.names.length !== struct.fields.length) {
    const names = struct.fields.map((field) => field.name);
    const types = struct.fields.map((field) => field.param.type);
    shape = structShape(names, false, types);
    dcStructShapes.set(struct, shape);
  }
  return shape;
}

/** Whether values of a DC type can be edited in place (arrays other than text, and structs). */
export function isEditableType(type: DcType): boolean {
  if (type.kind === "array") return !isTextual(type);
  return type.kind === "struct" && type.target().kind === "struct";
}

/**
 * Wraps a plain value in a tracked container. With a DC type, the type decides (arrays become
 * `TrackedArray`s of the element type, structs `TrackedStruct`s in declaration order); without one,
 * arrays, Maps and plain objects are wrapped as they are.
 */
export function track(value: unknown, type?: DcType): TrackedNode {
  if (value instanceof TrackedNode) return value;
  return type ? trackTyped(value, type) : trackUntyped(value);
}

function trackTyped(value: unknown, type: DcType): TrackedNode {
  const name = type.alias ?? type.kind;
  if (type.kind === "array" && !isTextual(type)) {
    if (!Array.isArray(value))
      throw new Error(`expected an array for a value of type ${name}, got ${describe(value)}`);
    return new TrackedArray(value, type);
  }
  if (type.kind === "struct") {
    const target = type.target();
    if (target.kind !== "struct") {
      throw new Error(`values of dclass type '${target.name}' cannot be edited in place; set them whole`);
    }
    if (!isPlainObject(value))
      throw new Error(`expected an object for struct '${target.name}', got ${describe(value)}`);
    const shape = dcStructShape(target);
    return TrackedStruct.withShape(
      shape,
      shape.names.map((member) => value[member]),
    );
  }
  throw new Error(`a value of type ${name} cannot be edited in place; set it whole`);
}

function trackUntyped(value: unknown): TrackedNode {
  if (Array.isArray(value)) return new TrackedArray(value);
  if (value instanceof Map) return new TrackedMap(value);
  if (isPlainObject(value)) return new TrackedStruct(value);
  throw new Error(`only arrays, Maps and plain objects can be edited in place, not ${describe(value)}`);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (value instanceof Uint8Array) return "a byte array";
  if (value instanceof Map) return "a Map";
  return typeof value === "object" ? "an object" : `${typeof value} ${String(value)}`;
}

// ---------------------------------------------------------------------------------------------
// Struct

/**
 * A struct with fixed members (by name or index). Also the form of a DC field's argument tuple
 * (`setPos(float32 x, float32 y)`), whose value is an array rather than an object.
 */
export class TrackedStruct extends TrackedNode {
  readonly kind = "struct";
  readonly shape: StructShape;
  private readonly values: unknown[];
  private readonly marks: Uint8Array;
  /** Member indices of the changed members: the first `dirtyCount` entries. */
  private readonly dirty: Uint32Array;
  private dirtyCount = 0;

  /** An untyped struct with the members of `init`, in its key order. */
  constructor(init: { readonly [member: string]: unknown });
  /** @internal */
  constructor(
    init: { readonly [member: string]: unknown } | undefined,
    shape: StructShape,
    values: unknown[],
  );
  constructor(
    init: { readonly [member: string]: unknown } | undefined,
    shape?: StructShape,
    values?: unknown[],
  ) {
    super();
    if (shape && values) {
      this.shape = shape;
      this.values = values;
    } else {
      const names = Object.keys(init ?? {});
      this.shape = structShape(names, false);
      this.values = names.map((name) => init?.[name]);
    }
    this.marks = new Uint8Array(this.values.length);
    this.dirty = new Uint32Array(this.values.length);
    this.values.forEach((value, at) => {
      adopt(value, this, at);
    });
  }

  /** A struct of a known shape; `values` (one per member, in order) is copied. */
  static withShape(shape: StructShape, values: readonly unknown[]): TrackedStruct {
    if (values.length !== shape.names.length) {
      throw new Error(
        `expected ${shape.names.length} values (${shape.names.join(", ")}), got ${values.length}`,
      );
    }
    return new TrackedStruct(undefined, shape, values.slice());
  }

  get size(): number {
    return this.values.length;
  }

  /** The member index of a name or index; throws for an unknown member. */
  indexOf(member: string | number): number {
    if (typeof member === "number") {
      if (Number.isInteger(member) && member >= 0 && member < this.values.length) return member;
      throw new RangeError(
        `member index ${member} is out of range: this struct has ${this.values.length} members`,
      );
    }
    const at = this.shape.index.get(member);
    if (at === undefined) {
      throw new Error(`no member '${member}' in this struct (members: ${this.shape.names.join(", ")})`);
    }
    return at;
  }

  /** The plain value of a member (a copy if it is being edited in place). */
  get(member: string | number): unknown {
    return plainValue(this.values[this.indexOf(member)]);
  }

  /** A tracked view of a member's array, struct or Map value, to change it in place. */
  edit(member: string | number): TrackedNode {
    const at = this.indexOf(member);
    const current = this.values[at];
    if (current instanceof TrackedNode) return current;
    const child = track(current, this.shape.types?.[at]);
    adopt(child, this, at);
    this.values[at] = child;
    return child;
  }

  set(member: string | number, value: unknown): void {
    const at = this.indexOf(member);
    const previous = this.values[at];
    if (unchanged(previous, value)) return;
    const type = this.shape.types?.[at];
    if (type) checkTypedValue(type, plainValue(value), this.memberLabel(at));
    adopt(value, this, at);
    release(previous);
    this.values[at] = value;
    this.mark(at, REPLACED);
  }

  toValue(): unknown {
    if (this.shape.tuple) return this.values.map(plainValue);
    const out: Record<string, unknown> = {};
    this.shape.names.forEach((name, at) => {
      out[name] = plainValue(this.values[at]);
    });
    return out;
  }

  onChildChanged(slot: unknown): void {
    this.mark(slot as number, NESTED);
  }

  takeDelta(): StructDelta | undefined {
    if (!this._changed) return undefined;
    this._changed = false;
    const dirty = sortedPrefix(this.dirty, this.dirtyCount);
    const entries: DeltaEntry<number>[] = [];
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = dirty[k]!;
      const mark = this.marks[at];
      this.marks[at] = CLEAN;
      const value = this.values[at];
      if (mark === NESTED) {
        const delta = (value as TrackedNode).takeDelta();
        if (delta) entries.push({ key: at, delta });
      } else {
        entries.push({ key: at, value: plainAndClear(value) });
      }
    }
    this.dirtyCount = 0;
    return entries.length > 0 ? { kind: "struct", entries } : undefined;
  }

  clearChanges(): void {
    if (!this._changed) return;
    this._changed = false;
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = this.dirty[k]!;
      this.marks[at] = CLEAN;
      const value = this.values[at];
      if (value instanceof TrackedNode) value.clearChanges();
    }
    this.dirtyCount = 0;
  }

  applyDelta(delta: NodeDelta): void {
    this.expectKind<StructDelta>(delta, "struct");
    for (const entry of delta.entries) {
      if (isNestedEntry(entry)) this.edit(entry.key).applyDelta(entry.delta);
      else this.set(entry.key, entry.value);
    }
  }

  private memberLabel(at: number): string {
    return this.shape.tuple ? `[${at}]` : `.${this.shape.names[at]}`;
  }

  private mark(at: number, how: Mark): void {
    const current = this.marks[at];
    if (current === CLEAN) {
      this.marks[at] = how;
      this.dirty[this.dirtyCount++] = at;
      this.touch();
    } else if (how === REPLACED) {
      this.marks[at] = REPLACED;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Array

const INITIAL_MARK_CAPACITY = 8;
/** A DC array's element count is bounded by its uint16 length prefix. */
const MAX_DC_ARRAY_LENGTH = 0xffff;

/** The element counts a DC array type allows. */
function lengthLimits(type: ArrayType): { readonly min: number; readonly max: number } {
  if (isFixedLength(type.length)) return { min: type.length.fixed, max: type.length.fixed };
  const range = type.length.range;
  return range
    ? { min: range.min, max: Math.min(range.max, MAX_DC_ARRAY_LENGTH) }
    : { min: 0, max: MAX_DC_ARRAY_LENGTH };
}

/**
 * An array whose element changes and length changes are tracked. Shifting operations (`insert`,
 * `removeAt`) mark every moved element as replaced, so prefer `push`/`pop`/`set` on large arrays.
 */
export class TrackedArray extends TrackedNode {
  readonly kind = "array";
  /** The DC array type, when the array is a DC value: elements and length are checked against it. */
  readonly type: ArrayType | undefined;
  private readonly limits: { readonly min: number; readonly max: number } | undefined;
  private readonly items: unknown[];
  private marks: Uint8Array;
  /** Indices of the changed elements: the first `dirtyCount` entries (capacity follows `marks`). */
  private dirty: Uint32Array;
  private dirtyCount = 0;
  /**
   * Whether the length changed since the last delta, even if it came back: a newcomer may have
   * joined (from a refresh) while it was different, so the delta must say the length again.
   */
  private lengthTouched = false;

  /** A tracked copy of `items`. */
  constructor(items: readonly unknown[] = [], type?: ArrayType) {
    super();
    this.items = items.slice();
    this.type = type;
    this.limits = type ? lengthLimits(type) : undefined;
    this.marks = new Uint8Array(Math.max(INITIAL_MARK_CAPACITY, this.items.length));
    this.dirty = new Uint32Array(this.marks.length);
    this.items.forEach((value, at) => {
      adopt(value, this, at);
    });
  }

  get length(): number {
    return this.items.length;
  }

  /** The DC type of the elements, when the array is a DC value. */
  get elementType(): DcType | undefined {
    return this.type?.element;
  }

  /** The plain value of an element (a copy if it is being edited in place). */
  get(index: number): unknown {
    return plainValue(this.items[this.checkIndex(index)]);
  }

  /**
   * One member of a struct element, without copying the element (what a keyed lookup reads); undefined
   * when the element is no struct or has no such member.
   */
  memberOf(index: number, member: string): unknown {
    const value = this.items[this.checkIndex(index)];
    if (value instanceof TrackedStruct) return value.shape.index.has(member) ? value.get(member) : undefined;
    return isPlainObject(value) ? value[member] : undefined;
  }

  /** A tracked view of an element's array, struct or Map value, to change it in place. */
  edit(index: number): TrackedNode {
    const at = this.checkIndex(index);
    const current = this.items[at];
    if (current instanceof TrackedNode) return current;
    const child = track(current, this.elementType);
    adopt(child, this, at);
    this.items[at] = child;
    return child;
  }

  /** Replaces an element; `index === length` appends. */
  set(index: number, value: unknown): void {
    if (index === this.items.length) {
      this.push(value);
      return;
    }
    const at = this.checkIndex(index);
    const previous = this.items[at];
    if (unchanged(previous, value)) return;
    this.check(value, at);
    adopt(value, this, at);
    release(previous);
    this.items[at] = value;
    this.mark(at, REPLACED);
  }

  push(...values: unknown[]): number {
    this.checkLength(this.items.length + values.length);
    for (const value of values) {
      const at = this.items.length;
      this.check(value, at);
      adopt(value, this, at);
      this.items.push(value);
      this.lengthTouched = true;
      this.mark(at, REPLACED);
    }
    return this.items.length;
  }

  /** Removes and returns the last element (a container is returned as it is, detached). */
  pop(): unknown {
    if (this.items.length === 0) return undefined;
    this.checkLength(this.items.length - 1);
    const value = this.items.pop();
    release(value);
    this.lengthTouched = true;
    this.touch();
    return value;
  }

  /** Shortens the array to `length` elements (a no-op if it is not longer). */
  truncate(length: number): void {
    if (!Number.isInteger(length) || length < 0)
      throw new RangeError(`cannot truncate an array to length ${length}`);
    if (length >= this.items.length) return;
    this.checkLength(length);
    for (let at = length; at < this.items.length; at++) release(this.items[at]);
    this.items.length = length;
    this.lengthTouched = true;
    this.touch();
  }

  /** Inserts values before `index` (`index === length` appends); later elements move up. */
  insert(index: number, ...values: unknown[]): void {
    if (index === this.items.length) {
      this.push(...values);
      return;
    }
    const at = this.checkIndex(index);
    this.checkLength(this.items.length + values.length);
    values.forEach((value, offset) => {
      this.check(value, at + offset);
    });
    for (const value of values) adopt(value, this, at);
    this.items.splice(at, 0, ...values);
    if (values.length > 0) this.lengthTouched = true;
    this.renumberFrom(at);
  }

  /** Removes `count` elements from `index`; later elements move down. Returns the removed ones. */
  removeAt(index: number, count = 1): unknown[] {
    const at = this.checkIndex(index);
    this.checkLength(this.items.length - Math.min(count, this.items.length - at));
    const removed = this.items.splice(at, count);
    for (const value of removed) release(value);
    if (removed.length > 0) this.lengthTouched = true;
    this.renumberFrom(at);
    this.touch();
    return removed;
  }

  /** Replaces the whole content. */
  replaceAll(values: readonly unknown[]): void {
    this.checkLength(values.length);
    const shared = Math.min(values.length, this.items.length);
    this.truncate(values.length);
    for (let at = 0; at < shared; at++) this.set(at, values[at]);
    for (let at = shared; at < values.length; at++) this.push(values[at]);
  }

  toValue(): unknown[] {
    return this.items.map(plainValue);
  }

  *[Symbol.iterator](): IterableIterator<unknown> {
    for (const value of this.items) yield plainValue(value);
  }

  onChildChanged(slot: unknown): void {
    this.mark(slot as number, NESTED);
  }

  takeDelta(): ArrayDelta | undefined {
    if (!this._changed) return undefined;
    this._changed = false;
    const length = this.items.length;
    const dirty = sortedPrefix(this.dirty, this.dirtyCount);
    const entries: DeltaEntry<number>[] = [];
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = dirty[k]!;
      const mark = this.marks[at];
      this.marks[at] = CLEAN;
      if (at >= length) continue;
      const value = this.items[at];
      if (mark === NESTED) {
        const delta = (value as TrackedNode).takeDelta();
        if (delta) entries.push({ key: at, delta });
      } else {
        entries.push({ key: at, value: plainAndClear(value) });
      }
    }
    this.dirtyCount = 0;
    const lengthChanged = this.lengthTouched;
    this.lengthTouched = false;
    if (!lengthChanged && entries.length === 0) return undefined;
    return lengthChanged ? { kind: "array", length, entries } : { kind: "array", entries };
  }

  clearChanges(): void {
    if (!this._changed) return;
    this._changed = false;
    for (let k = 0; k < this.dirtyCount; k++) {
      const at = this.dirty[k]!;
      this.marks[at] = CLEAN;
      const value = this.items[at];
      if (at < this.items.length && value instanceof TrackedNode) value.clearChanges();
    }
    this.dirtyCount = 0;
    this.lengthTouched = false;
  }

  applyDelta(delta: NodeDelta): void {
    this.expectKind<ArrayDelta>(delta, "array");
    if (delta.length !== undefined) this.truncate(delta.length);
    for (const entry of delta.entries) {
      if (entry.key > this.items.length) {
        throw new Error(`array delta sets index ${entry.key} of an array of length ${this.items.length}`);
      }
      if (isNestedEntry(entry)) this.edit(entry.key).applyDelta(entry.delta);
      else this.set(entry.key, entry.value);
    }
    if (delta.length !== undefined && this.items.length !== delta.length) {
      throw new Error(
        `array delta gives length ${delta.length} but its entries leave ${this.items.length} elements`,
      );
    }
  }

  /** Checks a new length against the length rule of a DC array. */
  private checkLength(length: number): void {
    const limits = this.limits;
    if (limits && (length < limits.min || length > limits.max)) {
      const rule = limits.min === limits.max ? `exactly ${limits.min}` : `${limits.min}-${limits.max}`;
      throw new RangeError(`this array must hold ${rule} elements; the change would leave ${length}`);
    }
  }

  /** Checks a value against the element type of a DC array. */
  private check(value: unknown, at: number): void {
    if (this.elementType) checkTypedValue(this.elementType, plainValue(value), `[${at}]`);
  }

  private checkIndex(index: number): number {
    if (Number.isInteger(index) && index >= 0 && index < this.items.length) return index;
    throw new RangeError(`index ${index} is out of range: the array has ${this.items.length} elements`);
  }

  /** After a shift: children learn their new index and every moved slot is sent whole. */
  private renumberFrom(start: number): void {
    for (let at = start; at < this.items.length; at++) {
      const value = this.items[at];
      if (value instanceof TrackedNode) value._slot = at;
      this.mark(at, REPLACED);
    }
  }

  private mark(at: number, how: Mark): void {
    if (at >= this.marks.length) this.growMarks(at + 1);
    const current = this.marks[at];
    if (current === CLEAN) {
      this.marks[at] = how;
      this.dirty[this.dirtyCount++] = at;
      this.touch();
    } else if (how === REPLACED) {
      this.marks[at] = REPLACED;
    }
  }

  private growMarks(needed: number): void {
    const capacity = Math.max(needed, this.marks.length * 2);
    const marks = new Uint8Array(capacity);
    marks.set(this.marks);
    this.marks = marks;
    const dirty = new Uint32Array(capacity);
    dirty.set(this.dirty);
    this.dirty = dirty;
  }
}

// ---------------------------------------------------------------------------------------------
// Map

/**
 * A Map whose entry changes and deletions are tracked. Its iteration order is not part of what is
 * replicated (a replica keeps its own insertion order); compare Maps by content.
 */
export class TrackedMap<K = unknown, V = unknown> extends TrackedNode {
  readonly kind = "map";
  private readonly entries: Map<K, unknown>;
  private readonly marks = new Map<K, number>();
  private cleared = false;

  constructor(init?: Iterable<readonly [K, V]>) {
    super();
    this.entries = new Map();
    if (init) {
      for (const [key, value] of init) {
        adopt(value, this, key);
        this.entries.set(key, value);
      }
    }
  }

  get size(): number {
    return this.entries.size;
  }

  has(key: K): boolean {
    return this.entries.has(key);
  }

  /** The plain value of an entry (a copy if it is being edited in place). */
  get(key: K): unknown {
    return plainValue(this.entries.get(key));
  }

  keys(): IterableIterator<K> {
    return this.entries.keys();
  }

  /** A tracked view of an entry's array, struct or Map value, to change it in place. */
  edit(key: K): TrackedNode {
    if (!this.entries.has(key)) throw new Error(`no entry ${String(key)} in this map`);
    const current = this.entries.get(key);
    if (current instanceof TrackedNode) return current;
    const child = track(current);
    adopt(child, this, key);
    this.entries.set(key, child);
    return child;
  }

  set(key: K, value: V | TrackedNode): this {
    const present = this.entries.has(key);
    const previous = this.entries.get(key);
    if (present && unchanged(previous, value)) return this;
    adopt(value, this, key);
    release(previous);
    this.entries.set(key, value);
    this.mark(key, REPLACED);
    return this;
  }

  delete(key: K): boolean {
    if (!this.entries.has(key)) return false;
    release(this.entries.get(key));
    this.entries.delete(key);
    this.marks.set(key, DELETED);
    this.touch();
    return true;
  }

  clear(): void {
    for (const value of this.entries.values()) release(value);
    this.entries.clear();
    this.marks.clear();
    this.cleared = true;
    this.touch();
  }

  toValue(): Map<K, unknown> {
    const out = new Map<K, unknown>();
    for (const [key, value] of this.entries) out.set(key, plainValue(value));
    return out;
  }

  onChildChanged(slot: unknown): void {
    this.mark(slot as K, NESTED);
  }

  takeDelta(): MapDelta | undefined {
    if (!this._changed) return undefined;
    this._changed = false;
    const deleted: K[] = [];
    const entries: DeltaEntry<K>[] = [];
    for (const [key, mark] of this.marks) {
      const value = this.entries.get(key);
      if (mark === DELETED) deleted.push(key);
      else if (mark === NESTED) {
        const delta = (value as TrackedNode).takeDelta();
        if (delta) entries.push({ key, delta });
      } else entries.push({ key, value: plainAndClear(value) });
    }
    this.marks.clear();
    const clear = this.cleared;
    this.cleared = false;
    if (!clear && deleted.length === 0 && entries.length === 0) return undefined;
    return { kind: "map", clear, deleted, entries };
  }

  clearChanges(): void {
    if (!this._changed) return;
    this._changed = false;
    for (const key of this.marks.keys()) {
      const value = this.entries.get(key);
      if (value instanceof TrackedNode) value.clearChanges();
    }
    this.marks.clear();
    this.cleared = false;
  }

  applyDelta(delta: NodeDelta): void {
    this.expectKind<MapDelta>(delta, "map");
    if (delta.clear) this.clear();
    for (const key of delta.deleted) this.delete(key as K);
    for (const entry of delta.entries) {
      if (isNestedEntry(entry)) this.edit(entry.key as K).applyDelta(entry.delta);
      else this.set(entry.key as K, entry.value as V);
    }
  }

  private mark(key: K, how: Mark): void {
    const current = this.marks.get(key);
    if (current === undefined || current === DELETED) {
      this.marks.set(key, how);
      this.touch();
    } else if (how === REPLACED) {
      this.marks.set(key, REPLACED);
    }
  }
}

/** `list`, with its first `count` entries sorted ascending (a one-entry list is left alone). */
function sortedPrefix(list: Uint32Array, count: number): Uint32Array {
  if (count > 1) list.subarray(0, count).sort();
  return list;
}

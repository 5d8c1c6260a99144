/**
 * A struct array used as a map: `KeyedArray` finds, sets, edits and deletes the elements of a tracked
 * array of structs by the value of one member (the key: the struct's first member unless told).
 *
 * DC has no map type, and Astron and Panda3D clients pack a map as an array of entries; so a map field
 * stays an array on the wire and in every value game code holds (`Item items[]`), and this view gives
 * it map semantics. Its changes are ordinary array changes, which both ends apply by index to arrays in
 * the same order: setting one entry sends that element alone; deleting one moves the last element into
 * its place and shortens the array (order is not part of a map), so it sends at most one element and
 * the new length (clear it with `array.truncate(0)`). Lookups scan the elements (a member read each, no copy): meant for the inventories,
 * tables and rosters of a game object, not for tens of thousands of entries.
 */
import { isPlainObject } from "./equal.ts";
import type { TrackedArray, TrackedStruct } from "./tracked.ts";

export class KeyedArray {
  /** The member whose value keys each element. */
  readonly keyMember: string;

  constructor(
    readonly array: TrackedArray,
    keyMember?: string,
  ) {
    const element = array.elementType;
    const target = element?.kind === "struct" ? element.target() : undefined;
    if (target?.kind !== "struct") {
      throw new Error(
        "a keyed view needs an array of DC structs (e.g. `Item items[]`); this array holds none",
      );
    }
    const members = target.fields.map((field) => field.name);
    const key = keyMember ?? members[0];
    if (key === undefined || !members.includes(key)) {
      throw new Error(
        `struct '${target.name}' has no member '${String(keyMember)}' to key by (members: ${members.join(", ")})`,
      );
    }
    this.keyMember = key;
  }

  get size(): number {
    return this.array.length;
  }

  has(key: unknown): boolean {
    return this.indexOf(key) >= 0;
  }

  /** The entry with this key (a plain struct), or undefined. */
  get(key: unknown): unknown {
    const at = this.indexOf(key);
    return at < 0 ? undefined : this.array.get(at);
  }

  /** Every key, in the array's order. */
  keys(): unknown[] {
    const out: unknown[] = [];
    for (let at = 0; at < this.array.length; at++) out.push(this.array.memberOf(at, this.keyMember));
    return out;
  }

  /** Sets the entry with this key (appended when new); its key member must hold `key`. */
  set(key: unknown, entry: { readonly [member: string]: unknown }): void {
    if (!isPlainObject(entry) || !Object.is(entry[this.keyMember], key)) {
      throw new Error(`the entry set for key ${String(key)} must have ${this.keyMember}: ${String(key)}`);
    }
    const at = this.indexOf(key);
    if (at < 0) this.array.push(entry);
    else this.array.set(at, entry);
  }

  /** A tracked view of the entry with this key, to change its members in place. */
  edit(key: unknown): TrackedStruct {
    const at = this.indexOf(key);
    if (at < 0) throw new Error(`no entry with ${this.keyMember} ${String(key)} in this map`);
    return this.array.edit(at) as TrackedStruct;
  }

  /** Deletes the entry with this key: the last entry takes its place. False when there was none. */
  delete(key: unknown): boolean {
    const at = this.indexOf(key);
    if (at < 0) return false;
    const last = this.array.length - 1;
    if (at !== last) this.array.set(at, this.array.get(last));
    this.array.pop();
    return true;
  }

  private indexOf(key: unknown): number {
    for (let at = 0; at < this.array.length; at++) {
      if (Object.is(this.array.memberOf(at, this.keyMember), key)) return at;
    }
    return -1;
  }
}

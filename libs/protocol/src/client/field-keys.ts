/**
 * Class-local field keys: on the client wire a field is named by its place in its object's class rather
 * than by its global field id, so that the first fields of every class cost one byte however many
 * fields the whole `.dc` declares. Both ends derive the keys from the same dclass:
 *
 *   key = localIndex << 1 | nestedBit
 *
 * where `localIndex` is the field's index in `dclass.fields` (every field of the class, inherited ones
 * included, in field-id order) and `nestedBit` says the value is a nested change (`field-delta.ts`)
 * rather than the whole value. A varuint key is one byte for the first 64 fields of a class.
 */
import type { DClass } from "../dc/dclass.ts";
import type { Field } from "../dc/field.ts";

interface ClassKeys {
  /** `dclass.fields.length` when made (a class that grew gets new keys). */
  readonly count: number;
  readonly localById: ReadonlyMap<number, number>;
}

const keysOf = new WeakMap<DClass, ClassKeys>();

function classKeys(dclass: DClass): ClassKeys {
  const known = keysOf.get(dclass);
  if (known !== undefined && known.count === dclass.fields.length) return known;
  const localById = new Map<number, number>();
  dclass.fields.forEach((field, at) => {
    localById.set(field.id, at);
  });
  const keys = { count: dclass.fields.length, localById };
  keysOf.set(dclass, keys);
  return keys;
}

/** The key of a field of `dclass` on the client wire; throws when the class has no such field. */
export function fieldKey(dclass: DClass, fieldId: number, nested = false): number {
  const local = classKeys(dclass).localById.get(fieldId);
  if (local === undefined) throw new RangeError(`class ${dclass.name} has no field with id ${fieldId}`);
  return local * 2 + (nested ? 1 : 0);
}

/** The field a key names in `dclass` (whether nested: `key & 1`), or undefined when it names none. */
export function fieldAtKey(dclass: DClass, key: number): Field | undefined {
  return dclass.fields[Math.floor(key / 2)];
}

/** Whether a key names a nested change rather than a whole value. */
export function isNestedKey(key: number): boolean {
  return key % 2 === 1;
}

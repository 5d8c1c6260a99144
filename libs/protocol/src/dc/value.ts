/**
 * How game code sees DC values:
 * - integers and floats: `number` (fixed-point values too: `12.3` for an `int16/10`);
 *   `int64`/`uint64` without a divisor: `bigint`;
 * - `char`, `string` and arrays of `char`: `string`;
 * - `blob`, `blob32`: `Uint8Array`;
 * - an `int64` made with `t.datetime`: a `Date` (Unix milliseconds on the wire);
 * - arrays: arrays of their element values;
 * - structs (and dclasses used as parameters): objects keyed by field name.
 */
export type DcValue =
  | number
  | bigint
  | string
  | Uint8Array
  | Date
  | readonly DcValue[]
  | { readonly [field: string]: DcValue };

/** The value of a whole field: one value for a parameter field, a tuple of arguments otherwise. */
export type FieldValue = DcValue;

import type { DcType } from "./types.ts";
import type { DcValue } from "./value.ts";

/** One typed element of a field: an atomic field's argument, or the single value of a parameter field. */
export interface Parameter {
  /** Parameter names are optional in `.dc` files (`setX(int16/10)`). */
  readonly name?: string;
  readonly type: DcType;
  /** The default written in the `.dc` file, already checked against the type. */
  readonly default?: DcValue;
}

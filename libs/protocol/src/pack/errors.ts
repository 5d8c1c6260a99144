/**
 * The one error packing and unpacking throw. Every problem with a value or with packed bytes becomes a
 * `DcPackError` with a machine-readable `code`, the `path` of the offending element
 * (`DistributedChunk.blockList.blocks[2].blockX`) and a message saying what was expected.
 */

export type DcPackErrorCode =
  /** A number outside its type's limits or its declared ranges (checked after scaling and wrapping). */
  | "out_of_range"
  /** A string, blob, array or tuple whose length breaks its length rule. */
  | "bad_length"
  /** A value of the wrong JavaScript type (a string for a number, a fraction for an integer...). */
  | "wrong_type"
  /** The bytes end before the value does (a length prefix pointing past the end counts too). */
  | "truncated"
  /** Bytes are left over after the value was read. */
  | "trailing_bytes";

export class DcPackError extends Error {
  override readonly name = "DcPackError";
  /** What is wrong, without the path. */
  readonly detail: string;
  /** The path as built so far; member segments start with "." and element segments with "[". */
  private segments: string;

  constructor(
    readonly code: DcPackErrorCode,
    detail: string,
    path = "",
  ) {
    super(formatMessage(path, detail));
    this.detail = detail;
    this.segments = path;
  }

  /** Where the problem is: `Class.field.param[3].member`; empty for a bare value. */
  get path(): string {
    return this.segments.startsWith(".") ? this.segments.slice(1) : this.segments;
  }

  /** Called by enclosing codecs as the error travels outwards: `.x`, `[3]` or `Class.field`. */
  prependPath(segment: string): void {
    if (segment === "") return;
    const attached = this.segments === "" || this.segments.startsWith("[") || this.segments.startsWith(".");
    this.segments = segment + (attached ? "" : ".") + this.segments;
    this.message = formatMessage(this.path, this.detail);
  }
}

function formatMessage(path: string, detail: string): string {
  const shown = path.startsWith(".") ? path.slice(1) : path;
  return shown === "" ? detail : `${shown}: ${detail}`;
}

/** Adds a path segment to a DcPackError passing through; other errors are returned untouched. */
export function withPathPrefix(error: unknown, segment: string): unknown {
  if (error instanceof DcPackError) error.prependPath(segment);
  return error;
}

const MAX_SHOWN_TEXT = 40;

/** A short description of a JavaScript value for error messages ("the string \"abc\"", "3.5"). */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "undefined":
      return "undefined (missing)";
    case "number":
      return `the number ${value}`;
    case "bigint":
      return `the bigint ${value}n`;
    case "boolean":
      return `the boolean ${value}`;
    case "string": {
      const shown = value.length > MAX_SHOWN_TEXT ? `${value.slice(0, MAX_SHOWN_TEXT)}...` : value;
      return `the string ${JSON.stringify(shown)} (${value.length} character${value.length === 1 ? "" : "s"})`;
    }
    case "object":
      if (Array.isArray(value)) return `an array of ${value.length}`;
      if (value instanceof Uint8Array) return `a Uint8Array of ${value.length} bytes`;
      return `an object (${Object.prototype.toString.call(value)})`;
    default:
      return `a ${typeof value}`;
  }
}

export function wrongType(expected: string, value: unknown): DcPackError {
  return new DcPackError("wrong_type", `expected ${expected}, got ${describeValue(value)}`);
}

export function outOfRange(detail: string): DcPackError {
  return new DcPackError("out_of_range", detail);
}

export function badLength(detail: string): DcPackError {
  return new DcPackError("bad_length", detail);
}

export function truncated(detail: string): DcPackError {
  return new DcPackError("truncated", detail);
}

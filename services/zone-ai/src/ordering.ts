/**
 * The canonical order of the inputs a zone received within one tick. Inputs arrive in whatever order
 * NATS, the client agents and the journal deliver them; applying them in arrival order would make a
 * zone's state depend on timing, so a replica resuming a zone from its journal could reach another
 * state than the replica that ran it. Sorting by (time, source, sequence), with the payload's bytes as
 * the last tie-break, is a total order on everything that can make a difference: the same inputs
 * always come out in the same order, so the same inputs always give the same state.
 *
 * Two inputs equal in all four are the same bytes from the same source: either order gives the same
 * result. A source that sent its sequence number twice (a retried input) can be cut down to one with
 * `dropRepeats`.
 */

export interface OrderedInput {
  /** When the input was received, in ms (the time the tick assigns it, not the sender's clock). */
  readonly time: number;
  /** Who sent it: a client's channel, an object's doId, or a service's name. */
  readonly source: number | string;
  /** The sender's own count of its inputs: a later input from the same source has a larger one. */
  readonly sequence: number;
  /** The input's bytes: the last tie-break, so that even a source's repeated sequence sorts one way. */
  readonly payload?: Uint8Array;
}

/** Negative when `a` comes first, positive when `b` does, 0 only for inputs that are interchangeable. */
export function compareInputs(a: OrderedInput, b: OrderedInput): number {
  return (
    compareNumbers(a.time, b.time) ||
    compareSources(a.source, b.source) ||
    compareNumbers(a.sequence, b.sequence) ||
    compareBytes(a.payload, b.payload)
  );
}

/**
 * The inputs in canonical order, as a new array (the argument is left as it is). Throws a RangeError
 * naming the first input whose time, source or sequence cannot be ordered (NaN, an infinity, or a
 * source that is neither a number nor a string), since one such input would make the order depend on
 * where it happened to arrive.
 */
export function canonicalOrder<T extends OrderedInput>(inputs: readonly T[]): T[] {
  inputs.forEach(checkOrderable);
  return [...inputs].sort(compareInputs);
}

/**
 * Keeps the first input (in the given order) of each source and sequence: a source that sent the same
 * sequence number again (a retry after a lost acknowledgement) is applied once. Give it the canonical
 * order, so that which copy is kept does not depend on arrival either.
 */
export function dropRepeats<T extends OrderedInput>(ordered: readonly T[]): T[] {
  const seen = new Set<string>();
  return ordered.filter((input) => {
    const key = `${typeof input.source === "number" ? "n" : "s"}${input.source}\u0000${input.sequence}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function checkOrderable(input: OrderedInput, index: number): void {
  if (!Number.isFinite(input.time)) {
    throw new RangeError(`input ${index}: time must be a finite number of ms, got ${input.time}`);
  }
  if (!Number.isFinite(input.sequence)) {
    throw new RangeError(`input ${index}: sequence must be a finite number, got ${input.sequence}`);
  }
  const source = input.source as unknown;
  if (!(typeof source === "string" || (typeof source === "number" && Number.isFinite(source)))) {
    throw new RangeError(`input ${index}: source must be a finite number or a string, got ${String(source)}`);
  }
}

function compareNumbers(a: number, b: number): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Numbered sources (channels, doIds) before named ones; names by UTF-16 code units, not by locale. */
function compareSources(a: number | string, b: number | string): number {
  if (typeof a !== typeof b) return typeof a === "number" ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** No payload first; then byte by byte, a prefix before what extends it. */
function compareBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): number {
  if (a === b) return 0;
  if (a === undefined) return -1;
  if (b === undefined) return 1;
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    if (a[i] !== b[i]) return a[i]! - b[i]!;
  }
  return a.length - b.length;
}

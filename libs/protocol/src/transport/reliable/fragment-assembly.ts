/**
 * Reassembly of a reliable message that arrived as fragments, and the checks a fragment must pass.
 *
 * Both ends use the same fragment size, so every fragment but the last carries exactly
 * `fragmentSize` bytes and the last carries 1 … `fragmentSize`. A fragment that breaks that, names
 * an index outside its count, a count outside 2 … maxFragments, or adds up to a message larger than
 * `maxMessageSize` is refused before anything is stored.
 */

import type { ReliableLimits } from "./config.ts";

export type FragmentDropReason =
  | "fragment_count_invalid"
  | "fragment_index_out_of_range"
  | "fragment_size_invalid"
  | "message_too_large";

export interface FragmentFields {
  readonly count: number;
  readonly index: number;
  readonly bytes: Uint8Array;
}

const MIN_FRAGMENT_COUNT = 2;

/** Checks a fragment on its own; undefined when it is well formed. */
export function checkFragment(
  fragment: FragmentFields,
  limits: ReliableLimits,
): FragmentDropReason | undefined {
  const { count, index, bytes } = fragment;
  if (count < MIN_FRAGMENT_COUNT || count > limits.maxFragments) return "fragment_count_invalid";
  if (index >= count) return "fragment_index_out_of_range";
  const isLast = index === count - 1;
  const sizeIsRight = isLast
    ? bytes.length >= 1 && bytes.length <= limits.fragmentSize
    : bytes.length === limits.fragmentSize;
  if (!sizeIsRight) return "fragment_size_invalid";
  const smallestTotal = (count - 1) * limits.fragmentSize + (isLast ? bytes.length : 1);
  if (smallestTotal > limits.config.maxMessageSize) return "message_too_large";
  return undefined;
}

export class FragmentAssembly {
  private readonly pieces: (Uint8Array | undefined)[];
  private received = 0;
  private totalBytes = 0;

  constructor(readonly count: number) {
    this.pieces = new Array<Uint8Array | undefined>(count).fill(undefined);
  }

  has(index: number): boolean {
    return this.pieces[index] !== undefined;
  }

  get complete(): boolean {
    return this.received === this.count;
  }

  /** Bytes stored so far. */
  get storedBytes(): number {
    return this.totalBytes;
  }

  /** Stores a copy of a checked fragment not yet held. */
  add(index: number, bytes: Uint8Array): void {
    this.pieces[index] = bytes.slice();
    this.received += 1;
    this.totalBytes += bytes.length;
  }

  /** The whole message; only once complete. */
  join(): Uint8Array {
    const message = new Uint8Array(this.totalBytes);
    let offset = 0;
    for (const piece of this.pieces) {
      message.set(piece!, offset);
      offset += piece!.length;
    }
    return message;
  }
}

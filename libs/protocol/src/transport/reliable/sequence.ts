/**
 * Arithmetic on 16-bit sequence numbers that wrap around: packet sequences and reliable message ids.
 * Every comparison is made modulo 2^16, treating the nearer of the two directions as the true one, so
 * 65535 is older than 0 and 0 is newer than 65535.
 */

export const SEQUENCE_MODULUS = 0x10000;
const SEQUENCE_MASK = 0xffff;
/** Two sequences at least this far apart are ambiguous; windows must stay well below it. */
export const HALF_SEQUENCE_RANGE = 0x8000;

/** `sequence + count`, wrapped. */
export function addToSequence(sequence: number, count: number): number {
  return (sequence + count) & SEQUENCE_MASK;
}

/** How many steps forward from `from` to reach `to`: 0 … 65535. */
export function sequenceDistance(from: number, to: number): number {
  return (to - from) & SEQUENCE_MASK;
}

/** True when `candidate` comes after `reference` (and is not the same sequence). */
export function isSequenceNewer(candidate: number, reference: number): boolean {
  const distance = sequenceDistance(reference, candidate);
  return distance !== 0 && distance < HALF_SEQUENCE_RANGE;
}

/**
 * Service-to-service envelopes and dynamic payloads, in MessagePack (msgpackr). One shared Packr:
 * - `useRecords: false`: plain MessagePack maps that any MessagePack decoder reads. msgpackr records
 *   only pay off for many same-shaped objects inside one message (a 20-object array: 178 bytes with
 *   records against 385 without) and cost a byte on a single small envelope (44 against 43), while
 *   tying every reader to msgpackr;
 * - `int64AsType: "bigint"`: 64-bit integers come back as bigints, so ids (channels, doIds) round-trip
 *   exactly; bigints are written as 64-bit integers;
 * - `copyBuffers: true`: decoded binary values are copies, never views into a reused network buffer.
 *
 * Malformed input gives an EnvelopeError, never another kind of exception.
 */

import { C1, Packr } from "msgpackr";

export type EnvelopeErrorCode = "malformed" | "trailing_bytes" | "unencodable";

export class EnvelopeError extends Error {
  override readonly name = "EnvelopeError";

  constructor(
    readonly code: EnvelopeErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const packr = new Packr({ useRecords: false, int64AsType: "bigint", copyBuffers: true });

/**
 * Encodes a value. The result may share its ArrayBuffer with earlier results (msgpackr packs into a
 * large block it moves forward through), but never overlaps them.
 */
export function encodeEnvelope(value: unknown): Uint8Array {
  try {
    return packr.pack(value);
  } catch (error) {
    throw new EnvelopeError("unencodable", `cannot encode envelope: ${messageOf(error)}`, { cause: error });
  }
}

/** Decodes exactly one value from the bytes. */
export function decodeEnvelope(bytes: Uint8Array): unknown {
  if (!(bytes instanceof Uint8Array)) {
    throw new EnvelopeError("malformed", `expected a Uint8Array to decode, got ${typeof bytes}`);
  }
  if (bytes.length === 0) throw new EnvelopeError("malformed", "cannot decode an empty envelope");
  let value: unknown;
  try {
    value = packr.unpack(bytes);
  } catch (error) {
    const message = messageOf(error);
    if (message.includes("end of buffer not reached")) {
      throw new EnvelopeError("trailing_bytes", `envelope has bytes after its value: ${message}`, {
        cause: error,
      });
    }
    throw new EnvelopeError("malformed", `malformed envelope: ${message}`, { cause: error });
  }
  if (bytes.includes(NEVER_USED) && safelyContainsNeverUsed(value)) {
    throw new EnvelopeError(
      "malformed",
      "malformed envelope: it contains the never-used MessagePack byte 0xc1",
    );
  }
  return value;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** msgpackr decodes the reserved byte 0xc1 to a marker object instead of failing; we look for it. */
const NEVER_USED = 0xc1;

function safelyContainsNeverUsed(value: unknown): boolean {
  try {
    return containsNeverUsedByte(value);
  } catch {
    return true; // nested too deeply to walk: not an envelope we accept
  }
}

function containsNeverUsedByte(value: unknown): boolean {
  if (value === C1) return true;
  if (typeof value !== "object" || value === null || ArrayBuffer.isView(value)) return false;
  if (Array.isArray(value)) return value.some(containsNeverUsedByte);
  if (value instanceof Map) {
    for (const [key, item] of value)
      if (containsNeverUsedByte(key) || containsNeverUsedByte(item)) return true;
    return false;
  }
  for (const key in value) {
    if (containsNeverUsedByte((value as Record<string, unknown>)[key])) return true;
  }
  return false;
}

/**
 * A batch of field updates on its way to the state server (`ss.updates`: a client agent's clients' updates,
 * a zone-AI replica's zones' outputs) as one binary frame, not a msgpack envelope checked by zod update by
 * update: the values inside are already packed by the dclass (checked once, where they entered), so the frame
 * only has to be read once, with the one cursor, and every length and number checked as it is read.
 *
 *     0xC1                      marker: a byte msgpack never uses (an envelope, which operators and tools may
 *                               still send to the same operation, starts otherwise)
 *     varuint seq               the sender's batch number (0: unnumbered; see `messages.updateBatch`)
 *     u8 flags                  bit 0: resent (the same batch under the same number); the others 0
 *     varuint group count       at least 1
 *     per group:  varuint channel            the channel it is sent for (0: the sender's own)
 *                 varuint update count       at least 1; at most 65,536 updates in the whole frame
 *                 per update:  varuint zigzag(doId - previous doId)   (the first of the frame from 0)
 *                              varuint field id << 1 | deltaBit       (field id at most 0xffff)
 *                              varuint value length, then the value   (packed by the dclass)
 *                              if deltaBit: varuint length, then the nested change (field-delta.ts)
 *
 * Decoding gives the same `UpdateBatch` the envelope would (and refuses what the envelope's schema refuses:
 * a doId or channel outside 1..2^32-1, a field id over 0xffff, an empty group, more than 65,536 updates,
 * bytes after the last update), so the state server's handler does not know which came. The values are views
 * of one copy of the frame: one allocation per batch instead of one per value.
 */
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import type { UpdateBatch } from "./messages.ts";

export const UPDATE_BATCH_FRAME = 0xc1;
/** The most updates one batch carries (as the envelope's schema says). */
export const MAX_BATCH_UPDATES = 65_536;
const MAX_ID = 0xffff_ffff;
const MAX_FIELD_ID = 0xffff;
const RESENT = 1;
/** A batch number goes up to 2^53 - 1: up to 8 bytes of varuint. */
const SEQ_VARUINT_BYTES = 8;

type Update = UpdateBatch["groups"][number][1][number];

const writer = new DatagramWriter(4096);

/** True when these bytes are a batch frame (an envelope starts otherwise). */
export function isUpdateBatchFrame(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === UPDATE_BATCH_FRAME;
}

/** The batch as one frame (a fresh copy: the caller may keep it, e.g. to send it again). */
export function encodeUpdateBatchFrame(batch: UpdateBatch): Uint8Array {
  writer.reset();
  writer.writeUint8(UPDATE_BATCH_FRAME);
  writer.writeVarUint(batch.seq ?? 0);
  writer.writeUint8(batch.resent ? RESENT : 0);
  writer.writeVarUint(batch.groups.length);
  let previous = 0;
  for (const [channel, updates] of batch.groups) {
    writer.writeVarUint(channel);
    writer.writeVarUint(updates.length);
    for (const [doId, fieldId, value, delta] of updates) {
      const difference = doId - previous;
      writer.writeVarUint(difference >= 0 ? difference * 2 : -difference * 2 - 1);
      previous = doId;
      writer.writeVarUint(fieldId * 2 + (delta === undefined ? 0 : 1));
      writer.writeVarUint(value.length);
      writer.writeBytes(value);
      if (delta === undefined) continue;
      writer.writeVarUint(delta.length);
      writer.writeBytes(delta);
    }
  }
  return writer.toBytes();
}

/** A frame that cannot be read as a batch: the message names what is wrong. */
export class UpdateBatchFrameError extends Error {
  override readonly name = "UpdateBatchFrameError";
}

const reader = new DatagramReader(new Uint8Array(0));

/** Reads a batch frame whole; throws UpdateBatchFrameError naming the first thing wrong with it. */
export function decodeUpdateBatchFrame(frame: Uint8Array): UpdateBatch {
  if (!isUpdateBatchFrame(frame)) throw new UpdateBatchFrameError("not an update batch frame (marker 0xc1)");
  const bytes = frame.slice(); // one copy: the values are views of it, never of a network buffer
  reader.reset(bytes, 1);
  try {
    return readBatch();
  } catch (error) {
    if (error instanceof UpdateBatchFrameError) throw error;
    throw new UpdateBatchFrameError(`update batch frame: ${(error as Error).message}`);
  }
}

function readBatch(): UpdateBatch {
  const seq = reader.readVarUint(SEQ_VARUINT_BYTES);
  if (seq > Number.MAX_SAFE_INTEGER) refuse(`batch number ${seq} is too large`);
  const flags = reader.readUint8();
  if ((flags & ~RESENT) !== 0) refuse(`unknown flags 0x${flags.toString(16)}`);
  const groupCount = reader.readVarUint();
  if (groupCount === 0) refuse("a batch has at least one group");
  const groups: [number, Update[]][] = [];
  let total = 0;
  let doId = 0;
  for (let g = 0; g < groupCount; g++) {
    const channel = reader.readVarUint();
    if (channel > MAX_ID) refuse(`group ${g}: channel ${channel} is over 2^32-1`);
    const count = reader.readVarUint();
    if (count === 0) refuse(`group ${g} has no update`);
    total += count;
    if (total > MAX_BATCH_UPDATES) refuse(`more than ${MAX_BATCH_UPDATES} updates in one batch`);
    const updates: Update[] = [];
    for (let i = 0; i < count; i++) {
      const zigzag = reader.readVarUint();
      doId += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
      if (doId < 1 || doId > MAX_ID) refuse(`group ${g}, update ${i}: doId ${doId} is outside 1..2^32-1`);
      const fieldCode = reader.readVarUint();
      const fieldId = Math.floor(fieldCode / 2);
      if (fieldId > MAX_FIELD_ID) refuse(`group ${g}, update ${i}: field id ${fieldId} is over 0xffff`);
      const value = reader.readView(reader.readVarUint());
      updates.push(
        fieldCode % 2 === 0
          ? [doId, fieldId, value]
          : [doId, fieldId, value, reader.readView(reader.readVarUint())],
      );
    }
    groups.push([channel, updates]);
  }
  if (reader.remaining !== 0) refuse(`${reader.remaining} byte(s) after the last update`);
  return seq === 0 ? { groups } : flags & RESENT ? { groups, seq, resent: true } : { groups, seq };
}

function refuse(reason: string): never {
  throw new UpdateBatchFrameError(`update batch frame: ${reason}`);
}

/**
 * A zone's field updates as the state server publishes them to the zone's location subject: one binary
 * frame per operation, not a msgpack envelope, because every client agent and zone AI watching the zone
 * reads it, and the values inside are already packed by the dclass (checked once, where they entered).
 *
 *     0xC1                      marker: a byte msgpack never uses, so a frame and an envelope (the other
 *                               deliveries on the subject) tell themselves apart by their first byte
 *     varuint sender            the channel whose request caused the updates
 *     varuint count
 *     count x  varuint zigzag(doId - previous doId)   (the first from 0)
 *              varuint class id                       (the object's: client agents name fields by keys local
 *                                                     to it on the client wire)
 *              varuint field id << 1 | deltaBit
 *              varuint value length, then the value   (the field's whole new value, always)
 *              if deltaBit: varuint length, then the nested change that made it (field-delta.ts)
 *
 * The lengths make a frame readable without the dclass: a reader that only forwards values never unpacks
 * them. `readUpdateFrame` checks every length against the frame and refuses a malformed one whole. A
 * reader that keeps values takes the whole one; a client agent forwards the nested change to clients
 * that hold the value it applies to.
 */
import { DatagramReader } from "../pack/reader.ts";
import { DatagramWriter } from "../pack/writer.ts";
import type { Delivery } from "./messages.ts";

export const UPDATE_FRAME = 0xc1;

/** One update: [doId, field id, whole value packed by the dclass, class id, nested change if any]. */
export type FrameUpdate = readonly [
  doId: number,
  fieldId: number,
  value: Uint8Array,
  classId: number,
  delta?: Uint8Array,
];

/**
 * Called for each update of a frame: the whole value is `bytes[start, end)`, the nested change that made
 * it `bytes[deltaStart, deltaEnd)` (both -1 when the update sent the whole value).
 */
export type FrameVisitor = (
  doId: number,
  classId: number,
  fieldId: number,
  bytes: Uint8Array,
  start: number,
  end: number,
  deltaStart: number,
  deltaEnd: number,
) => void;

const writer = new DatagramWriter(1024);

/** True when these bytes are an update frame (an envelope starts otherwise). */
export function isUpdateFrame(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0] === UPDATE_FRAME;
}

export function encodeUpdateFrame(sender: number, updates: readonly FrameUpdate[]): Uint8Array {
  writer.reset();
  writer.writeUint8(UPDATE_FRAME);
  writer.writeVarUint(sender);
  writer.writeVarUint(updates.length);
  let previous = 0;
  for (const [doId, fieldId, value, classId, delta] of updates) {
    const difference = doId - previous;
    writer.writeVarUint(difference >= 0 ? difference * 2 : -difference * 2 - 1);
    previous = doId;
    writer.writeVarUint(classId);
    writer.writeVarUint(fieldId * 2 + (delta === undefined ? 0 : 1));
    writer.writeVarUint(value.length);
    writer.writeBytes(value);
    if (delta === undefined) continue;
    writer.writeVarUint(delta.length);
    writer.writeBytes(delta);
  }
  return writer.toBytes();
}

const reader = new DatagramReader(new Uint8Array(0));

/**
 * Reads a frame, calling `visit` for each update in order, in place; returns the sender, or undefined
 * (having visited nothing) when the frame is malformed.
 */
export function readUpdateFrame(bytes: Uint8Array, visit: FrameVisitor): number | undefined {
  if (!isUpdateFrame(bytes)) return undefined;
  reader.reset(bytes, 1);
  let sender: number;
  let count: number;
  try {
    sender = reader.readVarUint();
    count = reader.readVarUint();
    // check the whole frame first, so a bad one is refused before anything of it is used
    const start = reader.position;
    for (let i = 0; i < count; i++) {
      reader.readVarUint();
      reader.readVarUint();
      const fieldCode = reader.readVarUint();
      reader.skip(reader.readVarUint());
      if (fieldCode % 2 === 1) reader.skip(reader.readVarUint());
    }
    if (reader.remaining !== 0) return undefined;
    reader.position = start;
  } catch {
    return undefined;
  }
  let doId = 0;
  for (let i = 0; i < count; i++) {
    const zigzag = reader.readVarUint();
    doId += zigzag % 2 === 0 ? zigzag / 2 : -(zigzag + 1) / 2;
    const classId = reader.readVarUint();
    const fieldCode = reader.readVarUint();
    const length = reader.readVarUint();
    const at = reader.position;
    reader.skip(length);
    if (fieldCode % 2 === 0) {
      visit(doId, classId, fieldCode / 2, bytes, at, at + length, -1, -1);
      continue;
    }
    const deltaLength = reader.readVarUint();
    const deltaAt = reader.position;
    reader.skip(deltaLength);
    visit(doId, classId, (fieldCode - 1) / 2, bytes, at, at + length, deltaAt, deltaAt + deltaLength);
  }
  return sender;
}

/**
 * A frame as the `update` delivery it stands for (whole values, copied); undefined when it is malformed.
 */
export function updateDeliveryOf(bytes: Uint8Array): Extract<Delivery, { kind: "update" }> | undefined {
  const updates: [number, number, Uint8Array][] = [];
  const sender = readUpdateFrame(bytes, (doId, _classId, fieldId, from, start, end) => {
    updates.push([doId, fieldId, from.slice(start, end)]);
  });
  if (sender === undefined || sender === 0) return undefined;
  return { kind: "update", sender, updates };
}

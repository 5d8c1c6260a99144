/** The state server's update frames: what they carry, and that a malformed one is refused whole. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeUpdateFrame,
  type FrameUpdate,
  isUpdateFrame,
  readUpdateFrame,
  UPDATE_FRAME,
  updateDeliveryOf,
} from "../../libs/protocol/src/index.ts";

const update = fc.tuple(
  fc.integer({ min: 1, max: 0xffff_ffff }),
  fc.integer({ min: 0, max: 0xffff }),
  fc.uint8Array({ maxLength: 40 }),
  fc.integer({ min: 0, max: 0xffff }),
  fc.option(fc.uint8Array({ maxLength: 20 }), { nil: undefined }),
);

describe("an update frame", () => {
  it("carries the sender and every update, in order, values, classes and nested changes bit for bit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 0xffff_ffff }),
        fc.array(update, { maxLength: 50 }),
        (sender, updates) => {
          const frame = encodeUpdateFrame(sender, updates as FrameUpdate[]);
          expect(isUpdateFrame(frame)).toBe(true);
          const whole = updates.map(([doId, fieldId, value]) => [doId, fieldId, value]);
          expect(updateDeliveryOf(frame)).toEqual({ kind: "update", sender, updates: whole });
          const read: unknown[] = [];
          readUpdateFrame(frame, (doId, classId, fieldId, bytes, start, end, deltaStart, deltaEnd) => {
            const delta = deltaStart < 0 ? undefined : bytes.slice(deltaStart, deltaEnd);
            read.push([doId, fieldId, bytes.slice(start, end), classId, delta]);
          });
          expect(read).toEqual(updates);
        },
      ),
    );
  });

  it("lays out as marker, sender, count, then zigzag doId differences, classes, field codes and sized values", () => {
    const frame = encodeUpdateFrame(5, [
      [100, 7, Uint8Array.from([1, 2]), 3],
      [99, 8, Uint8Array.from([]), 3, Uint8Array.from([6])],
    ]);
    // field code: id << 1 | a nested change follows
    expect([...frame]).toEqual([UPDATE_FRAME, 5, 2, 200, 1, 3, 14, 2, 1, 2, 1, 3, 17, 0, 1, 6]);
  });

  it("is never mistaken for an envelope, nor an envelope for it", () => {
    expect(isUpdateFrame(encodeEnvelope({ kind: "update", sender: 1, updates: [] }))).toBe(false);
    expect(() => decodeEnvelope(encodeUpdateFrame(1, []))).toThrow();
  });

  it("is refused whole, visiting nothing, when cut short or padded", () => {
    const frame = encodeUpdateFrame(3, [
      [10, 1, Uint8Array.from([9, 9, 9]), 4],
      [11, 2, Uint8Array.from([8]), 4, Uint8Array.from([1, 2])],
    ]);
    for (const bad of [
      frame.subarray(0, frame.length - 1),
      Uint8Array.from([...frame, 0]),
      frame.subarray(0, 3),
    ]) {
      let visited = 0;
      expect(readUpdateFrame(bad, () => visited++)).toBeUndefined();
      expect(visited).toBe(0);
    }
  });
});

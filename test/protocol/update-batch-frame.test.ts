/**
 * The batch of updates a client agent or zone-AI replica sends the state server, as one binary frame: it
 * carries what the envelope carried, bit for bit, and what the envelope's schema refuses it refuses too.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeUpdateBatchFrame,
  encodeEnvelope,
  encodeUpdateBatchFrame,
  isUpdateBatchFrame,
  messages,
  UPDATE_BATCH_FRAME,
  UpdateBatchFrameError,
} from "../../libs/protocol/src/index.ts";

const update = fc.oneof(
  fc.tuple(fc.integer({ min: 1, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff }), fc.uint8Array()),
  fc.tuple(
    fc.integer({ min: 1, max: 0xffff_ffff }),
    fc.integer({ min: 0, max: 0xffff }),
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ maxLength: 20 }),
  ),
);
const batch = fc.record(
  {
    groups: fc.array(
      fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.array(update, { minLength: 1, maxLength: 20 })),
      { minLength: 1, maxLength: 5 },
    ),
    seq: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
    resent: fc.constant(true as const),
  },
  { requiredKeys: ["groups"] },
);

/** One update of field 7 of object 10 sent for channel 3, as bytes to cut or change. */
const ONE = [UPDATE_BATCH_FRAME, 4, 0, 1, 3, 1, 20, 14, 2, 9, 9];

describe("an update batch frame", () => {
  it("carries every group, update, value and nested change bit for bit, with its number and resent flag", () => {
    fc.assert(
      fc.property(batch, (sent) => {
        const frame = encodeUpdateBatchFrame(sent as messages.UpdateBatch);
        expect(isUpdateBatchFrame(frame)).toBe(true);
        const expected = sent.resent && sent.seq === undefined ? { groups: sent.groups } : sent;
        expect(decodeUpdateBatchFrame(frame)).toEqual(expected);
        // what the frame decodes to is what the envelope's schema accepts
        expect(messages.updateBatch.safeParse(decodeUpdateBatchFrame(frame)).success).toBe(true);
      }),
    );
  });

  it("lays out as marker, number, flags, groups, then channels, counts, zigzag doId differences and sized values", () => {
    const frame = encodeUpdateBatchFrame({
      groups: [[3, [[10, 7, Uint8Array.from([9, 9])]]]],
      seq: 4,
    });
    expect([...frame]).toEqual(ONE);
    expect([
      ...encodeUpdateBatchFrame({ groups: [[3, [[10, 7, Uint8Array.from([9, 9])]]]], seq: 4, resent: true }),
    ]).toEqual([UPDATE_BATCH_FRAME, 4, 1, ...ONE.slice(3)]);
  });

  it("gives values that outlive the bytes it was read from (a reused network buffer)", () => {
    const frame = Uint8Array.from(ONE);
    const read = decodeUpdateBatchFrame(frame);
    frame.fill(0);
    expect([...read.groups[0]![1][0]![2]]).toEqual([9, 9]);
  });

  it("is never mistaken for an envelope", () => {
    expect(isUpdateBatchFrame(encodeEnvelope({ groups: [[0, [[1, 2, new Uint8Array(1)]]]] }))).toBe(false);
  });

  it("is refused, naming what is wrong, when forged: cut short, padded, empty, out of range, too many updates", () => {
    const refused = (bytes: number[], reason: RegExp) => {
      expect(() => decodeUpdateBatchFrame(Uint8Array.from(bytes))).toThrow(UpdateBatchFrameError);
      expect(() => decodeUpdateBatchFrame(Uint8Array.from(bytes))).toThrow(reason);
    };
    for (let cut = 1; cut < ONE.length; cut++) refused(ONE.slice(0, cut), /update batch frame/);
    refused([...ONE, 0], /1 byte\(s\) after the last update/);
    refused([0x81, 0xa1, 0x61, 1], /not an update batch frame/);
    refused([UPDATE_BATCH_FRAME, 4, 2, ...ONE.slice(3)], /unknown flags 0x2/);
    refused([UPDATE_BATCH_FRAME, 4, 0, 0], /at least one group/);
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 0], /group 0 has no update/);
    // doId 0, and a doId difference that lands below 1
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 1, 0, 14, 0], /doId 0 is outside/);
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 2, 2, 14, 0, 5, 14, 0], /doId -2 is outside/);
    // doId 2^32 (zigzag 2^33: varuint 0x80 0x80 0x80 0x80 0x20)
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 1, 0x80, 0x80, 0x80, 0x80, 0x20, 14, 0], /doId 4294967296/);
    // field id 0x10000 (code 0x20000: varuint 0x80 0x80 0x08)
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 1, 20, 0x80, 0x80, 0x08, 0], /field id 65536 is over 0xffff/);
    // channel 2^32
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 0x80, 0x80, 0x80, 0x80, 0x10, 1, 20, 14, 0], /channel 4294967296/);
    // a value longer than what remains
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 1, 20, 14, 9, 1], /update batch frame/);
    // 65,537 updates announced: refused before any is read
    refused([UPDATE_BATCH_FRAME, 4, 0, 1, 3, 0x81, 0x80, 0x04], /more than 65536 updates/);
  });
});

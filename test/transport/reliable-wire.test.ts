import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DatagramReader } from "../../libs/protocol/src/pack/reader.ts";
import { DatagramWriter } from "../../libs/protocol/src/pack/writer.ts";
import {
  fragmentRecordSize,
  type MessageRecord,
  NO_PREVIOUS_ID,
  readMessageRecords,
  reliableRecordSize,
  unreliableRecordSize,
  writeFragmentRecord,
  writeReliableRecord,
  writeUnreliableRecord,
} from "../../libs/protocol/src/transport/reliable/message-records.ts";
import {
  MAX_PACKET_HEADER_BYTES,
  MIN_PACKET_HEADER_BYTES,
  type PacketHeader,
  packetHeaderSize,
  readPacketHeader,
  writePacketHeader,
} from "../../libs/protocol/src/transport/reliable/packet-header.ts";
import {
  addToSequence,
  isSequenceNewer,
  sequenceDistance,
} from "../../libs/protocol/src/transport/reliable/sequence.ts";
import { SequenceBuffer } from "../../libs/protocol/src/transport/reliable/sequence-buffer.ts";

function encodeHeader(header: PacketHeader): number[] {
  const writer = new DatagramWriter(new Uint8Array(MAX_PACKET_HEADER_BYTES));
  writePacketHeader(writer, header);
  return [...writer.subarray()];
}

function decodeHeader(bytes: number[]) {
  return readPacketHeader(new DatagramReader(Uint8Array.from(bytes)));
}

describe("sequence numbers wrap at 2^16", () => {
  it("adds and measures across the wrap", () => {
    expect(addToSequence(65535, 1)).toBe(0);
    expect(addToSequence(0, -1)).toBe(65535);
    expect(sequenceDistance(65530, 5)).toBe(11);
    expect(sequenceDistance(5, 65530)).toBe(65525);
  });

  it("treats the nearer direction as the true order", () => {
    expect(isSequenceNewer(0, 65535)).toBe(true);
    expect(isSequenceNewer(65535, 0)).toBe(false);
    expect(isSequenceNewer(100, 100)).toBe(false);
    expect(isSequenceNewer(32767, 0)).toBe(true);
    expect(isSequenceNewer(32768, 0)).toBe(false);
  });

  it("is antisymmetric for every pair closer than half the range", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 1, max: 32767 }), (base, step) => {
        const later = addToSequence(base, step);
        expect(isSequenceNewer(later, base)).toBe(true);
        expect(isSequenceNewer(base, later)).toBe(false);
      }),
      { numRuns: 300 },
    );
  });
});

describe("SequenceBuffer", () => {
  it("keeps entries across the wrap and refuses sequences that fell out of the window", () => {
    const buffer = new SequenceBuffer<string>(16);
    for (let step = 0; step < 20; step++) buffer.insert(addToSequence(65530, step), `p${step}`);
    expect(buffer.newest).toBe(13);
    expect(buffer.find(13)).toBe("p19");
    expect(buffer.find(65535)).toBe("p5");
    expect(buffer.find(65530)).toBeUndefined();
    expect(buffer.isTooOld(65533)).toBe(true);
    expect(buffer.isTooOld(65534)).toBe(false);
    expect(buffer.insert(65533, "late")).toBe(false);
  });

  it("evicts the entries a jump ahead skips over, and keeps those still inside the window", () => {
    const buffer = new SequenceBuffer<number>(8);
    buffer.insert(1, 1);
    buffer.insert(2, 2);
    buffer.insert(9, 9); // the window is now 2…9: 1 falls out (its slot is 9's), 2 stays
    expect(buffer.has(1)).toBe(false);
    expect(buffer.find(2)).toBe(2);
    buffer.insert(12, 12); // window 5…12: 2 falls out although its slot was only skipped over
    expect(buffer.has(2)).toBe(false);
    expect(buffer.find(9)).toBe(9);
    expect(buffer.isTooOld(4)).toBe(true);
  });

  it("requires a power-of-two size", () => {
    expect(() => new SequenceBuffer(1000)).toThrow(/power of two/);
  });
});

describe("packet header bytes", () => {
  it("is 3 bytes before anything was received", () => {
    expect(encodeHeader({ sequence: 0x0201, ack: null })).toEqual([0x00, 0x01, 0x02]);
  });

  it("is 4 bytes on a healthy link: one-byte ack distance, no ack bits bytes", () => {
    expect(encodeHeader({ sequence: 0x1234, ack: { latest: 0x1230, bits: 0xffffffff } })).toEqual([
      0x30, 0x34, 0x12, 0x04,
    ]);
  });

  it("measures the one-byte ack distance across the wrap", () => {
    expect(encodeHeader({ sequence: 5, ack: { latest: 0xfff0, bits: 0xffffffff } })).toEqual([
      0x30, 0x05, 0x00, 0x15,
    ]);
  });

  it("writes a two-byte ack and only the ack bits bytes that are not 0xFF", () => {
    expect(encodeHeader({ sequence: 0x0100, ack: { latest: 0x8000, bits: 0x00ff00ff } })).toEqual([
      0x2a, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00,
    ]);
    expect(encodeHeader({ sequence: 10, ack: { latest: 9, bits: 0x12345678 } })).toEqual([
      0x3f, 0x0a, 0x00, 0x01, 0x78, 0x56, 0x34, 0x12,
    ]);
  });

  it("is at most 9 bytes", () => {
    const bytes = encodeHeader({ sequence: 1000, ack: { latest: 0, bits: 0 } });
    expect(bytes).toEqual([0x2f, 0xe8, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    expect(bytes.length).toBe(MAX_PACKET_HEADER_BYTES);
  });

  it("round-trips every header, in exactly packetHeaderSize bytes", () => {
    const header = fc.record({
      sequence: fc.integer({ min: 0, max: 65535 }),
      ack: fc.option(
        fc.record({
          latest: fc.integer({ min: 0, max: 65535 }),
          bits: fc.oneof(fc.constant(0xffffffff), fc.integer({ min: 0, max: 0xffffffff })),
        }),
      ),
    });
    fc.assert(
      fc.property(header, (value) => {
        const bytes = encodeHeader(value);
        expect(bytes.length).toBe(packetHeaderSize(value));
        expect(bytes.length).toBeGreaterThanOrEqual(MIN_PACKET_HEADER_BYTES);
        expect(decodeHeader(bytes)).toEqual({ ok: true, header: value });
      }),
      { numRuns: 300 },
    );
  });

  it("refuses reserved bits, flags without an ack, and non-canonical forms", () => {
    expect(decodeHeader([0x40, 0, 0])).toEqual({ ok: false, reason: "reserved_bits" });
    expect(decodeHeader([0x80, 0, 0])).toEqual({ ok: false, reason: "reserved_bits" });
    expect(decodeHeader([0x01, 0, 0])).toEqual({ ok: false, reason: "non_canonical_header" });
    expect(decodeHeader([0x10, 0, 0])).toEqual({ ok: false, reason: "non_canonical_header" });
    // a two-byte ack whose distance (2) fits in one byte
    expect(decodeHeader([0x20, 0x05, 0x00, 0x03, 0x00])).toEqual({
      ok: false,
      reason: "non_canonical_header",
    });
    // an ack bits byte of 0xFF written out
    expect(decodeHeader([0x31, 0x05, 0x00, 0x01, 0xff])).toEqual({
      ok: false,
      reason: "non_canonical_header",
    });
  });

  it("refuses truncated headers", () => {
    expect(decodeHeader([])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeHeader([0x00, 0x01])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeHeader([0x30, 0x05, 0x00])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeHeader([0x3f, 0x05, 0x00, 0x01, 0x00, 0x00])).toEqual({ ok: false, reason: "truncated" });
  });

  it("accepts any bytes only in their one canonical encoding", () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 0, maxLength: 12 }), (bytes) => {
        const reader = new DatagramReader(bytes);
        const result = readPacketHeader(reader);
        if (!result.ok) return;
        expect(encodeHeader(result.header)).toEqual([...bytes.subarray(0, reader.position)]);
      }),
      { numRuns: 300 },
    );
  });
});

function encodeRecords(write: (writer: DatagramWriter) => void): number[] {
  const writer = new DatagramWriter(new Uint8Array(2048));
  write(writer);
  return [...writer.subarray()];
}

function decodeRecords(bytes: number[]) {
  return readMessageRecords(new DatagramReader(Uint8Array.from(bytes)));
}

describe("message record bytes", () => {
  it("spends one byte on a small unreliable message", () => {
    expect(encodeRecords((w) => writeUnreliableRecord(w, Uint8Array.of(1, 2, 3)))).toEqual([0x03, 1, 2, 3]);
    expect(unreliableRecordSize(62)).toBe(63);
  });

  it("escapes unreliable lengths from 63 on into a varuint", () => {
    expect(encodeRecords((w) => writeUnreliableRecord(w, new Uint8Array(63))).slice(0, 2)).toEqual([
      0x3f, 0x00,
    ]);
    expect(encodeRecords((w) => writeUnreliableRecord(w, new Uint8Array(200))).slice(0, 3)).toEqual([
      0x3f, 0x89, 0x01,
    ]);
    expect(unreliableRecordSize(200)).toBe(203);
  });

  it("spends three bytes on the first small reliable message of a datagram and one on each next id", () => {
    const bytes = encodeRecords((w) => {
      writeReliableRecord(w, 0x0102, NO_PREVIOUS_ID, Uint8Array.of(9));
      writeReliableRecord(w, 0x0103, 0x0102, Uint8Array.of(8, 7));
      writeReliableRecord(w, 0x0200, 0x0103, Uint8Array.of());
    });
    expect(bytes).toEqual([0x41, 0x02, 0x01, 9, 0x62, 8, 7, 0x40, 0x00, 0x02]);
    expect(reliableRecordSize(0x0102, NO_PREVIOUS_ID, 1)).toBe(4);
    expect(reliableRecordSize(0x0103, 0x0102, 2)).toBe(3);
    expect(reliableRecordSize(0, 65535, 0)).toBe(1);
  });

  it("escapes reliable lengths from 31 on into a varuint", () => {
    const bytes = encodeRecords((w) => writeReliableRecord(w, 7, NO_PREVIOUS_ID, new Uint8Array(31)));
    expect(bytes.slice(0, 4)).toEqual([0x5f, 0x07, 0x00, 0x00]);
  });

  it("writes fragments with id, count, index and length", () => {
    const bytes = encodeRecords((w) => writeFragmentRecord(w, 7, 3, 1, Uint8Array.of(0xaa, 0xbb)));
    expect(bytes).toEqual([0x80, 0x07, 0x00, 0x03, 0x00, 0x01, 0x00, 0x02, 0xaa, 0xbb]);
    expect(fragmentRecordSize(2)).toBe(10);
  });

  it("reads back what was written, the next-id form included", () => {
    const bytes = encodeRecords((w) => {
      writeUnreliableRecord(w, Uint8Array.of(5));
      writeReliableRecord(w, 65535, NO_PREVIOUS_ID, Uint8Array.of(1));
      writeReliableRecord(w, 0, 65535, new Uint8Array(40).fill(2));
      writeFragmentRecord(w, 1, 2, 0, Uint8Array.of(3, 4));
      writeReliableRecord(w, 2, 1, Uint8Array.of(6));
    });
    const expected: MessageRecord[] = [
      { kind: "unreliable", bytes: Uint8Array.of(5) },
      { kind: "reliable", id: 65535, bytes: Uint8Array.of(1) },
      { kind: "reliable", id: 0, bytes: new Uint8Array(40).fill(2) },
      { kind: "fragment", id: 1, count: 2, index: 0, bytes: Uint8Array.of(3, 4) },
      { kind: "reliable", id: 2, bytes: Uint8Array.of(6) },
    ];
    expect(decodeRecords(bytes)).toEqual({ ok: true, records: expected });
    expect(bytes[bytes.length - 2]).toBe(0x61); // id 2 written as "previous + 1"
  });

  it("refuses malformed records with a reason", () => {
    expect(decodeRecords([0xc0])).toEqual({ ok: false, reason: "unknown_message_kind" });
    expect(decodeRecords([0x81, 0, 0, 2, 0, 0, 0, 1, 0])).toEqual({ ok: false, reason: "reserved_bits" });
    expect(decodeRecords([0x61, 9])).toEqual({ ok: false, reason: "orphan_next_id" });
    expect(decodeRecords([0x05, 1, 2])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeRecords([0x41, 0x02])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeRecords([0x80, 0, 0, 2, 0, 0])).toEqual({ ok: false, reason: "truncated" });
    expect(decodeRecords([0x3f, 0x80, 0x80, 0x01])).toEqual({ ok: false, reason: "overlong_varuint" });
  });
});

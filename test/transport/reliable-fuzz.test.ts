/**
 * Random, structured-random and mutated packets thrown at an endpoint: it never throws, every refusal
 * carries a known reason, a refused packet changes nothing, and memory stays within its cap.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DatagramWriter } from "../../libs/protocol/src/pack/writer.ts";
import { DROP_REASONS } from "../../libs/protocol/src/transport/reliable/drop-reason.ts";
import { type ReceiveResult, ReliableEndpoint } from "../../libs/protocol/src/transport/reliable/endpoint.ts";
import {
  NO_PREVIOUS_ID,
  writeFragmentRecord,
  writeReliableRecord,
  writeUnreliableRecord,
} from "../../libs/protocol/src/transport/reliable/message-records.ts";
import { writePacketHeader } from "../../libs/protocol/src/transport/reliable/packet-header.ts";
import { numberedMessage } from "./reliable.link.ts";

const MAX_PAYLOAD = 1200;
const CONFIG = { maxBufferedBytes: 300_000 };

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString("hex");

function expectWellFormed(result: ReceiveResult): void {
  if (result.accepted) {
    for (const message of result.messages) expect(message.bytes).toBeInstanceOf(Uint8Array);
  } else {
    expect(DROP_REASONS).toContain(result.reason);
  }
}

/** The datagrams of a real conversation: small and large reliable messages and unreliable ones. */
function realDatagrams(): Uint8Array[] {
  const sender = new ReliableEndpoint(CONFIG);
  for (let index = 0; index < 40; index++) sender.sendReliable(numberedMessage(1, index, (index * 53) % 300));
  sender.sendReliable(numberedMessage(1, 99, 5000));
  for (let index = 0; index < 20; index++) sender.sendUnreliable(numberedMessage(1, index, 30), index % 4);
  return sender.update(0);
}

const REAL = realDatagrams();

/** A receiver that has already taken the first few real datagrams (so it has state to disturb). */
function midConversation(): ReliableEndpoint {
  const endpoint = new ReliableEndpoint(CONFIG);
  for (const datagram of REAL.slice(0, 2)) endpoint.receivePacket(datagram, 0);
  return endpoint;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("append" as const), bytes: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ kind: fc.constant("remove" as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
);

type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(original: Uint8Array, change: Mutation): Uint8Array {
  const bytes = original.slice();
  const at = bytes.length === 0 ? 0 : ("at" in change ? change.at : 0) % bytes.length;
  switch (change.kind) {
    case "flip":
      bytes[at] = bytes[at]! ^ (1 << change.bit);
      return bytes;
    case "set":
      bytes[at] = change.value;
      return bytes;
    case "truncate":
      return bytes.subarray(0, at);
    case "append":
      return Uint8Array.from([...bytes, ...change.bytes]);
    case "insert":
      return Uint8Array.from([...bytes.subarray(0, at), ...change.bytes, ...bytes.subarray(at)]);
    case "remove":
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + change.count)]);
  }
}

/** A packet with a valid header and records whose fields are drawn at random (often out of range). */
const structuredPacket = fc
  .record({
    sequence: fc.integer({ min: 0, max: 65535 }),
    ack: fc.option(fc.record({ latest: fc.integer({ min: 0, max: 65535 }), bits: fc.nat() })),
    records: fc.array(
      fc.oneof(
        fc.record({ kind: fc.constant("unreliable" as const), size: fc.integer({ min: 0, max: 120 }) }),
        fc.record({
          kind: fc.constant("reliable" as const),
          id: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 65535 })),
          size: fc.integer({ min: 0, max: 120 }),
        }),
        fc.record({
          kind: fc.constant("fragment" as const),
          id: fc.oneof(fc.integer({ min: 0, max: 8 }), fc.integer({ min: 0, max: 65535 })),
          count: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 65535 })),
          index: fc.oneof(fc.integer({ min: 0, max: 5 }), fc.integer({ min: 0, max: 65535 })),
          size: fc.oneof(fc.integer({ min: 0, max: 60 }), fc.constant(1182)),
        }),
      ),
      { maxLength: 6 },
    ),
  })
  .map(({ sequence, ack, records }) => {
    const writer = new DatagramWriter(new Uint8Array(16 * 1024));
    writePacketHeader(writer, { sequence, ack });
    let previousId = NO_PREVIOUS_ID;
    for (const record of records) {
      const bytes = new Uint8Array(record.size).fill(0x5a);
      if (record.kind === "unreliable") writeUnreliableRecord(writer, bytes);
      else if (record.kind === "reliable") writeReliableRecord(writer, record.id, previousId, bytes);
      else writeFragmentRecord(writer, record.id, record.count, record.index, bytes);
      if (record.kind !== "unreliable") previousId = record.id;
    }
    return writer.subarray().slice(0, MAX_PAYLOAD + 8);
  });

describe("fuzzing the receive path", () => {
  it("never throws on random bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: MAX_PAYLOAD + 200 }), (bytes) => {
        expectWellFormed(new ReliableEndpoint(CONFIG).receivePacket(bytes, 0));
        expectWellFormed(midConversation().receivePacket(bytes, 0));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on structured packets with random fields, and holds no more than the cap", () => {
    fc.assert(
      fc.property(fc.array(structuredPacket, { minLength: 1, maxLength: 30 }), (packets) => {
        const endpoint = midConversation();
        for (const packet of packets) expectWellFormed(endpoint.receivePacket(packet, 0));
        expect(endpoint.stats.receiveBufferedBytes).toBeLessThanOrEqual(CONFIG.maxBufferedBytes + 256 * 1024);
        expect(() => endpoint.update(1)).not.toThrow();
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on mutated real datagrams", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 })), { maxLength: 20 }),
        (changes) => {
          const endpoint = midConversation();
          for (const [pick, steps] of changes) {
            const packet = steps.reduce(mutate, REAL[pick % REAL.length]!);
            expectWellFormed(endpoint.receivePacket(packet, 0));
          }
          expect(() => endpoint.update(1)).not.toThrow();
        },
      ),
      { numRuns: 200 },
    );
  });

  it("is left exactly as it was by a refused packet", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc
            .tuple(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 3 }))
            .map(([pick, steps]) => steps.reduce(mutate, REAL[pick % REAL.length]!)),
          structuredPacket,
          fc.uint8Array({ maxLength: 300 }),
        ),
        (packet) => {
          const untouched = midConversation();
          const disturbed = midConversation();
          const result = disturbed.receivePacket(packet, 0);
          // receive_buffer_full still takes the acks of an otherwise valid packet
          fc.pre(!result.accepted && result.reason !== "receive_buffer_full");
          const delivered = (endpoint: ReliableEndpoint) =>
            REAL.slice(2).flatMap((datagram) => {
              const outcome = endpoint.receivePacket(datagram, 5);
              return outcome.accepted
                ? outcome.messages.map((message) => `${message.channel} ${hex(message.bytes)}`)
                : [];
            });
          expect(delivered(disturbed)).toEqual(delivered(untouched));
          expect(disturbed.update(10).map(hex)).toEqual(untouched.update(10).map(hex));
          const { dropped: _ignored, ...disturbedStats } = disturbed.stats;
          const { dropped: _same, ...untouchedStats } = untouched.stats;
          expect(disturbedStats).toEqual(untouchedStats);
        },
      ),
      { numRuns: 300 },
    );
  });
});

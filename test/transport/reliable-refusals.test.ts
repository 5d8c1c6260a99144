/**
 * Hostile and inconsistent packets, crafted byte by byte: each is refused with its reason, leaves no
 * trace (not acknowledged, nothing stored), and the endpoint keeps working.
 */

import { describe, expect, it } from "vitest";
import { DatagramReader } from "../../libs/protocol/src/pack/reader.ts";
import { DatagramWriter } from "../../libs/protocol/src/pack/writer.ts";
import {
  type DeliveredMessage,
  ReliableEndpoint,
} from "../../libs/protocol/src/transport/reliable/endpoint.ts";
import {
  NO_PREVIOUS_ID,
  writeFragmentRecord,
  writeReliableRecord,
  writeUnreliableRecord,
} from "../../libs/protocol/src/transport/reliable/message-records.ts";
import {
  readPacketHeader,
  writePacketHeader,
} from "../../libs/protocol/src/transport/reliable/packet-header.ts";
import { numberedMessage } from "./reliable.link.ts";

/** With the default 1200-byte payload: every fragment but the last carries 1182 bytes, at most 222 of them. */
const FRAGMENT_SIZE = 1182;
const MAX_FRAGMENTS = 222;

function craft(sequence: number, write: (writer: DatagramWriter) => void): Uint8Array {
  const writer = new DatagramWriter(new Uint8Array(4096));
  writePacketHeader(writer, { sequence, ack: null });
  write(writer);
  return writer.subarray().slice();
}

function whole(sequence: number, id: number, bytes: Uint8Array): Uint8Array {
  return craft(sequence, (writer) => writeReliableRecord(writer, id, NO_PREVIOUS_ID, bytes));
}

function fragment(sequence: number, id: number, count: number, index: number, size: number): Uint8Array {
  return craft(sequence, (writer) =>
    writeFragmentRecord(writer, id, count, index, new Uint8Array(size).fill(index)),
  );
}

function reasonFor(endpoint: ReliableEndpoint, packet: Uint8Array): string {
  const result = endpoint.receivePacket(packet, 0);
  return result.accepted ? "accepted" : result.reason;
}

function received(endpoint: ReliableEndpoint, packet: Uint8Array): DeliveredMessage[] {
  const result = endpoint.receivePacket(packet, 0);
  if (!result.accepted) throw new Error(`dropped: ${result.reason}`);
  return result.messages;
}

/** The sequences the endpoint's next datagram acknowledges. */
function acknowledgedBy(endpoint: ReliableEndpoint): number[] {
  const datagrams = endpoint.update(1);
  const acknowledged: number[] = [];
  for (const datagram of datagrams) {
    const result = readPacketHeader(new DatagramReader(datagram));
    if (!result.ok || result.header.ack === null) continue;
    const { latest, bits } = result.header.ack;
    acknowledged.push(latest);
    for (let bit = 0; bit < 32; bit++) if ((bits >>> bit) & 1) acknowledged.push((latest - 1 - bit) & 0xffff);
  }
  return acknowledged.sort((a, b) => a - b);
}

describe("packets refused as a whole", () => {
  it("refuses oversized and empty packets", () => {
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, new Uint8Array(1201))).toBe("too_large");
    expect(reasonFor(endpoint, new Uint8Array(0))).toBe("truncated");
    expect(reasonFor(new ReliableEndpoint({ maxPayloadSize: 200 }), new Uint8Array(201))).toBe("too_large");
  });

  it("refuses duplicates and packets older than the received window", () => {
    const endpoint = new ReliableEndpoint();
    expect(
      reasonFor(
        endpoint,
        craft(5000, () => {}),
      ),
    ).toBe("accepted");
    expect(
      reasonFor(
        endpoint,
        craft(5000, () => {}),
      ),
    ).toBe("duplicate");
    expect(
      reasonFor(
        endpoint,
        craft(5000 - 1023, () => {}),
      ),
    ).toBe("accepted");
    expect(
      reasonFor(
        endpoint,
        craft(5000 - 1024, () => {}),
      ),
    ).toBe("stale");
  });

  it("refuses a fragment count outside 2 … maxFragments", () => {
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, fragment(1, 0, 1, 0, 10))).toBe("fragment_count_invalid");
    expect(reasonFor(endpoint, fragment(2, 0, MAX_FRAGMENTS + 1, 0, FRAGMENT_SIZE))).toBe(
      "fragment_count_invalid",
    );
    expect(reasonFor(endpoint, fragment(3, 0, 0, 0, 10))).toBe("fragment_count_invalid");
  });

  it("refuses a fragment index at or past its count", () => {
    expect(reasonFor(new ReliableEndpoint(), fragment(1, 0, 3, 3, 10))).toBe("fragment_index_out_of_range");
    expect(reasonFor(new ReliableEndpoint(), fragment(1, 0, 3, 65535, 10))).toBe(
      "fragment_index_out_of_range",
    );
  });

  it("refuses fragments of the wrong size", () => {
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, fragment(1, 0, 3, 0, FRAGMENT_SIZE - 1))).toBe("fragment_size_invalid");
    expect(reasonFor(endpoint, fragment(2, 0, 3, 2, 0))).toBe("fragment_size_invalid");
    expect(reasonFor(endpoint, fragment(3, 0, 3, 2, FRAGMENT_SIZE + 1))).toBe("fragment_size_invalid");
    expect(reasonFor(endpoint, fragment(4, 0, 3, 2, FRAGMENT_SIZE))).toBe("accepted");
  });

  it("refuses fragments adding up to more than maxMessageSize (256 KiB)", () => {
    const lastRoom = 256 * 1024 - (MAX_FRAGMENTS - 1) * FRAGMENT_SIZE;
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, fragment(1, 0, MAX_FRAGMENTS, MAX_FRAGMENTS - 1, lastRoom + 1))).toBe(
      "message_too_large",
    );
    expect(reasonFor(endpoint, fragment(2, 0, MAX_FRAGMENTS, MAX_FRAGMENTS - 1, lastRoom))).toBe("accepted");
    const small = new ReliableEndpoint({ maxMessageSize: 3000 });
    expect(reasonFor(small, fragment(1, 0, 3, 0, FRAGMENT_SIZE))).toBe("accepted");
    expect(reasonFor(small, fragment(2, 0, 3, 2, 3000 - 2 * FRAGMENT_SIZE + 1))).toBe("message_too_large");
    expect(reasonFor(small, whole(3, 1, new Uint8Array(500)))).toBe("accepted");
    expect(reasonFor(new ReliableEndpoint({ maxMessageSize: 100 }), whole(1, 0, new Uint8Array(101)))).toBe(
      "message_too_large",
    );
  });

  it("refuses fragments that disagree with earlier ones about their message", () => {
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, fragment(1, 1, 3, 0, FRAGMENT_SIZE))).toBe("accepted");
    expect(reasonFor(endpoint, fragment(2, 1, 4, 1, FRAGMENT_SIZE))).toBe("fragment_mismatch");
    expect(reasonFor(endpoint, whole(3, 1, Uint8Array.of(1)))).toBe("fragment_mismatch");
    const inOnePacket = craft(4, (writer) => {
      writeFragmentRecord(writer, 2, 3, 2, new Uint8Array(5));
      writeFragmentRecord(writer, 2, 4, 3, new Uint8Array(5));
    });
    expect(reasonFor(endpoint, inOnePacket)).toBe("fragment_mismatch");
    const wholeThenFragment = craft(5, (writer) => {
      writeReliableRecord(writer, 3, NO_PREVIOUS_ID, new Uint8Array(5));
      writeFragmentRecord(writer, 3, 2, 1, new Uint8Array(5));
    });
    expect(reasonFor(endpoint, wholeThenFragment)).toBe("fragment_mismatch");
  });

  it("refuses message ids neither awaited nor recently delivered", () => {
    const endpoint = new ReliableEndpoint();
    expect(reasonFor(endpoint, whole(1, 1024, Uint8Array.of(1)))).toBe("message_id_out_of_window");
    expect(reasonFor(endpoint, whole(2, 40000, Uint8Array.of(1)))).toBe("message_id_out_of_window");
    expect(reasonFor(endpoint, whole(3, 1023, Uint8Array.of(1)))).toBe("accepted");
    // 65535 is "just delivered" (one behind the next expected id 0): a resend, taken and ignored
    expect(received(endpoint, whole(4, 65535, Uint8Array.of(1)))).toEqual([]);
  });

  it("leaves no trace of a refused packet: nothing delivered later, nothing acknowledged", () => {
    const endpoint = new ReliableEndpoint();
    const refused = craft(7, (writer) => {
      writeReliableRecord(writer, 0, NO_PREVIOUS_ID, Uint8Array.of(0xee));
      writeFragmentRecord(writer, 1, 1, 0, Uint8Array.of(1));
    });
    expect(reasonFor(endpoint, refused)).toBe("fragment_count_invalid");
    expect(endpoint.update(1)).toEqual([]);
    expect(endpoint.stats.packetsReceived).toBe(0);
    expect(endpoint.stats.dropped.fragment_count_invalid).toBe(1);
    const messages = received(endpoint, whole(8, 0, Uint8Array.of(0x11)));
    expect(messages).toEqual([{ channel: "reliable", id: 0, bytes: Uint8Array.of(0x11) }]);
    expect(acknowledgedBy(endpoint)).toEqual([8]);
  });
});

describe("reliable delivery from crafted packets", () => {
  it("holds messages that come early, delivers in order, and ignores repeats", () => {
    const endpoint = new ReliableEndpoint();
    expect(received(endpoint, whole(1, 2, Uint8Array.of(2)))).toEqual([]);
    expect(received(endpoint, whole(2, 1, Uint8Array.of(1)))).toEqual([]);
    expect(endpoint.stats.receiveBufferedBytes).toBe(2);
    const burst = received(endpoint, whole(3, 0, Uint8Array.of(0)));
    expect(burst.map((message) => message.bytes[0])).toEqual([0, 1, 2]);
    expect(received(endpoint, whole(4, 1, Uint8Array.of(1)))).toEqual([]);
    expect(received(endpoint, whole(5, 2, Uint8Array.of(2)))).toEqual([]);
    expect(endpoint.stats.receiveBufferedBytes).toBe(0);
    expect(received(endpoint, whole(6, 3, Uint8Array.of(3))).map((message) => message.bytes[0])).toEqual([3]);
  });

  it("reassembles fragments arriving out of order and twice", () => {
    const message = numberedMessage(1, 0, 3000);
    const pieces = [0, 1, 2].map((index) =>
      message.subarray(index * FRAGMENT_SIZE, (index + 1) * FRAGMENT_SIZE),
    );
    const packet = (sequence: number, index: number) =>
      craft(sequence, (writer) => writeFragmentRecord(writer, 0, 3, index, pieces[index]!));
    const endpoint = new ReliableEndpoint();
    expect(received(endpoint, packet(1, 2))).toEqual([]);
    expect(received(endpoint, packet(2, 0))).toEqual([]);
    expect(received(endpoint, packet(3, 2))).toEqual([]);
    const delivered = received(endpoint, packet(4, 1));
    expect(delivered).toHaveLength(1);
    expect(Buffer.compare(delivered[0]!.bytes, message)).toBe(0);
    expect(received(endpoint, packet(5, 1))).toEqual([]);
  });

  it("delivers unreliable records and reliable ones from one packet", () => {
    const endpoint = new ReliableEndpoint();
    const packet = craft(1, (writer) => {
      writeUnreliableRecord(writer, Uint8Array.of(9));
      writeReliableRecord(writer, 0, NO_PREVIOUS_ID, Uint8Array.of(1));
      writeReliableRecord(writer, 1, 0, Uint8Array.of(2));
    });
    expect(received(endpoint, packet)).toEqual([
      { channel: "unreliable", packetSequence: 1, bytes: Uint8Array.of(9) },
      { channel: "reliable", id: 0, bytes: Uint8Array.of(1) },
      { channel: "reliable", id: 1, bytes: Uint8Array.of(2) },
    ]);
  });
});

describe("memory cap per connection", () => {
  it("refuses packets past maxBufferedBytes unacknowledged, always takes the next expected message", () => {
    const endpoint = new ReliableEndpoint({ maxMessageSize: 4000, maxBufferedBytes: 4000 });
    for (let id = 1; id <= 4; id++)
      expect(reasonFor(endpoint, whole(id, id, new Uint8Array(1000)))).toBe("accepted");
    expect(reasonFor(endpoint, whole(5, 5, new Uint8Array(1000)))).toBe("receive_buffer_full");
    expect(endpoint.stats.receiveBufferedBytes).toBe(4000);
    expect(acknowledgedBy(endpoint)).toEqual([1, 2, 3, 4]);
    const drained = received(endpoint, whole(6, 0, new Uint8Array(1000)));
    expect(drained.map((message) => (message.channel === "reliable" ? message.id : -1))).toEqual([
      0, 1, 2, 3, 4,
    ]);
    expect(endpoint.stats.receiveBufferedBytes).toBe(0);
    expect(received(endpoint, whole(7, 5, new Uint8Array(1000)))).toHaveLength(1);
  });

  it("holds no more than the cap however many messages a hostile peer starts", () => {
    const cap = 300_000;
    const endpoint = new ReliableEndpoint({ maxBufferedBytes: cap });
    let refused = 0;
    for (let id = 1; id < 1024; id++) {
      if (reasonFor(endpoint, fragment(id, id, MAX_FRAGMENTS, 0, FRAGMENT_SIZE)) === "receive_buffer_full")
        refused++;
    }
    expect(endpoint.stats.receiveBufferedBytes).toBeLessThanOrEqual(cap);
    expect(refused).toBe(1023 - Math.floor(cap / FRAGMENT_SIZE));
    // the message everyone waits for is still taken, beyond the cap
    for (let index = 0; index < 10; index++) {
      expect(reasonFor(endpoint, fragment(2000 + index, 0, MAX_FRAGMENTS, index, FRAGMENT_SIZE))).toBe(
        "accepted",
      );
    }
  });
});

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DatagramReader } from "../../libs/protocol/src/pack/reader.ts";
import { DEFAULT_RELIABLE_CONFIG } from "../../libs/protocol/src/transport/reliable/config.ts";
import {
  type DeliveredMessage,
  ReliableEndpoint,
} from "../../libs/protocol/src/transport/reliable/endpoint.ts";
import {
  packetHeaderSize,
  readPacketHeader,
} from "../../libs/protocol/src/transport/reliable/packet-header.ts";
import {
  makeSide,
  messageListDifference,
  numberedMessage,
  PERFECT_LINK,
  reliablePayloads,
  runPair,
  seededRandom,
  unreliablePayloads,
} from "./reliable.link.ts";

/** The default largest datagram payload. */
const MAX = DEFAULT_RELIABLE_CONFIG.maxPayloadSize;

function headerOf(datagram: Uint8Array) {
  const result = readPacketHeader(new DatagramReader(datagram));
  if (!result.ok) throw new Error(`unreadable header: ${result.reason}`);
  return result.header;
}

/** Feeds every datagram to `to`; returns everything delivered. */
function deliverAll(datagrams: readonly Uint8Array[], to: ReliableEndpoint, now: number): DeliveredMessage[] {
  const delivered: DeliveredMessage[] = [];
  for (const datagram of datagrams) {
    const result = to.receivePacket(datagram, now);
    if (!result.accepted) throw new Error(`dropped: ${result.reason}`);
    delivered.push(...result.messages);
  }
  return delivered;
}

const text = (value: string) => new TextEncoder().encode(value);
const untext = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

describe("unreliable channel: the newest value wins", () => {
  it("replaces an unsent message queued under the same key, keeps unkeyed and other keys", () => {
    const a = new ReliableEndpoint();
    const b = new ReliableEndpoint();
    a.sendUnreliable(text("pos 1"), "avatar 7");
    a.sendUnreliable(text("chat"));
    a.sendUnreliable(text("pos 2"), "avatar 7");
    a.sendUnreliable(text("hp 10"), 42);
    a.sendUnreliable(text("pos 3"), "avatar 7");
    a.sendUnreliable(text("chat"));
    const delivered = deliverAll(a.update(0), b, 0);
    expect(unreliablePayloads(delivered).map(untext)).toEqual(["pos 3", "chat", "hp 10", "chat"]);
    expect(a.stats.unreliableReplaced).toBe(2);
  });

  it("sends a key again once its previous message has left", () => {
    const a = new ReliableEndpoint();
    const b = new ReliableEndpoint();
    a.sendUnreliable(text("pos 1"), "k");
    const first = deliverAll(a.update(0), b, 0);
    a.sendUnreliable(text("pos 2"), "k");
    const second = deliverAll(a.update(10), b, 10);
    expect(unreliablePayloads(first).map(untext)).toEqual(["pos 1"]);
    expect(unreliablePayloads(second).map(untext)).toEqual(["pos 2"]);
  });

  it("numbers deliveries by packet sequence, so a receiver can tell newer from older", () => {
    const a = new ReliableEndpoint();
    const b = new ReliableEndpoint();
    a.sendUnreliable(text("old"), "k");
    const older = a.update(0);
    a.sendUnreliable(text("new"), "k");
    const newer = a.update(10);
    const received = [...deliverAll(newer, b, 20), ...deliverAll(older, b, 20)];
    const sequences = received.map((message) =>
      message.channel === "unreliable" ? message.packetSequence : -1,
    );
    expect(received.map((message) => untext(message.bytes))).toEqual(["new", "old"]);
    expect(sequences[0]).toBeGreaterThan(sequences[1]!);
  });

  it("drops the oldest waiting messages beyond maxQueuedUnreliable", () => {
    const a = new ReliableEndpoint({ maxQueuedUnreliable: 3 });
    const b = new ReliableEndpoint();
    for (let index = 0; index < 5; index++) a.sendUnreliable(text(`m${index}`));
    expect(unreliablePayloads(deliverAll(a.update(0), b, 0)).map(untext)).toEqual(["m2", "m3", "m4"]);
    expect(a.stats.unreliableDropped).toBe(2);
  });
});

describe("unreliable channel: tagged messages are accounted for", () => {
  it("hands back the tags of messages whose packets were lost, and only those", () => {
    const a = new ReliableEndpoint({ lossDecisionDelayMs: 100 });
    const b = new ReliableEndpoint();
    const kept = { name: "kept" };
    const lost = { name: "lost" };
    a.sendUnreliable(text("state 1"), undefined, kept);
    deliverAll(a.update(0), b, 0);
    a.sendUnreliable(text("state 2"), undefined, lost);
    a.update(10); // this datagram never arrives
    for (const datagram of b.update(20)) a.receivePacket(datagram, 20); // acks the first only
    expect(a.takeLostTags()).toEqual([]);
    a.update(1000);
    expect(a.takeLostTags()).toEqual([lost]);
    expect(a.takeLostTags()).toEqual([]); // once
  });

  it("hands back the tag of a message dropped unsent, not of one replaced under its key", () => {
    const a = new ReliableEndpoint({ maxQueuedUnreliable: 2 });
    const dropped = { name: "dropped" };
    const replaced = { name: "replaced" };
    a.sendUnreliable(text("m0"), undefined, dropped);
    a.sendUnreliable(text("m1"), "k", replaced);
    a.sendUnreliable(text("m2"), "k", { name: "newer" }); // supersedes m1: its tag is not lost, it is moot
    a.sendUnreliable(text("m3"));
    expect(a.takeLostTags()).toEqual([dropped]);
  });
});

describe("acks alone wait for ackDelayMs", () => {
  it("sends an ack-only datagram once the delay has passed, and acks at once with a message", () => {
    const server = new ReliableEndpoint();
    const client = new ReliableEndpoint({ ackDelayMs: 50 });
    client.sendReliable(text("hello"));
    deliverAll(client.update(0), server, 0);
    server.sendUnreliable(text("state"));
    const state = server.update(5);
    deliverAll(state, client, 5);
    expect(client.update(10)).toEqual([]); // only an ack owed, 10 ms after the last datagram
    const ack = client.update(50);
    expect(ack).toHaveLength(1);
    expect(headerOf(ack[0]!).ack?.latest).toBe(headerOf(state[0]!).sequence);

    server.sendUnreliable(text("more"));
    const more = server.update(70);
    deliverAll(more, client, 70);
    client.sendReliable(text("move"));
    const withMessage = client.update(75); // a message goes at once, the ack with it
    expect(withMessage).toHaveLength(1);
    expect(headerOf(withMessage[0]!).ack?.latest).toBe(headerOf(more[0]!).sequence);
    expect(reliablePayloads(deliverAll(withMessage, server, 75)).map(untext)).toEqual(["move"]);
  });
});

describe("packing messages into datagrams", () => {
  it("fills datagrams with small reliable messages: 3 bytes of header for the first, 1 for each next", () => {
    const a = new ReliableEndpoint();
    for (let index = 0; index < 1000; index++) a.sendReliable(numberedMessage(1, index, 20));
    const datagrams = a.update(0);
    // MAX - 3 header bytes: 23 for the first record, 21 for each next
    const perDatagram = 1 + Math.floor((MAX - 3 - 23) / 21);
    expect(datagrams.length).toBe(Math.ceil(1000 / perDatagram));
    for (const datagram of datagrams.slice(0, -1)) expect(MAX - datagram.length).toBeLessThan(21);
    const b = new ReliableEndpoint();
    const delivered = reliablePayloads(deliverAll(datagrams, b, 0));
    expect(delivered).toEqual(Array.from({ length: 1000 }, (_, index) => numberedMessage(1, index, 20)));
  });

  it("fills datagrams with small unreliable messages: 1 byte of header each", () => {
    const a = new ReliableEndpoint();
    for (let index = 0; index < 1000; index++) a.sendUnreliable(numberedMessage(1, index, 10));
    const datagrams = a.update(0);
    // MAX - 3 bytes of room, 11 per record
    expect(datagrams.length).toBe(Math.ceil(1000 / Math.floor((MAX - 3) / 11)));
    for (const datagram of datagrams.slice(0, -1)) expect(MAX - datagram.length).toBeLessThan(11);
  });

  it("never sends two datagrams in one update whose contents would fit in one", () => {
    const message = fc.record({
      reliable: fc.boolean(),
      size: fc.oneof(
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 1188 }),
        fc.integer({ min: 0, max: 4000 }),
      ),
    });
    fc.assert(
      fc.property(fc.array(message, { minLength: 1, maxLength: 120 }), (messages) => {
        const a = new ReliableEndpoint({ maxDatagramsPerUpdate: 1000 });
        messages.forEach(({ reliable, size }, index) => {
          if (reliable) a.sendReliable(numberedMessage(1, index, size));
          else a.sendUnreliable(numberedMessage(1, index, Math.min(size, a.maxUnreliableSize)));
        });
        const datagrams = a.update(0);
        for (const datagram of datagrams) expect(datagram.length).toBeLessThanOrEqual(MAX);
        for (let later = 1; later < datagrams.length; later++) {
          const records = datagrams[later]!.length - packetHeaderSize(headerOf(datagrams[later]!));
          for (let earlier = 0; earlier < later; earlier++) {
            expect(datagrams[earlier]!.length + records).toBeGreaterThan(MAX);
          }
        }
      }),
      { numRuns: 150 },
    );
  });

  it("keeps every datagram within a smaller maxPayloadSize and still delivers everything", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 64, max: 1400 }),
        fc.array(fc.integer({ min: 0, max: 5000 }), { minLength: 1, maxLength: 30 }),
        (maxPayloadSize, sizes) => {
          const config = { maxPayloadSize };
          const random = seededRandom(maxPayloadSize);
          const a = makeSide(new ReliableEndpoint(config), random, PERFECT_LINK);
          const b = makeSide(new ReliableEndpoint(config), random, PERFECT_LINK);
          const sent = sizes.map((size, index) => numberedMessage(1, index, size));
          for (const message of sent) a.endpoint.sendReliable(message);
          a.endpoint.sendUnreliable(new Uint8Array(a.endpoint.maxUnreliableSize));
          let largest = 0;
          const send = a.endpoint.update.bind(a.endpoint);
          a.endpoint.update = (now) => {
            const datagrams = send(now);
            for (const datagram of datagrams) largest = Math.max(largest, datagram.length);
            return datagrams;
          };
          runPair(a, b, {
            stepMs: 10,
            maxTimeMs: 10_000,
            done: () => b.delivered.length === sent.length + 1,
          });
          expect(largest).toBeLessThanOrEqual(maxPayloadSize);
          expect(messageListDifference(reliablePayloads(b.delivered), sent)).toBeUndefined();
          expect(unreliablePayloads(b.delivered)).toHaveLength(1);
        },
      ),
      { numRuns: 100 },
    );
  });

  it("keeps at most maxPacketsInFlight message-carrying packets unacknowledged", () => {
    const a = new ReliableEndpoint({ maxPacketsInFlight: 10, lossDecisionDelayMs: 500 });
    a.sendReliable(numberedMessage(1, 0, 30_000));
    expect(a.update(0)).toHaveLength(10);
    expect(a.update(100)).toHaveLength(0);
    expect(a.stats.packetsInFlight).toBe(10);
    // once counted as lost, they leave the flight and resends may go
    expect(a.update(600)).toHaveLength(10);
  });

  it("sends at most maxDatagramsPerUpdate datagrams of messages per update, the rest later", () => {
    const a = new ReliableEndpoint({ maxDatagramsPerUpdate: 4 });
    a.sendReliable(numberedMessage(1, 0, 20_000));
    expect(a.update(0)).toHaveLength(4);
    expect(a.update(1)).toHaveLength(4);
  });
});

describe("reliable channel on a clean link", () => {
  it("delivers messages of every size in order, the empty and the 256 KiB ones included", () => {
    const random = seededRandom(7);
    const a = makeSide(new ReliableEndpoint(), random, PERFECT_LINK);
    const b = makeSide(new ReliableEndpoint(), random, PERFECT_LINK);
    const sizes = [0, 1, 30, 31, 1182, 1183, 5000, 256 * 1024, 2, 256 * 1024 - 1];
    const sent = sizes.map((size, index) => numberedMessage(1, index, size));
    for (const message of sent) a.endpoint.sendReliable(message);
    runPair(a, b, { stepMs: 10, maxTimeMs: 5000, done: () => b.delivered.length === sent.length });
    expect(messageListDifference(reliablePayloads(b.delivered), sent)).toBeUndefined();
    expect(b.delivered.map((message) => (message.channel === "reliable" ? message.id : -1))).toEqual(
      sizes.map((_, index) => index),
    );
  });

  it("forgets messages once acknowledged and resends nothing on a clean link", () => {
    const random = seededRandom(8);
    const a = makeSide(new ReliableEndpoint(), random, { ...PERFECT_LINK, minDelayMs: 20, maxDelayMs: 20 });
    const b = makeSide(new ReliableEndpoint(), random, { ...PERFECT_LINK, minDelayMs: 20, maxDelayMs: 20 });
    for (let index = 0; index < 100; index++) a.endpoint.sendReliable(numberedMessage(1, index, 100));
    runPair(a, b, {
      stepMs: 10,
      maxTimeMs: 5000,
      done: () => a.endpoint.stats.reliablePendingMessages === 0,
    });
    expect(reliablePayloads(b.delivered)).toHaveLength(100);
    expect(a.endpoint.stats.reliablePendingBytes).toBe(0);
    expect(a.endpoint.stats.partsResent).toBe(0);
  });

  it("refuses messages larger than the limits with a RangeError naming the limit", () => {
    const a = new ReliableEndpoint({ maxMessageSize: 5000 });
    expect(() => a.sendReliable(new Uint8Array(5001))).toThrow(/maxMessageSize \(5000\)/);
    expect(() => a.sendUnreliable(new Uint8Array(a.maxUnreliableSize + 1))).toThrow(RangeError);
    expect(a.maxUnreliableSize).toBe(1188);
  });

  it("checks its config and names the bad setting", () => {
    expect(() => new ReliableEndpoint({ maxPayloadSize: 20 })).toThrow(/maxPayloadSize/);
    expect(() => new ReliableEndpoint({ maxBufferedBytes: 10 })).toThrow(/maxBufferedBytes/);
    expect(() => new ReliableEndpoint({ minResendDelayMs: 50, maxResendDelayMs: 10 })).toThrow(
      /maxResendDelayMs/,
    );
    expect(
      () =>
        new ReliableEndpoint({
          maxPayloadSize: 64,
          maxMessageSize: 10_000_000,
          maxBufferedBytes: 10_000_000,
        }),
    ).toThrow(/fragments/);
    expect(() => new ReliableEndpoint({ copyMessages: "no" as unknown as boolean })).toThrow(/copyMessages/);
  });
});

describe("sending without copies (copyMessages: false, updateViews)", () => {
  it("delivers the same messages as the copying endpoint, from one reused scratch datagram", () => {
    const inPlace = new ReliableEndpoint({ copyMessages: false });
    const copying = new ReliableEndpoint();
    const shared = new Uint8Array(300).fill(7); // one message queued on both, as the agent's zone state is
    const events = [numberedMessage(1, 1, 40), numberedMessage(1, 2, 900)];
    const sent: Uint8Array[][] = [];
    for (const sender of [inPlace, copying]) {
      for (const event of events) sender.sendReliable(event);
      sender.sendUnreliable(shared);
    }
    const views = inPlace.updateViews(0);
    const copies = copying.update(0);
    expect(views.map((view) => [...view])).toEqual(copies.map((copy) => [...copy]));
    sent.push(views.map((view) => view.slice()));
    const [receiver, other] = [new ReliableEndpoint(), new ReliableEndpoint()];
    const fromViews = deliverAll(sent[0]!, receiver, 0).map((message) => [...message.bytes]);
    const fromCopies = deliverAll(copies, other, 0).map((message) => [...message.bytes]);
    expect(fromViews).toEqual(fromCopies);
    expect(fromViews).toEqual(expect.arrayContaining([[...shared], ...events.map((event) => [...event])]));
    // the next update builds in the same scratch space: the views of the last one are not to be kept
    inPlace.sendUnreliable(new Uint8Array(10).fill(9));
    const next = inPlace.updateViews(1);
    expect(next[0]!.buffer).toBe(views[0]!.buffer);
  });
});

describe("receiving without copies (copyReceived: false)", () => {
  it("delivers views of the packet's own bytes, where the copying endpoint delivers copies", () => {
    const sender = new ReliableEndpoint();
    sender.sendUnreliable(text("position 1"));
    sender.sendReliable(text("chat: hello"));
    sender.sendReliable(text("chat: again"));
    const [packet] = sender.update(0);
    const viewing = new ReliableEndpoint({ copyReceived: false });
    const copying = new ReliableEndpoint();
    const views = deliverAll([packet!], viewing, 0);
    const copies = deliverAll([packet!.slice()], copying, 0);
    expect(views.map((message) => untext(message.bytes))).toEqual(
      copies.map((message) => untext(message.bytes)),
    );
    expect(views.map((message) => untext(message.bytes))).toEqual([
      "position 1",
      "chat: hello",
      "chat: again",
    ]);
    for (const message of views) expect(message.bytes.buffer).toBe(packet!.buffer);
    for (const message of copies) expect(message.bytes.buffer).not.toBe(packet!.buffer);
    expect(() => new ReliableEndpoint({ copyReceived: 0 as unknown as boolean })).toThrow(/copyReceived/);
  });

  it("keeps a reliable message that came ahead of its turn as a view, delivered in order", () => {
    const sender = new ReliableEndpoint();
    sender.sendReliable(text("first"));
    const [first] = sender.update(0);
    sender.sendReliable(text("second"));
    const [second] = sender.update(1);
    const receiver = new ReliableEndpoint({ copyReceived: false });
    expect(deliverAll([second!], receiver, 2)).toEqual([]); // held until "first" comes
    const delivered = deliverAll([first!], receiver, 3);
    expect(delivered.map((message) => untext(message.bytes))).toEqual(["first", "second"]);
    expect(delivered[1]!.bytes.buffer).toBe(second!.buffer);
  });
});

describe("acks", () => {
  it("acknowledges exactly the packets received, through the latest sequence and 32 bits", () => {
    const a = new ReliableEndpoint();
    const b = new ReliableEndpoint();
    const received = new Set<number>();
    for (let step = 0; step < 41; step++) {
      a.sendUnreliable(Uint8Array.of(step));
      const [datagram] = a.update(step);
      if (step % 3 === 1 || step === 17) continue;
      b.receivePacket(datagram!, step);
      received.add(headerOf(datagram!).sequence);
    }
    const replies = b.update(50);
    const acknowledged = new Set<number>();
    for (const reply of replies) {
      const ack = headerOf(reply).ack!;
      acknowledged.add(ack.latest);
      for (let bit = 0; bit < 32; bit++) {
        const sequence = ack.latest - 1 - bit;
        if (sequence < 0) continue;
        expect((ack.bits >>> bit) & 1).toBe(received.has(sequence) ? 1 : 0);
        if ((ack.bits >>> bit) & 1) acknowledged.add(sequence);
      }
    }
    expect(replies).toHaveLength(2); // 41 sequences need two anchors
    expect(acknowledged).toEqual(received);
    for (const reply of replies) a.receivePacket(reply, 60);
    expect(a.stats.packetsAcked).toBe(received.size);
  });

  it("acks across the sequence wrap", () => {
    const a = makeSide(new ReliableEndpoint(), seededRandom(3), PERFECT_LINK);
    const b = makeSide(new ReliableEndpoint(), seededRandom(4), PERFECT_LINK);
    let sent = 0;
    runPair(a, b, {
      stepMs: 1,
      maxTimeMs: 70_000,
      beforeStep: (_now, step) => {
        if (step >= 66_000) return;
        a.endpoint.sendUnreliable(Uint8Array.of(step & 0xff));
        if (step % 1000 === 0) a.endpoint.sendReliable(numberedMessage(1, sent++, 8));
      },
      done: () => {
        const stats = a.endpoint.stats;
        return (
          stats.packetsSent >= 66_000 &&
          stats.reliablePendingMessages === 0 &&
          stats.packetsAcked === stats.packetsSent
        );
      },
    });
    expect(a.endpoint.stats.packetsSent).toBeGreaterThan(65_536);
    expect(a.endpoint.stats.packetsAcked).toBe(a.endpoint.stats.packetsSent);
    expect(reliablePayloads(b.delivered)).toEqual(
      Array.from({ length: sent }, (_, index) => numberedMessage(1, index, 8)),
    );
    expect(unreliablePayloads(b.delivered)).toHaveLength(a.endpoint.stats.unreliableQueued);
  });
});

describe("estimates", () => {
  /** Both ends send a small unreliable message every 5 ms over a 40 ms link; returns the two sides. */
  function runSteadyTraffic(loss: number, seconds: number) {
    const random = seededRandom(11);
    const link = { loss, duplicate: 0, minDelayMs: 40, maxDelayMs: 40 };
    const a = makeSide(new ReliableEndpoint(), random, link);
    const b = makeSide(new ReliableEndpoint(), random, link);
    runPair(a, b, {
      stepMs: 5,
      maxTimeMs: seconds * 1000,
      beforeStep: (_now, step) => {
        a.endpoint.sendUnreliable(numberedMessage(1, step, 100));
        b.endpoint.sendUnreliable(numberedMessage(2, step, 100));
      },
      done: () => false,
    });
    return { a, b };
  }

  it("measures the round trip and no loss on a clean 40 ms link", () => {
    const { a, b } = runSteadyTraffic(0, 5);
    expect(a.endpoint.rtt).toBeGreaterThanOrEqual(79);
    expect(a.endpoint.rtt).toBeLessThanOrEqual(81);
    expect(b.endpoint.rtt).toBeCloseTo(a.endpoint.rtt, 0);
    expect(a.endpoint.packetLoss).toBe(0);
  });

  it("converges on the round trip and the loss rate of a link losing 20%", () => {
    const { a, b } = runSteadyTraffic(0.2, 20);
    for (const side of [a, b]) {
      expect(side.endpoint.rtt).toBeGreaterThanOrEqual(79);
      expect(side.endpoint.rtt).toBeLessThan(90);
      expect(side.endpoint.packetLoss).toBeGreaterThan(0.14);
      expect(side.endpoint.packetLoss).toBeLessThan(0.26);
    }
  });

  it("counts bytes and measures byte rates", () => {
    const { a, b } = runSteadyTraffic(0.2, 4);
    const stats = a.endpoint.stats;
    // one datagram every 5 ms: a 102-byte record (2-byte header: 100 is past the inline lengths) and a
    // 4-byte packet header, up to 8 bytes when losses show in the ack bits
    expect(stats.packetsSent).toBeGreaterThanOrEqual(800);
    expect(stats.bytesSent).toBeGreaterThanOrEqual(stats.packetsSent * 106);
    expect(stats.bytesSent).toBeLessThanOrEqual(stats.packetsSent * 110);
    const meanSize = stats.bytesSent / stats.packetsSent;
    expect(stats.sentBytesPerSecond).toBeGreaterThan(meanSize * 200 * 0.95);
    expect(stats.sentBytesPerSecond).toBeLessThan(meanSize * 200 * 1.05);
    expect(b.endpoint.stats.receivedBytesPerSecond).toBeGreaterThan(meanSize * 200 * 0.7);
    expect(b.endpoint.stats.receivedBytesPerSecond).toBeLessThan(meanSize * 200 * 0.9);
    expect(stats.ackedBytesPerSecond).toBeGreaterThan(0);
  });
});

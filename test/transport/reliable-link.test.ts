/**
 * Two endpoints through a simulated link that loses 20% of datagrams, duplicates 10%, and delays each
 * by 5–60 ms (so reorders them): every reliable message arrives exactly once and in order, both ways.
 */

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ReliableEndpoint } from "../../libs/protocol/src/transport/reliable/endpoint.ts";
import {
  HOSTILE_LINK,
  makeSide,
  messageListDifference,
  numberedMessage,
  reliablePayloads,
  runPair,
  type Side,
  seededRandom,
  unreliablePayloads,
} from "./reliable.link.ts";

const KIB = 1024;
const STEP_MS = 10;

interface PlannedMessage {
  readonly size: number;
  /** The step at which the message is queued. */
  readonly step: number;
}

const plannedMessage = fc.record({
  size: fc.oneof(
    { weight: 40, arbitrary: fc.integer({ min: 0, max: 200 }) },
    { weight: 8, arbitrary: fc.integer({ min: 200, max: 5000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 5000, max: 256 * KIB }) },
  ),
  step: fc.integer({ min: 0, max: 40 }),
});

const plan = fc.array(plannedMessage, { minLength: 1, maxLength: 200, size: "max" });

/** Queues each planned message at its step; returns the messages in the order they were queued. */
function scheduleMessages(side: Side, senderNumber: number, messages: readonly PlannedMessage[]) {
  const ordered = messages.map((message, index) => ({ ...message, index })).sort((a, b) => a.step - b.step);
  const queued: Uint8Array[] = [];
  let next = 0;
  const queueDue = (step: number) => {
    while (next < ordered.length && ordered[next]!.step <= step) {
      const { size, index } = ordered[next++]!;
      const bytes = numberedMessage(senderNumber, index, size);
      side.endpoint.sendReliable(bytes);
      queued.push(bytes);
    }
  };
  return { queued, queueDue, allQueued: () => next === ordered.length };
}

function exchange(seed: number, fromA: readonly PlannedMessage[], fromB: readonly PlannedMessage[]) {
  const random = seededRandom(seed);
  const a = makeSide(new ReliableEndpoint(), random, HOSTILE_LINK);
  const b = makeSide(new ReliableEndpoint(), random, HOSTILE_LINK);
  const scheduleA = scheduleMessages(a, 1, fromA);
  const scheduleB = scheduleMessages(b, 2, fromB);
  const allDelivered = () =>
    scheduleA.allQueued() &&
    scheduleB.allQueued() &&
    reliablePayloads(b.delivered).length >= scheduleA.queued.length &&
    reliablePayloads(a.delivered).length >= scheduleB.queued.length;
  const endedAt = runPair(a, b, {
    stepMs: STEP_MS,
    maxTimeMs: 120_000,
    beforeStep: (_now, step) => {
      scheduleA.queueDue(step);
      scheduleB.queueDue(step);
      // high-rate state alongside: only the newest value per key matters
      a.endpoint.sendUnreliable(numberedMessage(1, step, 24), "state");
      b.endpoint.sendUnreliable(numberedMessage(2, step, 24), "state");
    },
    done: allDelivered,
  });
  return { a, b, sentByA: scheduleA.queued, sentByB: scheduleB.queued, endedAt };
}

function expectExactlyOnceInOrder(result: ReturnType<typeof exchange>): void {
  // let any stray resends land: still nothing may be delivered twice
  runPair(result.a, result.b, {
    stepMs: STEP_MS,
    maxTimeMs: 1000,
    startMs: result.endedAt,
    done: () => false,
  });
  expect(messageListDifference(reliablePayloads(result.b.delivered), result.sentByA)).toBeUndefined();
  expect(messageListDifference(reliablePayloads(result.a.delivered), result.sentByB)).toBeUndefined();
}

describe("reliable-ordered delivery over a lossy, duplicating, reordering, delaying link", () => {
  it("delivers every message exactly once and in order, both ways, for random traffic", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), plan, plan, (seed, fromA, fromB) => {
        expectExactlyOnceInOrder(exchange(seed, fromA, fromB));
      }),
      { numRuns: 40 },
    );
  });

  it("delivers several 256 KiB messages amid many small ones, both ways", () => {
    const traffic = (offset: number): PlannedMessage[] => [
      ...Array.from({ length: 600 }, (_, index) => ({ size: (index * 37 + offset) % 90, step: index % 30 })),
      { size: 256 * KIB, step: 0 },
      { size: 256 * KIB, step: 5 },
      { size: 256 * KIB - 1, step: 10 },
    ];
    const result = exchange(2024, traffic(0), traffic(11));
    expectExactlyOnceInOrder(result);
    expect(result.a.endpoint.stats.partsResent).toBeGreaterThan(0);
    expect(result.b.outgoing.lost).toBeGreaterThan(0);
  });

  it("carries message ids across their wrap at 65536", () => {
    const messages = Array.from({ length: 66_000 }, (_, index) => ({
      size: 4 + (index % 12),
      step: index % 50,
    }));
    const result = exchange(99, messages, [{ size: 3, step: 0 }]);
    expectExactlyOnceInOrder(result);
    const lastDelivered = result.b.delivered.filter((message) => message.channel === "reliable").at(-1);
    expect(lastDelivered?.channel === "reliable" && lastDelivered.id).toBe((66_000 - 1) % 65_536);
  });

  it("delivers everything over a long round trip without outrunning the packet window", () => {
    const random = seededRandom(31);
    const slowLink = { loss: 0.3, duplicate: 0.1, minDelayMs: 150, maxDelayMs: 160 };
    const a = makeSide(new ReliableEndpoint(), random, slowLink);
    const b = makeSide(new ReliableEndpoint(), random, slowLink);
    const sent = Array.from({ length: 400 }, (_, index) =>
      numberedMessage(1, index, index % 50 === 0 ? 100_000 : 40),
    );
    for (const message of sent) a.endpoint.sendReliable(message);
    let mostInFlight = 0;
    runPair(a, b, {
      stepMs: 16,
      maxTimeMs: 60_000,
      beforeStep: () => {
        mostInFlight = Math.max(mostInFlight, a.endpoint.stats.packetsInFlight);
      },
      done: () => reliablePayloads(b.delivered).length >= sent.length,
    });
    expect(messageListDifference(reliablePayloads(b.delivered), sent)).toBeUndefined();
    expect(mostInFlight).toBeLessThanOrEqual(256);
    expect(a.endpoint.rtt).toBeGreaterThan(300);
  });

  it("delivers some of the unreliable state, never more than was sent, never twice", () => {
    const result = exchange(5, [{ size: 10, step: 0 }], [{ size: 10, step: 0 }]);
    const received = unreliablePayloads(result.b.delivered);
    const distinct = new Set(received.map((bytes) => Buffer.from(bytes).toString("hex")));
    expect(received.length).toBeGreaterThan(0);
    expect(distinct.size).toBe(received.length);
    expect(received.length).toBeLessThanOrEqual(result.a.endpoint.stats.unreliableQueued);
  });
});

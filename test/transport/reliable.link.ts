/**
 * Test support for the reliable layer: a seeded random source, a simulated one-way link that loses,
 * duplicates, delays and so reorders datagrams, and a driver that runs two endpoints against each
 * other in simulated time.
 */

import type {
  DeliveredMessage,
  ReliableEndpoint,
} from "../../libs/protocol/src/transport/reliable/endpoint.ts";

/** mulberry32: a small, fast, seeded generator of floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4294967296;
  };
}

export interface LinkConditions {
  /** Probability that a datagram is lost. */
  readonly loss: number;
  /** Probability that a datagram that got through arrives a second time. */
  readonly duplicate: number;
  /** Each copy arrives after a delay drawn uniformly from this range; different delays reorder. */
  readonly minDelayMs: number;
  readonly maxDelayMs: number;
}

export const PERFECT_LINK: LinkConditions = { loss: 0, duplicate: 0, minDelayMs: 0, maxDelayMs: 0 };
export const HOSTILE_LINK: LinkConditions = { loss: 0.2, duplicate: 0.1, minDelayMs: 5, maxDelayMs: 60 };

interface InFlight {
  readonly arrivesAt: number;
  readonly bytes: Uint8Array;
}

export class SimulatedLink {
  private inFlight: InFlight[] = [];
  sent = 0;
  lost = 0;

  constructor(
    private readonly random: () => number,
    private readonly conditions: LinkConditions,
  ) {}

  send(bytes: Uint8Array, now: number): void {
    this.sent += 1;
    if (this.random() < this.conditions.loss) {
      this.lost += 1;
      return;
    }
    this.schedule(bytes, now);
    if (this.random() < this.conditions.duplicate) this.schedule(bytes, now);
  }

  private schedule(bytes: Uint8Array, now: number): void {
    const { minDelayMs, maxDelayMs } = this.conditions;
    const arrivesAt = now + minDelayMs + this.random() * (maxDelayMs - minDelayMs);
    this.inFlight.push({ arrivesAt, bytes });
  }

  /** Datagrams that have arrived by `now`, in arrival order. */
  arrived(now: number): Uint8Array[] {
    const arrived = this.inFlight.filter((flight) => flight.arrivesAt <= now);
    this.inFlight = this.inFlight.filter((flight) => flight.arrivesAt > now);
    return arrived.sort((a, b) => a.arrivesAt - b.arrivesAt).map((flight) => flight.bytes);
  }
}

export interface Side {
  readonly endpoint: ReliableEndpoint;
  /** Everything delivered to this side. */
  readonly delivered: DeliveredMessage[];
  /** Link from this side to the other. */
  readonly outgoing: SimulatedLink;
}

export function makeSide(endpoint: ReliableEndpoint, random: () => number, conditions: LinkConditions): Side {
  return { endpoint, delivered: [], outgoing: new SimulatedLink(random, conditions) };
}

/** Moves arrived datagrams into `to`, and throws if a packet sent by a well-behaved end is dropped. */
function deliverArrivals(from: Side, to: Side, now: number): void {
  for (const datagram of from.outgoing.arrived(now)) {
    const result = to.endpoint.receivePacket(datagram, now);
    if (result.accepted) to.delivered.push(...result.messages);
    else if (result.reason !== "duplicate" && result.reason !== "stale") {
      throw new Error(`a well-formed packet was dropped: ${result.reason}`);
    }
  }
}

function sendUpdates(side: Side, now: number): void {
  for (const datagram of side.endpoint.update(now)) side.outgoing.send(datagram, now);
}

export interface RunOptions {
  readonly stepMs: number;
  readonly maxTimeMs: number;
  /** Called before each step's updates, e.g. to queue more messages. */
  readonly beforeStep?: (now: number, step: number) => void;
  readonly done: () => boolean;
  readonly startMs?: number;
}

/** Steps simulated time until `done()` or `maxTimeMs`; returns the simulated time reached. */
export function runPair(a: Side, b: Side, options: RunOptions): number {
  let now = options.startMs ?? 0;
  for (let step = 0; now <= (options.startMs ?? 0) + options.maxTimeMs; step++) {
    deliverArrivals(a, b, now);
    deliverArrivals(b, a, now);
    if (options.done()) return now;
    options.beforeStep?.(now, step);
    sendUpdates(a, now);
    sendUpdates(b, now);
    now += options.stepMs;
  }
  return now;
}

/** A message whose bytes say who sent it and its number, so a mix-up cannot go unnoticed. */
export function numberedMessage(sender: number, index: number, length: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let offset = 0; offset < length; offset++)
    bytes[offset] = (sender * 131 + index * 31 + offset * 7) & 0xff;
  if (length >= 4) new DataView(bytes.buffer).setUint32(0, index, true);
  return bytes;
}

export function reliablePayloads(messages: readonly DeliveredMessage[]): Uint8Array[] {
  return messages.filter((message) => message.channel === "reliable").map((message) => message.bytes);
}

export function unreliablePayloads(messages: readonly DeliveredMessage[]): Uint8Array[] {
  return messages.filter((message) => message.channel === "unreliable").map((message) => message.bytes);
}

/**
 * Describes how two message lists differ (first differing position), or returns undefined when equal.
 * Cheaper than a deep equality on large byte arrays.
 */
export function messageListDifference(
  actual: readonly Uint8Array[],
  expected: readonly Uint8Array[],
): string | undefined {
  const shared = Math.min(actual.length, expected.length);
  for (let index = 0; index < shared; index++) {
    if (Buffer.compare(actual[index]!, expected[index]!) !== 0) {
      return `message ${index} differs (${actual[index]!.length} bytes received, ${expected[index]!.length} sent)`;
    }
  }
  if (actual.length !== expected.length) return `${actual.length} messages received, ${expected.length} sent`;
  return undefined;
}

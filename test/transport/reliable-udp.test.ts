/**
 * The reliable layer over real UDP sockets on 127.0.0.1: two endpoints talk through a relay socket
 * that drops 20% of datagrams, duplicates 10% and delays each by 0–30 ms (reordering them). Every
 * reliable message, 256 KiB ones included, arrives exactly once and in order, both ways.
 */

import { createSocket, type Socket } from "node:dgram";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import {
  type DeliveredMessage,
  ReliableEndpoint,
} from "../../libs/protocol/src/transport/reliable/endpoint.ts";
import { messageListDifference, numberedMessage, reliablePayloads, seededRandom } from "./reliable.link.ts";

const LOOPBACK = "127.0.0.1";
const UPDATE_INTERVAL_MS = 5;
const TEST_TIMEOUT_MS = 20_000;

async function bindLoopback(): Promise<Socket> {
  const socket = createSocket("udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, LOOPBACK, () => resolve());
  });
  return socket;
}

function portOf(socket: Socket): number {
  return (socket.address() as AddressInfo).port;
}

/**
 * The adapter between a socket and an endpoint: received datagrams go to `receivePacket`, and every
 * few milliseconds `update` runs and its datagrams go out to `peerPort`.
 */
function attachEndpoint(
  endpoint: ReliableEndpoint,
  socket: Socket,
  peerPort: number,
  onMessages: (messages: DeliveredMessage[]) => void,
): () => void {
  socket.on("message", (datagram) => {
    const result = endpoint.receivePacket(datagram, performance.now());
    if (result.accepted) onMessages(result.messages);
  });
  const timer = setInterval(() => {
    for (const datagram of endpoint.update(performance.now())) socket.send(datagram, peerPort, LOOPBACK);
  }, UPDATE_INTERVAL_MS);
  return () => clearInterval(timer);
}

interface RelayConditions {
  readonly loss: number;
  readonly duplicate: number;
  readonly maxDelayMs: number;
}

/** Forwards datagrams between two ports, losing, duplicating and delaying them. */
function startRelay(relay: Socket, portA: number, portB: number, conditions: RelayConditions, seed: number) {
  const random = seededRandom(seed);
  const timers = new Set<NodeJS.Timeout>();
  const counts = { forwarded: 0, dropped: 0, duplicated: 0 };
  const forwardLater = (datagram: Buffer, port: number) => {
    const timer = setTimeout(() => {
      timers.delete(timer);
      relay.send(datagram, port, LOOPBACK);
    }, random() * conditions.maxDelayMs);
    timers.add(timer);
  };
  relay.on("message", (datagram, from) => {
    const to = from.port === portA ? portB : from.port === portB ? portA : undefined;
    if (to === undefined) return;
    if (random() < conditions.loss) {
      counts.dropped += 1;
      return;
    }
    counts.forwarded += 1;
    forwardLater(datagram, to);
    if (random() < conditions.duplicate) {
      counts.duplicated += 1;
      forwardLater(datagram, to);
    }
  });
  const stop = () => {
    for (const timer of timers) clearTimeout(timer);
  };
  return { counts, stop };
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return true;
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const cleanup of cleanups.splice(0).reverse()) cleanup();
});

function traffic(sender: number): Uint8Array[] {
  return [
    ...Array.from({ length: 300 }, (_, index) => numberedMessage(sender, index, (index * 29) % 150)),
    numberedMessage(sender, 300, 256 * 1024),
    ...Array.from({ length: 200 }, (_, index) => numberedMessage(sender, 301 + index, 4 + (index % 40))),
    numberedMessage(sender, 501, 100_000),
  ];
}

describe("reliable endpoints over UDP through a lossy relay", () => {
  it(
    "delivers every reliable message exactly once and in order, both ways",
    async () => {
      const [socketA, socketB, relaySocket] = await Promise.all([
        bindLoopback(),
        bindLoopback(),
        bindLoopback(),
      ]);
      cleanups.push(() => {
        socketA.close();
        socketB.close();
        relaySocket.close();
      });
      const relay = startRelay(
        relaySocket,
        portOf(socketA),
        portOf(socketB),
        { loss: 0.2, duplicate: 0.1, maxDelayMs: 30 },
        77,
      );
      cleanups.push(relay.stop);

      const a = new ReliableEndpoint();
      const b = new ReliableEndpoint();
      const receivedByA: DeliveredMessage[] = [];
      const receivedByB: DeliveredMessage[] = [];
      cleanups.push(
        attachEndpoint(a, socketA, portOf(relaySocket), (messages) => receivedByA.push(...messages)),
      );
      cleanups.push(
        attachEndpoint(b, socketB, portOf(relaySocket), (messages) => receivedByB.push(...messages)),
      );

      const sentByA = traffic(1);
      const sentByB = traffic(2);
      for (const message of sentByA) a.sendReliable(message);
      for (const message of sentByB) b.sendReliable(message);
      const stateTimer = setInterval(() => {
        a.sendUnreliable(numberedMessage(1, 0, 16), "position");
        b.sendUnreliable(numberedMessage(2, 0, 16), "position");
      }, 10);
      cleanups.push(() => clearInterval(stateTimer));

      const allArrived = await waitFor(
        () =>
          reliablePayloads(receivedByB).length >= sentByA.length &&
          reliablePayloads(receivedByA).length >= sentByB.length,
        15_000,
      );
      expect(allArrived).toBe(true);
      // give stray resends and duplicates time to land: still nothing may arrive twice
      await new Promise((resolve) => setTimeout(resolve, 300));

      expect(messageListDifference(reliablePayloads(receivedByB), sentByA)).toBeUndefined();
      expect(messageListDifference(reliablePayloads(receivedByA), sentByB)).toBeUndefined();
      expect(relay.counts.dropped).toBeGreaterThan(0);
      expect(relay.counts.duplicated).toBeGreaterThan(0);
      expect(a.stats.dropped.duplicate + b.stats.dropped.duplicate).toBeGreaterThan(0);
      for (const endpoint of [a, b]) {
        const { duplicate: _duplicate, stale: _stale, ...refusals } = endpoint.stats.dropped;
        expect(Object.values(refusals).every((count) => count === 0)).toBe(true);
      }
      expect(a.stats.partsResent).toBeGreaterThan(0);
      expect(a.rtt).toBeGreaterThan(0);
    },
    TEST_TIMEOUT_MS,
  );
});

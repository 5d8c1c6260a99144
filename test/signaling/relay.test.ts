/**
 * Main's relay on its own: it binds a side only with a ticket main minted (a forged or expired one gets
 * no answer), forwards a bound side's datagrams to the other side as they came, refuses datagrams from an
 * address not bound for the pair, and caps each pair's rate.
 */
import { createSocket, type Socket } from "node:dgram";
import {
  derivedKey,
  mintTicket,
  PacketKind,
  pairId,
  randomBytes,
  writeRelayBind,
  writeRelayData,
} from "@overworld/federation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, sleep } from "../support/wait.ts";
import { dropMain, schemaFor, startMain, type TestMain } from "./support.ts";

let main: TestMain;
const sockets: Socket[] = [];

beforeAll(async () => {
  main = await startMain(schemaFor("relay"), { RELAY_BYTES_PER_SECOND: "20000", RELAY_BURST_BYTES: "20000" });
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  await dropMain(main);
});

interface Side {
  readonly socket: Socket;
  readonly received: Buffer[];
  send(bytes: Uint8Array): void;
}

async function side(): Promise<Side> {
  const socket = createSocket("udp4");
  sockets.push(socket);
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  const received: Buffer[] = [];
  socket.on("message", (message) => received.push(message));
  const relay = main.handle.relay!.address;
  return { socket, received, send: (bytes) => socket.send(bytes, relay.port, "127.0.0.1") };
}

const relayKey = () => derivedKey(main.key, "relay");

describe("the relay", () => {
  it("binds only with main's tickets, and forwards ciphertext between the two bound sides", async () => {
    const pair = pairId("relay-a", "relay-b");
    const a = await side();
    const b = await side();
    const forger = await side();
    // a forged ticket (another key) and an expired one: no answer at all
    forger.send(
      writeRelayBind(mintTicket(randomBytes(32), { pair, side: 0, expiresAt: Date.now() + 60_000 })),
    );
    forger.send(writeRelayBind(mintTicket(relayKey(), { pair, side: 0, expiresAt: Date.now() - 1000 })));
    await sleep(200);
    expect(forger.received).toHaveLength(0);

    a.send(writeRelayBind(mintTicket(relayKey(), { pair, side: 0, expiresAt: Date.now() + 60_000 })));
    b.send(writeRelayBind(mintTicket(relayKey(), { pair, side: 1, expiresAt: Date.now() + 60_000 })));
    await eventually(() => a.received.length === 1 && b.received.length === 1, "both bound");
    expect(a.received[0]![0]).toBe(PacketKind.RelayBound);

    const packet = randomBytes(100); // what netcode sends: ciphertext, forwarded as it is
    a.send(writeRelayData(pair, packet));
    await eventually(() => b.received.length === 2, "a's packet at b");
    expect(new Uint8Array(b.received[1]!.subarray(9))).toEqual(packet);

    // the forger, not bound for the pair, reaches nobody
    forger.send(writeRelayData(pair, randomBytes(50)));
    await sleep(200);
    expect(a.received).toHaveLength(1);
    expect(b.received).toHaveLength(2);
  });

  it("caps each pair's rate", async () => {
    const pair = pairId("rate-a", "rate-b");
    const a = await side();
    const b = await side();
    a.send(writeRelayBind(mintTicket(relayKey(), { pair, side: 0, expiresAt: Date.now() + 60_000 })));
    b.send(writeRelayBind(mintTicket(relayKey(), { pair, side: 1, expiresAt: Date.now() + 60_000 })));
    await eventually(() => a.received.length === 1 && b.received.length === 1, "both bound");
    // 100 datagrams of 1,009 bytes at once: the budget (20,000 bytes) lets about 19 through
    for (let i = 0; i < 100; i++) a.send(writeRelayData(pair, randomBytes(1000)));
    await sleep(300);
    const forwarded = b.received.length - 1;
    expect(forwarded).toBeGreaterThan(10);
    expect(forwarded).toBeLessThan(30);
    const metrics = await (await fetch(`${main.url}/metrics`)).text();
    expect(metrics).toMatch(/ow_signaling_relay_packets_total\{[^}]*result="rate_limited"[^}]*\} [1-9]/);
  });
});

/**
 * Random and mutated datagrams into NetcodeServer.receive and NetcodeClient.receive: they never throw, the
 * server never answers with more bytes than it received, and a connected client is unaffected.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ipv4Address, type NetcodeAddress } from "../../libs/protocol/src/transport/netcode/address.ts";
import { NetcodeClient } from "../../libs/protocol/src/transport/netcode/client.ts";
import {
  generateConnectToken,
  readConnectToken,
} from "../../libs/protocol/src/transport/netcode/connect-token.ts";
import { ClientState } from "../../libs/protocol/src/transport/netcode/constants.ts";
import { NetcodeServer, type ServerEvent } from "../../libs/protocol/src/transport/netcode/server.ts";
import { type Datagram, SimulatedLink } from "./netcode-link.ts";
import { CLIENT_ADDRESS, NOW_SECONDS, PRIVATE_KEY, PROTOCOL_ID, SERVER_ADDRESS } from "./netcode-support.ts";

const RUNS = 300;

function connectedPair() {
  const server = new NetcodeServer({
    protocolId: PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    publicAddresses: [SERVER_ADDRESS],
    maxClients: 2,
  });
  const link = new SimulatedLink(server, SERVER_ADDRESS);
  const alice = link.add(CLIENT_ADDRESS, new NetcodeClient());
  const token = generateConnectToken({
    protocolId: PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    clientId: 77n,
    serverAddresses: [SERVER_ADDRESS],
    expireSeconds: 3600,
    timeoutSeconds: 30,
    nowSeconds: NOW_SECONDS,
  });
  link.connect(alice, token);
  link.runUntil(() => alice.client.state === ClientState.Connected);
  link.sendFromClient(alice, alice.client.send(new Uint8Array([1]), link.now));
  link.run(300);
  return { server, link, alice, token };
}

const repliedBytes = (events: ServerEvent[]) =>
  events.reduce((total, event) => total + (event.type === "send" ? event.bytes.length : 0), 0);

/** Bytes changed the way a fuzzer would: flips, overwrites, truncation, extension. */
const mutationArb = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("extend" as const), extra: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);
type Mutation = typeof mutationArb extends fc.Arbitrary<infer T> ? T : never;

function mutate(bytes: Uint8Array, mutations: Mutation[]): Uint8Array {
  let out = bytes.slice();
  for (const mutation of mutations) {
    if (out.length === 0) break;
    if (mutation.kind === "flip") out[mutation.at % out.length]! ^= 1 << mutation.bit;
    else if (mutation.kind === "set") out[mutation.at % out.length] = mutation.value;
    else if (mutation.kind === "truncate") out = out.slice(0, mutation.at % out.length);
    else out = new Uint8Array([...out, ...mutation.extra]);
  }
  return out;
}

const addressArb: fc.Arbitrary<NetcodeAddress> = fc
  .tuple(fc.constantFrom(CLIENT_ADDRESS, ipv4Address([10, 0, 0, 9], 1234), ipv4Address([10, 0, 0, 10], 5678)))
  .map(([address]) => address);

describe("NetcodeServer.receive under fuzzing", () => {
  const { server, link, alice } = connectedPair();
  /** Real datagrams seen on the link in both directions: requests, responses, keep-alives, payloads. */
  const corpus: Datagram[] = link.delivered.slice();
  const toServer = corpus.filter((datagram) => datagram.to.key === SERVER_ADDRESS.key);

  let answered = 0;

  function feed(bytes: Uint8Array, from: NetcodeAddress): void {
    let events: ServerEvent[] = [];
    expect(() => {
      events = server.receive(bytes, from, link.now);
    }).not.toThrow();
    const replied = repliedBytes(events);
    if (replied > 0) {
      answered++;
      expect(replied).toBeLessThan(bytes.length);
    }
    expect(events.some((event) => event.type === "disconnected")).toBe(false);
  }

  it("random datagrams of any size", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1400 }), addressArb, (bytes, from) => feed(bytes, from)),
      { numRuns: RUNS, seed: 41 },
    );
  });

  it("random datagrams shaped like netcode packets (valid prefix bytes, request-sized)", () => {
    const shaped = fc.oneof(
      fc.uint8Array({ minLength: 1078, maxLength: 1078 }).map((bytes) => {
        bytes[0] = 0;
        return bytes;
      }),
      fc
        .tuple(
          fc.integer({ min: 1, max: 6 }),
          fc.integer({ min: 1, max: 8 }),
          fc.uint8Array({ minLength: 17, maxLength: 1300 }),
        )
        .map(([type, sequenceBytes, rest]) => new Uint8Array([type | (sequenceBytes << 4), ...rest])),
    );
    fc.assert(
      fc.property(shaped, addressArb, (bytes, from) => feed(bytes, from)),
      { numRuns: RUNS, seed: 42 },
    );
  });

  it("mutated real datagrams, from their own address or another", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...toServer),
        fc.array(mutationArb, { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        addressArb,
        (datagram, mutations, ownAddress, other) =>
          feed(mutate(datagram.bytes, mutations), ownAddress ? datagram.from : other),
      ),
      { numRuns: RUNS, seed: 43 },
    );
  });

  it("requests with fresh tokens, some intact (answered, with fewer bytes), some mutated", () => {
    const fresh = Array.from({ length: 50 }, (_, i) => {
      const client = new NetcodeClient();
      client.connect(
        generateConnectToken({
          protocolId: PROTOCOL_ID,
          privateKey: PRIVATE_KEY,
          clientId: 1000n + BigInt(i),
          serverAddresses: [SERVER_ADDRESS],
          expireSeconds: 3600,
          timeoutSeconds: 30,
          nowSeconds: NOW_SECONDS,
        }),
        link.now,
      );
      const [request] = client.update(link.now);
      if (request?.type !== "send") throw new Error("expected a connection request");
      return { from: ipv4Address([10, 1, 0, i], 4000), bytes: request.bytes };
    });
    const before = answered;
    fc.assert(
      fc.property(fc.constantFrom(...fresh), fc.array(mutationArb, { maxLength: 2 }), (datagram, mutations) =>
        feed(mutate(datagram.bytes, mutations), datagram.from),
      ),
      { numRuns: RUNS, seed: 46 },
    );
    expect(answered - before).toBeGreaterThan(10);
  });

  it("leaves the connected client connected and talking", () => {
    link.run(500);
    expect(alice.client.state).toBe(ClientState.Connected);
    expect(server.connectedClients).toBe(1);
    const before = link.serverEvents.filter((event) => event.type === "payload").length;
    link.sendFromClient(alice, alice.client.send(new Uint8Array([9, 9]), link.now));
    expect(link.serverEvents.filter((event) => event.type === "payload").length).toBe(before + 1);
  });
});

describe("NetcodeClient.receive and readConnectToken under fuzzing", () => {
  const { link, alice, token } = connectedPair();
  const toClient = link.delivered.filter((datagram) => datagram.to.key === CLIENT_ADDRESS.key);

  it("never throw on random or mutated input", () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 1400 }),
          fc
            .tuple(fc.constantFrom(...toClient), fc.array(mutationArb, { minLength: 1, maxLength: 4 }))
            .map(([datagram, mutations]) => mutate(datagram.bytes, mutations)),
        ),
        (bytes) => {
          expect(() => alice.client.receive(bytes, SERVER_ADDRESS, link.now)).not.toThrow();
        },
      ),
      { numRuns: RUNS, seed: 44 },
    );
    link.run(500);
    expect(alice.client.state).toBe(ClientState.Connected);
  });

  it("readConnectToken never throws on mutated tokens", () => {
    fc.assert(
      fc.property(fc.array(mutationArb, { minLength: 1, maxLength: 6 }), (mutations) => {
        expect(() => readConnectToken(mutate(token, mutations))).not.toThrow();
      }),
      { numRuns: RUNS, seed: 45 },
    );
  });
});

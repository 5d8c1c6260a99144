/** Client and server state machines through a simulated link. */
import { describe, expect, it } from "vitest";
import { type NetcodeAddress, parseAddress } from "../../libs/protocol/src/transport/netcode/address.ts";
import { type ClientEvent, NetcodeClient } from "../../libs/protocol/src/transport/netcode/client.ts";
import {
  type GenerateConnectTokenOptions,
  generateConnectToken,
} from "../../libs/protocol/src/transport/netcode/connect-token.ts";
import { ClientState, PacketType } from "../../libs/protocol/src/transport/netcode/constants.ts";
import {
  NetcodeServer,
  type NetcodeServerConfig,
  type ServerEvent,
} from "../../libs/protocol/src/transport/netcode/server.ts";
import { type Datagram, SimulatedLink } from "./netcode-link.ts";
import {
  CLIENT_ADDRESS,
  counting,
  countingRandom,
  NOW_SECONDS,
  PRIVATE_KEY,
  PROTOCOL_ID,
  SERVER_ADDRESS,
} from "./netcode-support.ts";

const TIMEOUT_SECONDS = 5;
const OTHER_CLIENT = parseAddress("10.0.0.3:50000");

function token(overrides: Partial<GenerateConnectTokenOptions> = {}): Uint8Array {
  return generateConnectToken({
    protocolId: PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    clientId: 1001n,
    serverAddresses: [SERVER_ADDRESS],
    expireSeconds: 60,
    timeoutSeconds: TIMEOUT_SECONDS,
    userData: new TextEncoder().encode("account 42"),
    nowSeconds: NOW_SECONDS,
    ...overrides,
  });
}

function setup(config: Partial<NetcodeServerConfig> = {}) {
  const server = new NetcodeServer({
    protocolId: PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    publicAddresses: [SERVER_ADDRESS],
    maxClients: 4,
    random: countingRandom(200),
    ...config,
  });
  const link = new SimulatedLink(server, SERVER_ADDRESS);
  const alice = link.add(CLIENT_ADDRESS, new NetcodeClient());
  return { server, link, alice };
}

const ofType = <T extends ServerEvent["type"]>(events: ServerEvent[], type: T) =>
  events.filter((event): event is Extract<ServerEvent, { type: T }> => event.type === type);
const states = (events: ClientEvent[]) =>
  events.flatMap((event) => (event.type === "state" ? [event.to] : []));
const dropReasons = (events: ServerEvent[]) => ofType(events, "dropped").map((event) => event.reason);
const packetType = (datagram: Datagram) => datagram.bytes[0]! & 0x0f;
const fromAddress = (address: NetcodeAddress) => (datagram: Datagram) => datagram.from.key === address.key;
const toAddress = (address: NetcodeAddress) => (datagram: Datagram) => datagram.to.key === address.key;

describe("connecting", () => {
  it("goes request -> challenge -> response -> keep-alive, and both sides agree on the slot", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);

    expect(states(alice.events)).toEqual([
      ClientState.SendingConnectionRequest,
      ClientState.SendingConnectionResponse,
      ClientState.Connected,
    ]);
    const [connected] = ofType(link.serverEvents, "connected");
    expect(connected?.clientId).toBe(1001n);
    expect(connected?.address.key).toBe(CLIENT_ADDRESS.key);
    expect(new TextDecoder().decode(connected?.userData.subarray(0, 10))).toBe("account 42");
    expect(connected?.userData.length).toBe(256);
    expect(alice.client.clientIndex).toBe(connected?.clientIndex);
    expect(alice.client.maxClients).toBe(4);
    expect(server.connectedClients).toBe(1);
    expect(server.client(0)?.clientId).toBe(1001n);
  });

  it("never answers a datagram from an address without a slot with more bytes than it carried", () => {
    const { link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const handshake = link.exchanges.filter((exchange) => exchange.replies.length > 0);
    expect(handshake.length).toBeGreaterThanOrEqual(2);
    const [challenge] = handshake;
    expect(challenge?.received.bytes.length).toBe(1078);
    expect(challenge?.replies.map(packetType)).toEqual([PacketType.ConnectionChallenge]);
    expect(challenge?.replies[0]?.bytes.length).toBe(1 + 8 + 308 + 16); // handshake sequences take 8 bytes
    for (const exchange of handshake) {
      const sent = exchange.replies.reduce((total, reply) => total + reply.bytes.length, 0);
      expect(sent).toBeLessThan(exchange.received.bytes.length);
    }
  });

  it("keeps a quiet connection alive with keep-alives both ways", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const before = link.delivered.length;
    link.run(3 * TIMEOUT_SECONDS * 1000);
    expect(alice.client.state).toBe(ClientState.Connected);
    expect(server.connectedClients).toBe(1);
    const traffic = link.delivered.slice(before);
    expect(traffic.every((datagram) => packetType(datagram) === PacketType.KeepAlive)).toBe(true);
    // 10 Hz each way for 15 s
    expect(traffic.filter(fromAddress(CLIENT_ADDRESS)).length).toBeGreaterThanOrEqual(140);
    expect(traffic.filter(toAddress(CLIENT_ADDRESS)).length).toBeGreaterThanOrEqual(140);
  });

  it("tries the token's next server when the first stays silent", () => {
    const { link, alice } = setup();
    const dead = parseAddress("127.0.0.1:49999");
    link.connect(alice, token({ serverAddresses: [dead, SERVER_ADDRESS] }));
    link.runUntil(() => alice.client.state === ClientState.Connected, 20_000);
    expect(alice.client.serverAddress?.key).toBe(SERVER_ADDRESS.key);
    expect(link.now - 1_767_225_600_000).toBeGreaterThan(TIMEOUT_SECONDS * 1000);
  });
});

describe("payloads", () => {
  it("flow both ways, in order, with the server's first payload preceded by a keep-alive until confirmed", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const index = alice.client.clientIndex;

    // the client has not sent anything since connecting, so its slot is unconfirmed
    expect(server.client(index)?.confirmed).toBe(false);
    const first = server.send(index, new Uint8Array([1, 2, 3]), link.now);
    expect(first.map((event) => event.type === "send" && event.bytes[0]! & 0x0f)).toEqual([
      PacketType.KeepAlive,
      PacketType.Payload,
    ]);
    link.sendFromServer(first);

    for (let i = 0; i < 5; i++) link.sendFromClient(alice, alice.client.send(counting(i, 100 + i), link.now));
    expect(server.client(index)?.confirmed).toBe(true);
    const atServer = ofType(link.serverEvents, "payload");
    expect(atServer.map((event) => event.payload)).toEqual([0, 1, 2, 3, 4].map((i) => counting(i, 100 + i)));
    expect(atServer.every((event) => event.clientIndex === index)).toBe(true);

    const second = server.send(index, counting(9, 1200), link.now);
    expect(second.length).toBe(1); // confirmed: no keep-alive in front any more
    link.sendFromServer(second);
    const atClient = alice.events.flatMap((event) => (event.type === "payload" ? [event.payload] : []));
    expect(atClient).toEqual([new Uint8Array([1, 2, 3]), counting(9, 1200)]);
  });

  it("are refused outside 1..1200 bytes, and are nothing when not connected", () => {
    const { server, alice } = setup();
    expect(() => alice.client.send(new Uint8Array(0), 0)).toThrow(/1 to 1200 bytes/);
    expect(() => server.send(0, new Uint8Array(1201), 0)).toThrow(/got 1201/);
    expect(alice.client.send(new Uint8Array(1), 0)).toEqual([]);
    expect(server.send(0, new Uint8Array(1), 0)).toEqual([]);
    expect(() => server.send(4, new Uint8Array(1), 0)).toThrow(/client index/);
  });

  it("replayed by an attacker are dropped", () => {
    const { link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const [sent] = alice.client.send(new Uint8Array([7]), link.now);
    if (sent?.type !== "send") throw new Error("expected a datagram");
    const datagram = { from: CLIENT_ADDRESS, to: SERVER_ADDRESS, bytes: sent.bytes };
    link.inject(datagram);
    link.inject(datagram);
    expect(ofType(link.serverEvents, "payload").length).toBe(1);
    expect(dropReasons(link.serverEvents)).toContain("replayed");
  });
});

describe("leaving", () => {
  it("client disconnect: redundant disconnect packets, the server frees the slot", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const events = alice.client.disconnect(link.now);
    expect(events.filter((event) => event.type === "send").length).toBe(10);
    link.sendFromClient(alice, events);
    expect(alice.client.state).toBe(ClientState.Disconnected);
    expect(ofType(link.serverEvents, "disconnected").map((event) => event.reason)).toEqual([
      "client_disconnected",
    ]);
    expect(server.connectedClients).toBe(0);
    // the other nine arrive after the slot is gone: no keys for them any more
    expect(dropReasons(link.serverEvents).filter((reason) => reason === "no_encryption_mapping").length).toBe(
      9,
    );
  });

  it("server disconnect: the client goes back to disconnected", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.sendFromServer(server.disconnect(alice.client.clientIndex, link.now));
    expect(alice.client.state).toBe(ClientState.Disconnected);
    expect(ofType(link.serverEvents, "disconnected").map((event) => event.reason)).toEqual([
      "server_disconnected",
    ]);
  });

  it("timeout: each side gives up on a silent peer after the token's timeout", () => {
    const { server, link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const cut = link.now;
    link.lose = () => true;
    link.runUntil(
      () => alice.client.state === ClientState.ConnectionTimedOut && server.connectedClients === 0,
    );
    expect(link.now - cut).toBeGreaterThanOrEqual(TIMEOUT_SECONDS * 1000);
    expect(link.now - cut).toBeLessThanOrEqual(TIMEOUT_SECONDS * 1000 + 100);
    expect(ofType(link.serverEvents, "disconnected").map((event) => event.reason)).toEqual(["timed_out"]);
  });

  it("reconnecting with the same token continues both sides' sequence numbers (no nonce reuse)", () => {
    const { link, alice } = setup();
    const sameToken = token();
    link.connect(alice, sameToken);
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.run(500);
    link.sendFromClient(alice, alice.client.disconnect(link.now));
    const firstSession = link.delivered.length;
    link.connect(alice, sameToken);
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.run(500);

    const sequencesOf = (datagrams: Datagram[]) =>
      datagrams
        .filter((datagram) => datagram.bytes[0] !== 0 && datagram.bytes[0]! >> 4 < 8) // skip requests and handshake range
        .map((datagram) =>
          Buffer.from(datagram.bytes.subarray(1, 1 + (datagram.bytes[0]! >> 4))).readUIntLE(
            0,
            datagram.bytes[0]! >> 4,
          ),
        );
    for (const direction of [fromAddress(CLIENT_ADDRESS), toAddress(CLIENT_ADDRESS)]) {
      const before = sequencesOf(link.delivered.slice(0, firstSession).filter(direction));
      const after = sequencesOf(link.delivered.slice(firstSession).filter(direction));
      expect(after.length).toBeGreaterThan(0);
      expect(Math.min(...after)).toBeGreaterThan(Math.max(...before));
    }
  });
});

describe("refusals", () => {
  it("denied when full: the client ends in connection denied", () => {
    const { link, alice } = setup({ maxClients: 1 });
    const bob = link.add(OTHER_CLIENT, new NetcodeClient());
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.connect(bob, token({ clientId: 2002n }));
    link.runUntil(() => bob.client.state < ClientState.Disconnected);
    expect(bob.client.state).toBe(ClientState.ConnectionDenied);
    expect(ofType(link.serverEvents, "denied").map((event) => event.clientId)).toEqual([2002n]);
    const denial = link.exchanges.find((exchange) =>
      exchange.replies.some((reply) => packetType(reply) === PacketType.ConnectionDenied),
    );
    expect(denial?.replies[0]?.bytes.length).toBe(1 + 8 + 16);
    expect(alice.client.state).toBe(ClientState.Connected);
  });

  it("an expired token: the server ignores the request, the client gives up when the token's lifetime is over", () => {
    const { link, alice } = setup();
    link.now += 61_000; // the token was made at NOW_SECONDS and lives 60 s
    link.connect(alice, token({ timeoutSeconds: 120 }));
    link.runUntil(() => alice.client.state < ClientState.Disconnected, 70_000);
    expect(alice.client.state).toBe(ClientState.ConnectTokenExpired);
    expect(new Set(dropReasons(link.serverEvents))).toEqual(new Set(["token_expired"]));
    expect(link.exchanges.every((exchange) => exchange.replies.length === 0)).toBe(true);
  });

  it("a token for another protocol id: ignored, the request times out", () => {
    const { link, alice } = setup({ protocolId: PROTOCOL_ID + 1n });
    link.connect(alice, token());
    link.runUntil(() => alice.client.state < ClientState.Disconnected);
    expect(alice.client.state).toBe(ClientState.ConnectionRequestTimedOut);
    expect(new Set(dropReasons(link.serverEvents))).toEqual(new Set(["wrong_protocol_id"]));
  });

  it("a token that does not list this server: ignored", () => {
    const { link, alice } = setup({ publicAddresses: [parseAddress("127.0.0.1:40002")] });
    link.connect(alice, token());
    link.run(300);
    expect(new Set(dropReasons(link.serverEvents))).toEqual(new Set(["server_address_not_in_token"]));
  });

  it("a token sealed with another private key: ignored", () => {
    const { link, alice } = setup({ privateKey: counting(1, 32) });
    link.connect(alice, token());
    link.run(300);
    expect(new Set(dropReasons(link.serverEvents))).toEqual(new Set(["token_decrypt_failed"]));
  });

  it("a token already used from another address: refused, the first client unaffected", () => {
    const { server, link, alice } = setup();
    const mallory = link.add(OTHER_CLIENT, new NetcodeClient());
    const stolen = token();
    link.connect(alice, stolen);
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.sendFromClient(alice, alice.client.disconnect(link.now)); // even once alice has left
    link.connect(mallory, stolen);
    link.runUntil(() => mallory.client.state < ClientState.Disconnected);
    expect(mallory.client.state).toBe(ClientState.ConnectionRequestTimedOut);
    expect(dropReasons(link.serverEvents)).toContain("token_reused");
    expect(server.connectedClients).toBe(0);
  });

  it("a second connection for a client id already connected: ignored", () => {
    const { link, alice } = setup();
    const twin = link.add(OTHER_CLIENT, new NetcodeClient());
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    link.connect(twin, token()); // a fresh token, same client id
    link.run(300);
    expect(dropReasons(link.serverEvents)).toContain("client_id_already_connected");
    expect(twin.client.state).toBe(ClientState.SendingConnectionRequest);
  });

  it("a lost challenge: connection request timed out; lost keep-alives: connection response timed out", () => {
    const lostChallenge = setup();
    lostChallenge.link.lose = (datagram) =>
      packetType(datagram) === PacketType.ConnectionChallenge && datagram.from.key === SERVER_ADDRESS.key;
    lostChallenge.link.connect(lostChallenge.alice, token());
    lostChallenge.link.runUntil(() => lostChallenge.alice.client.state < ClientState.Disconnected);
    expect(lostChallenge.alice.client.state).toBe(ClientState.ConnectionRequestTimedOut);

    const lostKeepAlive = setup();
    lostKeepAlive.link.lose = (datagram) =>
      datagram.from.key === SERVER_ADDRESS.key && packetType(datagram) === PacketType.KeepAlive;
    lostKeepAlive.link.connect(lostKeepAlive.alice, token());
    lostKeepAlive.link.runUntil(() => lostKeepAlive.alice.client.state < ClientState.Disconnected);
    expect(lostKeepAlive.alice.client.state).toBe(ClientState.ConnectionResponseTimedOut);
  });

  it("an unreadable token: invalid connect token, nothing sent", () => {
    const client = new NetcodeClient();
    const events = client.connect(new Uint8Array(2048), 0);
    expect(events).toEqual([
      { type: "state", from: ClientState.Disconnected, to: ClientState.InvalidConnectToken },
    ]);
    expect(client.update(1000)).toEqual([]);
  });

  it("the client ignores datagrams from anyone but its server", () => {
    const { link, alice } = setup();
    link.connect(alice, token());
    link.runUntil(() => alice.client.state === ClientState.Connected);
    const events = alice.client.receive(new Uint8Array(40), OTHER_CLIENT, link.now);
    expect(events).toEqual([{ type: "dropped", from: OTHER_CLIENT, reason: "unknown_sender" }]);
  });
});

describe("client states", () => {
  it("carry the standard's numeric values", () => {
    expect(ClientState).toEqual({
      ConnectTokenExpired: -6,
      InvalidConnectToken: -5,
      ConnectionTimedOut: -4,
      ConnectionResponseTimedOut: -3,
      ConnectionRequestTimedOut: -2,
      ConnectionDenied: -1,
      Disconnected: 0,
      SendingConnectionRequest: 1,
      SendingConnectionResponse: 2,
      Connected: 3,
    });
  });
});

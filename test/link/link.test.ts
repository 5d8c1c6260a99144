/**
 * Two clusters' link ends and main on loopback: the link comes up once the operator allows it, carries
 * reliable and unreliable messages both ways, and shows its RTT and loss on /metrics. Link tokens that are
 * forged, expired or replayed are refused, each with its reason in the acceptor's log. A revoked key
 * brings the cluster's links down and keeps them down; main restarting drops nothing; two replicas of main
 * on one database broker links as one.
 */
import { createSocket, type Socket } from "node:dgram";
import { readFileSync } from "node:fs";
import {
  clusterAddress,
  mintLinkToken,
  pairKeys,
  randomBytes,
  signingKeyFromSeed,
} from "@overworld/federation";
import { netcode } from "@overworld/protocol";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { clusterOf, dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { eventually, sleep, waitFor } from "../support/wait.ts";
import { linkUp, logged, metricsOf, startTestLinkEnd, type TestLinkEnd, waitForLink } from "./support.ts";

let main: TestMain;
const ends: TestLinkEnd[] = [];
const sockets: Socket[] = [];

beforeAll(async () => {
  main = await startMain(schemaFor("link"));
});

afterAll(async () => {
  for (const socket of sockets) socket.close();
  for (const end of ends) await end.stop().catch(() => undefined);
  await dropMain(main);
});

async function pair(a: string, b: string): Promise<[TestLinkEnd, TestLinkEnd]> {
  const endA = await startTestLinkEnd(main, a);
  const endB = await startTestLinkEnd(main, b);
  ends.push(endA, endB);
  expect((await main.operator("PUT", `/v1/policy/${a}/${b}`)).status).toBe(204);
  await waitForLink(endA, endB);
  return [endA, endB];
}

function udpSocket(): Promise<Socket> {
  const socket = createSocket("udp4");
  sockets.push(socket);
  return new Promise((resolve) => socket.bind(0, "127.0.0.1", () => resolve(socket)));
}

/** The connection request a dialer would send with this token, straight to the acceptor's socket. */
async function sendConnectionRequest(token: Uint8Array, to: TestLinkEnd): Promise<void> {
  const read = netcode.readConnectToken(token);
  if (!read.ok) throw new Error(`bad token: ${read.reason}`);
  const request = netcode.writeConnectionRequest({
    protocolId: read.value.protocolId,
    expireTimestamp: read.value.expireTimestamp,
    nonce: read.value.nonce,
    sealedPrivate: read.value.sealedPrivate,
  });
  const socket = await udpSocket();
  socket.send(request, to.handle.udpAddress.port, "127.0.0.1");
}

/** A netcode client on a socket of its own, dialing the acceptor with `token`; resolves once connected. */
async function rawDial(token: Uint8Array, to: TestLinkEnd, socket?: Socket): Promise<netcode.ClientState> {
  const sock = socket ?? (await udpSocket());
  const client = new netcode.NetcodeClient();
  const virtual = clusterAddress(to.name);
  const out = (events: netcode.ClientEvent[]) => {
    for (const event of events) {
      if (event.type === "send") sock.send(event.bytes, to.handle.udpAddress.port, "127.0.0.1");
    }
  };
  const onMessage = (message: Buffer) => out(client.receive(new Uint8Array(message), virtual, Date.now()));
  sock.on("message", onMessage);
  out(client.connect(token, Date.now()));
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline && client.state !== netcode.ClientState.Connected && client.state >= 0) {
    out(client.update(Date.now()));
    await sleep(10);
  }
  const state = client.state;
  out(client.disconnect(Date.now()));
  sock.off("message", onMessage);
  return state;
}

describe("a link between two clusters", () => {
  it("comes up once the operator allows it, and carries messages both ways", async () => {
    const a = await startTestLinkEnd(main, "loop-a");
    const b = await startTestLinkEnd(main, "loop-b");
    ends.push(a, b);
    await sleep(500);
    expect(linkUp(a, "loop-b")).toBe(false); // not allowed yet
    await main.operator("PUT", "/v1/policy/loop-a/loop-b");
    await waitForLink(a, b);
    expect(a.handle.node.status()[0]).toMatchObject({ peer: "loop-b", role: "dial", via: "direct" });
    expect(b.handle.node.status()[0]).toMatchObject({ peer: "loop-a", role: "accept", via: "direct" });

    expect(a.handle.sendTo("loop-b", Buffer.from("hello from a"))).toBe(true);
    expect(b.handle.sendTo("loop-a", Buffer.from("hello from b"), "unreliable")).toBe(true);
    const big = "x".repeat(50_000); // fragmented and reassembled by the reliable layer
    a.handle.sendTo("loop-b", Buffer.from(big));
    await eventually(() => b.received.some((m) => m.text === big), "the big message at b");
    expect(b.received[0]).toEqual({ peer: "loop-a", text: "hello from a", channel: "reliable" });
    await eventually(() => a.received.length === 1, "b's message at a");
    expect(a.received[0]).toEqual({ peer: "loop-b", text: "hello from b", channel: "unreliable" });

    // main sees the link from both sides
    const listed = await main.operator("GET", "/v1/clusters/loop-b");
    expect(listed.body.instances[0].observed).toBe(b.handle.udpAddress.key);
  });

  it("shows its round-trip time and loss on /metrics", async () => {
    const [a] = await pair("met-a", "met-b");
    await waitFor(
      async () => /ow_link_rtt_ms\{[^}]*peer="met-b"[^}]*\} [0-9.]*[1-9]/.test(await metricsOf(a)),
      "an RTT",
    );
    const text = await metricsOf(a);
    expect(text).toMatch(/ow_link_up\{[^}]*peer="met-b"[^}]*\} 1/);
    expect(text).toMatch(/ow_link_loss_ratio\{[^}]*peer="met-b"[^}]*\} 0/);
    const http = await fetch(`http://127.0.0.1:${a.handle.httpPort}/metrics`);
    expect(await http.text()).toContain("ow_link_rtt_ms");
  });
});

describe("link tokens that must not work", () => {
  it("refuses a forged token (sealed with another key), naming the reason in its log", async () => {
    const [, b] = await pair("forge-a", "forge-b");
    const forged = mintLinkToken({
      dialer: "forge-a",
      dialerKey: randomBytes(32),
      acceptor: "forge-b",
      acceptorTokenKey: randomBytes(32), // not the key main and forge-b share
      expireSeconds: 30,
      timeoutSeconds: 5,
    });
    await sendConnectionRequest(forged.token, b);
    await waitFor(
      () => logged(b, "link token refused").find((line) => line.reason === "token_decrypt_failed"),
      "the refusal",
    );
    expect(await metricsOf(b)).toMatch(
      /ow_link_token_refusals_total\{[^}]*reason="token_decrypt_failed"[^}]*\} 1/,
    );
  });

  it("refuses an expired token", async () => {
    const a = clusterOf(main, "exp-a");
    const b = await startTestLinkEnd(main, "exp-b");
    ends.push(b);
    const expired = mintLinkToken({
      dialer: "exp-a",
      dialerKey: a.key.publicKey,
      acceptor: "exp-b",
      acceptorTokenKey: pairKeys(signingKeyFromSeed(b.seed), main.key.publicKey).token, // the real key
      expireSeconds: 10,
      timeoutSeconds: 5,
      nowSeconds: Math.floor(Date.now() / 1000) - 60,
    });
    await sendConnectionRequest(expired.token, b);
    await waitFor(
      () => logged(b, "link token refused").find((line) => line.reason === "token_expired"),
      "the refusal",
    );
  });

  it("refuses a replayed token: from another address, and again from the same one", async () => {
    const [a, b] = await pair("rep-a", "rep-b");
    const { token } = await clusterOf(main, "rep-a", a.seed).client.linkToken("rep-b");
    const first = await udpSocket();
    expect(await rawDial(token, b, first)).toBe(netcode.ClientState.Connected); // a genuine token works once
    // the same token from another address: netcode's token history refuses it
    expect(await rawDial(token, b)).not.toBe(netcode.ClientState.Connected);
    await waitFor(
      () => logged(b, "link token refused").find((line) => line.reason === "token_reused"),
      "token_reused",
    );
    // and from the same address again, once that connection is gone: the link end has seen its id
    await sleep(200);
    await rawDial(token, b, first);
    await waitFor(
      () => logged(b, "link token refused").find((line) => line.reason === "link_token_replayed"),
      "link_token_replayed",
    );
    await waitForLink(a, b); // the real dialer links again with a fresh token
  });

  it("refuses a token main minted for another cluster", async () => {
    const [a] = await pair("oth-a", "oth-b");
    const c = await startTestLinkEnd(main, "oth-c");
    ends.push(c);
    const { token } = await clusterOf(main, "oth-a", a.seed).client.linkToken("oth-b");
    await sendConnectionRequest(token, c);
    await waitFor(
      () => logged(c, "link token refused").find((line) => line.reason === "token_decrypt_failed"),
      "the refusal",
    );
  });
});

describe("revocation and restarts", () => {
  it("revoking a cluster's key tears its links down, and it cannot link again", async () => {
    const [a, b] = await pair("rv-a", "rv-b");
    expect((await main.operator("POST", "/v1/clusters/rv-a/revoke", { reason: "test" })).status).toBe(200);
    // the peer may drop the link (main stops assigning it) before rv-a's next heartbeat hears of the revocation
    await eventually(
      () => !linkUp(a, "rv-b") && !linkUp(b, "rv-a") && a.handle.node.revoked,
      "both sides down, and rv-a told its key is revoked",
      3000,
    );
    await sleep(1500);
    expect(linkUp(a, "rv-b") || linkUp(b, "rv-a")).toBe(false);
    expect(logged(a, "main revoked this cluster's key")).toHaveLength(1);
  });

  it("main restarting (or down a while) drops no link that is up", async () => {
    const restartable = await startMain(schemaFor("link_restart"));
    const seedOf = restartable.env;
    const a = await startTestLinkEnd(restartable, "rs-a");
    const b = await startTestLinkEnd(restartable, "rs-b");
    try {
      await restartable.operator("PUT", "/v1/policy/rs-a/rs-b");
      await waitForLink(a, b);
      const downs = () => logged(a, "link down").length + logged(b, "link down").length;
      await restartable.handle.stop();
      await sleep(1500);
      expect(a.handle.sendTo("rs-b", Buffer.from("while main is down"))).toBe(true);
      await eventually(() => b.received.some((m) => m.text === "while main is down"), "the message");
      // the same main comes back on the same ports
      const again = await startMain(
        restartable.schema,
        {
          HTTP_PORT: String(restartable.handle.port),
          UDP_PORT: String(restartable.handle.rendezvous.address.port),
          RELAY_PORT: String(restartable.handle.relay!.address.port),
        },
        { dropFirst: false, seed: seedFromEnv(seedOf) },
      );
      await sleep(800);
      expect(linkUp(a, "rs-b") && linkUp(b, "rs-a")).toBe(true);
      expect(downs()).toBe(0);
      await eventually(() => Date.now() - a.handle.node.mainAnsweredAt < 500, "main answering again");
      await dropMain(again);
    } finally {
      await a.stop();
      await b.stop();
    }
  });
});

describe("link ends as several replicas", () => {
  it("one replica keeps the link; when it stops, another takes it over", async () => {
    const a1 = await startTestLinkEnd(main, "lr-a");
    const a2 = await startTestLinkEnd(main, "lr-a", { seed: a1.seed });
    const b = await startTestLinkEnd(main, "lr-b");
    ends.push(a1, a2, b);
    await main.operator("PUT", "/v1/policy/lr-a/lr-b");
    await waitFor(() => linkUp(b, "lr-a") && (linkUp(a1, "lr-b") || linkUp(a2, "lr-b")), "the link");
    await sleep(500);
    // exactly one of the two keeps it
    expect([linkUp(a1, "lr-b"), linkUp(a2, "lr-b")].filter(Boolean)).toHaveLength(1);
    const [active, standby] = linkUp(a1, "lr-b") ? [a1, a2] : [a2, a1];
    await active.stop();
    await waitFor(
      () => linkUp(standby, "lr-b") && linkUp(b, "lr-a"),
      "the link through the other replica",
      10_000,
    );
  });
});

describe("main as several replicas", () => {
  it("two replicas on one database broker a link between clusters that each talk to one of them", async () => {
    const seed = seedFromEnv(main.env);
    const other = await startMain(main.schema, {}, { dropFirst: false, seed });
    try {
      const a = await startTestLinkEnd(main, "rep2-a");
      const b = await startTestLinkEnd(other, "rep2-b");
      ends.push(a, b);
      expect((await other.operator("PUT", "/v1/policy/rep2-a/rep2-b")).status).toBe(204);
      await waitForLink(a, b);
      // each replica sees the whole directory
      const seenByOther = (await other.operator("GET", "/v1/clusters/rep2-a")).body;
      expect(seenByOther.instances[0].observed).toBe(a.handle.udpAddress.key);
    } finally {
      await other.stop(); // the database is the first replica's, dropped with it
    }
  });
});

function seedFromEnv(env: Record<string, string>): Uint8Array {
  return new Uint8Array(Buffer.from(readFileSync(env.MAIN_KEY_FILE!, "utf8"), "hex"));
}

/**
 * Players over WebSocket, against real services in-process (message director, state server, client agent
 * with WS_PORT, uberdog): login names the agent's WebSocket, the client connects there with its connect
 * token and is the same session as over UDP (hello, interest, updates, eject codes); a forged token, a
 * replayed one (over WebSocket or UDP) and a foreign Origin are refused; `wss://` with the agent's own
 * certificate (self-signed here, made with openssl); the per-address budget holds frames back rather than
 * drop them, and the per-address session limit counts WebSocket sessions.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OverworldClient as Client, ConnectError, login, type OverworldClient } from "@overworld/client";
import { netcode } from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  ClientMessageType,
  decodeAgentMessage,
  EjectCode,
  encodeClientMessage,
  type WireClasses,
} from "@overworld/protocol/client";
import { DEFAULT_NETCODE_PROTOCOL_ID, encodeLoginUserData } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { CLUSTER_VERSION, type Cluster, connectToken, dc, SCHEMA_HASH } from "../client-agent/support.ts";
import { PASSWORD, type PlayerCluster, signUp, startPlayerCluster } from "../support/players.ts";
import { eventually } from "../support/wait.ts";

const PARENT = 7100;
const ZONE = 5;
const ORIGIN = "http://game.example";
const object1 = dc.class("DistributedTestObject1")!;
const setRequired1 = object1.field("setRequired1")!;
const setB1 = object1.field("setB1")!;

let services: PlayerCluster;
let cluster: Cluster;
let url: string;

beforeAll(async () => {
  services = await startPlayerCluster("ws", {
    agentEnv: { TICK_HZ: "50", WS_PORT: "0", WS_ORIGINS: ORIGIN },
  });
  ({ cluster } = services);
  url = cluster.agent.webSocketUrl!;
});

afterAll(async () => {
  await services?.stop();
});

async function connect(token: Uint8Array, options: { schemaHash?: number } = {}): Promise<OverworldClient> {
  const client = await Client.connect({
    token,
    url,
    file: dc,
    version: CLUSTER_VERSION,
    heartbeatMs: 100,
    connectTimeoutMs: 3000,
    ...options,
  });
  services.clients.push(client);
  return client;
}

/** How connecting ended: the client, or the error. */
const attempt = (token: Uint8Array) => connect(token).catch((error: unknown) => error as Error);

async function create(required: number): Promise<number> {
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, required, true);
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: object1.id,
    parentId: PARENT,
    zoneId: ZONE,
    fields: [[setRequired1.id, value]],
  });
  return reply.doId;
}

/** The answer to a WebSocket upgrade: the socket once open, or the HTTP status that refused it. */
function upgrade(target: string, options: WebSocket.ClientOptions): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(target, options);
    socket.once("open", () => resolve(socket));
    socket.once("unexpected-response", (_request, response) => resolve(response.statusCode ?? 0));
    socket.once("error", reject);
  });
}

interface RawSession {
  readonly socket: WebSocket;
  /** The agent messages heard, decoded. */
  readonly heard: AgentMessage[];
}

/**
 * A session over a bare WebSocket (no client library): the connection request made from `token`, then
 * hello; `options` go to the socket (`ca`, `localAddress`).
 */
async function rawSession(
  target: string,
  token: Uint8Array,
  options: WebSocket.ClientOptions = {},
): Promise<RawSession> {
  const socket = await upgrade(target, options);
  if (!(socket instanceof WebSocket)) throw new Error(`upgrade refused with ${socket}`);
  const heard: AgentMessage[] = [];
  socket.on("message", (data: Buffer) => {
    const decoded = decodeAgentMessage(new Uint8Array(data), NO_OBJECTS);
    if (decoded.ok) heard.push(decoded.message);
  });
  const read = netcode.readConnectToken(token);
  if (!read.ok) throw new Error(read.reason);
  const { protocolId, expireTimestamp, nonce, sealedPrivate } = read.value;
  socket.send(netcode.writeConnectionRequest({ protocolId, expireTimestamp, nonce, sealedPrivate }));
  socket.send(
    encodeClientMessage({ type: ClientMessageType.Hello, version: CLUSTER_VERSION, schemaHash: SCHEMA_HASH }),
  );
  return { socket, heard };
}

/** The bare sessions read control messages only: no object is ever in view. */
const NO_OBJECTS: WireClasses = { dc, classOf: () => undefined };

const typesOf = (session: RawSession) => session.heard.map((message) => message.type);

describe("players over WebSocket", () => {
  it("log in, connect to the WebSocket login names, and play as over UDP: interest, objects, updates", async () => {
    const name = `wsalice${process.pid}`;
    await signUp(services.baseUrl, name);
    const answer = await login(services.baseUrl, name, PASSWORD);
    expect(answer.webSockets).toEqual([url]);
    expect(url).toMatch(/^ws:\/\/127\.0\.0\.1:\d+$/);
    const doId = await create(31);
    const client = await connect(answer.connectToken);
    expect(client.connected).toBe(true);
    expect(Math.abs(client.clusterTime() - Date.now())).toBeLessThan(1000);
    await client.addInterest(PARENT, [ZONE]);
    expect(client.objects.get(doId)?.fields.get("setRequired1")).toEqual([31]);
    const values: unknown[] = [];
    client.on("update", ({ object, field, value }) => {
      if (object.doId === doId && field === "setB1") values.push(value);
    });
    await cluster.ss("updates", { groups: [[0, [[doId, setB1.id, new Uint8Array([7])]]]] });
    await eventually(() => values.length > 0, "the update over WebSocket");
    expect(values).toEqual([[7]]);
    expect(client.stats.bytesReceived).toBeGreaterThan(0);
  });

  it("is ejected with the same codes and reasons as over UDP", async () => {
    const doId = await create(32);
    const client = await connect(await signUp(services.baseUrl, `wsbob${process.pid}`));
    await client.addInterest(PARENT, [ZONE]);
    const ejected: { code: number; reason: string }[] = [];
    const disconnected: string[] = [];
    client.on("eject", (event) => ejected.push(event));
    client.on("disconnect", (event) => disconnected.push(event.reason));
    client.sendField(doId, "setB1", [1]); // broadcast, not clsend
    await eventually(() => disconnected.length > 0, "the disconnect after the ejection");
    expect(ejected).toEqual([
      { code: EjectCode.ForbiddenField, reason: expect.stringMatching(/may not be sent/) },
    ]);
    expect(disconnected).toEqual(["ejected"]);

    const refused = await connect(await signUp(services.baseUrl, `wscarol${process.pid}`), {
      schemaHash: 0x1234,
    }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConnectError);
    expect(refused).toMatchObject({
      code: EjectCode.BadSchemaHash,
      reason: expect.stringMatching(/schema hash/),
    });
  });

  it("refuses a forged token: closed with 1008 and the reason, no session", async () => {
    const forged = netcode.generateConnectToken({
      protocolId: DEFAULT_NETCODE_PROTOCOL_ID,
      privateKey: new Uint8Array(netcode.KEY_BYTES).fill(7), // not the agent's key
      clientId: 77n,
      serverAddresses: [cluster.agent.publicAddress],
      expireSeconds: 30,
      timeoutSeconds: 10,
      userData: encodeLoginUserData({ accountId: 777, username: "mallory" }),
    });
    const refused = await attempt(forged);
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as Error).message).toMatch(/\(1008: connect token refused: token_decrypt_failed\)/);
    expect(cluster.agent.clientChannel(777)).toBeUndefined();
  });

  it("refuses a replayed token, over WebSocket and then over UDP", async () => {
    const token = connectToken(cluster.agent);
    const first = await connect(token);
    expect(first.connected).toBe(true);
    const again = await attempt(token);
    expect(again).toBeInstanceOf(ConnectError);
    expect((again as Error).message).toMatch(/1008: connect token refused: token_reused/);
    await first.close();
    // the token was spent over WebSocket: a UDP handshake with it is not answered either
    const overUdp = await Client.connect({
      token,
      file: dc,
      version: CLUSTER_VERSION,
      connectTimeoutMs: 1500,
    }).catch((error: unknown) => error as Error);
    expect(overUdp).toBeInstanceOf(ConnectError);
  });

  it("refuses an upgrade from an Origin not in WS_ORIGINS, and lets the allowed one in", async () => {
    expect(await upgrade(url, { origin: "http://evil.example" })).toBe(403);
    const allowed = await upgrade(url, { origin: ORIGIN });
    expect(allowed).toBeInstanceOf(WebSocket);
    (allowed as WebSocket).close();
  });

  it("serves wss:// with the configured certificate: the same hello over TLS", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ow-wss-"));
    try {
      const cert = join(dir, "cert.pem");
      const key = join(dir, "key.pem");
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "ec",
          "-pkeyopt",
          "ec_paramgen_curve:prime256v1",
          "-nodes",
          "-keyout",
          key,
          "-out",
          cert,
          "-days",
          "1",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=IP:127.0.0.1",
        ],
        { stdio: "ignore" },
      );
      const agent = await cluster.startAgent({
        TICK_HZ: "50",
        WS_PORT: "0",
        WS_TLS_CERT: cert,
        WS_TLS_KEY: key,
      });
      expect(agent.webSocketUrl).toMatch(/^wss:\/\//);
      // a plain client without the certificate is refused by TLS itself
      await expect(upgrade(agent.webSocketUrl!, {})).rejects.toThrow(/self-signed|certificate/);
      const tls = await rawSession(agent.webSocketUrl!, connectToken(agent), { ca: readFileSync(cert) });
      await eventually(() => tls.heard.length > 0, "the hello's answer over TLS");
      expect(typesOf(tls)[0]).toBe(AgentMessageType.HelloResp);
      tls.socket.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("holds frames over the address's budget instead of dropping them: every heartbeat is answered", async () => {
    const agent = await cluster.startAgent({
      TICK_HZ: "50",
      WS_PORT: "0",
      RATE_LIMIT_BURST: "8",
      RATE_LIMIT_PER_SECOND: "40",
      RATE_LIMIT_SESSION_BURST: "0",
      RATE_LIMIT_SESSION_PER_SECOND: "0",
    });
    const session = await rawSession(agent.webSocketUrl!, connectToken(agent), { localAddress: "127.0.7.9" });
    await eventually(() => typesOf(session).includes(AgentMessageType.HelloResp), "the hello's answer");
    const heartbeat = encodeClientMessage({ type: ClientMessageType.Heartbeat });
    for (let i = 0; i < 40; i++) session.socket.send(heartbeat);
    const clocks = () => typesOf(session).filter((type) => type === AgentMessageType.Clock).length;
    await eventually(() => clocks() === 40, "40 clock answers", 5000);
    expect(agent.rateLimited).toBeGreaterThan(0); // the budget ran out: frames waited, none was lost
    expect(typesOf(session)).not.toContain(AgentMessageType.Eject);
    session.socket.close();
  });

  it("counts WebSocket sessions in the limits per address: one over MAX_SESSIONS_PER_ADDRESS is refused with 1", async () => {
    const agent = await cluster.startAgent({ TICK_HZ: "50", WS_PORT: "0", MAX_SESSIONS_PER_ADDRESS: "1" });
    const from = { localAddress: "127.0.7.10" };
    const first = await rawSession(agent.webSocketUrl!, connectToken(agent), from);
    await eventually(() => typesOf(first).includes(AgentMessageType.HelloResp), "the first hello's answer");
    const second = await rawSession(agent.webSocketUrl!, connectToken(agent), from);
    await eventually(() => second.heard.length > 0, "the second session's answer");
    expect(second.heard[0]).toMatchObject({
      type: AgentMessageType.Eject,
      code: EjectCode.SessionRefused,
      reason: expect.stringMatching(/too many sessions from this address/),
    });
    first.socket.close();
    second.socket.close();
  });
});

/**
 * Limits that hold, over real UDP against two client agents of one cluster (one Redis, one NATS):
 * - one account logged in twice: the older session is ejected with 100 and the newer plays on, on one
 *   agent and across two;
 * - sessions from one address over MAX_SESSIONS_PER_ADDRESS, counted over both agents, are refused with 1,
 *   while another address still connects, and a session that ends frees its place;
 * - 200 source ports of one address get the one budget of that address, and another address still
 *   connects meanwhile; many players behind one address all connect with the default budget.
 * Each test uses addresses of its own in 127.0.0.0/8 (all of it is loopback on Linux).
 */
import { messages, netcode } from "@overworld/protocol";
import { AgentMessageType, EjectCode } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClientAgentHandle } from "../../services/client-agent/src/main.ts";
import { type Cluster, is, startCluster, TestClient } from "./support.ts";

const PER_ADDRESS = 3;
const HEARTBEAT_EVERY_MS = 200;
/** The flood test's budget for an address: small, so that 200 ports overrun it many times over. */
const FLOOD_BURST = 50;
const FLOOD_PER_SECOND = 10;

let cluster: Cluster;
let second: ClientAgentHandle;
const clients: TestClient[] = [];

/** A client past its hello, heartbeating; closed at the end. */
async function player(agent: ClientAgentHandle, host: string, accountId?: number): Promise<TestClient> {
  const client = await TestClient.helloed(agent, { host, ...(accountId === undefined ? {} : { accountId }) });
  client.heartbeatEvery(HEARTBEAT_EVERY_MS);
  clients.push(client);
  return client;
}

/** A client whose hello is not answered: the agent ejects it before. */
async function refused(agent: ClientAgentHandle, host: string) {
  const client = await TestClient.connect(agent, { host });
  clients.push(client);
  client.hello();
  const eject = await client.ejection();
  expect(client.received.some(is(AgentMessageType.HelloResp))).toBe(false);
  return eject;
}

/** The client is still served: a heartbeat is answered with a CLOCK. */
async function plays(client: TestClient): Promise<void> {
  expect(client.connected).toBe(true);
  const clocks = () => client.received.filter(is(AgentMessageType.Clock)).length;
  const before = clocks();
  await client.until(() => clocks() > before, "a CLOCK answering a heartbeat");
}

beforeAll(async () => {
  cluster = await startCluster("limits", { MAX_SESSIONS_PER_ADDRESS: String(PER_ADDRESS), TICK_HZ: "50" });
  second = await cluster.startAgent();
});

afterAll(async () => {
  for (const client of clients) await client.close();
  await cluster?.stop();
});

describe("sessions per account", () => {
  it("ends the older session with 100 when the account logs in again on the same agent", async () => {
    const first = await player(cluster.agent, "127.0.2.1");
    const again = await player(cluster.agent, "127.0.2.2", first.accountId);
    const eject = await first.ejection();
    expect(eject.code).toBe(EjectCode.LoggedInElsewhere);
    expect(eject.reason).toMatch(/logged in elsewhere/);
    await plays(again);
  });

  it("ends the older session with 100 when the account logs in on another agent", async () => {
    const first = await player(cluster.agent, "127.0.2.3");
    const other = await player(second, "127.0.2.4"); // another account plays on untouched
    const again = await player(second, "127.0.2.3", first.accountId);
    expect((await first.ejection()).code).toBe(EjectCode.LoggedInElsewhere);
    await plays(again);
    await plays(other);
    // and back: the newest session always wins, wherever the older one is
    const third = await player(cluster.agent, "127.0.2.5", first.accountId);
    expect((await again.ejection()).code).toBe(EjectCode.LoggedInElsewhere);
    await plays(third);
  });
});

describe("the end-sessions message", () => {
  it("cannot name the session that replaces the others", () => {
    const message = { kind: "end-sessions", accountId: 9, clients: [11, 12], by: 13 } as const;
    expect(messages.endSessions.safeParse(message).success).toBe(true);
    const naming = messages.endSessions.safeParse({ ...message, clients: [11, 13] });
    expect(naming.success).toBe(false);
    expect(naming.error?.issues[0]?.message).toMatch(/must not name the session that replaces them/);
  });
});

describe("sessions per address", () => {
  it("refuses sessions over the limit, counted over every agent, and lets other addresses in", async () => {
    const crowded = "127.0.3.1";
    const held = [
      await player(cluster.agent, crowded),
      await player(second, crowded),
      await player(cluster.agent, crowded),
    ];
    for (const agent of [cluster.agent, second]) {
      const eject = await refused(agent, crowded);
      expect(eject.code).toBe(EjectCode.SessionRefused);
      expect(eject.reason).toMatch(/too many sessions from this address: it holds 3/);
    }
    await plays(await player(second, "127.0.3.2"));
    for (const client of held) await plays(client);

    // a session that ends frees its place
    await held[1]!.close();
    await plays(await player(second, crowded));
  });
});

describe("datagrams per address", () => {
  it("gives 200 source ports of one address the budget of that address, not 200 budgets", async () => {
    const agent = await cluster.startAgent({
      RATE_LIMIT_BURST: String(FLOOD_BURST),
      RATE_LIMIT_PER_SECOND: String(FLOOD_PER_SECOND),
    });
    const sockets = await Promise.all(
      Array.from({ length: 200 }, () => netcode.openUdpEndpoint({ host: "127.0.4.1", onDatagram: () => {} })),
    );
    const receivedBefore = agent.datagramsReceived;
    const limitedBefore = agent.rateLimited;
    const started = Date.now();
    const junk = new Uint8Array(64).fill(0x11);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < sockets.length; i++) {
        sockets[i]!.send(junk, agent.udpAddress);
        // paced, so that the agent (in this process) reads them before its socket's buffer overflows
        if (i % 20 === 19) await new Promise((resolve) => setTimeout(resolve, 2));
      }
    }
    await TestClient.helloed(agent, { host: "127.0.4.2" }).then((client) => clients.push(client));
    await Promise.all(sockets.map((socket) => socket.close()));
    const seconds = (Date.now() - started) / 1000;
    const flood = agent.datagramsReceived - receivedBefore;
    const passed = flood - (agent.rateLimited - limitedBefore);
    expect(flood).toBeGreaterThan(900); // nearly all of the 1000 arrived
    // the other address's handshake passed too; the flood got one burst and the refill, nothing more
    expect(passed).toBeLessThanOrEqual(FLOOD_BURST + FLOOD_PER_SECOND * seconds + 20);
    expect(passed).toBeGreaterThanOrEqual(FLOOD_BURST);
  });

  it("lets 32 players behind one address connect and play with the default budget", async () => {
    const agent = await cluster.startAgent({}); // the default limits, MAX_SESSIONS_PER_ADDRESS too
    const players = await Promise.all(
      Array.from({ length: 32 }, () => TestClient.helloed(agent, { host: "127.0.5.1" })),
    );
    clients.push(...players);
    for (const client of players) client.heartbeatEvery(HEARTBEAT_EVERY_MS);
    await Promise.all(players.map(plays));
  });
});

/**
 * The client agent over real UDP on 127.0.0.1, joined to a real message director: hello and its answer,
 * every implemented ejection provoked by a misbehaving client while a well-behaved one keeps playing,
 * the heartbeat timeout, and a fuzz of hostile datagrams that is neither answered nor felt by others.
 */
import { netcode } from "@overworld/protocol";
import {
  AgentMessageType,
  ClientMessageType,
  EjectCode,
  encodeClientMessage,
} from "@overworld/protocol/client";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  CLUSTER_VERSION,
  type Cluster,
  connectToken,
  dc,
  is,
  SCHEMA_HASH,
  startCluster,
  TestClient,
} from "./support.ts";

const HEARTBEAT_TIMEOUT_MS = 1500;
const HEARTBEAT_EVERY_MS = 200;

let cluster: Cluster;
let good: TestClient;

const isClock = is(AgentMessageType.Clock);

const helloed = () => TestClient.helloed(cluster.agent);

async function expectGoodClientUnaffected(): Promise<void> {
  expect(good.connected).toBe(true);
  const before = good.received.filter(isClock).length;
  await good.until(() => good.received.filter(isClock).length > before, "a CLOCK answering a heartbeat");
}

beforeAll(async () => {
  cluster = await startCluster("agent", {
    HEARTBEAT_TIMEOUT_MS: String(HEARTBEAT_TIMEOUT_MS),
    TICK_HZ: "50",
  });
  good = await helloed();
  good.heartbeatEvery(HEARTBEAT_EVERY_MS);
});

afterAll(async () => {
  await good?.close();
  await cluster?.stop();
});

describe("client agent", () => {
  it("answers hello with the cluster time", async () => {
    const before = Date.now();
    const client = await TestClient.connect(cluster.agent);
    client.hello();
    const answer = await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
    expect(answer.clusterTime).toBeGreaterThanOrEqual(before - 5);
    expect(answer.clusterTime).toBeLessThanOrEqual(Date.now() + 5);
    client.send({ type: ClientMessageType.Heartbeat });
    const clock = await client.next(isClock, "CLOCK");
    expect(clock).toMatchObject({ type: AgentMessageType.Clock });
    client.send({ type: ClientMessageType.Disconnect });
    await client.until(() => !client.connected, "the agent to close the connection after DISCONNECT");
    await client.close();
  });

  const cases: {
    code: number;
    name: string;
    misbehave: (client: TestClient) => void;
    helloFirst: boolean;
  }[] = [
    {
      code: EjectCode.NoHello,
      name: "first message not hello",
      helloFirst: false,
      misbehave: (c) => c.send({ type: ClientMessageType.Heartbeat }),
    },
    {
      code: EjectCode.OversizedDatagram,
      name: "oversized message",
      helloFirst: true,
      misbehave: (c) => c.sendBytes(new Uint8Array(5000).fill(ClientMessageType.Heartbeat, 0, 1)),
    },
    {
      code: EjectCode.OversizedDatagram,
      name: "bytes after the message",
      helloFirst: true,
      misbehave: (c) => c.sendBytes(new Uint8Array([ClientMessageType.Heartbeat, 0])),
    },
    {
      code: EjectCode.InvalidMessageType,
      name: "bad message type",
      helloFirst: true,
      misbehave: (c) => c.sendBytes(new Uint8Array([AgentMessageType.HelloResp])),
    },
    {
      code: EjectCode.TruncatedDatagram,
      name: "truncated message",
      helloFirst: true,
      misbehave: (c) => c.sendBytes(new Uint8Array([ClientMessageType.SetField, 1, 0])),
    },
    {
      code: EjectCode.NotYetAllowed,
      name: "a second hello",
      helloFirst: true,
      misbehave: (c) => c.hello(),
    },
    {
      code: EjectCode.BadVersion,
      name: "wrong version",
      helloFirst: false,
      misbehave: (c) => c.hello("other-9"),
    },
    {
      code: EjectCode.BadSchemaHash,
      name: "wrong schema hash",
      helloFirst: false,
      misbehave: (c) => c.hello(CLUSTER_VERSION, (SCHEMA_HASH + 1) >>> 0),
    },
    {
      code: EjectCode.MissingObject,
      name: "update to an object it cannot see",
      helloFirst: true,
      misbehave: (c) => {
        const field = dc.class("DistributedClientTestObject")!.field("requestKill")!;
        c.send({
          type: ClientMessageType.SetField,
          doId: 424242,
          fieldId: field.id,
          value: new Uint8Array(0),
        });
      },
    },
    {
      code: EjectCode.MissingObject,
      name: "a request to an object it cannot see (as an update)",
      helloFirst: true,
      misbehave: (c) => {
        const field = dc.class("DistributedClientTestObject")!.field("requestKill")!;
        c.send({
          type: ClientMessageType.Request,
          requestId: 1,
          doId: 424242,
          fieldId: field.id,
          value: new Uint8Array(0),
        });
      },
    },
    {
      code: EjectCode.ForbiddenField,
      name: "a request of a field no class has (as an update)",
      helloFirst: true,
      misbehave: (c) =>
        c.sendBytes(new Uint8Array([ClientMessageType.Request, 1, 0, 0, 0, 1, 0, 0, 0, 0xfe, 0xff])),
    },
    {
      code: EjectCode.ForbiddenField,
      name: "update of a field no class has",
      helloFirst: true,
      misbehave: (c) => c.sendBytes(new Uint8Array([ClientMessageType.SetField, 1, 0, 0, 0, 0xfe, 0xff])),
    },
    {
      code: EjectCode.FieldConstraint,
      name: "value out of its range",
      helloFirst: true,
      misbehave: (c) => {
        const field = dc.class("DistributedClientTestObject")!.field("setColor")!;
        c.send({
          type: ClientMessageType.SetField,
          doId: 1,
          fieldId: field.id,
          value: new Uint8Array([200, 0, 0]),
        });
      },
    },
  ];

  for (const { code, name, misbehave, helloFirst } of cases) {
    it(`ejects with ${code} for ${name}, and the others keep playing`, async () => {
      const client = helloFirst ? await helloed() : await TestClient.connect(cluster.agent);
      misbehave(client);
      const eject = await client.ejection();
      expect(eject.code).toBe(code);
      expect(eject.reason.length).toBeGreaterThan(0);
      await expectGoodClientUnaffected();
    });
  }

  it("ejects with 345 a client that stops sending heartbeats", async () => {
    const client = await helloed();
    const started = Date.now();
    const eject = await client.ejection();
    expect(eject.code).toBe(EjectCode.NoHeartbeat);
    expect(Date.now() - started).toBeGreaterThanOrEqual(HEARTBEAT_TIMEOUT_MS - 100);
    await expectGoodClientUnaffected();
  });

  it("neither answers nor breaks on random, truncated and mutated datagrams", async () => {
    const answers: Uint8Array[] = [];
    const raw = await netcode.openUdpEndpoint({ onDatagram: (bytes) => answers.push(bytes) });
    // a real connection request, to truncate and mutate (never sent intact: it would rightly be answered)
    const probe = new netcode.NetcodeClient();
    const now = Date.now();
    const request = [...probe.connect(connectToken(cluster.agent), now), ...probe.update(now)].find(
      (event) => event.type === "send",
    )!.bytes;
    const hello = encodeClientMessage({
      type: ClientMessageType.Hello,
      version: CLUSTER_VERSION,
      schemaHash: SCHEMA_HASH,
    });
    const samples = [request, hello, new Uint8Array([netcode.PacketType.Payload, 0, 1, 2, 3])];
    const hostile = fc.oneof(
      fc.uint8Array({ minLength: 0, maxLength: 1300 }),
      fc
        .tuple(fc.constantFrom(...samples), fc.nat())
        .map(([bytes, cut]) => bytes.slice(0, cut % bytes.length)),
      fc
        .tuple(
          fc.constantFrom(...samples),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 }),
        )
        .map(([bytes, flips]) => {
          const copy = bytes.slice();
          for (const [at, xor] of flips) copy[at % copy.length]! ^= xor;
          return copy;
        }),
    );
    let sent = 0;
    fc.assert(
      fc.property(hostile, (bytes) => {
        raw.send(bytes, cluster.agent.udpAddress);
        sent += 1;
      }),
      { numRuns: 300 },
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(sent).toBe(300);
    expect(answers).toEqual([]);
    // control: the intact request is answered (a challenge), so the silence above means something
    raw.send(request, cluster.agent.udpAddress);
    await vi.waitFor(() => expect(answers.length).toBeGreaterThan(0), { timeout: 2000 });
    await raw.close();
    await expectGoodClientUnaffected();
    // the agent still accepts new clients
    const fresh = await helloed();
    await fresh.close();
  });
});

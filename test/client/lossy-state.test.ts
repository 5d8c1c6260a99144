/**
 * State on the unreliable channel, through a link that loses 20% of the datagrams each way (a real UDP
 * relay between @overworld/client and a real client agent, state server and director): stored fields
 * (ram) converge on the last value set and never go back to an older one on the way, events (non-stored
 * broadcast fields) all arrive, each once, in the order sent, and objects that enter while updates are
 * flowing end with their last values too (their state may overtake their entry). A change that nothing
 * follows arrives though its datagram was lost: the agent sends the newest value again.
 */
import { type ObjectMirror, OverworldClient } from "@overworld/client";
import { netcode } from "@overworld/protocol";
import { DEFAULT_NETCODE_PROTOCOL_ID, encodeLoginUserData } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_VERSION, type Cluster, dc, PRIVATE_KEY, startCluster } from "../client-agent/support.ts";
import { type LossyRelay, startLossyRelay } from "../support/lossy-relay.ts";
import { eventually, sleep } from "../support/wait.ts";

const PARENT = 7100;
const ZONE = 5;
const LOSS = 0.2;
const ROUNDS = 150;
const LATECOMERS = 5;
/** Single changes each left alone: without repair, one in five would be lost for good. */
const SINGLE_CHANGES = 20;

const object1 = dc.class("DistributedTestObject1")!;
const setRequired1 = object1.field("setRequired1")!;
const setBRA1 = object1.field("setBRA1")!; // broadcast ram: state
const setB1 = object1.field("setB1")!; // broadcast: an event

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};

let cluster: Cluster;
let relay: LossyRelay;
let client: OverworldClient;

async function create(): Promise<number> {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: object1.id,
    parentId: PARENT,
    zoneId: ZONE,
    fields: [[setRequired1.id, u32(1)]],
  });
  return reply.doId;
}

beforeAll(async () => {
  cluster = await startCluster("lossy", { TICK_HZ: "30" }, { stateServer: true });
  relay = await startLossyRelay(cluster.agent.publicAddress.key, LOSS, 20261203);
  const token = netcode.generateConnectToken({
    protocolId: DEFAULT_NETCODE_PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    clientId: BigInt(Date.now()),
    // the relay first: the client goes through it; the agent finds its own address in the token
    serverAddresses: [netcode.parseAddress(relay.address), cluster.agent.publicAddress],
    expireSeconds: 30,
    timeoutSeconds: 10,
    userData: encodeLoginUserData({ accountId: 1, username: "lossy" }),
  });
  client = await OverworldClient.connect({ token, file: dc, version: CLUSTER_VERSION, heartbeatMs: 100 });
});

afterAll(async () => {
  await client?.close();
  await relay?.close();
  await cluster?.stop();
});

describe("state over a lossy link", () => {
  it("converges on the newest values, never going back, with every event once and in order", async () => {
    const first = await create();
    await client.addInterest(PARENT, [ZONE]);
    expect(client.objects.has(first)).toBe(true);

    const seen = new Map<number, number[]>(); // setBRA1 values each object went through
    const events: number[] = [];
    const errors: Error[] = [];
    client.on("error", (error) => errors.push(error));
    client.on("update", ({ object, field, value }) => {
      const [number] = value as [number];
      if (field === "setBRA1") seen.set(object.doId, [...(seen.get(object.doId) ?? []), number]);
      if (field === "setB1" && object.doId === first) events.push(number);
    });

    const objects = [first];
    for (let round = 1; round <= ROUNDS; round++) {
      if (round % 25 === 0 && objects.length <= LATECOMERS) objects.push(await create()); // entering meanwhile
      await cluster.ss("updates", {
        groups: [
          [
            0,
            [
              ...objects.map((doId) => [doId, setBRA1.id, u32(round)] as const),
              [first, setB1.id, new Uint8Array([round % 256])],
            ],
          ],
        ],
      });
      await sleep(5);
    }

    const final = (object: ObjectMirror | undefined) =>
      (object?.fields.get("setBRA1") as number[] | undefined)?.[0];
    await eventually(
      () => objects.every((doId) => final(client.objects.get(doId)) === ROUNDS),
      "every object's state to reach the last value",
      15_000,
    );
    await eventually(() => events.length >= ROUNDS, "every event", 15_000);

    expect(events).toEqual(Array.from({ length: ROUNDS }, (_, i) => (i + 1) % 256));
    for (const values of seen.values()) {
      for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]!);
    }
    expect(errors).toEqual([]);
    // the link did lose datagrams both ways, and state went on the unreliable channel
    expect(relay.counts.droppedToClient).toBeGreaterThan(0.1 * relay.counts.toClient);
    expect(relay.counts.droppedToServer).toBeGreaterThan(0);
    expect(client.stats.unreliableDelivered).toBeGreaterThan(0);
  });

  it("repairs a lost last value: one change, then quiet, again and again", async () => {
    // nothing newer follows these to make up for a loss: only sending the newest value again does
    const mirror = [...client.objects.values()][0]!;
    for (let change = 1; change <= SINGLE_CHANGES; change++) {
      const value = 10_000 + change;
      await cluster.ss("updates", { groups: [[0, [[mirror.doId, setBRA1.id, u32(value)]]]] });
      await eventually(
        () => (mirror.fields.get("setBRA1") as number[])[0] === value,
        `change ${change} to arrive`,
        10_000,
      );
    }
  });
});

/**
 * Interest over real UDP with a real message director and state server (in-process): objects created
 * in zones through the state server reach a client as ENTER_OBJECT then DONE_INTEREST; broadcast updates
 * come as FIELD_UPDATES (latest value per field within a tick); an object moved away leaves; removing
 * the interest makes every object leave; location subscriptions are shared between clients; a
 * forbidden field (118) and a forbidden interest (115) eject only the client at fault.
 */
import {
  type AgentMessage,
  AgentMessageType,
  ClientMessageType,
  EjectCode,
} from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Cluster, dc, helloedClient, is, startCluster, type TestClient } from "./support.ts";

const PARENT = 5000;
const HEARTBEAT_EVERY_MS = 200;

const object1 = dc.class("DistributedTestObject1")!;
const setRequired1 = object1.field("setRequired1")!;
const setB1 = object1.field("setB1")!;

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};

let cluster: Cluster;
const clients: TestClient[] = [];
const timers: NodeJS.Timeout[] = [];

function player(): Promise<TestClient> {
  return helloedClient(cluster.agent, { clients, timers }, HEARTBEAT_EVERY_MS);
}

async function create(zone: number, required: number): Promise<number> {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: object1.id,
    parentId: PARENT,
    zoneId: zone,
    fields: [[setRequired1.id, u32(required)]],
  });
  return reply.doId;
}

const indexOf = (client: TestClient, test: (m: AgentMessage) => boolean) => client.received.findIndex(test);

beforeAll(async () => {
  cluster = await startCluster("interest", { TICK_HZ: "50", INTEREST_MAX_ZONES: "8" }, { stateServer: true });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const client of clients) await client.close();
  await cluster?.stop();
});

describe("client agent interest", () => {
  it("shows the objects of a zone, their updates and their departures, to each client that asks", async () => {
    const a = await player();
    const b = await player();
    const [first, second, third] = [await create(1, 11), await create(1, 12), await create(2, 13)];

    a.send({
      type: ClientMessageType.AddInterest,
      interestId: 1,
      context: 77,
      parent: PARENT,
      zones: [1, 2],
    });
    const done = await a.next(is(AgentMessageType.DoneInterest), "DONE_INTEREST");
    expect(done).toMatchObject({ interestId: 1, context: 77 });
    const doneAt = indexOf(a, (m) => m === done);
    const entered = a.received.slice(0, doneAt).filter(is(AgentMessageType.EnterObject));
    expect(entered.map((m) => m.doId).sort()).toEqual([first, second, third].sort());
    const enteredFirst = entered.find((m) => m.doId === first)!;
    expect(enteredFirst).toMatchObject({ parent: PARENT, zone: 1, classId: object1.id });
    expect(enteredFirst.fields).toEqual([{ fieldId: setRequired1.id, value: u32(11) }]);

    // B covers zone 1 too: the agent keeps one subscription per zone
    b.send({ type: ClientMessageType.AddInterest, interestId: 9, context: 5, parent: PARENT, zones: [1] });
    await b.next(is(AgentMessageType.DoneInterest), "B's DONE_INTEREST");
    expect(
      b.received
        .filter(is(AgentMessageType.EnterObject))
        .map((m) => m.doId)
        .sort(),
    ).toEqual([first, second].sort());
    expect(cluster.agent.locationSubscriptions).toBe(2);

    // an update batch: within a tick the latest value of a stored (ram) field wins (STATE_UPDATES, on the
    // unreliable channel), events all go in order (FIELD_UPDATES, reliable)
    const setBRA1 = object1.field("setBRA1")!;
    await cluster.ss("updates", {
      groups: [
        [
          0,
          [
            [first, setBRA1.id, u32(8)],
            [first, setB1.id, new Uint8Array([8])],
            [first, setBRA1.id, u32(9)],
            [first, setB1.id, new Uint8Array([9])],
          ],
        ],
      ],
    });
    const updates = await a.next(is(AgentMessageType.FieldUpdates), "FIELD_UPDATES");
    expect(updates.updates).toEqual([
      { doId: first, classId: object1.id, fieldId: setB1.id, value: new Uint8Array([8]) },
      { doId: first, classId: object1.id, fieldId: setB1.id, value: new Uint8Array([9]) },
    ]);
    const state = await a.next(is(AgentMessageType.StateUpdates), "STATE_UPDATES");
    expect(state.updates).toEqual([{ doId: first, classId: object1.id, fieldId: setBRA1.id, value: u32(9) }]);
    const entry = a.received.filter(is(AgentMessageType.EnterObject)).find((m) => m.doId === first)!;
    expect(state.tick).toBeGreaterThanOrEqual(entry.tick); // news to the client, not stale
    await b.next(is(AgentMessageType.FieldUpdates), "B's FIELD_UPDATES");
    await b.next(is(AgentMessageType.StateUpdates), "B's STATE_UPDATES");

    // moved out of A's zones: it leaves A
    await cluster.ss("set-location", { doId: third, parentId: PARENT, zoneId: 3 });
    const left = await a.next(is(AgentMessageType.LeaveObject), "LEAVE_OBJECT of the moved object");
    expect(left.doId).toBe(third);

    // B sends a field that is not clsend: 118 for B, A keeps playing
    b.send({ type: ClientMessageType.SetField, doId: first, fieldId: setB1.id, value: new Uint8Array([1]) });
    const eject = await b.next(is(AgentMessageType.Eject), "EJECT of B");
    expect(eject.code).toBe(EjectCode.ForbiddenField);
    await b.until(() => !b.connected, "B disconnected");
    await cluster.ss("updates", { groups: [[0, [[second, setB1.id, new Uint8Array([4])]]]] });
    await a.until(
      () =>
        a.received
          .filter(is(AgentMessageType.FieldUpdates))
          .some((m) => m.updates.some((u) => u.doId === second && u.value[0] === 4)),
      "A to see the update after B's ejection",
    );

    // removing the interest: every object leaves, the subscriptions go
    const leftBefore = a.received.filter(is(AgentMessageType.LeaveObject)).length;
    a.send({ type: ClientMessageType.RemoveInterest, interestId: 1, context: 78 });
    await a.until(
      () => a.received.some((m) => m.type === AgentMessageType.DoneInterest && m.context === 78),
      "DONE_INTEREST of the removal",
    );
    const leaves = a.received.filter(is(AgentMessageType.LeaveObject)).slice(leftBefore);
    expect(leaves.map((m) => m.doId).sort()).toEqual([first, second].sort());
    await a.until(() => cluster.agent.locationSubscriptions === 0, "no location subscription left");
    expect(a.connected).toBe(true);
  });

  it("ejects with 115 an interest in parent 0 or in too many zones", async () => {
    for (const [parent, zones] of [
      [0, [1]],
      [PARENT, [1, 2, 3, 4, 5, 6, 7, 8, 9]],
    ] as const) {
      const c = await player();
      c.send({ type: ClientMessageType.AddInterest, interestId: 1, context: 1, parent, zones: [...zones] });
      const eject = await c.next(is(AgentMessageType.Eject), "EJECT");
      expect(eject.code).toBe(EjectCode.ForbiddenInterest);
    }
  });
});

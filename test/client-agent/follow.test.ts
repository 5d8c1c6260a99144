/**
 * Interest that follows the avatar, over real UDP with a real director and state server: a client asks
 * once to see its avatar's zone and the zones around it on a 4x4 grid, and as the avatar moves across
 * zones (game logic moves it), the client agent moves the interest itself: the objects of zones coming
 * into range enter, those going out of range leave, and the client asks nothing. Following an object the
 * client does not own is refused (115).
 */
import {
  AgentMessageType,
  ClientMessageType,
  EjectCode,
  gridNeighbourhood,
} from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Cluster,
  dc,
  helloedClient,
  is,
  participantChannel,
  startCluster,
  type TestClient,
} from "./support.ts";

const PARENT = 6200;
const GRID = { width: 4, height: 4 };
const HEARTBEAT_EVERY_MS = 200;
const avatarClass = dc.class("DistributedClientTestObject")!;
const object1 = dc.class("DistributedTestObject1")!;

let cluster: Cluster;
const clients: TestClient[] = [];
const timers: NodeJS.Timeout[] = [];

async function player(): Promise<{ client: TestClient; channel: number }> {
  const client = await helloedClient(cluster.agent, { clients, timers }, HEARTBEAT_EVERY_MS);
  return { client, channel: await participantChannel(cluster.agent, client) };
}

async function create(classId: number, zone: number, fields: [number, Uint8Array][], owner?: number) {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId,
    parentId: PARENT,
    zoneId: zone,
    fields,
    ...(owner === undefined ? {} : { owner }),
  });
  return reply.doId;
}

const marker = (zone: number) =>
  create(object1.id, zone, [[object1.field("setRequired1")!.id, Uint8Array.from([zone, 0, 0, 0])]]);

beforeAll(async () => {
  cluster = await startCluster("follow", { TICK_HZ: "50", INTEREST_MAX_ZONES: "9" }, { stateServer: true });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const client of clients) await client.close();
  await cluster?.stop();
});

describe("an interest that follows the avatar", () => {
  it("moves with the avatar across zones, without the client asking", async () => {
    const { client, channel } = await player();
    // one marker object in every zone of the grid
    const markers = new Map<number, number>();
    for (let zone = 1; zone <= GRID.width * GRID.height; zone++) markers.set(zone, await marker(zone));
    const avatar = await create(
      avatarClass.id,
      1,
      [
        [avatarClass.field("setName")!.id, Uint8Array.from([1, 0, 0x61])],
        [avatarClass.field("setColor")!.id, Uint8Array.from([1, 2, 3])],
      ],
      channel,
    );
    await client.next(
      (m) => m.type === AgentMessageType.EnterOwnedObject && m.doId === avatar,
      "ENTER_OWNED",
    );

    client.send({
      type: ClientMessageType.FollowInterest,
      interestId: 1,
      context: 77,
      doId: avatar,
      ...GRID,
      radius: 1,
    });
    await client.next((m) => m.type === AgentMessageType.DoneInterest && m.context === 77, "DONE_INTEREST");
    const seen = () =>
      new Set(
        client.received
          .filter((m) => m.type === AgentMessageType.EnterObject)
          .map((m) => (m as { doId: number }).doId),
      );
    const markersOf = (zones: number[]) => new Set(zones.map((zone) => markers.get(zone)!));
    // zone 1 is a corner: it and its three neighbours
    expect(seen()).toEqual(markersOf(gridNeighbourhood(GRID, 1, 1)));

    // game logic moves the avatar to the far corner: the interest follows, nothing asked
    const asked = () => client.sent.filter((m) => m.type !== ClientMessageType.Heartbeat).length;
    const askedBefore = asked();
    client.received.length = 0;
    await cluster.ss("set-location", { doId: avatar, parentId: PARENT, zoneId: 16 });
    const far = markersOf(gridNeighbourhood(GRID, 16, 1));
    await client.until(() => [...far].every((doId) => seen().has(doId)), "the far corner's objects");
    const left = client.received
      .filter((m) => m.type === AgentMessageType.LeaveObject)
      .map((m) => (m as { doId: number }).doId);
    expect(new Set(left)).toEqual(markersOf(gridNeighbourhood(GRID, 1, 1)));
    expect(asked()).toBe(askedBefore); // the client said nothing (heartbeats aside)
    expect(client.connected).toBe(true);
  });

  it("is refused (115) for an object the client does not own", async () => {
    const { client } = await player();
    const stranger = await marker(6);
    client.send({
      type: ClientMessageType.FollowInterest,
      interestId: 1,
      context: 1,
      doId: stranger,
      ...GRID,
      radius: 1,
    });
    const eject = await client.next(is(AgentMessageType.Eject), "EJECT");
    expect(eject.code).toBe(EjectCode.ForbiddenInterest);
    expect(eject.reason).toMatch(/may not follow object \d+: the client does not own it/);
  });
});

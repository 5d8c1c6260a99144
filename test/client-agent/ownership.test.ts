/**
 * Ownership over real UDP with a real message director and state server (in-process): an object owned by
 * a client's participant channel reaches it with owner-visible fields although no interest covers it; an
 * ownsend field of it may be sent and reaches the state server, a field neither clsend nor ownsend ejects
 * 118; a session object is deleted when its client goes, and its deletion by anyone else ejects the
 * client with 153.
 */
import { AgentMessageType, ClientMessageType, EjectCode } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type Cluster,
  dc,
  helloedClient,
  is,
  type Of,
  participantChannel,
  startCluster,
  type TestClient,
} from "./support.ts";

const PARENT = 6000;
const ZONE = 1;
const HEARTBEAT_EVERY_MS = 200;

const avatarClass = dc.class("DistributedClientTestObject")!;
const setName = avatarClass.field("setName")!;
const setColor = avatarClass.field("setColor")!;

const text = (value: string) => {
  const bytes = new TextEncoder().encode(value);
  return Uint8Array.from([bytes.length & 0xff, bytes.length >> 8, ...bytes]);
};

let cluster: Cluster;
const clients: TestClient[] = [];
const timers: NodeJS.Timeout[] = [];

/** A client past its hello, heartbeating, with its participant channel. */
async function player(): Promise<{ client: TestClient; channel: number }> {
  const client = await helloedClient(cluster.agent, { clients, timers }, HEARTBEAT_EVERY_MS);
  return { client, channel: await participantChannel(cluster.agent, client) };
}

async function createAvatar(owner: number, color: [number, number, number]): Promise<number> {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: avatarClass.id,
    parentId: PARENT,
    zoneId: ZONE,
    owner,
    fields: [
      [setName.id, text("avatar")],
      [setColor.id, Uint8Array.from(color)],
    ],
  });
  return reply.doId;
}

async function colorOf(doId: number): Promise<Uint8Array | undefined> {
  const state = await cluster.ss<{ fields: [number, Uint8Array][] }>("get", {
    doId,
    fieldIds: [setColor.id],
  });
  const found = state.fields.find(([fieldId]) => fieldId === setColor.id);
  return found === undefined ? undefined : Uint8Array.from(found[1]);
}

beforeAll(async () => {
  cluster = await startCluster("ownership", { TICK_HZ: "50" }, { stateServer: true });
});

afterAll(async () => {
  for (const timer of timers) clearInterval(timer);
  for (const client of clients) await client.close();
  await cluster?.stop();
});

describe("client agent ownership", () => {
  it("shows an owned object without interest, takes its ownsend fields and refuses the others", async () => {
    const { client: a, channel } = await player();
    const { client: b } = await player();
    const avatar = await createAvatar(channel, [1, 2, 3]);

    const entered = await a.next(
      (m): m is Of<typeof AgentMessageType.EnterOwnedObject> =>
        m.type === AgentMessageType.EnterOwnedObject && m.doId === avatar,
      "ENTER_OWNED of the owned avatar",
    );
    expect(entered).toMatchObject({ parent: PARENT, zone: ZONE, classId: avatarClass.id });
    expect(entered.fields).toEqual([{ fieldId: setColor.id, value: Uint8Array.from([1, 2, 3]) }]);
    expect(
      b.received.some(
        (m) => m.type === AgentMessageType.EnterObject || m.type === AgentMessageType.EnterOwnedObject,
      ),
    ).toBe(false);

    a.send({
      type: ClientMessageType.SetField,
      doId: avatar,
      fieldId: setColor.id,
      value: Uint8Array.from([4, 5, 6]),
    });
    const deadline = Date.now() + 5000;
    let color = await colorOf(avatar);
    while (color?.[0] !== 4 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      color = await colorOf(avatar);
    }
    expect(color).toEqual(Uint8Array.from([4, 5, 6]));
    expect(a.connected).toBe(true);

    // a field neither clsend nor ownsend ejects even its owner with 118; B plays on
    a.send({ type: ClientMessageType.SetField, doId: avatar, fieldId: setName.id, value: text("thief") });
    const eject = await a.next(is(AgentMessageType.Eject), "EJECT of A");
    expect(eject.code).toBe(EjectCode.ForbiddenField);
    expect(b.connected).toBe(true);
  });

  it("deletes a session object when its client goes", async () => {
    const { client, channel } = await player();
    const avatar = await createAvatar(channel, [7, 7, 7]);
    await cluster.agent.addSessionObject(channel, avatar);
    await client.next(is(AgentMessageType.EnterOwnedObject), "ENTER_OWNED of the session object");
    client.send({ type: ClientMessageType.Disconnect });
    await client.until(() => !client.connected, "the agent to close the connection after DISCONNECT");
    await client.until(
      () => cluster.agent.clientChannel(client.accountId) === undefined,
      "the agent to see the client gone",
    );
    const deadline = Date.now() + 5000;
    let error: unknown;
    while (Date.now() < deadline) {
      error = await cluster.ss("get", { doId: avatar }).then(
        () => undefined,
        (problem: unknown) => problem,
      );
      if (error !== undefined) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(error).toMatchObject({ code: "unknown_object" });
  });

  it("ejects with 153 a client whose session object someone else deleted", async () => {
    const { client, channel } = await player();
    const { client: bystander } = await player();
    const avatar = await createAvatar(channel, [9, 9, 9]);
    await cluster.agent.addSessionObject(channel, avatar);
    await client.next(is(AgentMessageType.EnterOwnedObject), "ENTER_OWNED of the session object");
    await cluster.ss("delete", { doId: avatar });
    const eject = await client.next(is(AgentMessageType.Eject), "EJECT");
    expect(eject.code).toBe(EjectCode.SessionObjectDeleted);
    const leftAt = client.received.findIndex(
      (m) => m.type === AgentMessageType.LeaveObject && m.doId === avatar,
    );
    expect(leftAt).toBeGreaterThanOrEqual(0);
    expect(bystander.connected).toBe(true);
  });
});

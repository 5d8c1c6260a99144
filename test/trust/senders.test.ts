/**
 * Senders that cannot lie, at the state server: two client agents and a zone-AI replica join the cluster
 * with their roles' credentials (a real director mints their own), each client agent takes client
 * channels from the director, and each speaks only as itself. The state server reads who sent a request
 * from its subject and accepts an update for a client's channel only from the agent that holds it.
 */
import { legacyHash, type messages, subjects, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { joinCluster, type Participant, request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StateServerHandle } from "../../services/state-server/src/main.ts";
import {
  CLUSTER_VERSION,
  Client,
  classId,
  dc,
  fieldId,
  namespace,
  type Recorder,
  readable,
  startInProcess,
  value,
} from "../state-server/support.ts";
import { connectAs, joinCredentials } from "../support/nats.ts";
import { NATS_URL } from "../support/services.ts";

const CLIENT_CLASS = "DistributedClientTestObject";
const ns = namespace("senders");
let server: StateServerHandle;
let client: Client;
const joined: Participant[] = [];
let agent1: Participant;
let agent2: Participant;
let zoneAi: Participant;
/** A client of agent 1 and one of agent 2, by channel. */
let alice: number;
let bob: number;
let avatar: number;
const ZONE_AI_CHANNEL = ZONE_CHANNEL_BASE + 77;
const WORLD = 4_400_000;

async function join(role: "client-agent" | "zone-ai", instanceId: string): Promise<Participant> {
  const participant = await joinCluster({
    natsUrl: NATS_URL,
    credentials: joinCredentials(role),
    role,
    instanceId,
    version: CLUSTER_VERSION,
    schemaHash: legacyHash(dc),
    root: ns.subjects.root,
  });
  joined.push(participant);
  return participant;
}

/** alice's avatar as the tests left it: its name and color. */
async function avatarState() {
  const state = await client.get(avatar, [
    fieldId(CLIENT_CLASS, "setName"),
    fieldId(CLIENT_CLASS, "setColor"),
  ]);
  return readable(state.fields);
}

beforeAll(async () => {
  server = await startInProcess(ns);
  client = await Client.connect(ns);
  agent1 = await join("client-agent", "agent-1");
  agent2 = await join("client-agent", "agent-2");
  zoneAi = await join("zone-ai", "ai-1");
  alice = await agent1.nextChannel();
  bob = await agent2.nextChannel();
  avatar = await client.create(
    CLIENT_CLASS,
    WORLD,
    1,
    [value(CLIENT_CLASS, "setName", ["alice"]), value(CLIENT_CLASS, "setColor", [1, 2, 3])],
    { owner: alice, ai: ZONE_AI_CHANNEL },
  );
});

afterAll(async () => {
  for (const participant of joined) await participant.leave();
  await server?.stop();
  await client?.cleanUp();
});

const updates = (agent: Participant, groups: messages.UpdateBatch["groups"]) =>
  agent.request("ss", "updates", {
    groups,
  });

describe("a client agent", () => {
  it("sends its clients' updates: game logic and the owner hear which client sent each, the sender is not echoed", async () => {
    const ai: Recorder = await client.channel(ZONE_AI_CHANNEL);
    const owner: Recorder = await client.channel(alice);
    // alice asks her avatar's AI for something (clsend airecv)
    const asked = await updates(agent1, [[alice, [[avatar, ...value(CLIENT_CLASS, "requestKill", [])]]]]);
    expect(asked).toMatchObject({ applied: 1, refused: [] });
    expect((await ai.nextOf("update")).updates).toEqual([
      [avatar, fieldId(CLIENT_CLASS, "requestKill"), expect.anything(), alice],
    ]);
    // bob sends a message to alice's avatar (clsend ownrecv): alice hears it came from bob
    await updates(agent2, [[bob, [[avatar, ...value(CLIENT_CLASS, "sendMessage", ["hi alice"])]]]]);
    expect((await owner.nextOf("update")).updates).toEqual([
      [avatar, fieldId(CLIENT_CLASS, "sendMessage"), expect.anything(), bob],
    ]);
    // alice's own message to her avatar is not sent back to her
    await updates(agent1, [[alice, [[avatar, ...value(CLIENT_CLASS, "sendMessage", ["note to self"])]]]]);
    await updates(agent1, [[alice, [[avatar, ...value(CLIENT_CLASS, "setColor", [4, 5, 6])]]]]);
    expect(await owner.drain()).toEqual([]);
    ai.stop();
    owner.stop();
  });

  it("may not send for another agent's client: agent 2 publishing for agent 1's client is refused", async () => {
    await expect(
      updates(agent2, [[alice, [[avatar, ...value(CLIENT_CLASS, "setColor", [9, 9, 9])]]]]),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(
        /may not act for channel \d+: it is not one of this client agent's clients/,
      ),
    });
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setColor"), [4, 5, 6]]);
  });

  it("may not send updates as itself, nor fields no client may send", async () => {
    await expect(
      updates(agent1, [[0, [[avatar, ...value(CLIENT_CLASS, "setColor", [7, 7, 7])]]]]),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/every group must name the client/),
    });
    // setName is required broadcast db: neither clsend nor ownsend
    const renamed = await updates(agent1, [
      [alice, [[avatar, ...value(CLIENT_CLASS, "setName", ["mallory"])]]],
    ]);
    expect(renamed.applied).toBe(0);
    expect(renamed.refused).toEqual([
      expect.objectContaining({
        code: "forbidden",
        message: expect.stringMatching(/neither clsend nor ownsend/),
      }),
    ]);
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setName"), ["alice"]]);
  });

  it("may not publish under another agent's subject: NATS drops it", async () => {
    // agent 2's credentials do not let it speak as agent 1
    const forged = subjects(ns.subjects.root).service("ss", "updates", agent1.identity);
    await expect(
      request(
        agent2.nc,
        forged,
        { groups: [[alice, [[avatar, ...value(CLIENT_CLASS, "setColor", [8, 8, 8])]]]] },
        500,
      ),
    ).rejects.toMatchObject({ code: "unavailable" });
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setColor"), [4, 5, 6]]);
  });

  it("may delete only what its clients own", async () => {
    await expect(agent2.request("ss", "delete", { doId: avatar })).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/may delete only objects its clients own/),
    });
    expect((await client.get(avatar)).doId).toBe(avatar);
    const bobs = await client.create(
      CLIENT_CLASS,
      WORLD,
      1,
      [value(CLIENT_CLASS, "setName", ["bob"]), value(CLIENT_CLASS, "setColor", [0, 0, 0])],
      { owner: bob },
    );
    await agent2.request("ss", "delete", { doId: bobs });
    await expect(client.get(bobs)).rejects.toMatchObject({ code: "unknown_object" });
  });

  it("may not set fields at all, nor act for someone with `as`", async () => {
    // ss.set is not a client agent's: NATS does not let it ask
    await expect(
      request(
        agent1.nc,
        agent1.subject("ss", "set"),
        { doId: avatar, fields: [value(CLIENT_CLASS, "setName", ["x"])] },
        500,
      ),
    ).rejects.toMatchObject({ code: "unavailable" });
    await expect(agent2.request("ss", "delete", { as: alice, doId: avatar })).rejects.toMatchObject({
      code: "forbidden",
    });
  });
});

describe("a zone-AI replica", () => {
  it("acts for a zone, never for a client", async () => {
    await zoneAi.request("ss", "set", {
      as: ZONE_AI_CHANNEL,
      doId: avatar,
      fields: [value(CLIENT_CLASS, "setColor", [10, 10, 10])],
    });
    await expect(
      zoneAi.request("ss", "set", {
        as: alice,
        doId: avatar,
        fields: [value(CLIENT_CLASS, "setColor", [11, 11, 11])],
      }),
    ).rejects.toMatchObject({ code: "forbidden", message: expect.stringMatching(/not a zone channel/) });
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setColor"), [10, 10, 10]]);
  });
});

describe("a role that acts only for itself", () => {
  it("is refused any `as`", async () => {
    const uberdog = await connectAs({ role: "uberdog", channel: 3_333_333 }, ns.subjects.root);
    try {
      const subject = subjects(ns.subjects.root).service("db", "set", {
        role: "uberdog",
        channel: 3_333_333,
      });
      await expect(
        request(uberdog, subject, {
          as: alice,
          doId: avatar,
          fields: [value(CLIENT_CLASS, "setName", ["x"])],
        }),
      ).rejects.toMatchObject({
        code: "forbidden",
        message: expect.stringMatching(/a uberdog acts only for itself/),
      });
    } finally {
      await uberdog.close();
    }
    expect(classId(CLIENT_CLASS)).toBeGreaterThan(0);
  });
});

describe("a client agent's numbered batches", () => {
  it("are applied once: one sent again after it was applied is answered as a duplicate", async () => {
    const batch = (color: number[], seq: number, resent?: true) => ({
      groups: [
        [alice, [[avatar, ...value(CLIENT_CLASS, "setColor", color)]]],
      ] as messages.UpdateBatch["groups"],
      seq,
      ...(resent ? { resent } : {}),
    });
    expect(await agent1.request("ss", "updates", batch([20, 20, 20], 1))).toMatchObject({ applied: 1 });
    expect(await agent1.request("ss", "updates", batch([21, 21, 21], 1, true))).toMatchObject({
      applied: 0,
      duplicate: true,
    });
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setColor"), [20, 20, 20]]);
    // sent again before it was ever applied (the first try reached no state server): applied now
    expect(await agent1.request("ss", "updates", batch([22, 22, 22], 2, true))).toMatchObject({ applied: 1 });
    expect(await avatarState()).toContainEqual([fieldId(CLIENT_CLASS, "setColor"), [22, 22, 22]]);
  });
});

describe("a client agent's calls of methods (ss.request)", () => {
  const call = (agent: Participant, as: number, field: string) =>
    agent.request("ss", "request", {
      as,
      requestId: 1,
      doId: avatar,
      ...(([fieldId, args]) => ({ fieldId, args }))(value(CLIENT_CLASS, field, [])),
    });

  it("may not call for another agent's client, nor as itself, nor a field that is no method", async () => {
    const ai: Recorder = await client.channel(ZONE_AI_CHANNEL);
    await expect(call(agent2, alice, "requestKill")).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/it is not one of this client agent's clients/),
    });
    await expect(call(agent1, agent1.channel, "requestKill")).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/every group must name the client/),
    });
    // requestKill is clsend airecv, but not a method (no keyword request): nothing reaches the AI
    await expect(call(agent1, alice, "requestKill")).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/requestKill is not a method/),
    });
    expect(await ai.drain()).toEqual([]);
    ai.stop();
  });
});

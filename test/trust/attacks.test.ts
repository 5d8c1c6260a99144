/**
 * The attacks found against a running cluster, each now failing to do harm, with every service real
 * (director, state server, client agent, uberdog, in-process, on the NATS with credentials) and two
 * players in one zone of the demo world's classes:
 * - a plain NATS client without credentials is not let in at all;
 * - an attacker holding the client agents' join credentials (a rogue agent of its own) can neither
 *   rename nor hurt nor delete another player's avatar, nor make them say anything, nor eject them;
 * - nor can it take over the running agent by joining with its instance id: the join is refused and
 *   the agent's players play on;
 * - a participant the director declares dead by mistake (a goodbye in its name) joins again by itself,
 *   says so in its log, and its /healthz comes back.
 */
import { encodeEnvelope, loadDcFiles, type messages, packField, subjects } from "@overworld/protocol";
import { connectBus, joinCluster, type Participant, request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectOperator, joinCredentials } from "../support/nats.ts";
import { aliceAndBob, type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { NATS_URL } from "../support/services.ts";
import { eventually, waitFor } from "../support/wait.ts";

const dc = loadDcFiles([DEMO_DC]);
const avatarClass = dc.class("DistributedAvatar")!;
const field = (name: string) => avatarClass.field(name)!;
const WORLD = 9200;
const ZONE = 3;
const AGENT_INSTANCE = `agent-under-attack-${process.pid}`;
/** Long enough for anything that got through to show. */
const SETTLE_MS = 500;

let services: PlayerCluster;
let cluster: Cluster;
let alice: Player;
let bob: Player;
let rogue: Participant;

const settle = () => new Promise((resolve) => setTimeout(resolve, SETTLE_MS));

async function healthz(): Promise<number> {
  return (await fetch(`http://127.0.0.1:${cluster.agent.httpPort}/healthz`)).status;
}

beforeAll(async () => {
  services = await startPlayerCluster("attacks", {
    agentEnv: { TICK_HZ: "50", INSTANCE_ID: AGENT_INSTANCE },
    dcFiles: [DEMO_DC],
  });
  ({ cluster } = services);
  ({ alice, bob } = await aliceAndBob(services, {
    file: dc,
    version: CLUSTER_VERSION,
    world: WORLD,
    zone: ZONE,
  }));
  // an attacker with the client agents' join credentials joins as an agent of its own
  rogue = await joinCluster({
    natsUrl: NATS_URL,
    credentials: joinCredentials("client-agent"),
    role: "client-agent",
    instanceId: "rogue",
    version: CLUSTER_VERSION,
    schemaHash: cluster.agent.schemaHash,
    root: cluster.root,
  });
});

afterAll(async () => {
  await rogue?.leave();
  await services?.stop();
});

describe("an attacker on the cluster's network", () => {
  it("without credentials is not let onto NATS at all", async () => {
    await expect(connectBus(NATS_URL, "attacker")).rejects.toThrow(/refused attacker/);
  });

  it("with an agent's credentials cannot rename, hurt, delete, speak for or eject another player", async () => {
    const aliceSeen = bob.client.objects.get(alice.avatar.doId)!;
    const heardChat: unknown[] = [];
    bob.client.on("update", (event) => {
      if (event.field === "chat") heardChat.push(event.value);
    });
    const names = subjects(cluster.root);
    const client = (await cluster.ss<messages.ObjectState>("get", { doId: alice.avatar.doId })).owner;

    // ss.set with the attacker's own identity: not a client agent's to send (NATS drops it)
    await expect(
      request(
        rogue.nc,
        rogue.subject("ss", "set"),
        {
          doId: alice.avatar.doId,
          fields: [
            [field("setName").id, packField(field("setName"), ["pwned"])],
            [field("hp").id, packField(field("hp"), 0)],
          ],
        },
        500,
      ),
    ).rejects.toMatchObject({ code: "unavailable" });
    // updates "from alice", and updates of fields no client may send
    await expect(
      rogue.request("ss", "updates", {
        groups: [[client, [[alice.avatar.doId, field("say").id, packField(field("say"), ["I quit"])]]]],
      }),
    ).rejects.toMatchObject({ code: "forbidden" });
    const own = await rogue.nextChannel();
    const refused = await rogue.request("ss", "updates", {
      groups: [[own, [[alice.avatar.doId, field("hp").id, packField(field("hp"), 0)]]]],
    });
    expect(refused.applied).toBe(0);
    // delete her avatar; eject her with a made-up code
    await expect(rogue.request("ss", "delete", { doId: alice.avatar.doId })).rejects.toMatchObject({
      code: "forbidden",
    });
    rogue.nc.publish(
      names.participant(client),
      encodeEnvelope({ kind: "eject", sender: rogue.channel, code: 999, reason: "gotcha" }),
    );
    await settle();

    expect(alice.client.connected).toBe(true);
    expect(aliceSeen.fields.get("setName")).toEqual([`alice${process.pid}`]);
    expect(aliceSeen.fields.get("hp")).toBe(100);
    expect(heardChat).toEqual([]);
    const state = await cluster.ss<messages.ObjectState>("get", { doId: alice.avatar.doId });
    expect(state.doId).toBe(alice.avatar.doId);
  });

  it("cannot take the running agent over by joining with its instance id", async () => {
    const before = cluster.agent.channel;
    const impostor = joinCluster({
      natsUrl: NATS_URL,
      credentials: joinCredentials("client-agent"),
      role: "client-agent",
      instanceId: AGENT_INSTANCE,
      version: CLUSTER_VERSION,
      schemaHash: cluster.agent.schemaHash,
      root: cluster.root,
      timeoutMs: 500,
    });
    const outcome = await Promise.race([
      impostor.then(() => "joined"),
      new Promise((resolve) => setTimeout(() => resolve("still refused"), 3000)),
    ]);
    expect(outcome).toBe("still refused");
    expect(cluster.agent.channel).toBe(before);
    expect(alice.client.connected).toBe(true);
    expect(bob.client.connected).toBe(true);
    expect((await cluster.ss<messages.ObjectState>("get", { doId: alice.avatar.doId })).doId).toBe(
      alice.avatar.doId,
    );
    expect(await healthz()).toBe(200);
    impostor.catch(() => undefined); // gives up at its connect timeout; the agent's registration stands
  });
});

describe("a participant declared dead by mistake", () => {
  it("joins again by itself under a new channel, and its /healthz comes back", async () => {
    const before = cluster.agent.channel;
    const operator = await connectOperator("attacks: the mistaken death");
    try {
      // the director forgets the agent, as if it had missed its heartbeats
      await request(
        operator,
        subjects(cluster.root).service("md", "goodbye", { role: "client-agent", channel: before }),
        {},
      );
    } finally {
      await operator.close();
    }
    await eventually(() => cluster.agent.channel !== before, "the agent to join again");
    await waitFor(async () => (await healthz()) === 200, "the agent's /healthz to come back");
    // its old clients were told to connect again (their channels were the old registration's)
    await eventually(() => !alice.client.connected && !bob.client.connected, "the players to be told");
  });
});

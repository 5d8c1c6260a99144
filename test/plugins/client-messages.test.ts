/**
 * Plugin messages on the client-server edge: a client's plugin and the zone-AI plugin of the same name
 * talk through the client agent. The zone plugin hears who sent (the client's channel and account, as the
 * agent vouches for them) and answers that client, or every client running the plugin. The agent passes
 * on only what the client's plugin set allows, within the size limit and its rate, and answers anything
 * else with PLUGIN_ERROR while the session goes on; a forged sender is refused.
 */
import { OverworldClient } from "@overworld/client";
import { legacyHash, messages, subjects } from "@overworld/protocol";
import {
  AgentMessageType,
  ClientMessageType,
  HELLO_FEATURE_PLUGIN_MESSAGES,
  HELLO_FEATURE_PLUGINS,
  MAX_PLUGIN_DATA_BYTES,
  PluginEdge,
  PluginEncoding,
} from "@overworld/protocol/client";
import { request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import type { PluginMessageIn, ZoneAiHandle, ZonePlugin } from "../../services/zone-ai/src/main.ts";
import {
  CLUSTER_VERSION,
  type Cluster,
  connectToken,
  is,
  startCluster,
  TestClient,
} from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectAs } from "../support/nats.ts";
import { eventually } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

const SCHEMA_HASH = legacyHash(demo.file);
/** A package id for a required plugin the test pushes (the agent only passes it on). */
const PACKAGE_ID = "ab".repeat(32);

let cluster: Cluster;
let zoneAi: ZoneAiHandle;
/** What each zone plugin heard, by plugin name. */
const heard = new Map<string, PluginMessageIn[]>();
const clients: OverworldClient[] = [];
const testClients: TestClient[] = [];

/** A zone plugin that records what it hears and, for "echo", answers the sender. */
function listening(name: string, answer = false): ZonePlugin {
  heard.set(name, []);
  return {
    name,
    version: "1.0.0",
    schema: demo,
    zones: async () => [],
    kinds: {},
    messages: {
      async onMessage(message, cluster) {
        heard.get(name)!.push(message);
        if (answer) await cluster.sendPluginMessage(name, message.from, { echo: message.data });
      },
    },
  };
}

async function connect(optionalPlugins: readonly string[], accountId?: number): Promise<OverworldClient> {
  const client = await OverworldClient.connect({
    token: connectToken(cluster.agent, 10, accountId),
    file: demo.file,
    version: CLUSTER_VERSION,
    optionalPlugins,
    heartbeatMs: 200,
  });
  clients.push(client);
  return client;
}

/** A raw wire client that said hello with plugin messages and these optional plugins. */
async function rawClient(optionalPlugins: readonly string[]): Promise<TestClient> {
  const client = await TestClient.connect(cluster.agent, { file: demo.file });
  testClients.push(client);
  client.send({
    type: ClientMessageType.Hello,
    version: CLUSTER_VERSION,
    schemaHash: SCHEMA_HASH,
    features: HELLO_FEATURE_PLUGINS | HELLO_FEATURE_PLUGIN_MESSAGES,
    optionalPlugins,
  });
  await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
  client.heartbeatEvery(200);
  return client;
}

function pluginBytes(client: TestClient, plugin: string, data: Uint8Array): void {
  client.send({
    type: ClientMessageType.PluginMessage,
    edge: PluginEdge.Server,
    plugin,
    encoding: PluginEncoding.Bytes,
    data,
  });
}

const errorsOf = (client: TestClient) => client.received.filter(is(AgentMessageType.PluginError));

beforeAll(async () => {
  cluster = await startCluster(
    "pmsg",
    { PLUGIN_MESSAGE_BURST: "4", PLUGIN_MESSAGE_PER_SECOND: "2" },
    // zone AI starts once a state server answers
    { dcFiles: [DEMO_DC], stateServer: true },
  );
  zoneAi = await startTestZoneAi(cluster, [listening("echo", true), listening("emotes"), listening("other")]);
  // the cluster's required client plugins, as its link end tells the agents
  await request(cluster.bus, subjects(cluster.root).service("ca", "plugins", { role: "admin", channel: 7 }), {
    push: 1,
    required: [{ name: "emotes", version: "1.0.0", id: PACKAGE_ID }],
  });
}, 60_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const client of testClients) await client.close().catch(() => undefined);
  await zoneAi?.stop();
  await cluster?.stop();
});

describe("plugin messages between a client and the cluster's servers", () => {
  it("reach the zone plugin of that name with the client's channel and account, and its answer reaches exactly that client", async () => {
    const alice = await connect(["echo"], 9101);
    const bob = await connect(["echo"], 9102);
    const aliceHeard: unknown[] = [];
    const bobHeard: unknown[] = [];
    alice.plugins.on<{ echo: unknown }>("echo", (data, from) => aliceHeard.push({ data, from }));
    bob.plugins.on("echo", (data) => bobHeard.push(data));

    alice.plugins.send("echo", { wave: "hello" });
    await eventually(() => aliceHeard.length === 1, "alice's answer");
    expect(aliceHeard[0]).toEqual({ data: { echo: { wave: "hello" } }, from: "server" });
    const message = heard.get("echo")![0]!;
    expect(message.from).toEqual({
      kind: "client",
      client: cluster.agent.clientChannel(9101),
      accountId: 9101,
    });
    expect(message.data).toEqual({ wave: "hello" });

    // bytes go as bytes
    alice.plugins.send("echo", new Uint8Array([1, 2, 3]));
    await eventually(() => aliceHeard.length === 2, "alice's second answer");
    expect(heard.get("echo")![1]!.data).toEqual(new Uint8Array([1, 2, 3]));
    expect(bobHeard).toEqual([]); // the answer went to alice alone
  });

  it("reach a plugin the cluster requires, and every client running it when the servers broadcast", async () => {
    const carol = await connect([], 9103); // runs "emotes" because the cluster requires it
    const dave = await connect(["echo"], 9104);
    await eventually(() => carol.requiredPlugins.push === 1, "carol told the required plugins");
    const carolHeard: unknown[] = [];
    const daveHeard: unknown[] = [];
    const carolEchoes: unknown[] = [];
    const daveEchoes: unknown[] = [];
    carol.plugins.on("emotes", (data) => carolHeard.push(data));
    dave.plugins.on("emotes", (data) => daveHeard.push(data));
    carol.plugins.on("echo", (data) => carolEchoes.push(data));
    dave.plugins.on("echo", (data) => daveEchoes.push(data));
    carol.plugins.send("emotes", { emote: "dance" });
    await eventually(() => heard.get("emotes")!.length === 1, "the emote at the servers");
    expect(heard.get("emotes")![0]!.from).toMatchObject({ kind: "client", accountId: 9103 });

    // every client runs the required "emotes"
    await zoneAi.replica.cluster.sendPluginMessage("emotes", { kind: "clients" }, { emote: "everyone" });
    await eventually(() => carolHeard.length === 1 && daveHeard.length === 1, "the broadcast at both");
    expect(carolHeard[0]).toEqual({ emote: "everyone" });
    // only dave runs "echo": a broadcast of it reaches him, never carol
    await zoneAi.replica.cluster.sendPluginMessage("echo", { kind: "clients" }, "ping");
    await eventually(() => daveEchoes.length === 1, "the echo broadcast at dave");
    expect(daveEchoes[0]).toBe("ping");
    carol.plugins.send("emotes", { emote: "after" }); // what carol sends after it is heard after it
    await eventually(() => heard.get("emotes")!.length === 2, "carol's second emote");
    expect(carolEchoes).toEqual([]);
  });

  it("refuses a plugin outside the client's set, and data over the limit, with PLUGIN_ERROR; the session goes on", async () => {
    const client = await connect(["echo"], 9105);
    const errors: { plugin: string; code: string; message: string }[] = [];
    client.on("plugin-error", (error) => errors.push(error));
    const otherBefore = heard.get("other")!.length;
    client.plugins.send("other", { sneaky: true }); // "other" runs on the servers, but not in this client's set
    await eventually(() => errors.length === 1, "the refusal");
    expect(errors[0]).toMatchObject({ plugin: "other", code: "not_in_set" });
    expect(errors[0]!.message).toMatch(/neither one of the client plugins the cluster requires/);
    expect(heard.get("other")!.length).toBe(otherBefore);

    // the client library refuses oversized data before it goes
    expect(() => client.plugins.send("echo", new Uint8Array(MAX_PLUGIN_DATA_BYTES + 1))).toThrow(RangeError);

    // on the wire: the agent refuses it, naming the limit, and the session is otherwise untouched
    const raw = await rawClient(["echo"]);
    const echoBefore = heard.get("echo")!.length;
    pluginBytes(raw, "echo", new Uint8Array(3000));
    await raw.until(() => errorsOf(raw).length === 1, "PLUGIN_ERROR too_large");
    expect(errorsOf(raw)[0]).toMatchObject({ plugin: "echo", code: "too_large", edge: PluginEdge.Server });
    expect(errorsOf(raw)[0]!.message).toContain(`at most ${MAX_PLUGIN_DATA_BYTES} bytes`);
    pluginBytes(raw, "echo", new Uint8Array([42]));
    await eventually(() => heard.get("echo")!.length === echoBefore + 1, "the next message at the servers");
    expect(heard.get("echo")![echoBefore]!.data).toEqual(new Uint8Array([42]));
    await raw.until(() => raw.received.some(is(AgentMessageType.PluginMessage)), "the echo's answer");
    expect(raw.connected).toBe(true);
    expect(raw.received.some(is(AgentMessageType.Eject))).toBe(false);
  });

  it("refuses messages over the client's rate, and a plugin no server listens for, without ending the session", async () => {
    const raw = await rawClient(["echo", "nobody-listens"]);
    pluginBytes(raw, "nobody-listens", new Uint8Array([1]));
    await raw.until(
      () => errorsOf(raw).some((error) => error.plugin === "nobody-listens"),
      "PLUGIN_ERROR for a plugin no server runs",
      10_000,
    );
    const refused = errorsOf(raw).find((error) => error.plugin === "nobody-listens")!;
    expect(refused.code).toBe("no_handler");
    expect(refused.message).toContain("no plugin nobody-listens with a message handler");
    const before = heard.get("echo")!.length;
    for (let i = 0; i < 12; i++) pluginBytes(raw, "echo", new Uint8Array([i]));
    await raw.until(
      () => errorsOf(raw).some((error) => error.code === "rate_limited"),
      "PLUGIN_ERROR rate_limited",
    );
    await eventually(() => heard.get("echo")!.length > before, "the messages within the budget");
    const limited = errorsOf(raw).filter((error) => error.code === "rate_limited").length;
    await eventually(() => heard.get("echo")!.length - before === 12 - limited, "every message let through");
    expect(limited).toBeGreaterThanOrEqual(12 - 4 - 2); // a burst of 4 and 2 a second
    expect(heard.get("echo")!.length - before).toBeLessThan(12);

    expect(raw.connected).toBe(true);
  });

  it("counts plugin messages on the agent's /metrics by outcome", async () => {
    const text = await (await fetch(`http://127.0.0.1:${cluster.agent.httpPort}/metrics`)).text();
    const count = (outcome: string) =>
      Number(
        new RegExp(`ow_client_agent_plugin_messages_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)`).exec(
          text,
        )?.[1] ?? 0,
      );
    for (const outcome of ["accepted", "not_in_set", "too_large", "rate_limited", "no_handler"])
      expect(count(outcome), outcome).toBeGreaterThan(0);
    expect(text).toMatch(/ow_client_agent_plugin_deliveries_total\{[^}]*from="server"[^}]*\} [1-9]/);
  });

  it("ejects a client that sends a plugin message without asking for them in its hello (108)", async () => {
    const client = await TestClient.connect(cluster.agent, { file: demo.file });
    testClients.push(client);
    client.send({
      type: ClientMessageType.Hello,
      version: CLUSTER_VERSION,
      schemaHash: SCHEMA_HASH,
      features: HELLO_FEATURE_PLUGINS,
    });
    await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
    pluginBytes(client, "emotes", new Uint8Array([1]));
    const ejection = await client.ejection();
    expect(ejection.code).toBe(108);
    expect(ejection.reason).toContain("HELLO_FEATURE_PLUGIN_MESSAGES");
  });

  it("refuses a sender the cluster does not vouch for: another agent's client, or a client named by a non-agent", async () => {
    const victim = await connect(["echo"], 9106);
    const channel = cluster.agent.clientChannel(9106)!;
    expect(victim).toBeDefined();
    const names = subjects(cluster.root);
    const body = {
      plugin: "echo",
      from: { kind: "client", client: channel, accountId: 9106 },
      encoding: 0,
      data: new Uint8Array([6, 6, 6]),
    };
    // a client agent (its own credentials: the subject names it) speaking for a client it does not hold
    const impostor = { role: "client-agent" as const, channel: 4_000_000_123 };
    const agentBus = await connectAs(impostor, cluster.root);
    try {
      await expect(
        request(agentBus, names.service("game", "plugin-message", impostor), body, 5000),
      ).rejects.toMatchObject({
        code: "forbidden",
        message: expect.stringContaining(`client ${channel} is not a client of the agent`),
      });
    } finally {
      await agentBus.close();
    }
    // an operator (may publish anything, but is not a client agent) naming a client
    const admin = { role: "admin" as const, channel: 4_000_000_124 };
    await expect(
      request(cluster.bus, names.service("game", "plugin-message", admin), body, 5000),
    ).rejects.toMatchObject({ code: "forbidden" });
    // a client agent claiming main as the sender
    const claimsMain = { ...body, from: { kind: "main" } };
    await expect(
      request(
        cluster.bus,
        names.service("game", "plugin-message", { role: "client-agent", channel: cluster.agent.channel }),
        claimsMain,
        5000,
      ),
    ).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("only the link end") });
    expect(heard.get("echo")!.some((message) => (message.data as Uint8Array)?.[0] === 6)).toBe(false);
    expect(messages.GAME_OPS["plugin-message"]).toBeDefined();
  });
});

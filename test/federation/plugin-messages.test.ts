/**
 * Plugin messages across the hierarchy: two clusters linked through main, each with a zone-AI replica
 * running the plugin "trade", and main hosting its own "trade".
 *
 * - server-server: cluster pa's plugin sends to pb's over their federation link; pb's hears it from
 *   `{ kind: "cluster", cluster: "pa" }` (the link's authenticated peer, whatever the message says) and
 *   answers the same way.
 * - server-main: a cluster's plugin sends to main's, which hears the cluster main checked the signature of
 *   and answers; the answer reaches the servers' plugin as from main.
 * - client-main: a client of pa sends to main through its cluster (agent, link end, main) and hears main's
 *   answer; main hears the client's channel and account and its cluster.
 * - main-server, main-client: main's own code sends first, to a cluster's servers or one of its clients;
 *   the cluster's link end takes it from main (signed) and delivers it.
 * - A forged request to main (a key main does not hold for that cluster, a tampered body, a cluster main
 *   does not know) is refused, and main's plugin never hears it.
 */
import { OverworldClient } from "@overworld/client";
import { newSeed, signBody, signingKeyFromSeed } from "@overworld/federation";
import { encodeEnvelope, subjects } from "@overworld/protocol";
import { request } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import type { MainPluginMessage } from "../../services/signaling/src/main.ts";
import type { PluginMessageIn, ZoneAiHandle, ZonePlugin } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster, connectToken, startCluster } from "../client-agent/support.ts";
import { startTestLinkEnd, type TestLinkEnd, waitForLink } from "../link/support.ts";
import { dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { natsEnv } from "../support/nats.ts";
import { eventually } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

interface Side {
  readonly name: string;
  readonly cluster: Cluster;
  readonly zoneAi: ZoneAiHandle;
  readonly link: TestLinkEnd;
  /** What its "trade" plugin heard. */
  readonly heard: PluginMessageIn[];
}

let main: TestMain;
const sides: Side[] = [];
const atMain: MainPluginMessage[] = [];
const clients: OverworldClient[] = [];

/** "trade": records what it hears; answers a linked cluster's offer. */
function trade(heard: PluginMessageIn[]): ZonePlugin {
  return {
    name: "trade",
    version: "1.0.0",
    schema: demo,
    zones: async () => [],
    kinds: {},
    messages: {
      async onMessage(message, cluster) {
        heard.push(message);
        const data = message.data as { offer?: number };
        if (message.from.kind === "cluster" && data.offer !== undefined)
          await cluster.sendPluginMessage("trade", message.from, { accepted: data.offer });
      },
    },
  };
}

async function startSide(name: string): Promise<Side> {
  // zone AI starts once a state server answers
  const cluster = await startCluster(`pm${name}`, {}, { dcFiles: [DEMO_DC], stateServer: true });
  const heard: PluginMessageIn[] = [];
  const zoneAi = await startTestZoneAi(cluster, trade(heard));
  const link = await startTestLinkEnd(main, name, {
    env: {
      ...natsEnv("link"),
      PLUGIN_MESSAGES: "1",
      PLUGIN_MESSAGE_POLL_MS: "200",
      DC_FILES: DEMO_DC,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
    },
  });
  return { name, cluster, zoneAi, link, heard };
}

beforeAll(async () => {
  main = await startMain(
    schemaFor("pluginmsg"),
    { LINK_TIMEOUT_SECONDS: "2" },
    {
      mainPlugins: {
        trade: {
          onMessage(message) {
            atMain.push(message);
            message.reply({ fromMain: message.data, sender: message.from });
          },
        },
      },
    },
  );
  sides.push(await startSide("pa"), await startSide("pb"));
  expect((await main.operator("PUT", "/v1/policy/pa/pb")).status).toBe(204);
  await waitForLink(sides[0]!.link, sides[1]!.link, 20_000);
}, 60_000);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => undefined);
  for (const side of sides) {
    await side.link.stop().catch(() => undefined);
    await side.zoneAi.stop().catch(() => undefined);
    await side.cluster.stop().catch(() => undefined);
  }
  await dropMain(main);
});

describe("plugin messages between clusters and main", () => {
  it("go from a cluster's plugin to a linked cluster's over the link, the sender named by the link", async () => {
    const [a, b] = sides as [Side, Side];
    await a.zoneAi.replica.cluster.sendPluginMessage(
      "trade",
      { kind: "cluster", cluster: "pb" },
      { offer: 3 },
    );
    await eventually(() => b.heard.length === 1, "the offer at pb");
    expect(b.heard[0]).toMatchObject({
      plugin: "trade",
      from: { kind: "cluster", cluster: "pa" },
      data: { offer: 3 },
    });
    await eventually(() => a.heard.length === 1, "pb's answer at pa");
    expect(a.heard[0]).toMatchObject({ from: { kind: "cluster", cluster: "pb" }, data: { accepted: 3 } });

    // a message that names another sender is still from the peer it came over
    a.link.handle.sendTo(
      "pb",
      encodeEnvelope({
        t: "plugin-msg",
        plugin: "trade",
        encoding: 1,
        data: encodeEnvelope({ note: "I am main" }),
        from: { kind: "main" },
        cluster: "somebody-else",
      }),
    );
    await eventually(() => b.heard.length === 2, "the second message at pb");
    expect(b.heard[1]).toMatchObject({
      from: { kind: "cluster", cluster: "pa" },
      data: { note: "I am main" },
    });

    // no link, no message: said at once
    await expect(
      a.zoneAi.replica.cluster.sendPluginMessage(
        "trade",
        { kind: "cluster", cluster: "nowhere" },
        { offer: 1 },
      ),
    ).rejects.toThrow(/no link to cluster nowhere is up/);
    expect(b.link.handle.pluginMessages?.counts.received).toBe(2);

    // the link end takes from each role only what it may say: no client straight over a link, and a
    // zone-AI replica does not speak for a client
    const names = subjects(a.cluster.root);
    const ask = (role: "client-agent" | "zone-ai", body: object) =>
      request(
        a.cluster.bus,
        names.service("lk", "plugin-message", { role, channel: 4_000_000_200 }),
        body,
        5000,
      );
    const base = { plugin: "trade", encoding: 0, data: new Uint8Array([1]) };
    await expect(
      ask("client-agent", {
        ...base,
        to: { kind: "cluster", cluster: "pb" },
        client: { client: 5, accountId: 5 },
      }),
    ).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringContaining("through its own cluster's servers"),
    });
    await expect(
      ask("zone-ai", { ...base, to: { kind: "main" }, client: { client: 5, accountId: 5 } }),
    ).rejects.toMatchObject({ code: "forbidden", message: expect.stringContaining("only a client agent") });
    expect(b.link.handle.pluginMessages?.counts.received).toBe(2);
  });

  it("go from a cluster's plugin to main's and back, main naming the cluster whose key signed them", async () => {
    const [a] = sides as [Side, Side];
    const before = a.heard.length;
    await a.zoneAi.replica.cluster.sendPluginMessage("trade", { kind: "main" }, { report: "tick" });
    expect(atMain.at(-1)).toMatchObject({
      plugin: "trade",
      from: { kind: "cluster", cluster: "pa" },
      data: { report: "tick" },
    });
    await eventually(() => a.heard.length === before + 1, "main's answer at pa's servers");
    expect(a.heard.at(-1)).toMatchObject({
      from: { kind: "main" },
      data: { fromMain: { report: "tick" }, sender: { kind: "cluster", cluster: "pa" } },
    });
  });

  it("go from a client to main through its cluster and back to exactly that client", async () => {
    const [a] = sides as [Side, Side];
    const client = await OverworldClient.connect({
      token: connectToken(a.cluster.agent, 10, 9201),
      file: demo.file,
      version: CLUSTER_VERSION,
      optionalPlugins: ["trade", "absent"],
    });
    clients.push(client);
    const heard: { data: unknown; from: string }[] = [];
    client.plugins.on("trade", (data, from) => heard.push({ data, from }));
    client.plugins.send("trade", { hello: "main" }, { to: "main" });
    await eventually(() => heard.length === 1, "main's answer at the client");
    const channel = a.cluster.agent.clientChannel(9201);
    const sender = { kind: "client", cluster: "pa", client: channel, accountId: 9201 };
    expect(atMain.at(-1)).toMatchObject({ from: sender, data: { hello: "main" } });
    expect(heard[0]).toEqual({ data: { fromMain: { hello: "main" }, sender }, from: "main" });

    // a plugin main does not host: a clear error, the session goes on
    const errors: { code: string; message: string }[] = [];
    client.on("plugin-error", (error) => errors.push(error));
    client.plugins.send("absent", [1], { to: "main" });
    await eventually(() => errors.length === 1, "the refusal");
    expect(errors[0]).toMatchObject({ plugin: "absent", to: "main", code: "no_handler" });
    expect(errors[0]!.message).toContain("main hosts no plugin absent");
    client.plugins.send("trade", "again", { to: "main" });
    await eventually(() => heard.length === 2, "the next answer");

    // main speaks first: to this client, and to the other cluster's servers
    await main.handle.sendPluginMessage({ cluster: "pa", client: channel! }, "trade", { news: "for you" });
    await eventually(() => heard.length === 3, "main's own message at the client");
    expect(heard[2]).toEqual({ data: { news: "for you" }, from: "main" });
    const b = sides[1]!;
    const before = b.heard.length;
    await main.handle.sendPluginMessage({ cluster: "pb" }, "trade", new Uint8Array([9, 9]));
    await eventually(() => b.heard.length === before + 1, "main's own message at pb's servers");
    expect(b.heard.at(-1)).toMatchObject({ from: { kind: "main" }, data: new Uint8Array([9, 9]) });
    await expect(main.handle.sendPluginMessage({ cluster: "pz" }, "trade", 1)).rejects.toThrow(
      /cluster pz is not registered/,
    );
  });

  it("refuses a message to main that a registered cluster's key did not sign, and main's plugin never hears it", async () => {
    const heardBefore = atMain.length;
    const post = async (body: unknown, path = "/v1/plugin-messages") => {
      const response = await fetch(new URL(path, main.url), {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return {
        status: response.status,
        body: (await response.json()) as { error?: string; reason?: string },
      };
    };
    const message = {
      cluster: "pa",
      plugin: "trade",
      encoding: 0,
      data: Buffer.from([1, 2]).toString("base64"),
    };
    const stranger = signingKeyFromSeed(newSeed());
    const forged = await post(signBody(stranger, "plugin-message", message));
    expect(forged).toMatchObject({ status: 401, body: { error: "bad_signature" } });
    const genuine = signBody(signingKeyFromSeed(sides[0]!.link.seed), "plugin-message", message);
    const tampered = await post({ ...genuine, client: { client: 5, accountId: 5 } });
    expect(tampered).toMatchObject({ status: 401, body: { error: "bad_signature" } });
    const unknown = await post(signBody(stranger, "plugin-message", { ...message, cluster: "pz" }));
    expect(unknown).toMatchObject({ status: 401, body: { error: "not_registered" } });
    expect(atMain.length).toBe(heardBefore);
    // nor may a stranger take what main's plugins keep for pa
    await main.handle.sendPluginMessage({ cluster: "pa" }, "trade", { secret: true });
    const taking = await post(
      signBody(stranger, "plugin-pending", { cluster: "pa" }),
      "/v1/plugin-messages/pending",
    );
    expect(taking).toMatchObject({ status: 401, body: { error: "bad_signature" } });
    await eventually(
      () => sides[0]!.heard.some((m) => (m.data as { secret?: boolean }).secret),
      "pa's own copy",
    );
    // the same request signed with pa's key passes: the refusals were the signature's
    const passed = await post(genuine);
    expect(passed.status).toBe(200);
    expect(atMain.length).toBe(heardBefore + 1);
  });
});

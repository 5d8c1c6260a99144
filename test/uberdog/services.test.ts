/**
 * Uberdog's service objects, through a real cluster in-process (director, state server, client agent,
 * uberdog with the demo's services, a zone-AI replica running the demo world): a player calls the demo's
 * directory and gets the typed reply, or a typed error; a method the client may not call ejects it (118);
 * a request retried with the same id after uberdog restarted is answered from its record and runs once;
 * a participant without the right to publish on a client's channel cannot forge a reply; operators call
 * methods through the admin API; a zone calls the service (its reply journaled on the zone's channel);
 * plugin code awaits requests (`Cluster.request`) of a zone's object and
 * of a service.
 */
import { RequestError, RequestTimeoutError } from "@overworld/client";
import {
  decodeEnvelope,
  encodeEnvelope,
  isZoneChannel,
  packField,
  subjects,
  unpackField,
} from "@overworld/protocol";
import type { NatsConnection } from "@overworld/service";
import type { Cluster as PluginCluster, ZonePlugin } from "@overworld/zone-ai/plugin";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoWorld, SHOP_STOCK, shopId } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import { demoServices, directoryId, SERVICES_ZONE } from "../../examples/demo/services.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster, TEST_SENDER } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectAs } from "../support/nats.ts";
import { type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually, sleep } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { dropNamespaceAndJournal } from "../zone-ai/support.ts";
import { call, makeKey, openSchema } from "./admin-support.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const WORLD = 1000;
const SHOP = shopId(WORLD);
const DIRECTORY = directoryId(WORLD);
const ZONE_IDS = [1, 2, 3, 4, 5, 6, 7, 8, 9];
/** Waits allow a busy machine: the suite runs files side by side. */
const WAIT_MS = 20_000;
const { DistributedDirectory, DistributedShop } = demo;

/** The demo's services, counting the runs of `whois` (what "runs once" is about). */
let whoisRuns = 0;
const demoDirectory = demoServices(WORLD);
const services = {
  ...demoDirectory,
  requests: demoDirectory.requests.map((handler) =>
    handler.method === "whois"
      ? {
          ...handler,
          handle: (...args: Parameters<typeof handler.handle>) => {
            whoisRuns += 1;
            return handler.handle(...args);
          },
        }
      : handler,
  ),
};

/** The Cluster the zone-AI replica hands the plugin (for `Cluster.request` from plugin code). */
let pluginCluster: PluginCluster | undefined;
// no dungeon entrance (instances.test.ts has it): a walking avatar is not taken away mid-test
const world = demoWorld({ grid, worldId: WORLD, npcsPerZone: 1, dungeonEntrance: false });
const plugin: ZonePlugin = {
  ...world,
  zones: (cluster) => {
    pluginCluster = cluster;
    return world.zones(cluster);
  },
};

let players: PlayerCluster;
let cluster: Cluster;
let replica: ZoneAiHandle;
let adminToken: string;
const closers: (() => Promise<unknown>)[] = [];

/** A player who sees the map and the directory's zone. */
async function player(name: string) {
  const joined = await players.join(name, {
    file: demo.file,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
    timeoutMs: WAIT_MS,
  });
  await joined.client.addInterest(WORLD, [SERVICES_ZONE, ...ZONE_IDS]);
  await eventually(() => joined.client.objects.has(DIRECTORY), "the directory in view", WAIT_MS);
  return joined;
}

const whois = (client: Awaited<ReturnType<typeof player>>["client"], avatar: number, timeoutMs = WAIT_MS) =>
  client.request(DIRECTORY, "whois", [avatar], { dclass: DistributedDirectory, timeoutMs });

beforeAll(async () => {
  players = await startPlayerCluster("svc", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC], services });
  ({ cluster } = players);
  replica = await startTestZoneAi(cluster, plugin, { LEASE_TTL_MS: "5000", SNAPSHOT_EVERY_MS: "300" });
  await eventually(() => replica.replica.zones.length === ZONE_IDS.length, "every zone running", WAIT_MS);
  const { pool, credentials } = await openSchema(players);
  closers.push(() => pool.end());
  adminToken = await makeKey(credentials, "admin");
});

afterAll(async () => {
  for (const close of closers) await close().catch(() => undefined);
  await replica?.stop();
  await players?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("uberdog's service objects", () => {
  it("answers a player's request with the typed reply: uberdog, not a zone, runs the directory", async () => {
    const { client, avatar } = await player("alice");
    const directory = await cluster.ss<{ ai: number; zoneId: number }>("get", {
      doId: DIRECTORY,
      fieldIds: [],
    });
    expect(directory.zoneId).toBe(SERVICES_ZONE);
    expect(isZoneChannel(directory.ai)).toBe(false); // uberdog's own channel is its AI
    expect(directory.ai).not.toBe(0);
    const [name]: [string] = await whois(client, avatar.doId);
    expect(name).toMatch(/^alice/);
    // typed by a typed mirror
    const mirror = client.objects.get(DIRECTORY)!;
    if (!mirror.is(DistributedDirectory)) throw new Error("the directory's mirror is of another class");
    expect(await client.request(mirror, "whois", [avatar.doId])).toEqual([expect.stringMatching(/^alice/)]);
  });

  it("answers with a typed error, and the session goes on", async () => {
    const { client, avatar } = await player("bob");
    const error = await whois(client, SHOP).catch((problem: unknown) => problem);
    expect(error).toBeInstanceOf(RequestError);
    expect((error as RequestError).code).toBe("unknown_avatar");
    expect((error as RequestError).message).toMatch(/is not an avatar/);
    expect(await whois(client, avatar.doId)).toEqual([expect.stringMatching(/^bob/)]);
  });

  it("ejects a player calling a service method it may not call (118), as for a zone's object", async () => {
    const { client } = await player("cheater");
    const ejected = new Promise<{ code: number; reason: string }>((resolve) => client.on("eject", resolve));
    const attempt = client
      .request(DIRECTORY, "lookups", [0], { dclass: DistributedDirectory })
      .catch((problem: unknown) => problem);
    const { code, reason } = await ejected;
    expect(code).toBe(118);
    expect(reason).toMatch(/DistributedDirectory\.lookups/);
    expect(await attempt).toBeInstanceOf(Error);
  });

  it("answers a retry (same caller, same request id) after uberdog restarted from its record: it runs once", async () => {
    const { avatar } = await player("carol");
    const names = subjects(cluster.root);
    const replies: { requestId: number; value?: Uint8Array; error?: unknown }[] = [];
    const heard = cluster.bus.subscribe(names.participant(TEST_SENDER), {
      callback: (error, msg) => {
        if (error) return;
        const message = decodeEnvelope(msg.data) as { kind?: string; requestId: number };
        if (message.kind === "reply") replies.push(message);
      },
    });
    closers.push(async () => heard.unsubscribe());
    await cluster.bus.flush();
    const method = DistributedDirectory.field("whois");
    const requestId = 700_000 + (Date.now() % 1000);
    const ask = () =>
      cluster.ss("request", {
        requestId,
        doId: DIRECTORY,
        fieldId: method.id,
        args: packField(method, [avatar.doId]),
      });
    const before = whoisRuns;
    await Promise.all([ask(), ask()]); // two copies at once: the second waits for the first's answer
    await eventually(() => replies.length === 2, "an answer to each copy", WAIT_MS);
    expect(whoisRuns).toBe(before + 1);
    const restarted = await players.restartUberdog(); // a new instance: new channel, nothing in memory
    expect(restarted.port).toBe(players.uberdog.port);
    // uberdog made its new channel the directory's AI before it started answering
    expect((await cluster.ss<{ ai: number }>("get", { doId: DIRECTORY, fieldIds: [] })).ai).not.toBe(0);
    await ask();
    await eventually(() => replies.length >= 3, "the retry's answer", WAIT_MS);
    const reply = DistributedDirectory.field("whoisReply");
    for (const each of replies) {
      expect(each.requestId).toBe(requestId);
      expect(unpackField(reply, each.value!)).toEqual([expect.stringMatching(/^carol/)]);
    }
    expect(whoisRuns).toBe(before + 1); // answered from its record in Redis, not run again
    // a new request id runs
    const { client } = await player("dave");
    expect(await whois(client, avatar.doId)).toEqual([expect.stringMatching(/^carol/)]);
    expect(whoisRuns).toBe(before + 2);
  });

  it("refuses a forged reply from a participant without the right to publish on a client's channel", async () => {
    const { client, avatar } = await player("erin");
    const { owner } = await cluster.ss<{ owner: number }>("get", { doId: avatar.doId, fieldIds: [] });
    const clientSubject = subjects(cluster.root).participant(owner);
    const seen: unknown[] = [];
    const watch = cluster.bus.subscribe(clientSubject, {
      callback: (error, msg) => {
        if (!error) seen.push(decodeEnvelope(msg.data));
      },
    });
    await cluster.bus.flush();
    await players.uberdog.stop(); // nobody answers the directory now: the player's request waits
    try {
      const pending = whois(client, avatar.doId, 3000).catch((problem: unknown) => problem);
      await sleep(300);
      const forger: NatsConnection = await connectAs(
        { role: "observer", channel: 3_999_999_001 },
        cluster.root,
      );
      for (let requestId = 1; requestId <= 32; requestId++) {
        forger.publish(
          clientSubject,
          encodeEnvelope({
            kind: "reply",
            sender: DIRECTORY,
            requestId,
            value: packField(DistributedDirectory.field("whoisReply"), ["mallory"]),
          }),
        );
      }
      await forger.flush().catch(() => undefined);
      await forger.close().catch(() => undefined);
      expect(await pending).toBeInstanceOf(RequestTimeoutError); // no forged "mallory"
      // plugin code's awaited request times out too while nobody answers
      const late = await pluginCluster!
        .request(DIRECTORY, DistributedDirectory, "whois", [avatar.doId], { timeoutMs: 300 })
        .catch((problem: unknown) => problem);
      expect(late).toMatchObject({ name: "RequestError", code: "timeout" });
      expect(seen).toEqual([]); // NATS refused every publish: nothing reached the client's channel
      // while uberdog's own rights (role admin) do reach it: the refusal is the role's, not the subject's
      const allowed = await connectAs({ role: "admin", channel: 3_999_999_002 }, cluster.root);
      allowed.publish(clientSubject, encodeEnvelope({ kind: "probe" }));
      await allowed.flush();
      await eventually(() => seen.length === 1, "the admin role's message on the channel", WAIT_MS);
      await allowed.close();
    } finally {
      watch.unsubscribe();
      await players.restartUberdog();
    }
    expect(await whois(client, avatar.doId)).toEqual([expect.stringMatching(/^erin/)]); // the directory answers again
  });

  it("lets operators call methods through the admin API: the reply, or an error naming its code", async () => {
    const { avatar } = await player("frank");
    const path = (doId: number) => `/v1/admin/objects/${doId}/request`;
    const token = adminToken;
    const named = await call(players, "POST", path(DIRECTORY), {
      token,
      body: { method: "whois", args: [avatar.doId] },
    });
    expect(named).toEqual({ status: 200, body: { reply: [expect.stringMatching(/^frank/)] } });
    const stock = await call(players, "POST", path(SHOP), { token, body: { method: "count", args: [1] } });
    expect(stock.status).toBe(200);
    expect(stock.body.reply).toEqual([SHOP_STOCK[1]]);
    const unknown = await call(players, "POST", path(DIRECTORY), {
      token,
      body: { method: "whois", args: [SHOP] },
    });
    expect(unknown.status).toBe(422);
    expect(unknown.body).toMatchObject({ error: "request_failed", code: "unknown_avatar" });
    const notMethod = await call(players, "POST", path(DIRECTORY), {
      token,
      body: { method: "setName", args: ["x"] },
    });
    expect(notMethod.status).toBe(400);
    expect(notMethod.body).toMatchObject({ error: "invalid_request", field: "method" });
    const badArgs = await call(players, "POST", path(DIRECTORY), {
      token,
      body: { method: "whois", args: ["x"] },
    });
    expect(badArgs.status).toBe(400);
    expect(badArgs.body).toMatchObject({ error: "invalid_request", field: "args" });
    const nobody = await call(players, "POST", path(DIRECTORY), {
      body: { method: "whois", args: [avatar.doId] },
    });
    expect(nobody.status).toBe(401);
    const { credentials } = await openSchema(players).then((opened) => {
      closers.push(() => opened.pool.end());
      return opened;
    });
    const moderator = await makeKey(credentials, "moderator");
    const refused = await call(players, "POST", path(DIRECTORY), {
      token: moderator,
      body: { method: "whois", args: [avatar.doId] },
    });
    expect(refused.status).toBe(403);
  });

  it("lets a zone call the service and act on the reply (/whois): uberdog answers on the zone's channel", async () => {
    const { client, avatar } = await player("heidi");
    const heard: [number, string][] = [];
    client.on("update", ({ object, field, value }) => {
      if (object.doId === avatar.doId && field === "chat") heard.push(value as [number, string]);
    });
    await eventually(() => avatar.zone !== undefined && avatar.zone > 0, "the avatar in a zone", WAIT_MS);
    await sleep(200); // its zone runs it
    client.sendField(avatar.doId, "say", [`/whois ${avatar.doId}`]);
    client.sendField(avatar.doId, "say", [`/whois ${SHOP}`]);
    await eventually(() => heard.length === 2, "both answers said", WAIT_MS);
    expect(heard).toEqual([
      [DIRECTORY, expect.stringMatching(new RegExp(`^${avatar.doId} is heidi`))],
      [DIRECTORY, `${SHOP}: unknown_avatar`],
    ]);
  });

  it("lets plugin code await a request of a zone's object and of a service (Cluster.request)", async () => {
    const { avatar } = await player("grace");
    const plugged = pluginCluster!;
    const [left]: [number] = await plugged.request(SHOP, DistributedShop, "count", [0], {
      timeoutMs: WAIT_MS,
    });
    expect(left).toBeLessThanOrEqual(SHOP_STOCK[0]);
    const [name]: [string] = await plugged.request(DIRECTORY, DistributedDirectory, "whois", [avatar.doId], {
      timeoutMs: WAIT_MS,
    });
    expect(name).toMatch(/^grace/);
    const sold = await plugged
      .request(SHOP, DistributedShop, "count", [9], { timeoutMs: WAIT_MS })
      .catch((problem: unknown) => problem);
    expect((sold as { code?: string }).code).toBe("unknown_item");
    const missing = await plugged
      .request(123_456_789, DistributedShop, "count", [0], { timeoutMs: WAIT_MS })
      .catch((problem: unknown) => problem);
    expect((missing as { code?: string }).code).toBe("unknown_object");
    // uberdog's own code awaits requests the same way
    expect(await players.uberdog.request(DIRECTORY, DistributedDirectory, "whois", [avatar.doId])).toEqual([
      expect.stringMatching(/^grace/),
    ]);
  });
});

/**
 * Uberdog's admin REST API over real HTTP, on a real cluster (director, state server, client agent, NATS
 * with credentials, Postgres, Redis) with players connected over UDP: every route, the roles, kicks and
 * bans as the player sees them, broadcasts, maintenance mode, bad input and the audit log.
 */
import { FIRST_LOOPBACK_SOURCE, sourceAddress } from "@overworld/bots";
import { LoginError, login, type OverworldClient } from "@overworld/client";
import { joinCluster, type Participant, type Pool } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Credentials } from "../../services/uberdog/src/main.ts";
import { CLUSTER_VERSION, type Cluster, dc, SCHEMA_HASH } from "../client-agent/support.ts";
import { joinCredentials } from "../support/nats.ts";
import { PASSWORD, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { NATS_URL } from "../support/services.ts";
import { eventually, waitFor } from "../support/wait.ts";
import { adminLogin, call, connectPlayer, makeKey, openSchema, setRole } from "./admin-support.ts";

const PARENT = 7100;
const ZONE = 5;
const object1 = dc.class("DistributedTestObject1")!;
const u32 = (value: number) => Buffer.from(new Uint32Array([value]).buffer);

let services: PlayerCluster;
let cluster: Cluster;
let pool: Pool;
let credentials: Credentials;
let admin: string;
let moderator: string;
let zoneAi: Participant;
let addresses = 40;
const nextAddress = () => sourceAddress(FIRST_LOOPBACK_SOURCE, addresses++);
const name = (base: string) => `${base}${process.pid % 100000}`;

beforeAll(async () => {
  services = await startPlayerCluster("admin", {
    agentEnv: { TICK_HZ: "50" },
    uberdogEnv: { MAINTENANCE_WARNING_SECONDS: "1" },
  });
  cluster = services.cluster;
  ({ pool, credentials } = await openSchema(services));
  admin = await makeKey(credentials, "admin");
  moderator = await makeKey(credentials, "moderator");
  // a zone-AI replica, as far as placement goes: a participant of that role
  zoneAi = await joinCluster({
    natsUrl: NATS_URL,
    credentials: joinCredentials("zone-ai"),
    role: "zone-ai",
    instanceId: `admin-test-zone-ai-${process.pid}`,
    version: CLUSTER_VERSION,
    schemaHash: SCHEMA_HASH,
    root: cluster.root,
  });
});

afterAll(async () => {
  await zoneAi?.leave();
  await pool?.end();
  await services?.stop();
});

async function createObject(zone: number, required: number, owner?: number): Promise<number> {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: object1.id,
    parentId: PARENT,
    zoneId: zone,
    fields: [[object1.field("setRequired1")!.id, u32(required)]],
    ...(owner === undefined ? {} : { owner }),
  });
  return reply.doId;
}

function ejection(client: OverworldClient): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => client.once("eject", resolve));
}

function messages(client: OverworldClient): string[] {
  const heard: string[] = [];
  client.on("system-message", ({ text }) => heard.push(text));
  return heard;
}

describe("authentication", () => {
  it("refuses calls without a live token (401, saying how to get one), and audits them", async () => {
    const none = await call(services, "GET", "/v1/admin/status");
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({
      error: "unauthorized",
      reason: expect.stringMatching(/Authorization: Bearer/),
    });
    const forged = await call(services, "GET", "/v1/admin/status", {
      token: "owk_1_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
    });
    expect(forged.status).toBe(401);
    const audit = await call<{
      entries: { actor: string; route: string; status: number; outcome: string }[];
    }>(services, "GET", "/v1/admin/audit", { token: admin, query: { actor: "anonymous", limit: 5 } });
    expect(audit.status).toBe(200);
    expect(audit.body.entries.slice(0, 2)).toEqual([
      expect.objectContaining({
        actor: "anonymous",
        route: "/v1/admin/status",
        status: 401,
        outcome: "unauthorized",
      }),
      expect.objectContaining({
        actor: "anonymous",
        route: "/v1/admin/status",
        status: 401,
        outcome: "unauthorized",
      }),
    ]);
  });

  it("lets admins, moderators and nobody else log in with their game account; says who is calling", async () => {
    const [mod, plain] = [name("modmo"), name("plainpl")];
    await connectPlayer(services, admin, mod, nextAddress());
    await connectPlayer(services, admin, plain, nextAddress());
    await setRole(pool, services, mod, "moderator");
    const refused = await adminLogin(services, plain);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({
      error: "forbidden",
      reason: expect.stringMatching(/no admin role/),
    });
    expect((await adminLogin(services, mod, "wrong password")).status).toBe(401);
    const ok = await adminLogin(services, mod);
    expect(ok.status).toBe(200);
    expect(ok.body.role).toBe("moderator");
    const me = await call(services, "GET", "/v1/admin/me", { token: ok.body.token });
    expect(me.body).toMatchObject({ kind: "player", role: "moderator", actor: expect.stringContaining(mod) });
    // a role taken away takes effect at the next call
    await setRole(pool, services, mod, "player");
    expect((await call(services, "GET", "/v1/admin/me", { token: ok.body.token })).status).toBe(403);
    expect((await call(services, "POST", "/v1/admin/logout", { token: ok.body.token })).status).toBe(204);
  });

  it("makes and revokes API keys; a moderator may not; the token is shown once", async () => {
    const made = await call<{ key: { keyId: number; role: string }; token: string }>(
      services,
      "POST",
      "/v1/admin/keys",
      {
        token: admin,
        body: { name: "ci", role: "moderator" },
      },
    );
    expect(made.status).toBe(201);
    expect((await call(services, "GET", "/v1/admin/me", { token: made.body.token })).body).toMatchObject({
      role: "moderator",
    });
    const listed = await call<{ keys: Record<string, unknown>[] }>(services, "GET", "/v1/admin/keys", {
      token: admin,
    });
    expect(JSON.stringify(listed.body)).not.toContain(made.body.token.slice(-43));
    expect(
      (
        await call(services, "POST", "/v1/admin/keys", {
          token: moderator,
          body: { name: "x", role: "moderator" },
        })
      ).status,
    ).toBe(403);
    expect(
      (await call(services, "DELETE", `/v1/admin/keys/${made.body.key.keyId}`, { token: admin })).status,
    ).toBe(200);
    expect((await call(services, "GET", "/v1/admin/me", { token: made.body.token })).status).toBe(401);
  });
});

describe("cluster status and objects", () => {
  it("lists the participants, the connected players per client agent and the zone placement", async () => {
    const player = name("statu");
    await connectPlayer(services, admin, player, nextAddress());
    await createObject(ZONE, 1);
    const status = await call<{
      participants: Record<string, unknown[]>;
      clientAgents: unknown;
      ccu: number;
      placement: unknown;
    }>(services, "GET", "/v1/admin/status", {
      token: moderator,
      query: { parentId: PARENT },
    });
    expect(status.status).toBe(200);
    expect(status.body).toMatchObject({
      version: CLUSTER_VERSION,
      schemaHash: SCHEMA_HASH,
      healthy: true,
      maintenance: false,
    });
    expect(status.body.participants["state-server"]).toHaveLength(1);
    expect(status.body.participants["client-agent"]).toEqual([
      expect.objectContaining({ channel: cluster.agent.channel }),
    ]);
    expect(status.body.participants.admin).toHaveLength(1); // uberdog itself
    expect(status.body.clientAgents).toEqual([
      expect.objectContaining({ agent: cluster.agent.channel, ccu: cluster.agent.connectedClients }),
    ]);
    expect(status.body.ccu).toBeGreaterThanOrEqual(1);
    expect(status.body.placement).toEqual([
      { replica: zoneAi.channel, zones: expect.arrayContaining([ZONE]) },
    ]);
  });

  it("queries objects by zone and class, reads them, and sets fields through the state server", async () => {
    const doId = await createObject(ZONE + 1, 42);
    const found = await call<{ objects: Record<string, unknown>[] }>(services, "GET", "/v1/admin/objects", {
      token: moderator,
      query: { parentId: PARENT, zones: `${ZONE + 1}`, className: "DistributedTestObject1" },
    });
    expect(found.status).toBe(200);
    expect(found.body.objects).toEqual([
      expect.objectContaining({
        doId,
        className: "DistributedTestObject1",
        zoneId: ZONE + 1,
        fields: { setRequired1: [42] },
      }),
    ]);
    const none = await call<{ objects: unknown[] }>(services, "GET", "/v1/admin/objects", {
      token: moderator,
      query: { parentId: PARENT, zones: `${ZONE + 1}`, className: "DistributedTestObject2" },
    });
    expect(none.body.objects).toEqual([]);

    // a player watching the zone sees the admin's change
    const { client } = await connectPlayer(services, admin, name("watch"), nextAddress());
    await client.addInterest(PARENT, [ZONE + 1]);
    const seen = new Promise((resolve) =>
      client.on("update", (event) => event.field === "setBR1" && resolve(event.value)),
    );
    const set = await call<{ fields: Record<string, unknown> }>(
      services,
      "PATCH",
      `/v1/admin/objects/${doId}`,
      {
        token: admin,
        body: { fields: { setBR1: ["renamed by an admin"], setRequired1: [7] } },
      },
    );
    expect(set.status).toBe(200);
    expect(set.body.fields).toMatchObject({ setBR1: ["renamed by an admin"], setRequired1: [7] });
    expect(await seen).toEqual(["renamed by an admin"]);
    const read = await call<{ fields: Record<string, unknown> }>(
      services,
      "GET",
      `/v1/admin/objects/${doId}`,
      {
        token: moderator,
      },
    );
    expect(read.body.fields).toMatchObject({ setBR1: ["renamed by an admin"], setRequired1: [7] });

    // the state server's checks and the dclass's hold; nothing is set when one field is refused
    const bad = await call(services, "PATCH", `/v1/admin/objects/${doId}`, {
      token: admin,
      body: { fields: { setRequired1: [8], setB1: [300] } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: "invalid_request", field: "fields.setB1" });
    const unknown = await call(services, "PATCH", `/v1/admin/objects/${doId}`, {
      token: admin,
      body: { fields: { hp: [1] } },
    });
    expect(unknown.body).toMatchObject({
      field: "fields.hp",
      reason: expect.stringMatching(/DistributedTestObject1 has no field hp/),
    });
    expect(
      (
        await call<{ fields: Record<string, unknown> }>(services, "GET", `/v1/admin/objects/${doId}`, {
          token: admin,
        })
      ).body.fields.setRequired1,
    ).toEqual([7]);
    expect((await call(services, "GET", "/v1/admin/objects/4000000001", { token: admin })).status).toBe(404);
    // a moderator reads but does not set
    const denied = await call(services, "PATCH", `/v1/admin/objects/${doId}`, {
      token: moderator,
      body: { fields: { setRequired1: [9] } },
    });
    expect(denied.status).toBe(403);
  });

  it("finds a player's objects by owner", async () => {
    const { accountId } = await connectPlayer(services, admin, name("owner"), nextAddress());
    const channel = await waitFor(() => cluster.agent.clientChannel(accountId), "the player's channel");
    const doId = await createObject(ZONE + 2, 3, channel);
    await cluster.agent.addSessionObject(channel!, doId);
    const owned = await call<{ objects: { doId: number; owner: number }[] }>(
      services,
      "GET",
      "/v1/admin/objects",
      {
        token: moderator,
        query: { owner: accountId },
      },
    );
    expect(owned.body.objects).toEqual([expect.objectContaining({ doId, owner: channel })]);
  });

  it("names the field of bad input in the query, the path and the body (400)", async () => {
    const cases: [string, string, Parameters<typeof call>[3], string][] = [
      ["GET", "/v1/admin/objects", { query: { zones: "1" } }, "parentId"],
      ["GET", "/v1/admin/objects", { query: { parentId: PARENT, zones: "one" } }, "zones"],
      ["GET", "/v1/admin/objects", { query: { parentId: PARENT, className: "NoSuchClass" } }, "className"],
      ["GET", "/v1/admin/objects/zero", {}, "doId"],
      ["GET", "/v1/admin/players", { query: { limit: 100000 } }, "limit"],
      ["POST", "/v1/admin/players/1/kick", { body: { code: 100 } }, "reason"],
      ["POST", "/v1/admin/players/1/kick", { body: { code: "100", reason: "x" } }, "code"],
      ["POST", "/v1/admin/broadcast", { body: { text: "hi", zoneId: 3 } }, "parentId"],
      ["PUT", "/v1/admin/maintenance", { body: { reason: "x", extra: 1 } }, "extra"],
      ["GET", "/v1/admin/events", { query: { kind: "Bad Kind" } }, "kind"],
    ];
    for (const [method, path, options, field] of cases) {
      const answer = await call(services, method, path, { token: admin, ...options });
      expect(answer.status, `${method} ${path} ${JSON.stringify(options)}`).toBe(400);
      expect(answer.body, `${method} ${path}`).toMatchObject({ error: "invalid_request", field });
    }
  });
});

describe("players", () => {
  it("lists players with their role and sessions, online only if asked", async () => {
    const username = name("listed");
    const { accountId } = await connectPlayer(services, admin, username, nextAddress());
    const one = await call<{ sessions: unknown[] }>(services, "GET", `/v1/admin/players/${accountId}`, {
      token: moderator,
    });
    expect(one.body).toMatchObject({ accountId, username, role: "player", tempAdmin: false, ban: null });
    expect(one.body.sessions).toEqual([expect.objectContaining({ agent: cluster.agent.channel })]);
    const online = await call<{ players: { accountId: number }[] }>(services, "GET", "/v1/admin/players", {
      token: moderator,
      query: { online: true, limit: 500 },
    });
    expect(online.body.players.map((player) => player.accountId)).toContain(accountId);
    expect((await call(services, "GET", "/v1/admin/players/999999999", { token: moderator })).status).toBe(
      404,
    );
  });

  it("kicks a player, who sees the code and the reason", async () => {
    const { accountId, client } = await connectPlayer(services, admin, name("kicked"), nextAddress());
    const ejected = ejection(client);
    const kick = await call(services, "POST", `/v1/admin/players/${accountId}/kick`, {
      token: moderator,
      body: { code: 155, reason: "spamming the chat" },
    });
    expect(kick.status).toBe(200);
    expect(kick.body).toEqual({ ejected: 1 });
    expect(await ejected).toEqual({ code: 155, reason: "spamming the chat" });
  });

  it("bans: the player is ejected, its logins refused with the reason, until unbanned", async () => {
    const username = name("banned");
    const { accountId, client } = await connectPlayer(services, admin, username, nextAddress());
    const ejected = ejection(client);
    const ban = await call<Record<string, unknown>>(services, "POST", `/v1/admin/players/${accountId}/ban`, {
      token: moderator,
      body: { reason: "cheating" },
    });
    expect(ban.status).toBe(200);
    expect(ban.body).toMatchObject({ ejected: 1, ban: { reason: "cheating", until: null } });
    expect((await ejected).code).toBe(152);
    const refused = await login(services.baseUrl, username, PASSWORD).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LoginError);
    expect(refused).toMatchObject({
      status: 403,
      code: "banned",
      reason: expect.stringMatching(/banned: cheating/),
    });
    expect(
      (await call(services, "DELETE", `/v1/admin/players/${accountId}/ban`, { token: moderator })).status,
    ).toBe(200);
    expect((await login(services.baseUrl, username, PASSWORD)).accountId).toBe(accountId);
  });

  it("a moderator cannot ban an admin or a moderator; an admin can ban a moderator", async () => {
    const [boss, peer] = [name("bossy"), name("peer")];
    const bossId = (await connectPlayer(services, admin, boss, nextAddress())).accountId;
    const peerId = (await connectPlayer(services, admin, peer, nextAddress())).accountId;
    await setRole(pool, services, boss, "admin");
    await setRole(pool, services, peer, "moderator");
    const onAdmin = await call(services, "POST", `/v1/admin/players/${bossId}/ban`, {
      token: moderator,
      body: { reason: "coup" },
    });
    expect(onAdmin.status).toBe(403);
    expect(onAdmin.body).toMatchObject({
      error: "forbidden",
      reason: expect.stringMatching(/a moderator may not act on an admin/),
    });
    expect(
      (
        await call(services, "POST", `/v1/admin/players/${peerId}/ban`, {
          token: moderator,
          body: { reason: "x" },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await call(services, "POST", `/v1/admin/players/${bossId}/kick`, {
          token: moderator,
          body: { code: 1, reason: "x" },
        })
      ).status,
    ).toBe(403);
    const onModerator = await call(services, "POST", `/v1/admin/players/${peerId}/ban`, {
      token: admin,
      body: { reason: "abuse", days: 1 },
    });
    expect(onModerator.status).toBe(200);
    expect((await call(services, "DELETE", `/v1/admin/players/${peerId}/ban`, { token: admin })).status).toBe(
      200,
    );
  });

  it("sets roles: a moderator may not, an admin may", async () => {
    const username = name("promo");
    const { accountId } = await connectPlayer(services, admin, username, nextAddress());
    expect(
      (
        await call(services, "PUT", `/v1/admin/players/${accountId}/role`, {
          token: moderator,
          body: { role: "moderator" },
        })
      ).status,
    ).toBe(403);
    const made = await call(services, "PUT", `/v1/admin/players/${accountId}/role`, {
      token: admin,
      body: { role: "moderator" },
    });
    expect(made.status).toBe(200);
    expect(made.body).toMatchObject({ role: "moderator" });
    expect((await adminLogin(services, username)).body.role).toBe("moderator");
  });
});

describe("broadcasts and maintenance", () => {
  it("broadcasts to every player, or to those whose avatar is in a zone", async () => {
    const here = await connectPlayer(services, admin, name("bchere"), nextAddress());
    const there = await connectPlayer(services, admin, name("bcthere"), nextAddress());
    const heardHere = messages(here.client);
    const heardThere = messages(there.client);
    const channel = await waitFor(() => cluster.agent.clientChannel(here.accountId), "a channel");
    await createObject(ZONE + 3, 1, channel);
    const all = await call<{ delivered: number }>(services, "POST", "/v1/admin/broadcast", {
      token: moderator,
      body: { text: "welcome, everyone" },
    });
    expect(all.status).toBe(200);
    expect(all.body.delivered).toBeGreaterThanOrEqual(2);
    await eventually(
      () => heardHere.includes("welcome, everyone") && heardThere.includes("welcome, everyone"),
      "both heard it",
    );
    const zone = await call(services, "POST", "/v1/admin/broadcast", {
      token: moderator,
      body: { text: "the boss wakes up", parentId: PARENT, zoneId: ZONE + 3 },
    });
    expect(zone.body).toEqual({ delivered: 1 });
    await eventually(() => heardHere.includes("the boss wakes up"), "the player in the zone heard it");
    expect(heardThere).not.toContain("the boss wakes up");
  });

  it("maintenance: players warned, then ejected with 154; logins refused with the reason until it ends", async () => {
    const username = name("maint");
    const { client } = await connectPlayer(services, admin, username, nextAddress());
    const heard = messages(client);
    const ejected = ejection(client);
    expect(
      (await call(services, "PUT", "/v1/admin/maintenance", { token: moderator, body: { reason: "x" } }))
        .status,
    ).toBe(403);
    const on = await call<Record<string, unknown>>(services, "PUT", "/v1/admin/maintenance", {
      token: admin,
      body: { reason: "upgrading the database", warningSeconds: 1 },
    });
    expect(on.status).toBe(200);
    expect(on.body).toMatchObject({ on: true, reason: "upgrading the database" });
    await eventually(
      () => heard.some((text) => /maintenance in 1 s: upgrading the database/.test(text)),
      "the warning",
    );
    const ejection154 = await ejected;
    expect(ejection154).toEqual({
      code: 154,
      reason: "the cluster is down for maintenance: upgrading the database",
    });
    expect(heard.length).toBeGreaterThan(0); // the warning came before the ejection
    const refused = await login(services.baseUrl, username, PASSWORD).catch((error: unknown) => error);
    expect(refused).toMatchObject({
      status: 503,
      code: "maintenance",
      reason: expect.stringMatching(/upgrading the database/),
    });
    expect((await call(services, "GET", "/v1/admin/status", { token: moderator })).body).toMatchObject({
      maintenance: true,
    });
    expect((await call(services, "DELETE", "/v1/admin/maintenance", { token: admin })).body).toEqual({
      on: false,
    });
    expect((await login(services.baseUrl, username, PASSWORD)).connectToken.length).toBe(2048);
  });
});

describe("logs", () => {
  it("reads the cluster event log, filtered by kind and paged", async () => {
    const first = await call<{
      events: { seq: number; kind: string; source: string }[];
      next: number | null;
    }>(services, "GET", "/v1/admin/events", { token: moderator, query: { kind: "admin.>", limit: 2 } });
    expect(first.status).toBe(200);
    expect(first.body.events).toHaveLength(2);
    expect(
      first.body.events.every(
        (event) => event.kind.startsWith("admin.") && event.source.startsWith("admin#"),
      ),
    ).toBe(true);
    const second = await call<{ events: { seq: number }[] }>(services, "GET", "/v1/admin/events", {
      token: moderator,
      query: { kind: "admin.>", limit: 2, fromSeq: first.body.next! },
    });
    expect(second.body.events[0]!.seq).toBeGreaterThan(first.body.events[1]!.seq);
    const joined = await call<{ events: { kind: string }[] }>(services, "GET", "/v1/admin/events", {
      token: moderator,
      query: { kind: "participant.joined" },
    });
    expect(joined.body.events.length).toBeGreaterThanOrEqual(3);
  });

  it("audits every call: who, with which role, what, on what, and how it ended", async () => {
    const audit = await call<{ entries: Record<string, unknown>[] }>(services, "GET", "/v1/admin/audit", {
      token: admin,
      query: { actor: "key:2:test moderator", limit: 1000 },
    });
    expect(audit.status).toBe(200);
    const kick = audit.body.entries.find(
      (entry) => entry.route === "/v1/admin/players/:accountId/kick" && entry.status === 200,
    );
    expect(kick).toMatchObject({
      role: "moderator",
      method: "POST",
      target: expect.stringMatching(/^account:\d+$/),
      outcome: "ok",
      request: expect.objectContaining({ body: { code: 155, reason: "spamming the chat" } }),
    });
    const denied = audit.body.entries.find(
      (entry) => entry.route === "/v1/admin/maintenance" && entry.method === "PUT",
    );
    expect(denied).toMatchObject({ status: 403, outcome: "forbidden" });
    // a moderator does not read the audit log
    expect((await call(services, "GET", "/v1/admin/audit", { token: moderator })).status).toBe(403);
    // passwords never reach it
    const logins = await call<{ entries: Record<string, unknown>[] }>(services, "GET", "/v1/admin/audit", {
      token: admin,
      query: { limit: 1000 },
    });
    expect(JSON.stringify(logins.body)).not.toContain(PASSWORD);
  });
});

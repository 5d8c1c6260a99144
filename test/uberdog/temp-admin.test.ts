/**
 * The temp-admin rule of the Metatopia seed, on a real cluster with uberdog's clock under the test's
 * control (days pass in milliseconds): "Admin hasn't logged in in X days; Bob is the oldest player that
 * has logged in in Y days. Bob doesn't make himself a permanent admin, and at day X+9 Charlie logs on, who
 * has been a player longer than Bob. Charlie is now the temp admin."
 */
import { login, register } from "@overworld/client";
import type { Pool } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PASSWORD, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { adminLogin, call, makeKey, openSchema, setRole } from "./admin-support.ts";

const X = 30;
const Y = 7;
const DAY_MS = 86_400_000;
const start = Date.now();
let day = 0;
const clock = () => start + day * DAY_MS;

let services: PlayerCluster;
let pool: Pool;
let operator: string;
const suffix = process.pid % 100000;
const [root, charlie, bob, dave] = ["root", "charlie", "bob", "dave"].map((who) => `${who}${suffix}`) as [
  string,
  string,
  string,
  string,
];

beforeAll(async () => {
  services = await startPlayerCluster("tempadmin", {
    now: clock,
    uberdogEnv: { ADMIN_ABSENT_DAYS: String(X), TEMP_ADMIN_RECENT_DAYS: String(Y) },
  });
  const schema = await openSchema(services);
  pool = schema.pool;
  operator = await makeKey(schema.credentials, "admin");
});

afterAll(async () => {
  await pool?.end();
  await services?.stop();
});

async function tempAdmin(): Promise<{ username: string | null; lastAdminLoginAt: string | null }> {
  const answer = await call<{ username: string | null; lastAdminLoginAt: string | null }>(
    services,
    "GET",
    "/v1/admin/temp-admin",
    { token: operator },
  );
  expect(answer.status).toBe(200);
  return answer.body;
}

async function accountId(username: string): Promise<number> {
  const found = await call<{ players: { accountId: number }[] }>(services, "GET", "/v1/admin/players", {
    token: operator,
    query: { prefix: username },
  });
  return found.body.players[0]!.accountId;
}

describe("the temp-admin rule", () => {
  it("makes Bob temp admin when the admin is away, then Charlie, who has been a player longer, when he logs in", async () => {
    // day 0: the admin joins and logs in; day 1 Charlie joins, day 2 Bob, day 3 Dave
    await register(services.baseUrl, root, PASSWORD);
    await setRole(pool, services, root, "admin");
    expect((await adminLogin(services, root)).body.role).toBe("admin");
    day = 1;
    await register(services.baseUrl, charlie, PASSWORD);
    day = 2;
    await register(services.baseUrl, bob, PASSWORD);
    day = 3;
    await register(services.baseUrl, dave, PASSWORD);
    const adminLoggedInAt = (await tempAdmin()).lastAdminLoginAt;

    // day 25: Bob plays; the admin has been away 25 days, fewer than X
    day = 25;
    await login(services.baseUrl, bob, PASSWORD);
    expect((await tempAdmin()).username).toBeNull();
    expect((await adminLogin(services, bob)).status).toBe(403);

    // day X+1 (the daily evaluation): the admin has been away X days; Bob logged in within Y days,
    // Charlie (a member longer) has not logged in at all: Bob is the temp admin
    day = X + 1;
    expect((await tempAdmin()).username).toBe(bob);
    const asBob = await adminLogin(services, bob);
    expect(asBob.status).toBe(200);
    expect(asBob.body.role).toBe("temp-admin");
    const token = asBob.body.token;

    // Bob has an admin's rights ...
    const daveId = await accountId(dave);
    expect(
      (
        await call(services, "PUT", `/v1/admin/players/${daveId}/role`, {
          token,
          body: { role: "moderator" },
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await call(services, "PUT", "/v1/admin/maintenance", {
          token,
          body: { reason: "checking", warningSeconds: 60 },
        })
      ).status,
    ).toBe(200);
    expect((await call(services, "DELETE", "/v1/admin/maintenance", { token })).status).toBe(200);
    expect((await call(services, "GET", "/v1/admin/audit", { token })).status).toBe(200);
    // ... but does not make himself, or anyone, a permanent admin
    const bobId = await accountId(bob);
    const himself = await call(services, "PUT", `/v1/admin/players/${bobId}/role`, {
      token,
      body: { role: "admin" },
    });
    expect(himself.status).toBe(403);
    expect(himself.body).toMatchObject({
      error: "forbidden",
      reason: expect.stringMatching(/a temp-admin may not make .* an admin: only a permanent admin/),
    });
    const charlieId = await accountId(charlie);
    expect(
      (await call(services, "PUT", `/v1/admin/players/${charlieId}/role`, { token, body: { role: "admin" } }))
        .status,
    ).toBe(403);
    expect(
      (await call(services, "POST", "/v1/admin/keys", { token, body: { name: "mine", role: "admin" } }))
        .status,
    ).toBe(403);
    const rootId = await accountId(root);
    expect(
      (await call(services, "PUT", `/v1/admin/players/${rootId}/role`, { token, body: { role: "player" } }))
        .status,
    ).toBe(403);
    // and his logins do not count as the admin's: the admin's absence goes on
    expect((await tempAdmin()).lastAdminLoginAt).toBe(adminLoggedInAt);

    // day X+9: Charlie logs on; he has been a player longer than Bob: Charlie is now the temp admin
    day = X + 9;
    await login(services.baseUrl, charlie, PASSWORD);
    expect((await tempAdmin()).username).toBe(charlie);
    expect((await adminLogin(services, charlie)).body.role).toBe("temp-admin");
    const bobAgain = await adminLogin(services, bob);
    expect(bobAgain.status).toBe(403);
    expect(bobAgain.body).toMatchObject({ reason: expect.stringMatching(/no admin role/) });

    // the admin comes back: no temp admin any more
    day = X + 10;
    expect((await adminLogin(services, root)).body.role).toBe("admin");
    expect((await tempAdmin()).username).toBeNull();
    expect((await adminLogin(services, charlie)).status).toBe(403);
  });

  it("chooses nobody who has not logged in within Y days", async () => {
    day = X + 10 + X + Y + 1; // the admin away X+Y+1 days; nobody has logged in for more than Y
    expect((await tempAdmin()).username).toBeNull();
  });
});

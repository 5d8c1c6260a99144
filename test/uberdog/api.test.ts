/** Uberdog's HTTP API through `app.inject`, on the real Postgres (one schema for this file). */
import { netcode } from "@overworld/protocol";
import { decodeLoginUserData } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { UberdogConfig } from "../../services/uberdog/src/main.ts";
import { sleep } from "../support/wait.ts";
import {
  type App,
  appOn,
  CLIENT_AGENTS,
  openDatabase,
  post,
  schemaFor,
  type TestDatabase,
} from "./support.ts";

let database: TestDatabase;
let app: App;
let config: UberdogConfig;

beforeAll(async () => {
  database = await openDatabase(schemaFor("api"));
  ({ app, config } = await appOn(database));
});

afterAll(async () => {
  await app?.close();
  await database?.drop();
});

async function register(username: string, password: string, on = app) {
  const response = await post(on, "/v1/accounts", { username, password });
  expect(response.statusCode, response.body).toBe(201);
  return response.json<{ accountId: number }>().accountId;
}

async function storedHash(username: string): Promise<string> {
  const result = await database.pool.query<{ password_hash: string }>(
    `SELECT password_hash FROM "${database.schema}".accounts WHERE username = $1`,
    [username],
  );
  return result.rows[0]!.password_hash;
}

describe("registering", () => {
  it("creates an account and stores only a salted scrypt hash with its parameters", async () => {
    const accountId = await register("alice", "correct horse battery");
    expect(Number.isSafeInteger(accountId) && accountId > 0).toBe(true);
    const hash = await storedHash("alice");
    expect(hash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(hash).not.toContain("correct");
    const other = await register("bob_2", "correct horse battery");
    expect(other).not.toBe(accountId);
    expect(await storedHash("bob_2")).not.toBe(hash); // fresh salt per password
  });

  it("refuses a taken username, whatever its case, with 409 and a reason", async () => {
    await register("carol-x", "password-one");
    for (const username of ["carol-x", "CAROL-X", "Carol-X"]) {
      const response = await post(app, "/v1/accounts", { username, password: "password-two" });
      expect(response.statusCode).toBe(409);
      expect(response.json()).toEqual({
        error: "username_taken",
        reason: `the username "${username}" is taken`,
        field: "username",
      });
    }
  });

  const badBodies: [string, unknown, string | undefined, RegExp][] = [
    ["no username", { password: "long enough" }, "username", /^username: required$/],
    ["no password", { username: "dave" }, "password", /^password: required$/],
    ["a short username", { username: "ab", password: "long enough" }, "username", /3 to 32 characters/],
    ["a long username", { username: "a".repeat(33), password: "long enough" }, "username", /3 to 32/],
    [
      "a space in the username",
      { username: "da ve", password: "long enough" },
      "username",
      /letters, digits/,
    ],
    ["a non-ASCII username", { username: "dävé", password: "long enough" }, "username", /letters, digits/],
    ["a numeric username", { username: 12345, password: "long enough" }, "username", /must be a string/],
    ["a short password", { username: "dave", password: "7chars!" }, "password", /8 to 128 characters/],
    ["a long password", { username: "dave", password: "p".repeat(129) }, "password", /8 to 128/],
    ["a null password", { username: "dave", password: null }, "password", /must be a string/],
    ["an unknown field", { username: "dave", password: "long enough", admin: true }, "admin", /not a field/],
    ["an array body", ["dave", "long enough"], undefined, /body must be a JSON object/],
  ];
  for (const [what, body, field, reason] of badBodies) {
    it(`answers 400 naming the field for ${what}`, async () => {
      const response = await post(app, "/v1/accounts", body);
      expect(response.statusCode).toBe(400);
      const answer = response.json<{ error: string; reason: string; field?: string }>();
      expect(answer.error).toBe("invalid_request");
      expect(answer.field).toBe(field);
      expect(answer.reason).toMatch(reason);
    });
  }

  it("answers 400 with a reason for a body that is not JSON", async () => {
    const response = await app.inject({
      method: "POST",
      url: "/v1/accounts",
      headers: { "content-type": "application/json" },
      payload: "{username: dave",
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: "invalid_request",
      reason: expect.stringMatching(/JSON/),
    });
    const none = await app.inject({ method: "POST", url: "/v1/accounts" });
    expect(none.statusCode).toBe(400);
    expect(none.json().error).toBe("invalid_request");
  });
});

describe("logging in", () => {
  it("returns a connect token the client can read and the client agent can open", async () => {
    const accountId = await register("erin", "erin's password");
    const before = Math.floor(Date.now() / 1000);
    const response = await post(app, "/v1/login", { username: "erin", password: "erin's password" });
    expect(response.statusCode, response.body).toBe(200);
    const answer = response.json<{
      accountId: number;
      connectToken: string;
      expiresAt: string;
      servers: string[];
    }>();
    expect(answer.accountId).toBe(accountId);
    expect(answer.servers).toEqual(["127.0.0.1:40000", "[::1]:40001"]);

    const bytes = new Uint8Array(Buffer.from(answer.connectToken, "base64"));
    expect(bytes.length).toBe(netcode.CONNECT_TOKEN_BYTES);
    const read = netcode.readConnectToken(bytes);
    if (!read.ok) throw new Error(`the client cannot read the token: ${read.reason}`);
    const token = read.value;
    expect(token.protocolId).toBe(0x1122334455667788n);
    expect(token.serverAddresses.map((address) => address.key)).toEqual(CLIENT_AGENTS.split(","));
    expect(Number(token.createTimestamp)).toBeGreaterThanOrEqual(before);
    expect(token.expireTimestamp - token.createTimestamp).toBe(BigInt(config.TOKEN_EXPIRE_SECONDS));
    expect(new Date(answer.expiresAt).getTime()).toBe(Number(token.expireTimestamp) * 1000);
    expect(token.timeoutSeconds).toBe(config.TOKEN_TIMEOUT_SECONDS);

    // the client agent's side: open the private part with the shared key
    const opening = {
      protocolId: token.protocolId,
      expireTimestamp: token.expireTimestamp,
      nonce: token.nonce,
      sealedPrivate: token.sealedPrivate,
    };
    const opened = netcode.openPrivateToken({ ...opening, privateKey: config.NETCODE_PRIVATE_KEY });
    if (!opened.ok) throw new Error(`the server cannot open the token: ${opened.reason}`);
    expect(opened.value.clientId).not.toBe(0n);
    expect(opened.value.clientToServerKey).toEqual(token.clientToServerKey);
    expect(opened.value.serverToClientKey).toEqual(token.serverToClientKey);
    expect(opened.value.serverAddresses.map((address) => address.key)).toEqual(CLIENT_AGENTS.split(","));
    expect(decodeLoginUserData(opened.value.userData)).toEqual({ accountId, username: "erin" });

    // and nobody without the key can
    const wrongKey = new Uint8Array(config.NETCODE_PRIVATE_KEY).map((byte) => byte ^ 1);
    expect(netcode.openPrivateToken({ ...opening, privateKey: wrongKey })).toEqual({
      ok: false,
      reason: "token_decrypt_failed",
    });
  });

  it("gives every login a fresh client id and fresh session keys", async () => {
    await register("frank", "frank's password");
    const tokens = await Promise.all(
      [1, 2].map(async () => {
        const response = await post(app, "/v1/login", { username: "frank", password: "frank's password" });
        const bytes = new Uint8Array(Buffer.from(response.json().connectToken, "base64"));
        const read = netcode.readConnectToken(bytes);
        if (!read.ok) throw new Error(read.reason);
        const opened = netcode.openPrivateToken({ ...read.value, privateKey: config.NETCODE_PRIVATE_KEY });
        if (!opened.ok) throw new Error(opened.reason);
        return opened.value;
      }),
    );
    expect(tokens[0]!.clientId).not.toBe(tokens[1]!.clientId);
    expect(tokens[0]!.clientToServerKey).not.toEqual(tokens[1]!.clientToServerKey);
  });

  it("matches the username whatever its case, and NFKC-normalises passwords", async () => {
    const accountId = await register("Grace", "caf\u00e9 au lait");
    const response = await post(app, "/v1/login", { username: "GRACE", password: "cafe\u0301 au lait" });
    expect(response.statusCode, response.body).toBe(200);
    const read = netcode.readConnectToken(
      new Uint8Array(Buffer.from(response.json().connectToken, "base64")),
    );
    if (!read.ok) throw new Error(read.reason);
    const opened = netcode.openPrivateToken({ ...read.value, privateKey: config.NETCODE_PRIVATE_KEY });
    if (!opened.ok) throw new Error(opened.reason);
    expect(decodeLoginUserData(opened.value.userData)).toEqual({ accountId, username: "Grace" });
  });

  it("answers a wrong password and an unknown username with the same 401, after the same scrypt work", async () => {
    await register("heidi", "heidi's password");
    const verifications = async () => {
      const text = await (await app.inject({ method: "GET", url: "/metrics" })).body;
      return Number(/ow_uberdog_password_hash_seconds_count\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
    };
    const first = await verifications();
    const wrong = await post(app, "/v1/login", { username: "heidi", password: "not heidi's" });
    const afterWrong = await verifications();
    const unknown = await post(app, "/v1/login", { username: "nobody", password: "not heidi's" });
    const afterUnknown = await verifications();
    expect(wrong.statusCode).toBe(401);
    expect(unknown.statusCode).toBe(401);
    expect(unknown.body).toBe(wrong.body);
    expect(wrong.json()).toEqual({ error: "bad_credentials", reason: "wrong username or password" });
    expect(afterWrong - first).toBe(1);
    expect(afterUnknown - afterWrong).toBe(1);
  });

  it("answers 400 naming the field for a bad login body", async () => {
    const noPassword = await post(app, "/v1/login", { username: "heidi" });
    expect(noPassword.statusCode).toBe(400);
    expect(noPassword.json()).toMatchObject({ field: "password", reason: "password: required" });
    const empty = await post(app, "/v1/login", { username: "heidi", password: "" });
    expect(empty.json()).toMatchObject({ field: "password", reason: expect.stringMatching(/1 to 128/) });
    const badName = await post(app, "/v1/login", { username: "x", password: "whatever" });
    expect(badName.json()).toMatchObject({ field: "username", error: "invalid_request" });
  });

  it("rehashes a password made with other scrypt parameters at login", async () => {
    await register("ivan", "ivan's password");
    expect(await storedHash("ivan")).toMatch(/^\$scrypt\$ln=10,/);
    const { app: stronger } = await appOn(database, { SCRYPT_LOG_N: "11" });
    try {
      const response = await post(stronger, "/v1/login", { username: "ivan", password: "ivan's password" });
      expect(response.statusCode).toBe(200);
      expect(await storedHash("ivan")).toMatch(/^\$scrypt\$ln=11,r=8,p=1\$/);
      // the new hash still verifies, wherever it is checked
      const again = await post(app, "/v1/login", { username: "ivan", password: "ivan's password" });
      expect(again.statusCode).toBe(200);
    } finally {
      await stronger.close();
    }
  });
});

describe("rate limits", () => {
  /** Failed logins of one (address, username) pair wait 1 s after the first two, then 2 s, 4 s, ... */
  const BACKOFF = { LOGIN_BACKOFF_FREE_FAILURES: "2", LOGIN_BACKOFF_FIRST_MS: "1000" };

  const login = (on: App, username: string, password: string, address: string) =>
    post(on, "/v1/login", { username, password }, address);

  it("backs off an attacker's address exponentially, never the owner's, and a success starts afresh", async () => {
    const { app: limited } = await appOn(database, BACKOFF);
    try {
      await register("judy", "judy's password", limited);
      const [attacker, owner, typist] = ["10.1.0.1", "10.1.0.2", "10.1.0.3"];
      const guess = (from = attacker) => login(limited, "judy", "a guess", from);
      expect((await guess()).statusCode).toBe(401);
      expect((await guess()).statusCode).toBe(401);
      const refused = await guess();
      expect(refused.statusCode).toBe(429);
      expect(refused.headers["retry-after"]).toBe("1");
      expect(refused.json()).toEqual({
        error: "rate_limited",
        reason: "too many failed logins for this username from this address; try again in 1 s",
      });
      // the owner, from their own address, is not locked out; the attacker's other usernames are not either
      expect((await login(limited, "JUDY", "judy's password", owner)).statusCode).toBe(200);
      expect((await login(limited, "erin", "a guess", attacker)).statusCode).toBe(401);

      // each further failure doubles the wait; attempts refused meanwhile do not count
      let wait = 1;
      for (const next of [2, 4]) {
        await sleep(wait * 1000);
        await eventuallyAllowed(guess);
        expect((await guess()).headers["retry-after"]).toBe(String(next));
        expect((await guess()).headers["retry-after"]).toBe(String(next));
        wait = next;
      }
      // while the pair waits, so does the right password from that address
      expect((await login(limited, "judy", "judy's password", attacker)).statusCode).toBe(429);

      // the owner mistyping from a third address: a success forgets the pair's failures
      expect((await guess(typist)).statusCode).toBe(401);
      expect((await guess(typist)).statusCode).toBe(401);
      await sleep(1000);
      await eventuallyAllowed(() => login(limited, "judy", "judy's password", typist), 200);
      expect((await guess(typist)).statusCode).toBe(401);
      expect((await guess(typist)).statusCode).toBe(401);
      expect((await guess(typist)).headers["retry-after"]).toBe("1");
    } finally {
      await limited.close();
    }
  });

  it("shares the counts between uberdog replicas", async () => {
    const env = { ...BACKOFF, LOGIN_IP_PER_MINUTE: "3" };
    const { app: one } = await appOn(database, env);
    const { app: two } = await appOn(database, env);
    try {
      await register("kate", "kate's password", one);
      expect((await login(one, "kate", "a guess", "10.2.0.1")).statusCode).toBe(401);
      expect((await login(two, "kate", "a guess", "10.2.0.1")).statusCode).toBe(401);
      const backedOff = await login(one, "kate", "a guess", "10.2.0.1");
      expect(backedOff.statusCode).toBe(429);
      expect(backedOff.json().reason).toMatch(/too many failed logins for this username from this address/);
      // the address's third login of the minute went to `one`: the fourth, on `two`, is over its limit
      const overAddress = await login(two, "lee", "a guess", "10.2.0.1");
      expect(overAddress.statusCode).toBe(429);
      expect(overAddress.json().reason).toMatch(
        /^too many login attempts from this address; try again in \d+ s$/,
      );
    } finally {
      await one.close();
      await two.close();
    }
  });

  it("limits logins and registrations per client address before reading the body", async () => {
    const { app: limited } = await appOn(database, {
      LOGIN_IP_PER_MINUTE: "3",
      REGISTER_IP_PER_MINUTE: "1",
    });
    try {
      const attempt = (address: string) =>
        post(limited, "/v1/login", { username: "kim", password: "x" }, address);
      for (let i = 0; i < 3; i++) expect((await attempt("10.0.0.1")).statusCode).toBe(401);
      const refused = await attempt("10.0.0.1");
      expect(refused.statusCode).toBe(429);
      expect(Number(refused.headers["retry-after"])).toBeGreaterThanOrEqual(59);
      expect(refused.json().reason).toMatch(
        /^too many login attempts from this address; try again in \d+ s$/,
      );
      // a bad body from a limited address is refused before validation
      expect((await post(limited, "/v1/login", { nonsense: 1 }, "10.0.0.1")).statusCode).toBe(429);
      expect((await attempt("10.0.0.2")).statusCode).toBe(401);
      // an IPv6 client is limited by its /64: another address in it is the same client
      for (let i = 0; i < 3; i++) expect((await attempt("2001:db8:5:6::1")).statusCode).toBe(401);
      expect((await attempt("2001:db8:5:6::ffff")).statusCode).toBe(429);
      expect((await attempt("2001:db8:5:7::1")).statusCode).toBe(401);

      const registration = (username: string) =>
        post(limited, "/v1/accounts", { username, password: "long enough" }, "10.0.0.3");
      expect((await registration("limited-1")).statusCode).toBe(201);
      const second = await registration("limited-2");
      expect(second.statusCode).toBe(429);
      expect(second.json().reason).toMatch(/too many registrations from this address/);
    } finally {
      await limited.close();
    }
  });
});

/** Retries (for Redis's clock running a little behind ours) until the attempt is no longer refused. */
async function eventuallyAllowed(
  attempt: () => Promise<{ statusCode: number }>,
  expected = 401,
): Promise<void> {
  const deadline = Date.now() + 1000;
  for (;;) {
    const status = (await attempt()).statusCode;
    if (status === expected) return;
    if (status !== 429 || Date.now() > deadline) throw new Error(`expected ${expected}, got ${status}`);
    await sleep(50);
  }
}

describe("operations", () => {
  it("serves an OpenAPI document listing the routes and their bodies", async () => {
    const response = await app.inject({ method: "GET", url: "/openapi.json" });
    expect(response.statusCode).toBe(200);
    const document = response.json();
    expect(document.openapi).toBe("3.1.0");
    expect(Object.keys(document.paths).sort()).toEqual([
      "/healthz",
      "/livez",
      "/metrics",
      "/v1/accounts",
      "/v1/login",
    ]);
    const login = document.paths["/v1/login"].post;
    const body = login.requestBody.content["application/json"].schema;
    expect(body.required).toEqual(["username", "password"]);
    expect(body.properties.username).toMatchObject({
      minLength: 3,
      maxLength: 32,
      pattern: "^[A-Za-z0-9_-]+$",
    });
    expect(Object.keys(login.responses).sort()).toEqual(["200", "400", "401", "403", "429", "503"]);
    expect(Object.keys(login.responses["200"].content["application/json"].schema.properties).sort()).toEqual([
      "accountId",
      "connectToken",
      "expiresAt",
      "servers",
      "webSockets",
    ]);
    expect(Object.keys(document.paths["/v1/accounts"].post.responses).sort()).toEqual([
      "201",
      "400",
      "409",
      "429",
    ]);
  });

  it("reports health and metrics, and answers unknown routes with 404 and a reason", async () => {
    const health = await app.inject({ method: "GET", url: "/healthz" });
    expect(health.statusCode).toBe(200);
    expect(health.json()).toEqual({ service: "uberdog", ok: true, checks: { postgres: true, redis: true } });
    const metrics = await app.inject({ method: "GET", url: "/metrics" });
    expect(metrics.body).toMatch(/ow_uberdog_logins_total\{result="ok",service="uberdog"\} [1-9]/);
    expect(metrics.body).toMatch(/ow_uberdog_registrations_total\{result="taken",service="uberdog"\} [1-9]/);
    const missing = await app.inject({ method: "GET", url: "/v1/nothing" });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: "not_found", reason: "no route GET /v1/nothing" });
  });

  it("reports 503 naming the failing check", async () => {
    const { app: sick } = await appOn(database, {}, (deps) => ({
      ...deps,
      checks: { cluster: () => false },
    }));
    try {
      const health = await sick.inject({ method: "GET", url: "/healthz" });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({
        service: "uberdog",
        ok: false,
        checks: { postgres: true, cluster: false },
      });
      // alive all the same: a dependency down is no reason to restart it
      const alive = await sick.inject({ method: "GET", url: "/livez" });
      expect(alive.statusCode).toBe(200);
    } finally {
      await sick.close();
    }
  });
});

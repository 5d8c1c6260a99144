/** Uberdog's configuration is checked at start; every error names its variable, and the key is never shown. */
import { spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { netcode } from "@overworld/protocol";
import { ConfigError, connectPostgres, DEFAULT_NETCODE_PROTOCOL_ID } from "@overworld/service";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_SCRYPT, loadUberdogConfig, startUberdog } from "../../services/uberdog/src/main.ts";
import { startCluster } from "../client-agent/support.ts";
import { natsEnv } from "../support/nats.ts";
import { DATABASE_URL, PRIVATE_KEY_HEX, schemaFor, testEnv } from "./support.ts";

const SCHEMA = schemaFor("config");
const REPO = fileURLToPath(new URL("../../", import.meta.url));
const MAIN = fileURLToPath(new URL("../../services/uberdog/src/main.ts", import.meta.url));

function problems(env: Record<string, string>): string {
  try {
    loadUberdogConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error("expected a ConfigError");
}

const required = {
  CLIENT_AGENT_ADDRESSES: "127.0.0.1:40000",
  NETCODE_PRIVATE_KEY: PRIVATE_KEY_HEX,
  DC_FILES: "examples/demo/demo.dc",
  CLUSTER_VERSION: "dev",
};

afterAll(async () => {
  const pool = await connectPostgres(DATABASE_URL, "test:cleanup", 1);
  await pool.query(`DROP SCHEMA IF EXISTS "${SCHEMA}" CASCADE`);
  await pool.end();
});

describe("uberdog configuration", () => {
  it("reads the defaults", () => {
    const config = loadUberdogConfig(required);
    expect(config).toMatchObject({
      HTTP_PORT: 8000,
      DB_SCHEMA: "uberdog",
      NETCODE_PROTOCOL_ID: DEFAULT_NETCODE_PROTOCOL_ID,
      TOKEN_EXPIRE_SECONDS: 30,
      TOKEN_TIMEOUT_SECONDS: 10,
      TRUST_PROXY: false,
      scrypt: DEFAULT_SCRYPT,
      REDIS_PREFIX: "ow:",
      LOGIN_IP_PER_MINUTE: 60,
      REGISTER_IP_PER_MINUTE: 10,
      LOGIN_BACKOFF_FREE_FAILURES: 3,
      LOGIN_BACKOFF_FIRST_MS: 1000,
      LOGIN_BACKOFF_MAX_MS: 900_000,
      LOGIN_BACKOFF_FORGET_SECONDS: 3600,
      EVENT_STREAM: "OW_EVENTS",
      ADMIN_ABSENT_DAYS: 30,
      TEMP_ADMIN_RECENT_DAYS: 7,
      ADMIN_SESSION_HOURS: 12,
      MAINTENANCE_WARNING_SECONDS: 60,
    });
    expect(config.NETCODE_PRIVATE_KEY).toEqual(new Uint8Array(Buffer.from(PRIVATE_KEY_HEX, "hex")));
    expect(config.CLIENT_AGENT_ADDRESSES).toEqual([netcode.parseAddress("127.0.0.1:40000")]);
  });

  it("reads addresses, a hex protocol id and the flags", () => {
    const config = loadUberdogConfig({
      ...required,
      CLIENT_AGENT_ADDRESSES: " 10.0.0.5:4000 , [fe80::1]:4001,",
      NETCODE_PROTOCOL_ID: "0xFFFFFFFFFFFFFFFF",
      TOKEN_TIMEOUT_SECONDS: "-1",
      TRUST_PROXY: "true",
    });
    expect(config.CLIENT_AGENT_ADDRESSES.map((address) => address.key)).toEqual([
      "10.0.0.5:4000",
      "[fe80::1]:4001",
    ]);
    expect(config.NETCODE_PROTOCOL_ID).toBe(netcode.UINT64_MAX);
    expect(config.TOKEN_TIMEOUT_SECONDS).toBe(-1);
    expect(config.TRUST_PROXY).toBe(true);
  });

  it("names each bad variable, all at once", () => {
    const none = problems({});
    expect(none).toMatch(/CLIENT_AGENT_ADDRESSES: required/);
    expect(none).toMatch(/NETCODE_PRIVATE_KEY: required: 32 bytes as 64 hex digits/);
    expect(problems({ ...required, CLIENT_AGENT_ADDRESSES: "localhost:40000" })).toMatch(
      /CLIENT_AGENT_ADDRESSES: "localhost:40000" is not an IP:port address .*host names are not allowed/,
    );
    expect(problems({ ...required, CLIENT_AGENT_ADDRESSES: "127.0.0.1" })).toMatch(
      /CLIENT_AGENT_ADDRESSES: "127.0.0.1" is not an IP:port address .*has no port/,
    );
    expect(problems({ ...required, CLIENT_AGENT_ADDRESSES: "10.1.1.1:1,10.1.1.1:0" })).toMatch(
      /CLIENT_AGENT_ADDRESSES: "10.1.1.1:0" has port 0/,
    );
    const many = Array.from({ length: 33 }, (_, i) => `127.0.0.1:${40000 + i}`).join(",");
    expect(problems({ ...required, CLIENT_AGENT_ADDRESSES: many })).toMatch(
      /CLIENT_AGENT_ADDRESSES: expected 1 to 32 addresses, got 33/,
    );
    expect(problems({ ...required, NETCODE_PROTOCOL_ID: "twelve" })).toMatch(
      /NETCODE_PROTOCOL_ID: expected 0x/,
    );
    expect(problems({ ...required, NETCODE_PROTOCOL_ID: "18446744073709551616" })).toMatch(
      /NETCODE_PROTOCOL_ID: must fit in 64 bits/,
    );
    expect(none).toMatch(/DC_FILES: required/);
    expect(none).toMatch(/CLUSTER_VERSION: required/);
    expect(problems({ ...required, ADMIN_ABSENT_DAYS: "0" })).toMatch(/ADMIN_ABSENT_DAYS: .*too small/i);
    expect(problems({ ...required, TEMP_ADMIN_RECENT_DAYS: "a week" })).toMatch(/TEMP_ADMIN_RECENT_DAYS:/);
    expect(problems({ ...required, TOKEN_TIMEOUT_SECONDS: "0" })).toMatch(
      /TOKEN_TIMEOUT_SECONDS: 0 is not allowed/,
    );
    expect(problems({ ...required, TOKEN_EXPIRE_SECONDS: "0" })).toMatch(/TOKEN_EXPIRE_SECONDS/);
    expect(problems({ ...required, DB_SCHEMA: "Bad-Name" })).toMatch(/DB_SCHEMA: expected a lower-case SQL/);
    expect(problems({ ...required, LOGIN_IP_PER_MINUTE: "0" })).toMatch(/LOGIN_IP_PER_MINUTE/);
    expect(problems({ ...required, LOGIN_BACKOFF_FIRST_MS: "5000", LOGIN_BACKOFF_MAX_MS: "1000" })).toMatch(
      /LOGIN_BACKOFF_MAX_MS: must be at least LOGIN_BACKOFF_FIRST_MS \(5000\) \(got 1000\)/,
    );
    expect(problems({ ...required, TRUST_PROXY: "yes" })).toMatch(/TRUST_PROXY: expected true or false/);
    expect(problems({ ...required, SCRYPT_LOG_N: "30" })).toMatch(
      /SCRYPT_LOG_N, SCRYPT_R, SCRYPT_P: log2 N must be 10 to 20/,
    );
    expect(problems({ ...required, SCRYPT_R: "32", SCRYPT_LOG_N: "20" })).toMatch(/over the 1 GiB/);
    const both = problems({ ...required, NETCODE_PRIVATE_KEY: "abc", HTTP_PORT: "80a" });
    expect(both).toMatch(/HTTP_PORT/);
    expect(both).toMatch(/NETCODE_PRIVATE_KEY: expected 32 bytes as 64 hex digits .*; it has 3 digits/);
  });

  it("never prints the private key, even when it is wrong", () => {
    const almost = PRIVATE_KEY_HEX.slice(0, 62);
    const message = problems({ ...required, NETCODE_PRIVATE_KEY: almost });
    expect(message).toMatch(/NETCODE_PRIVATE_KEY: .*it has 62 digits/);
    expect(message).not.toContain(almost);
    const notHex = `${PRIVATE_KEY_HEX.slice(0, 63)}g`;
    const second = problems({ ...required, NETCODE_PRIVATE_KEY: notHex });
    expect(second).toMatch(/NETCODE_PRIVATE_KEY: .*something other than hex digits/);
    expect(second).not.toContain(notHex.slice(0, 20));
  });

  it("exits with status 2 naming the variable when started with a bad environment", async () => {
    const secret = PRIVATE_KEY_HEX.slice(0, 40);
    const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
      cwd: REPO,
      env: { PATH: process.env.PATH ?? "", NETCODE_PRIVATE_KEY: secret },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr!.on("data", (chunk: Buffer) => {
      stderr += chunk.toString("utf8");
    });
    const [code] = await once(child, "exit");
    expect(code).toBe(2);
    expect(stderr).toMatch(/CLIENT_AGENT_ADDRESSES: required/);
    expect(stderr).toMatch(/NETCODE_PRIVATE_KEY: .*it has 40 digits/);
    expect(stderr).not.toContain(secret);
  });

  it("starts on a free port, migrates, joins the cluster, answers over HTTP, and stops", async () => {
    const cluster = await startCluster("udcfg");
    const server = await startUberdog(
      loadUberdogConfig(
        testEnv(SCHEMA, {
          ...cluster.env,
          ...natsEnv("admin"),
          EVENT_STREAM: cluster.eventStream,
          HTTP_PORT: "0",
          LOG_LEVEL: "silent",
        }),
      ),
    );
    try {
      const base = `http://127.0.0.1:${server.port}`;
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      const body = JSON.stringify({ username: "over_http", password: "long enough" });
      const headers = { "content-type": "application/json" };
      const created = await fetch(`${base}/v1/accounts`, { method: "POST", headers, body });
      expect(created.status).toBe(201);
      const login = await fetch(`${base}/v1/login`, { method: "POST", headers, body });
      expect(login.status).toBe(200);
      expect(
        Buffer.from(((await login.json()) as { connectToken: string }).connectToken, "base64").length,
      ).toBe(netcode.CONNECT_TOKEN_BYTES);
      const health = (await (await fetch(`${base}/healthz`)).json()) as { checks: Record<string, boolean> };
      expect(health.checks).toMatchObject({ postgres: true, redis: true, cluster: true });
    } finally {
      await server.stop();
      await cluster.stop();
    }
  });
});

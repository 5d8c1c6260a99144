/**
 * What the admin API tests share: a player cluster with uberdog serving the admin API, an operator's
 * API key made as `pnpm overworld admin key` makes one (straight into uberdog's schema), and calls over
 * real HTTP that return the status and the JSON a user sees.
 */
import { OverworldClient } from "@overworld/client";
import { connectPostgres, type Pool } from "@overworld/service";
import { Credentials, type KeyRole } from "../../services/uberdog/src/main.ts";
import { CLUSTER_VERSION, dc } from "../client-agent/support.ts";
import { PASSWORD, type PlayerCluster, signUp } from "../support/players.ts";
import { DATABASE_URL } from "../support/services.ts";

export interface Answer<T = Record<string, unknown>> {
  readonly status: number;
  readonly body: T;
}

/** An admin API call with a bearer token (none: anonymous); the answer as the caller sees it. */
export async function call<T = Record<string, unknown>>(
  services: PlayerCluster,
  method: string,
  path: string,
  options: { token?: string; body?: unknown; query?: Record<string, string | number | boolean> } = {},
): Promise<Answer<T>> {
  const query = options.query
    ? `?${new URLSearchParams(Object.entries(options.query).map(([key, value]): [string, string] => [key, String(value)]))}`
    : "";
  const headers: Record<string, string> = {};
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${services.baseUrl}${path}${query}`, {
    method,
    headers,
    ...(options.body === undefined ? {} : { body: JSON.stringify(options.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** Uberdog's schema, for making keys and granting roles as the operator's command-line tool does. */
export async function openSchema(services: PlayerCluster): Promise<{ pool: Pool; credentials: Credentials }> {
  const pool = await connectPostgres(DATABASE_URL, "test:admin", 2);
  return { pool, credentials: new Credentials(pool, services.schema, 3_600_000) };
}

export async function makeKey(
  credentials: Credentials,
  role: KeyRole,
  name = `test ${role}`,
): Promise<string> {
  return (await credentials.createKey(name, role, "test", new Date())).token;
}

/** Sets an account's stored role directly (the first admin is made so, by the operator). */
export async function setRole(
  pool: Pool,
  services: PlayerCluster,
  username: string,
  role: string,
): Promise<void> {
  await pool.query(`UPDATE "${services.schema}".accounts SET role = $2 WHERE lower(username) = lower($1)`, [
    username,
    role,
  ]);
}

/** Registers a player (with PASSWORD) and connects it; its account id and client. */
export async function connectPlayer(
  services: PlayerCluster,
  adminToken: string,
  username: string,
  localAddress: string,
): Promise<{ accountId: number; client: OverworldClient }> {
  const token = await signUp(services.baseUrl, username, localAddress);
  const client = await OverworldClient.connect({
    token,
    file: dc,
    version: CLUSTER_VERSION,
    heartbeatMs: 100,
    host: localAddress,
  });
  services.clients.push(client);
  const login = await call<{ players: { accountId: number; username: string }[] }>(
    services,
    "GET",
    "/v1/admin/players",
    {
      token: adminToken,
      query: { prefix: username },
    },
  );
  return { accountId: login.body.players[0]!.accountId, client };
}

/** Logs a player in to the admin API: the answer (200 with a token, or the refusal). */
export function adminLogin(services: PlayerCluster, username: string, password = PASSWORD) {
  return call<{ token: string; role: string }>(services, "POST", "/v1/admin/login", {
    body: { username, password },
  });
}

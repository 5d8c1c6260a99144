/**
 * Accounts over uberdog's REST API (services/uberdog/README.md): register, and log in for a connect token.
 * Failures are LoginErrors carrying the server's stable code and its reason for people.
 *
 * In Node, requests go out over node:http(s), which can bind the local address they come from
 * (`localAddress`): uberdog limits logins per client address, and a load tester gives each bot an address
 * of its own. In a browser they go through fetch (platform-browser.ts).
 */
import { platform } from "#platform";
import type { HttpAnswer } from "./platform.ts";

export interface RequestOptions {
  /** The local address to send from (e.g. 127.0.1.7; all of 127.0.0.0/8 is loopback on Linux). */
  readonly localAddress?: string;
  /** How long the request may take before it fails as `unreachable` (default 15 s). */
  readonly timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 15_000;

export interface LoginResult {
  readonly accountId: number;
  /** The 2048-byte netcode.io connect token. */
  readonly connectToken: Uint8Array;
  /** When the token stops being usable to connect (ISO 8601, as the server says). */
  readonly expiresAt: string;
  /** The client-agent addresses the token names. */
  readonly servers: readonly string[];
  /** The same client agents' WebSocket URLs (`ws://` or `wss://`), for browsers; empty if they have none. */
  readonly webSockets: readonly string[];
}

export interface RegisterResult {
  readonly accountId: number;
}

/** A refused request: `status` is the HTTP status (0 when the server could not be reached). */
export class LoginError extends Error {
  constructor(
    readonly status: number,
    /** The server's stable code: bad_credentials, username_taken, rate_limited, invalid_request, ... */
    readonly code: string,
    /** The server's reason, for people. */
    readonly reason: string,
    /** The body field at fault, when the server names one. */
    readonly field?: string,
    /** Seconds to wait before trying again (429). */
    readonly retryAfterSeconds?: number,
  ) {
    super(`${code} (HTTP ${status}): ${reason}`);
    this.name = "LoginError";
  }
}

const LOGIN_PATH = "/v1/login";
const REGISTER_PATH = "/v1/accounts";
const CONNECT_TOKEN_BYTES = 2048;

/** Logs in; resolves with the account and a connect token, or rejects with a LoginError. */
export async function login(
  baseUrl: string,
  username: string,
  password: string,
  options: RequestOptions = {},
): Promise<LoginResult> {
  const body = await postJson(baseUrl, LOGIN_PATH, { username, password }, options);
  const accountId = body.accountId;
  const token = body.connectToken;
  if (typeof accountId !== "number" || typeof token !== "string") {
    throw new LoginError(200, "bad_response", "the login answer lacks accountId or connectToken");
  }
  const connectToken = platform.base64Bytes(token);
  if (connectToken.length !== CONNECT_TOKEN_BYTES) {
    throw new LoginError(
      200,
      "bad_response",
      `the connect token is ${connectToken.length} bytes, not ${CONNECT_TOKEN_BYTES}`,
    );
  }
  return {
    accountId,
    connectToken,
    expiresAt: typeof body.expiresAt === "string" ? body.expiresAt : "",
    servers: strings(body.servers),
    webSockets: strings(body.webSockets),
  };
}

/** Registers an account; resolves with its id, or rejects with a LoginError (409 username_taken, ...). */
export async function register(
  baseUrl: string,
  username: string,
  password: string,
  options: RequestOptions = {},
): Promise<RegisterResult> {
  const body = await postJson(baseUrl, REGISTER_PATH, { username, password }, options);
  if (typeof body.accountId !== "number") {
    throw new LoginError(201, "bad_response", "the registration answer lacks accountId");
  }
  return { accountId: body.accountId };
}

async function postJson(
  baseUrl: string,
  path: string,
  payload: object,
  options: RequestOptions,
): Promise<Record<string, unknown>> {
  const url = new URL(path, baseUrl);
  let response: HttpAnswer;
  try {
    response = await platform.postJson(
      url,
      JSON.stringify(payload),
      options.localAddress,
      options.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    );
  } catch (error) {
    const from = options.localAddress === undefined ? "" : ` from ${options.localAddress}`;
    throw new LoginError(
      0,
      "unreachable",
      `could not reach ${url.origin}${from}: ${(error as Error).message}`,
    );
  }
  const body = parseJson(response.text);
  if (response.status >= 200 && response.status < 300) return body;
  const retryAfter = Number(response.retryAfter);
  throw new LoginError(
    response.status,
    typeof body.error === "string" ? body.error : "http_error",
    typeof body.reason === "string" ? body.reason : response.statusText,
    typeof body.field === "string" ? body.field : undefined,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

function parseJson(text: string): Record<string, unknown> {
  try {
    const body: unknown = JSON.parse(text);
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((each): each is string => typeof each === "string") : [];
}

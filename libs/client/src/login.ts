/**
 * Accounts over uberdog's REST API (services/uberdog/README.md): register, and log in for a connect token.
 * Failures are LoginErrors carrying the server's stable code and its reason for people.
 */

export interface LoginResult {
  readonly accountId: number;
  /** The 2048-byte netcode.io connect token. */
  readonly connectToken: Uint8Array;
  /** When the token stops being usable to connect (ISO 8601, as the server says). */
  readonly expiresAt: string;
  /** The client-agent addresses the token names. */
  readonly servers: readonly string[];
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
export async function login(baseUrl: string, username: string, password: string): Promise<LoginResult> {
  const body = await postJson(baseUrl, LOGIN_PATH, { username, password });
  const accountId = body.accountId;
  const token = body.connectToken;
  if (typeof accountId !== "number" || typeof token !== "string") {
    throw new LoginError(200, "bad_response", "the login answer lacks accountId or connectToken");
  }
  const connectToken = new Uint8Array(Buffer.from(token, "base64"));
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
    servers: Array.isArray(body.servers)
      ? body.servers.filter((s): s is string => typeof s === "string")
      : [],
  };
}

/** Registers an account; resolves with its id, or rejects with a LoginError (409 username_taken, ...). */
export async function register(baseUrl: string, username: string, password: string): Promise<RegisterResult> {
  const body = await postJson(baseUrl, REGISTER_PATH, { username, password });
  if (typeof body.accountId !== "number") {
    throw new LoginError(201, "bad_response", "the registration answer lacks accountId");
  }
  return { accountId: body.accountId };
}

async function postJson(baseUrl: string, path: string, payload: object): Promise<Record<string, unknown>> {
  const url = new URL(path, baseUrl);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(payload),
    });
  } catch (error) {
    throw new LoginError(0, "unreachable", `could not reach ${url.origin}: ${(error as Error).message}`);
  }
  const body = await readJson(response);
  if (response.ok) return body;
  const retryAfter = Number(response.headers.get("retry-after"));
  throw new LoginError(
    response.status,
    typeof body.error === "string" ? body.error : "http_error",
    typeof body.reason === "string" ? body.reason : response.statusText,
    typeof body.field === "string" ? body.field : undefined,
    Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined,
  );
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  try {
    const body: unknown = await response.json();
    return typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

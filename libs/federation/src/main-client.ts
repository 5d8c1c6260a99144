/**
 * A cluster's side of main's HTTP API: register (signed), ask for a link token (signed; the answer is
 * sealed for this cluster and opened here). Errors are `MainError`s with main's code and reason.
 */
import { decodeKey, encodeKey, openBox, type PairKeys, pairKeys, type SigningKey } from "./keys.ts";
import { tokenSealContext } from "./link-token.ts";
import { signBody } from "./signed.ts";

export class MainError extends Error {
  override readonly name = "MainError";
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export interface MainIdentity {
  readonly name: string;
  readonly key: string;
  readonly rendezvous: string;
  readonly relay: string;
}

export interface LinkTokenAnswer {
  readonly token: Uint8Array;
  readonly peer: string;
  readonly peerKey: string;
  readonly expiresAt: string;
}

const REQUEST_TIMEOUT_MS = 5000;

/** One plugin at one version, and its package id (the SHA-256 of its manifest). */
export interface PluginPinRef {
  readonly name: string;
  readonly version: string;
  readonly id: string;
}

/** A plugin set main assigned a cluster: the push it came with, the servers' plugins, the clients'. */
export interface AssignedPlugins {
  readonly push: number;
  readonly servers: readonly PluginPinRef[];
  readonly clients: readonly PluginPinRef[];
}

/** What a cluster runs (of which push) and what it refused, named. */
export interface PluginReport extends AssignedPlugins {
  readonly refusals: readonly {
    readonly package: string;
    readonly refusal: string;
    readonly detail: string;
  }[];
}

const pinOf = (pin: PluginPinRef): PluginPinRef => ({ name: pin.name, version: pin.version, id: pin.id });

/** Main's identity as it states it at `url` (GET /v1/identity). */
export async function fetchMainIdentity(url: string): Promise<MainIdentity> {
  return call<MainIdentity>(url, "GET", "/v1/identity");
}

async function call<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(new URL(path, url), {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
  } catch (error) {
    throw new MainError(
      0,
      "unreachable",
      `main at ${url} did not answer ${method} ${path}: ${(error as Error).message}`,
    );
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text.length > 0 ? JSON.parse(text) : {};
  } catch {
    throw new MainError(
      response.status,
      "bad_answer",
      `main answered ${method} ${path} with something not JSON`,
    );
  }
  if (!response.ok) {
    const problem = parsed as { error?: string; reason?: string };
    throw new MainError(
      response.status,
      problem.error ?? "unknown",
      problem.reason ?? `HTTP ${response.status}`,
    );
  }
  return parsed as T;
}

export class MainClient {
  /** The keys this cluster shares with main. */
  readonly keys: PairKeys;

  constructor(
    readonly url: string,
    readonly cluster: string,
    private readonly key: SigningKey,
    /** Main's public key, which this cluster trusts (configured, or taken from `fetchMainIdentity`). */
    readonly mainKey: Uint8Array,
  ) {
    this.keys = pairKeys(key, mainKey);
  }

  /** Builds a client trusting the key main states at `url` (trust on first use; prefer a configured key). */
  static async connect(url: string, cluster: string, key: SigningKey, mainKey?: string): Promise<MainClient> {
    const stated = mainKey ?? (await fetchMainIdentity(url)).key;
    const decoded = decodeKey(stated);
    if (decoded === null)
      throw new MainError(0, "bad_key", `main's key ${stated} is not an Ed25519 public key`);
    return new MainClient(url, cluster, key, decoded);
  }

  identity(): Promise<MainIdentity> {
    return fetchMainIdentity(this.url);
  }

  /** Registers (or re-registers) this cluster with what it publishes. */
  async register(options: {
    plugins: readonly string[];
    linkAddress?: string;
    kind?: "cluster" | "main";
    /** Tags main's operator can push a plugin set to (e.g. `eu`). */
    tags?: readonly string[];
  }): Promise<{
    created: boolean;
  }> {
    const body = signBody(this.key, "register", {
      name: this.cluster,
      key: encodeKey(this.key.publicKey),
      plugins: [...options.plugins],
      ...(options.linkAddress ? { linkAddress: options.linkAddress } : {}),
      ...(options.kind ? { kind: options.kind } : {}),
      ...(options.tags && options.tags.length > 0 ? { tags: [...options.tags] } : {}),
    });
    return call(this.url, "POST", "/v1/clusters", body);
  }

  /** The plugin set main's operator assigned this cluster (push 0 and empty lists: none yet). */
  async assignedPlugins(): Promise<AssignedPlugins> {
    const body = signBody(this.key, "plugin-set", { cluster: this.cluster });
    return call<AssignedPlugins>(this.url, "POST", "/v1/plugins/assigned", body);
  }

  /** Tells main the plugin set this cluster runs and the packages it refused. */
  async reportPlugins(report: PluginReport): Promise<void> {
    const body = signBody(this.key, "plugin-report", {
      cluster: this.cluster,
      push: report.push,
      servers: report.servers.map(pinOf),
      clients: report.clients.map(pinOf),
      refusals: report.refusals.map((refusal) => ({ ...refusal })),
    });
    await call(this.url, "POST", "/v1/plugins/report", body);
  }

  /**
   * Passes a plugin message to main's plugin of that name (server-main; client-main with the client's
   * channel and account, as the cluster vouches for them), signed with the cluster's key; main's answers.
   */
  async pluginMessage(message: {
    readonly plugin: string;
    readonly encoding: 0 | 1;
    readonly data: Uint8Array;
    readonly client?: { readonly client: number; readonly accountId: number };
  }): Promise<{ replies: { encoding: 0 | 1; data: Uint8Array }[] }> {
    const body = signBody(this.key, "plugin-message", {
      cluster: this.cluster,
      plugin: message.plugin,
      encoding: message.encoding,
      data: Buffer.from(message.data).toString("base64"),
      ...(message.client === undefined
        ? {}
        : { client: { client: message.client.client, accountId: message.client.accountId } }),
    });
    const answer = await call<{ replies: { encoding: 0 | 1; data: string }[] }>(
      this.url,
      "POST",
      "/v1/plugin-messages",
      body,
    );
    return {
      replies: answer.replies.map((each) => ({
        encoding: each.encoding,
        data: new Uint8Array(Buffer.from(each.data, "base64")),
      })),
    };
  }

  /** Takes the plugin messages main's plugins sent this cluster first (each is handed over once). */
  async pendingPluginMessages(): Promise<
    { plugin: string; client: number | null; encoding: 0 | 1; data: Uint8Array }[]
  > {
    const body = signBody(this.key, "plugin-pending", { cluster: this.cluster });
    const answer = await call<{
      messages: { plugin: string; client: number | null; encoding: 0 | 1; data: string }[];
    }>(this.url, "POST", "/v1/plugin-messages/pending", body);
    return answer.messages.map((each) => ({
      ...each,
      data: new Uint8Array(Buffer.from(each.data, "base64")),
    }));
  }

  /** A link token to dial `peer`, opened. */
  async linkToken(peer: string): Promise<LinkTokenAnswer> {
    const body = signBody(this.key, "link-token", { cluster: this.cluster, peer });
    const answer = await call<{ sealed: string; peer: string; peerKey: string; expiresAt: string }>(
      this.url,
      "POST",
      "/v1/links/token",
      body,
    );
    const token = openBox(
      this.keys.seal,
      Buffer.from(answer.sealed, "base64"),
      tokenSealContext(this.cluster, peer),
    );
    if (token === null)
      throw new MainError(200, "bad_seal", "main's token did not open with this cluster's key");
    return { token, peer: answer.peer, peerKey: answer.peerKey, expiresAt: answer.expiresAt };
  }
}

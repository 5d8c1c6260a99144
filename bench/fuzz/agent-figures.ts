/**
 * What the fuzz reads of the client agent: its /metrics (datagrams by outcome, reliable-layer drops of
 * sessions by reason, ejections by code, the rate limit's table, its memory) and /healthz; and the tokens
 * the fuzz sources mint: an account of their own per source address, registered once, logged in as often
 * as a token is wanted, from that address (so uberdog's per-address limits hold for them as for players).
 */
import { login, register } from "@overworld/client";

export interface AgentFigures {
  /** Datagrams received: each counted once by outcome (accepted, rate_limited, a netcode drop reason). */
  readonly datagrams: number;
  readonly byOutcome: Readonly<Record<string, number>>;
  /** Payloads of sessions the reliable layer refused, by reason. */
  readonly sessionDrops: Readonly<Record<string, number>>;
  readonly ejections: Readonly<Record<string, number>>;
  readonly clients: number;
  readonly rateLimitAddresses: number;
  /** The agent process's resident set and V8 heap in use (bytes). */
  readonly rss: number;
  readonly heapUsed: number;
}

/** Reads the agent's /metrics at `httpPort`. */
export async function agentFigures(httpPort: number): Promise<AgentFigures> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/metrics`);
  if (!response.ok) throw new Error(`the client agent's /metrics answered ${response.status}`);
  const text = await response.text();
  const byOutcome = labelled(text, "ow_client_agent_datagrams_total", "outcome");
  return {
    datagrams: Object.values(byOutcome).reduce((sum, n) => sum + n, 0),
    byOutcome,
    sessionDrops: labelled(text, "ow_client_agent_session_packets_dropped_total", "reason"),
    ejections: labelled(text, "ow_client_agent_ejections_total", "code"),
    clients: single(text, "ow_client_agent_clients"),
    rateLimitAddresses: single(text, "ow_client_agent_rate_limit_addresses"),
    rss: single(text, "process_resident_memory_bytes"),
    heapUsed: single(text, "nodejs_heap_size_used_bytes"),
  };
}

/** True when the agent's /healthz answers 200. */
export async function agentHealthy(httpPort: number): Promise<boolean> {
  const response = await fetch(`http://127.0.0.1:${httpPort}/healthz`).catch(() => undefined);
  return response?.ok ?? false;
}

/** What grew between two readings of a labelled counter (labels that did not grow are left out). */
export function growth(
  before: Readonly<Record<string, number>>,
  after: Readonly<Record<string, number>>,
): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [label, value] of Object.entries(after)) {
    const grew = value - (before[label] ?? 0);
    if (grew > 0) out[label] = grew;
  }
  return out;
}

function labelled(text: string, name: string, label: string): Record<string, number> {
  const out: Record<string, number> = {};
  const pattern = new RegExp(`^${name}\\{[^}]*${label}="([^"]*)"[^}]*\\}\\s+(\\S+)`, "gm");
  for (const match of text.matchAll(pattern)) out[match[1]!] = Number(match[2]);
  return out;
}

function single(text: string, name: string): number {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})?\\s+(\\S+)`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

/**
 * Mints connect tokens for fuzz sources: each source address gets its own account (`<prefix><n>`),
 * registered at its first token.
 */
export function tokenMinter(
  uberdog: string,
  prefix: string,
  password: string,
): (localAddress: string) => Promise<Uint8Array> {
  const accounts = new Map<string, Promise<string>>();
  return async (localAddress) => {
    let account = accounts.get(localAddress);
    if (account === undefined) {
      const username = `${prefix}${accounts.size + 1}`;
      account = register(uberdog, username, password, { localAddress }).then(() => username);
      accounts.set(localAddress, account);
      account.catch(() => accounts.delete(localAddress)); // registered on the next try
    }
    return (await login(uberdog, await account, password, { localAddress })).connectToken;
  };
}

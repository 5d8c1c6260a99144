/**
 * The figures the dashboard charts, from the services' own metrics and the cluster's own answers:
 *
 * - participants and their health: the director's member lists (every live participant heartbeating
 *   within its deadline), and whether each service's /metrics (METRICS_URLS) answered;
 * - CCU: each client agent's sessions (`ca.sessions`, asked over the cluster);
 * - updates per second: the rates of the state servers' `ow_ss_updates_applied_total` (field updates
 *   applied) and `ow_ss_deliveries_total` (messages published to locations, AIs and owners), scraped
 *   from their /metrics;
 * - latency: the walk steps the live map saw (see live-map.ts), from their sender to uberdog: p50, p95
 *   and the largest since the previous sample.
 */
import type { messages } from "@overworld/protocol";
import type { AdminCluster } from "./cluster.ts";

/** A service's /metrics to scrape: a name for people, its URL. */
export interface MetricsSource {
  readonly name: string;
  readonly url: string;
}

export interface StatsSample {
  /** ms since the epoch. */
  readonly at: number;
  readonly ccu: number;
  /** Each client agent's players: the dashboard's list to kick and ban from. */
  readonly clientAgents: {
    readonly instanceId: string;
    readonly ccu: number;
    readonly players: { readonly accountId: number; readonly username: string; readonly client: number }[];
  }[];
  /** Field updates the state servers applied per second (null: no state server's metrics answered). */
  readonly updatesAppliedPerSecond: number | null;
  /** Messages the state servers delivered per second (null: no state server's metrics answered). */
  readonly deliveriesPerSecond: number | null;
  /** Walk-step latency seen by the live map since the previous sample (null: none seen). */
  readonly latencyMs: { readonly p50: number; readonly p95: number; readonly max: number } | null;
  readonly participants: Record<string, { channel: number; instanceId: string; joinedAt?: number }[]>;
  readonly metrics: { readonly name: string; readonly up: boolean }[];
}

const SCRAPE_TIMEOUT_MS = 1500;
const APPLIED = "ow_ss_updates_applied_total";
const DELIVERED = "ow_ss_deliveries_total";
/** The most latency samples kept between two stats samples. */
const MAX_LATENCIES = 10_000;

/** Sums of every series of each metric in a Prometheus text exposition. */
export function sumMetrics(text: string): Map<string, number> {
  const sums = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line.length === 0 || line.startsWith("#")) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{.*\})?\s+(\S+)/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    if (Number.isFinite(value)) sums.set(match[1]!, (sums.get(match[1]!) ?? 0) + value);
  }
  return sums;
}

/** Parses METRICS_URLS: comma-separated `name=url` or bare URLs (named by their host and port). */
export function parseMetricsSources(text: string): MetricsSource[] {
  return text
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0)
    .map((entry) => {
      const at = entry.indexOf("=");
      const [name, url] =
        at > 0 && !entry.slice(0, at).includes("/")
          ? [entry.slice(0, at), entry.slice(at + 1)]
          : [undefined, entry];
      const parsed = new URL(url); // throws naming the entry when it is no URL
      if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
        throw new RangeError(`${entry}: expected an http:// or https:// URL`);
      }
      return { name: name ?? parsed.host, url: parsed.href };
    });
}

function percentile(sorted: readonly number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
}

export class ClusterStats {
  private latencies: number[] = [];
  private previous: { at: number; applied: number; delivered: number } | undefined;

  constructor(
    private readonly cluster: AdminCluster,
    private readonly sources: readonly MetricsSource[],
  ) {}

  /** A walk step's latency, seen by the live map. */
  latency(ms: number): void {
    if (this.latencies.length < MAX_LATENCIES) this.latencies.push(ms);
  }

  async sample(): Promise<StatsSample> {
    const [members, agents, scraped] = await Promise.all([
      this.cluster.members(),
      this.cluster.sessions(),
      Promise.all(this.sources.map((source) => this.scrape(source))),
    ]);
    const at = Date.now();
    let applied = 0;
    let delivered = 0;
    let stateServers = 0;
    for (const sums of scraped) {
      if (!sums?.has(APPLIED)) continue;
      stateServers++;
      applied += sums.get(APPLIED) ?? 0;
      delivered += sums.get(DELIVERED) ?? 0;
    }
    const before = this.previous;
    const seconds = before ? (at - before.at) / 1000 : 0;
    const rate = (now: number, then: number) =>
      // a restarted server's counter starts again: no rate for that interval
      stateServers === 0 || !before || seconds <= 0 || now < then ? null : Math.round((now - then) / seconds);
    const latencies = this.latencies.sort((a, b) => a - b);
    this.latencies = [];
    this.previous = stateServers > 0 ? { at, applied, delivered } : undefined;
    return {
      at,
      ccu: agents.reduce((sum, agent) => sum + agent.sessions.length, 0),
      clientAgents: agents.map((agent) => ({
        instanceId: agent.instanceId,
        ccu: agent.sessions.length,
        players: agent.sessions.map(({ accountId, username, client }) => ({ accountId, username, client })),
      })),
      updatesAppliedPerSecond: rate(applied, before?.applied ?? 0),
      deliveriesPerSecond: rate(delivered, before?.delivered ?? 0),
      latencyMs:
        latencies.length === 0
          ? null
          : { p50: percentile(latencies, 0.5), p95: percentile(latencies, 0.95), max: latencies.at(-1)! },
      participants: Object.fromEntries(
        Object.entries(members).map(([role, list]) => [role, list.map(memberView)]),
      ),
      metrics: this.sources.map((source, index) => ({ name: source.name, up: scraped[index] !== undefined })),
    };
  }

  private async scrape(source: MetricsSource): Promise<Map<string, number> | undefined> {
    try {
      const response = await fetch(source.url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) });
      return response.ok ? sumMetrics(await response.text()) : undefined;
    } catch {
      return undefined;
    }
  }
}

function memberView({ channel, instanceId, joinedAt }: messages.Member) {
  return { channel, instanceId, ...(joinedAt ? { joinedAt } : {}) };
}

import { Counter, Gauge, type Registry } from "prom-client";

/** Main's own Prometheus metrics, registered on the service's registry. */
export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    registrations: new Counter({
      name: "ow_signaling_registrations_total",
      help: "Cluster registrations, by result (created, updated, revoked, name_taken, key_taken, bad_signature, stale_signature, replayed_signature)",
      labelNames: ["result"] as const,
      registers,
    }),
    heartbeats: new Counter({
      name: "ow_signaling_heartbeats_total",
      help: "Link-end heartbeats, by result (ok, revoked, replayed, bad_seal, unknown_cluster, malformed, oversized)",
      labelNames: ["result"] as const,
      registers,
    }),
    tokens: new Counter({
      name: "ow_signaling_link_tokens_total",
      help: "Link tokens asked for, by result (minted, not_allowed, unknown_peer, revoked, bad_signature, ...)",
      labelNames: ["result"] as const,
      registers,
    }),
    relayPackets: new Counter({
      name: "ow_signaling_relay_packets_total",
      help: "Datagrams at the relay, by result (forwarded, bound, unbound, rate_limited, bad_ticket, ...)",
      labelNames: ["result"] as const,
      registers,
    }),
    relayBytes: new Counter({
      name: "ow_signaling_relay_bytes_total",
      help: "Bytes the relay forwarded",
      registers,
    }),
    relayedLinks: new Gauge({
      name: "ow_signaling_relayed_links",
      help: "Pairs with a binding at the relay",
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

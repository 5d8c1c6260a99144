import type { LinkNode } from "@overworld/federation";
import { Counter, Gauge, type Registry } from "prom-client";

/** The link end's Prometheus metrics: per link its state, round-trip time and loss, read at each scrape. */
export function createLinkMetrics(registry: Registry, node: () => LinkNode | undefined) {
  const registers = [registry];
  const each = (fill: (gauge: Gauge<"peer">, link: ReturnType<LinkNode["status"]>[number]) => void) =>
    function (this: Gauge<"peer">) {
      this.reset();
      for (const link of node()?.status() ?? []) fill(this, link);
    };
  return {
    up: new Gauge({
      name: "ow_link_up",
      help: "1 while the link to a peer cluster is up, 0 while it is down",
      labelNames: ["peer"] as const,
      registers,
      collect: each((gauge, link) => gauge.set({ peer: link.peer }, link.up ? 1 : 0)),
    }),
    rtt: new Gauge({
      name: "ow_link_rtt_ms",
      help: "Smoothed round-trip time of the link to a peer cluster, in milliseconds",
      labelNames: ["peer"] as const,
      registers,
      collect: each((gauge, link) => gauge.set({ peer: link.peer }, link.rttMs)),
    }),
    loss: new Gauge({
      name: "ow_link_loss_ratio",
      help: "Share of recent packets on the link to a peer cluster that were not acknowledged in time, 0 … 1",
      labelNames: ["peer"] as const,
      registers,
      collect: each((gauge, link) => gauge.set({ peer: link.peer }, link.loss)),
    }),
    relayed: new Gauge({
      name: "ow_link_relayed",
      help: "1 when the link to a peer cluster goes through main's relay, 0 when direct",
      labelNames: ["peer"] as const,
      registers,
      collect: each((gauge, link) => gauge.set({ peer: link.peer }, link.via === "relay" ? 1 : 0)),
    }),
    ups: new Counter({
      name: "ow_link_ups_total",
      help: "Links that came up, by peer and path",
      labelNames: ["peer", "via"] as const,
      registers,
    }),
    downs: new Counter({
      name: "ow_link_downs_total",
      help: "Links that went down, by peer",
      labelNames: ["peer"] as const,
      registers,
    }),
    slots: new Counter({
      name: "ow_link_shared_slots_total",
      help: "Shared-object slots sent to peers (out) and received from them (in), by result",
      labelNames: ["direction", "result"] as const,
      registers,
    }),
    refusals: new Counter({
      name: "ow_link_token_refusals_total",
      help: "Link tokens refused, by reason (token_expired, token_decrypt_failed, link_token_replayed, ...)",
      labelNames: ["reason"] as const,
      registers,
    }),
  };
}

export type LinkMetrics = ReturnType<typeof createLinkMetrics>;

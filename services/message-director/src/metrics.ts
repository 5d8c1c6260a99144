/** The director's Prometheus metrics, served on /metrics. */
import { Counter, Gauge, Registry } from "prom-client";

export interface DirectorMetrics {
  registry: Registry;
  joins: Counter<"role">;
  refusals: Counter<"reason">;
  goodbyes: Counter;
  deaths: Counter;
  postRemovesFired: Counter;
  idsAllocated: Counter<"kind">;
  leader: Gauge;
}

/** `countParticipants` is asked at each scrape (the registry lives in Redis, shared by every replica). */
export function createMetrics(countParticipants: () => Promise<number>): DirectorMetrics {
  const registry = new Registry();
  new Gauge({
    name: "ow_md_participants",
    help: "Participants registered in the cluster (all replicas)",
    registers: [registry],
    async collect() {
      this.set(await countParticipants());
    },
  });
  return {
    registry,
    joins: new Counter({
      name: "ow_md_joins_total",
      help: "Participants accepted, by role",
      labelNames: ["role"],
      registers: [registry],
    }),
    refusals: new Counter({
      name: "ow_md_joins_refused_total",
      help: "Participants refused, by reason (version, schema)",
      labelNames: ["reason"],
      registers: [registry],
    }),
    goodbyes: new Counter({
      name: "ow_md_goodbyes_total",
      help: "Participants that left cleanly",
      registers: [registry],
    }),
    deaths: new Counter({
      name: "ow_md_deaths_total",
      help: "Participants declared dead by this replica",
      registers: [registry],
    }),
    postRemovesFired: new Counter({
      name: "ow_md_post_removes_fired_total",
      help: "Post-remove messages published by this replica",
      registers: [registry],
    }),
    idsAllocated: new Counter({
      name: "ow_md_ids_allocated_total",
      help: "Ids handed out, by kind",
      labelNames: ["kind"],
      registers: [registry],
    }),
    leader: new Gauge({
      name: "ow_md_leader",
      help: "1 while this replica holds the leader lease",
      registers: [registry],
    }),
  };
}

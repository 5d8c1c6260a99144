import { Counter, Histogram, type Registry } from "prom-client";

/** The state server's own Prometheus metrics, registered on the service's registry. */
export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    requests: new Counter({
      name: "ow_ss_requests_total",
      help: "Requests and batches handled, by operation",
      labelNames: ["op"] as const,
      registers,
    }),
    errors: new Counter({
      name: "ow_ss_errors_total",
      help: "Requests and updates refused or failed, by error code",
      labelNames: ["code"] as const,
      registers,
    }),
    updatesApplied: new Counter({
      name: "ow_ss_updates_applied_total",
      help: "Field updates applied to live objects",
      registers,
    }),
    deliveries: new Counter({
      name: "ow_ss_deliveries_total",
      help: "Messages published to location, AI and owner channels",
      registers,
    }),
    events: new Counter({
      name: "ow_ss_events_total",
      help: "Events for the cluster event log, by result (appended, lost)",
      labelNames: ["result"] as const,
      registers,
    }),
    redisWaitShort: new Counter({
      name: "ow_ss_redis_wait_short_total",
      help: "Acknowledged changes answered after REDIS_WAIT_MS with fewer replicas than REDIS_WAIT_REPLICAS",
      registers,
    }),
    dbBatchRows: new Histogram({
      name: "ow_db_batch_rows",
      help: "Field rows written per Postgres transaction",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000],
      registers,
    }),
    dbBatchSeconds: new Histogram({
      name: "ow_db_batch_seconds",
      help: "Time to commit one batch of db writes",
      buckets: [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1],
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

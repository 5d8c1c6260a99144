import { Counter, Histogram, type Registry } from "prom-client";

/** Uberdog's own Prometheus metrics, registered on the service's registry. */
export function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    registrations: new Counter({
      name: "ow_uberdog_registrations_total",
      help: "Account registrations, by result (created, taken, invalid, rate_limited)",
      labelNames: ["result"] as const,
      registers,
    }),
    logins: new Counter({
      name: "ow_uberdog_logins_total",
      help: "Logins, by result (ok, bad_credentials, invalid, rate_limited)",
      labelNames: ["result"] as const,
      registers,
    }),
    passwordSeconds: new Histogram({
      name: "ow_uberdog_password_hash_seconds",
      help: "Time to hash or verify one password (scrypt, including the wait for a thread)",
      buckets: [0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5],
      registers,
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

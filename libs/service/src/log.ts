import { hostname } from "node:os";
import { type Logger, pino } from "pino";

export type { Logger } from "pino";

/** Structured JSON logs, one line an event, naming the service and its instance. */
export function createLogger(service: string, instanceId: string, level = "info"): Logger {
  return pino({ name: service, level, base: { service, instance: instanceId, host: hostname() } });
}

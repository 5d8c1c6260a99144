import { hostname } from "node:os";
import { type DestinationStream, type Logger, pino } from "pino";

export type { Logger } from "pino";

/** Structured JSON logs, one line an event, naming the service and its instance (to stdout, unless told). */
export function createLogger(
  service: string,
  instanceId: string,
  level = "info",
  destination?: DestinationStream,
): Logger {
  const options = { name: service, level, base: { service, instance: instanceId, host: hostname() } };
  return destination ? pino(options, destination) : pino(options);
}

/**
 * How `pnpm overworld start` shows its services' log lines. In a terminal, each JSON line becomes one
 * readable line (pino-pretty): time, level, the instance (`uberdog-1`), the message, then the fields that
 * matter on the same line; the fields every line carries (pid, host, service, instance) are left out.
 * Piped or redirected, a JSON line is passed on as it is (it names its service and instance itself), for
 * tools that read JSON. Lines that are not JSON (a crash's stack, a restart notice) get the process's name
 * in brackets either way.
 */
import { prettyFactory } from "pino-pretty";

/** A function from (process label, line) to what to print. */
export function logLineFormatter(terminal: boolean): (label: string, line: string) => string {
  const pretty = terminal
    ? prettyFactory({
        colorize: true,
        translateTime: "HH:MM:ss.l",
        singleLine: true,
        ignore: "pid,hostname,host,service,instance,name",
        messageFormat: (log, messageKey) =>
          `${String(log.instance ?? log.name ?? "")} ${String(log[messageKey] ?? "")}`,
      })
    : undefined;
  return (label, line) => {
    const record = parseRecord(line);
    if (record === undefined) return `[${label}] ${line}`;
    return pretty ? pretty(record).trimEnd() : line;
  };
}

/** A pino line as an object, or undefined when the line is not one. */
function parseRecord(line: string): Record<string, unknown> | undefined {
  if (!line.startsWith("{")) return undefined;
  try {
    const value = JSON.parse(line) as unknown;
    return typeof value === "object" && value !== null && "level" in value
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

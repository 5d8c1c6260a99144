import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ConfigError } from "./config.ts";
import type { Logger } from "./log.ts";

/** A stop that takes longer than this is cut short: the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;
/** The exit code of a service refused by its configuration (a variable missing or wrong). */
export const EXIT_CONFIG = 2;

export interface RunningService {
  readonly log: Logger;
  stop(): Promise<void>;
}

/**
 * What a service has opened, to close when it stops or when starting fails half-way: last opened, first
 * closed; one that fails to close does not keep the others open.
 */
export class Closers {
  private readonly list: (() => Promise<unknown>)[] = [];

  push(close: () => Promise<unknown>): void {
    this.list.push(close);
  }

  async closeAll(): Promise<void> {
    while (this.list.length > 0) await this.list.pop()!().catch(() => undefined);
  }
}

/** Whether the module with this URL is the script node was started with (not imported by a test). */
export function isEntryPoint(moduleUrl: string): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === moduleUrl;
  } catch {
    return false;
  }
}

/**
 * Runs a service as a process: loads its configuration (a bad variable: the message naming it on
 * stderr and exit code 2), starts it, and stops it cleanly on SIGTERM or SIGINT (exit 0; exit 1 if the
 * stop fails or takes longer than 10 s). A failure to start is reported on stderr, with exit code 2 if
 * it is a ConfigError (e.g. refused by the cluster), else 1.
 */
export function runService<C>(
  name: string,
  loadConfig: () => C,
  start: (config: C) => Promise<RunningService>,
): void {
  let config: C;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${name}: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  start(config).then(
    (service) => {
      const shutdown = (signal: string) => {
        service.log.info({ signal }, "signal received");
        const timer = setTimeout(() => {
          service.log.error({ timeoutMs: STOP_TIMEOUT_MS }, "stop took too long; exiting");
          process.exit(1);
        }, STOP_TIMEOUT_MS);
        timer.unref();
        service.stop().then(
          () => process.exit(0),
          (error: unknown) => {
            service.log.error({ err: error }, "stop failed");
            process.exit(1);
          },
        );
      };
      process.once("SIGTERM", () => shutdown("SIGTERM"));
      process.once("SIGINT", () => shutdown("SIGINT"));
    },
    (error: unknown) => {
      const refused = error instanceof ConfigError; // e.g. refused by the cluster: the message says why
      const reason = refused ? error.message : ((error as Error).stack ?? String(error));
      process.stderr.write(`${name} failed to start: ${reason}\n`);
      process.exit(refused ? EXIT_CONFIG : 1);
    },
  );
}

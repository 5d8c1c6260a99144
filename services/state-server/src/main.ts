import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ConfigError } from "@overworld/service";
import { loadStateServerConfig } from "./config.ts";
import { startStateServer } from "./server.ts";

export { ClusterMember, JoinRefused } from "./cluster.ts";
export { loadStateServerConfig, type StateServerConfig, stateServerConfigShape } from "./config.ts";
export { EVENT_KINDS } from "./events.ts";
export type { IdSource } from "./ids.ts";
export { type StateServerHandle, startStateServer } from "./server.ts";

/** A stop that takes longer than this is cut short: the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;
const EXIT_CONFIG = 2;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadStateServerConfig>;
  try {
    config = loadStateServerConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`state-server: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const server = await startStateServer(config);
  const shutdown = (signal: string) => {
    server.log.info({ signal }, "signal received");
    const timer = setTimeout(() => {
      server.log.error({ timeoutMs: STOP_TIMEOUT_MS }, "stop took too long; exiting");
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    timer.unref();
    server.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        server.log.error({ err: error }, "stop failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return pathToFileURL(realpathSync(script)).href === import.meta.url;
  } catch {
    return false;
  }
}

if (isEntryPoint()) {
  main().catch((error: unknown) => {
    const reason = error instanceof ConfigError ? error.message : ((error as Error).stack ?? String(error));
    process.stderr.write(`state-server failed to start: ${reason}\n`);
    process.exit(error instanceof ConfigError ? EXIT_CONFIG : 1);
  });
}

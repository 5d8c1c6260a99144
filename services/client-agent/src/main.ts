import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ConfigError } from "@overworld/service";
import { startClientAgent } from "./agent.ts";
import { loadClientAgentConfig } from "./config.ts";

export { type ClientAgentHandle, startClientAgent } from "./agent.ts";
export { type ClientAgentConfig, clientAgentConfigShape, loadClientAgentConfig } from "./config.ts";
export { AddressRateLimiter } from "./rate-limit.ts";
export { ClientSession, EJECT_LINGER_MS, MAX_CLIENT_MESSAGE_BYTES, type SessionRules } from "./session.ts";

/** A stop that takes longer than this is cut short: the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;
const EXIT_CONFIG = 2;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadClientAgentConfig>;
  try {
    config = loadClientAgentConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`client-agent: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const agent = await startClientAgent(config);
  const shutdown = (signal: string) => {
    agent.log.info({ signal }, "signal received");
    const timer = setTimeout(() => {
      agent.log.error({ timeoutMs: STOP_TIMEOUT_MS }, "stop took too long; exiting");
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    timer.unref();
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        agent.log.error({ err: error }, "stop failed");
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
    process.stderr.write(`client-agent failed to start: ${reason}\n`);
    process.exit(error instanceof ConfigError ? EXIT_CONFIG : 1);
  });
}

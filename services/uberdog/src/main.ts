import { realpathSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { ConfigError } from "@overworld/service";
import { loadUberdogConfig } from "./config.ts";
import { startUberdog } from "./server.ts";

export { type AccountStore, PostgresAccounts } from "./accounts.ts";
export { buildApp, type RateLimits, type UberdogDeps } from "./app.ts";
export { loadUberdogConfig, parseAddressList, type UberdogConfig, uberdogConfigShape } from "./config.ts";
export { migrate } from "./migrations.ts";
export { DEFAULT_SCRYPT, PasswordHasher, type ScryptParameters, UnreadableHash } from "./passwords.ts";
export { addressKey, RateLimiter } from "./rate-limit.ts";
export { createDeps, startUberdog, type UberdogHandle } from "./server.ts";
export { type IssuedToken, TokenIssuer } from "./tokens.ts";

/** A stop that takes longer than this is cut short: the process exits anyway. */
const STOP_TIMEOUT_MS = 10_000;
const EXIT_CONFIG = 2;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadUberdogConfig>;
  try {
    config = loadUberdogConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`uberdog: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const server = await startUberdog(config);
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
    process.stderr.write(`uberdog failed to start: ${reason}\n`);
    process.exit(error instanceof ConfigError ? EXIT_CONFIG : 1);
  });
}

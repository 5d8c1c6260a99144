/**
 * The message director as a process: configuration from the environment (a bad variable stops it at
 * once, named), structured logs, /healthz and /metrics, and a graceful stop on SIGTERM or SIGINT
 * (it gives up the leader lease so another replica takes over at once).
 *
 *   CLUSTER_VERSION=1.0.0 DC_FILES=game.dc node --import tsx services/message-director/src/main.ts
 */
import { ConfigError, createLogger, startOpsServer } from "@overworld/service";
import { loadDirectorConfig } from "./config.ts";
import { startMessageDirector } from "./director.ts";

const EXIT_CONFIG = 2;
const EXIT_FAILURE = 1;

async function main(): Promise<void> {
  let config: ReturnType<typeof loadDirectorConfig>;
  try {
    config = loadDirectorConfig(process.env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`message-director: ${error.message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const log = createLogger("message-director", config.instanceId, config.logLevel);
  const director = await startMessageDirector(config, { log });
  const ops = await startOpsServer({
    service: "message-director",
    port: config.httpPort,
    host: config.httpHost,
    checks: director.checks,
    metrics: director.metrics,
    details: () => director.details(),
  });
  log.info({ port: ops.port, leader: director.isLeader() }, "message director ready");

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "stopping");
    try {
      await director.stop();
      await ops.close();
      process.exit(0);
    } catch (error) {
      log.error({ err: error }, "unclean stop");
      process.exit(EXIT_FAILURE);
    }
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
}

main().catch((error: unknown) => {
  process.stderr.write(`message-director: ${(error as Error).stack ?? String(error)}\n`);
  process.exit(EXIT_FAILURE);
});

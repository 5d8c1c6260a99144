/**
 * The message director as a process: configuration from the environment (a bad variable stops it at
 * once, named), structured logs, /healthz and /metrics, and a graceful stop on SIGTERM or SIGINT
 * (it gives up the leader lease so another replica takes over at once).
 *
 *   CLUSTER_VERSION=1.0.0 DC_FILES=game.dc node --import tsx services/message-director/src/main.ts
 */
import {
  createLogger,
  isEntryPoint,
  type RunningService,
  runService,
  startOpsServer,
} from "@overworld/service";
import { type DirectorConfig, loadDirectorConfig } from "./config.ts";
import { startMessageDirector } from "./director.ts";

const SERVICE = "message-director";

/** Starts a director with its operations endpoint; what `runService` runs. */
export async function runMessageDirector(config: DirectorConfig): Promise<RunningService> {
  const log = createLogger(SERVICE, config.instanceId, config.logLevel);
  const director = await startMessageDirector(config, { log });
  const ops = await startOpsServer({
    service: SERVICE,
    port: config.httpPort,
    host: config.httpHost,
    checks: director.checks,
    metrics: director.metrics,
    details: () => director.details(),
  }).catch(async (error: unknown) => {
    await director.stop();
    throw error;
  });
  log.info({ port: ops.port, leader: director.isLeader() }, "message director ready");
  return {
    log,
    stop: async () => {
      await director.stop();
      await ops.close();
    },
  };
}

if (isEntryPoint(import.meta.url))
  runService(SERVICE, () => loadDirectorConfig(process.env), runMessageDirector);

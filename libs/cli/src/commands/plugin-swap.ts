/**
 * `pnpm overworld plugin swap (--module PATH | --package DIR)`: swaps a running plugin's version on every
 * live zone-AI replica of a cluster (`zai.plugin-swap`, services/zone-ai/src/plugins/operators.ts). It
 * joins the cluster as an operator (role `admin`) with the cluster's environment, as a service would:
 * NATS_URL, NATS_CREDS (the admin role's credentials), DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT. Prints
 * each replica's answer; exits 1 if any refused (its old version runs on) or did not answer.
 */
import { resolve } from "node:path";
import { legacyHash, loadDcFiles, type messages } from "@overworld/protocol";
import {
  clusterConfig,
  commonConfig,
  createLogger,
  defaultInstanceId,
  joinCluster,
  loadConfig,
} from "@overworld/service";

const SWAP_TIMEOUT_MS = 30_000;

export async function swapOnReplicas(
  source: { readonly module?: string | undefined; readonly package?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
  out: (line: string) => void = (line) => process.stdout.write(`${line}\n`),
): Promise<number> {
  if ((source.module === undefined) === (source.package === undefined)) {
    throw new Error("give exactly one of --module PATH and --package DIR");
  }
  // paths are the replicas' (the same machine, or a shared volume): made absolute here
  const body: messages.PluginSwap =
    source.module !== undefined ? { module: resolve(source.module) } : { package: resolve(source.package!) };
  const config = loadConfig({ ...commonConfig, ...clusterConfig }, env);
  const log = createLogger("plugin-swap", "cli", "silent");
  const participant = await joinCluster({
    natsUrl: config.NATS_URL,
    credentials: config.NATS_CREDS,
    role: "admin",
    instanceId: defaultInstanceId("plugin-swap"),
    version: config.CLUSTER_VERSION,
    schemaHash: legacyHash(loadDcFiles(config.DC_FILES)),
    root: config.SUBJECT_ROOT,
    log,
  });
  try {
    const replicas = await participant.members("zone-ai");
    if (replicas.length === 0) {
      out("no zone-AI replica is running: nothing swapped");
      return 1;
    }
    const replies = await participant.gather("zai", "plugin-swap", body, replicas.length, SWAP_TIMEOUT_MS);
    let failed = replicas.length - replies.length;
    for (const reply of replies) {
      if (reply.swapped) {
        out(
          `replica ${reply.replica}: ${reply.from} -> ${reply.to} (${reply.zones.length} zones handed over)`,
        );
      } else {
        failed += 1;
        out(`replica ${reply.replica}: refused: ${reply.error}`);
      }
    }
    if (replies.length < replicas.length) {
      out(`${replicas.length - replies.length} of ${replicas.length} replicas did not answer in time`);
    }
    return failed === 0 ? 0 : 1;
  } finally {
    await participant.leave();
  }
}

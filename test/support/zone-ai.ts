/**
 * A zone-AI replica in a test's cluster, in-process: `plugin` over the demo world's `.dc` (or `dcFile`),
 * with the test's NATS credentials, a silent log (ZAI_LOG to hear it) and an ops port of its own.
 */

import { loadZoneAiConfig, startZoneAi, type ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import type { ZonePlugin } from "../../services/zone-ai/src/plugin.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "./avatars.ts";
import { natsEnv } from "./nats.ts";
import { REDIS_URL } from "./services.ts";

let started = 0;

export function startTestZoneAi(
  cluster: Pick<Cluster, "root" | "prefix">,
  plugin: ZonePlugin,
  env: Record<string, string> = {},
  dcFile = DEMO_DC,
): Promise<ZoneAiHandle> {
  started += 1;
  return startZoneAi(
    loadZoneAiConfig({
      ...natsEnv("zone-ai"),
      REDIS_URL,
      DC_FILES: dcFile,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      REDIS_PREFIX: cluster.prefix,
      LOG_LEVEL: process.env.ZAI_LOG ?? "silent",
      INSTANCE_ID: `zone-ai-test-${process.pid}-${started}-${Date.now()}`,
      HTTP_PORT: "0",
      ...env,
    }),
    plugin,
  );
}

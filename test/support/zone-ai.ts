/**
 * Zone-AI replicas in a test's cluster. In-process (`startTestZoneAi`): `plugin` over the demo world's `.dc` (or `dcFile`),
 * with the test's NATS credentials, a silent log (ZAI_LOG to hear it) and an ops port of its own. As a
 * process of its own running the demo world (`spawnZoneAiReplica`), for a test that kills one with SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import {
  loadZoneAiConfig,
  type PluginsToRun,
  startZoneAi,
  type ZoneAiHandle,
} from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "./avatars.ts";
import { natsEnv } from "./nats.ts";
import { REDIS_URL } from "./services.ts";

let started = 0;

export function startTestZoneAi(
  cluster: Pick<Cluster, "root" | "prefix">,
  plugin: PluginsToRun,
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

const MAIN = fileURLToPath(new URL("../../services/zone-ai/src/main.ts", import.meta.url));

/** A zone-AI replica process and its ops port. */
export interface ReplicaProcess {
  readonly process: ChildProcess;
  readonly port: number;
  /** Every log line it printed so far (JSON, as pino writes them). */
  readonly lines: string[];
}

/**
 * Starts a zone-AI replica process with the demo world, its leases and snapshots quick (`env` adds the
 * demo's map and anything else); resolves with its ops port once it logged that it started. Its log lines
 * are printed with ZAI_LOG. The caller kills it (SIGKILL) when the test ends.
 */
export function spawnZoneAiReplica(
  cluster: Pick<Cluster, "root" | "prefix">,
  name: string,
  env: Record<string, string>,
): Promise<ReplicaProcess> {
  started += 1;
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    env: {
      ...process.env,
      ...natsEnv("zone-ai"),
      REDIS_URL,
      DC_FILES: DEMO_DC,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      REDIS_PREFIX: cluster.prefix,
      INSTANCE_ID: `${name}-${process.pid}-${started}`,
      LOG_LEVEL: "info",
      HTTP_PORT: "0",
      LEASE_TTL_MS: "1000",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines: string[] = [];
  return new Promise((resolve, reject) => {
    let buffered = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString();
      for (let end = buffered.indexOf("\n"); end >= 0; end = buffered.indexOf("\n")) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        lines.push(line);
        if (process.env.ZAI_LOG) console.log(`[${name}] ${line}`);
        if (line.includes('"zone AI started"'))
          resolve({ process: child, port: JSON.parse(line).httpPort, lines });
      }
    });
    child.once("exit", (code) => reject(new Error(`zone-ai replica ${name} exited with ${code}`)));
  });
}

/** The zones a replica process runs, as its /healthz says (none when it does not answer). */
export async function zonesOf(replica: ReplicaProcess): Promise<string[]> {
  const response = await fetch(`http://127.0.0.1:${replica.port}/healthz`).catch(() => undefined);
  if (response === undefined) return [];
  const body = (await response.json()) as { zones?: string[]; details?: { zones?: string[] } };
  return body.details?.zones ?? body.zones ?? [];
}

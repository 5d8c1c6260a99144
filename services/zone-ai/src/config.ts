/**
 * The zone-AI replica's configuration, from environment variables, validated at start; every problem
 * names its variable. Beyond the common variables (NATS_URL, REDIS_URL, HTTP_PORT, HTTP_HOST, LOG_LEVEL,
 * INSTANCE_ID) and the cluster's (DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT):
 *
 * - PLUGIN: the module of the game logic, a path or package exporting a ZonePlugin as `plugin` or default
 *   (default: the demo world, examples/demo/plugin.ts).
 * - REDIS_PREFIX: prepended to the replica's Redis keys (zone leases, zone channels, liveness; default `ow:`).
 * - LEASE_TTL_MS: a zone's lease lasts this long without renewal (default 1000): a replica killed -9 has
 *   its zones resumed elsewhere after about this long.
 * - LEASE_MARGIN_MS: how long before its lease would lapse in Redis a replica pauses a zone it could not
 *   renew (default 250; less than LEASE_TTL_MS, and renewals every fifth of the TTL must fit twice in
 *   the rest): a replica whose event loop stalls longer than TTL - margin pauses its zones until the next
 *   renewal says whether they are still its own.
 * - SNAPSHOT_EVERY_MS: how often a running zone stores its snapshot (default 1000): a resumed zone replays
 *   at most this much of its journal.
 * - JOURNAL_MAX_AGE_MS: how long the zone journal keeps inputs (default one hour).
 * - JETSTREAM_REPLICAS: replicas of the journal's stream and the snapshot bucket when this replica makes
 *   them (default: as many as the NATS cluster has nodes, up to three; one on a lone server).
 * - PLUGIN_TRUST: the trust list of main keys (a file, as `overworld plugin trust` keeps it) against which
 *   plugin packages sent for a swap (`zai.plugin-swap`) and those of the plugin set main pushed (from the
 *   link end, `zai.plugin-set`) are verified; without it packages are refused.
 * - PLUGIN_CACHE_DIR: where a package's checked files are written to be imported from (default a
 *   directory under the system's temporary one).
 *
 * PLUGIN may name several modules, comma-separated: the plugins run side by side (plugins/compose.ts).
 */
import { fileURLToPath } from "node:url";
import {
  clusterConfig,
  commonConfig,
  defaultInstanceId,
  jetstreamConfig,
  loadConfig,
} from "@overworld/service";
import { z } from "zod";

const DEFAULT_PLUGIN = fileURLToPath(new URL("../../../examples/demo/plugin.ts", import.meta.url));
const HOUR_MS = 3_600_000;

export const zoneAiConfigShape = {
  ...commonConfig,
  ...clusterConfig,
  ...jetstreamConfig,
  PLUGIN: z.string().min(1).default(DEFAULT_PLUGIN),
  REDIS_PREFIX: z.string().max(64).default("ow:"),
  PLUGIN_TRUST: z.string().min(1).optional(),
  PLUGIN_CACHE_DIR: z.string().min(1).optional(),
  LEASE_TTL_MS: z.coerce.number().int().min(200).max(60_000).default(1000),
  LEASE_MARGIN_MS: z.coerce.number().int().min(0).max(59_000).default(250),
  SNAPSHOT_EVERY_MS: z.coerce.number().int().min(100).max(600_000).default(1000),
  JOURNAL_MAX_AGE_MS: z.coerce
    .number()
    .int()
    .min(60_000)
    .max(30 * 24 * HOUR_MS)
    .default(HOUR_MS),
};

export type ZoneAiConfig = z.infer<z.ZodObject<typeof zoneAiConfigShape>>;

export function loadZoneAiConfig(env: NodeJS.ProcessEnv = process.env): ZoneAiConfig {
  return loadConfig(zoneAiConfigShape, env);
}

export function instanceIdOf(config: ZoneAiConfig): string {
  return config.INSTANCE_ID ?? defaultInstanceId("zone-ai");
}

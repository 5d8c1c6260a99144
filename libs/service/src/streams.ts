/**
 * The JetStream streams Overworld's services make (the zone journal, the cluster event log) and the
 * snapshot bucket: one way to make each, replicated when NATS is a cluster.
 *
 * How many replicas: JETSTREAM_REPLICAS when set (1 to 5), else as many as the cluster has nodes, at
 * most three: a NATS cluster's server says in its INFO which cluster it belongs to and the client URLs
 * of the other nodes it knows. A lone server: one. A stream made earlier keeps the replicas it was made
 * with (raise them with `nats stream edit --replicas 3`): making a stream bigger than the nodes that are
 * up would fail, and a service should not refuse to start over that.
 */
import { jetstreamManager, RetentionPolicy, StorageType } from "@nats-io/jetstream";
import { z } from "zod";
import type { NatsConnection } from "./bus.ts";

/** Replicas of a stream when NATS is a cluster and JETSTREAM_REPLICAS is unset. */
export const DEFAULT_CLUSTER_REPLICAS = 3;
const NANOS_PER_MS = 1_000_000;

/** JETSTREAM_REPLICAS, for the configuration of a service that makes streams. */
export const jetstreamConfig = {
  JETSTREAM_REPLICAS: z.coerce.number().int().min(1).max(5).optional(),
};

/** The replicas of a stream made on this connection: `configured`, else what the server says of its cluster. */
export function streamReplicas(nc: NatsConnection, configured?: number): number {
  if (configured !== undefined) return configured;
  const info = nc.info;
  if (info?.cluster === undefined) return 1;
  return Math.min(DEFAULT_CLUSTER_REPLICAS, 1 + (info.connect_urls?.length ?? 0));
}

export interface StreamSpec {
  readonly name: string;
  readonly subjects: readonly string[];
  /** How long a message is kept. */
  readonly maxAgeMs: number;
  /** Replicas (see `streamReplicas`). */
  readonly replicas: number;
}

/**
 * Makes a file-backed stream with these subjects, kept for `maxAgeMs`, unless it exists (then it is left
 * as it is); another process making it at the same moment is no error.
 */
export async function ensureStream(nc: NatsConnection, spec: StreamSpec): Promise<void> {
  const jsm = await jetstreamManager(nc);
  if (await exists()) return;
  try {
    await jsm.streams.add({
      name: spec.name,
      subjects: [...spec.subjects],
      storage: StorageType.File,
      retention: RetentionPolicy.Limits,
      max_age: spec.maxAgeMs * NANOS_PER_MS,
      num_replicas: spec.replicas,
    });
  } catch (error) {
    if (await exists()) return; // made by another between our look and our add
    throw new Error(
      `JetStream stream ${spec.name} (${spec.replicas} replica${spec.replicas === 1 ? "" : "s"}) could not be made: ${(error as Error).message}${spec.replicas > 1 ? "; are that many NATS nodes up? (JETSTREAM_REPLICAS)" : ""}`,
    );
  }

  async function exists(): Promise<boolean> {
    try {
      await jsm.streams.info(spec.name);
      return true;
    } catch (error) {
      if (/not found/i.test((error as Error).message)) return false;
      throw error;
    }
  }
}

/** Every stream of the account, by name, with its replicas (an operator's or a harness's view). */
export async function streamReplicaCounts(nc: NatsConnection): Promise<Map<string, number>> {
  const jsm = await jetstreamManager(nc);
  const counts = new Map<string, number>();
  for await (const stream of jsm.streams.list()) counts.set(stream.config.name, stream.config.num_replicas);
  return counts;
}

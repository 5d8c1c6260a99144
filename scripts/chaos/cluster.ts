/**
 * The chaos harness's cluster: the local cluster (libs/cli/src/local-cluster.ts: every service a process
 * as `pnpm overworld start` runs them, the demo world, a NATS of its own) with a Redis of its own too,
 * so that the harness can kill NATS and Redis and start them again, and any service replica.
 *
 * Redis persists with `appendfsync everysec` (see local-cluster.ts for what a kill -9 and a machine crash
 * can lose with it); `always` would lose nothing acknowledged in either case, at the cost of an fsync
 * per write, and Redis 7.0 has no WAITAOF to ask for it per write.
 *
 * A service the harness kills stays down until the harness starts it again (`restart`), at once, as a
 * supervisor would; a service that dies on its own is started again too, and counted (`crashes`).
 */

import type { ServiceName } from "../../libs/cli/src/cluster-processes.ts";
import { LocalCluster } from "../../libs/cli/src/local-cluster.ts";

/** How Redis persists. */
export const APPENDFSYNC = "everysec";

/** What the harness can break: each service, the NATS (every node), one NATS node of several, the Redis. */
export type Target = ServiceName | "nats" | "nats-node" | "redis";

export interface ChaosClusterOptions {
  /** Replicas per service (zone AI needs two to fail over). */
  readonly replicas: Readonly<Record<ServiceName, number>>;
  /** The demo world: DEMO_GRID, DEMO_NPCS_PER_ZONE. */
  readonly grid: string;
  readonly npcsPerZone: number;
  readonly maxClients: number;
  /** Nodes of the NATS (default 1; a NATS cluster when more than one). */
  readonly natsNodes?: number;
  /** Variables of one service more (a test's shorter timeouts). */
  readonly env?: Partial<Record<ServiceName, Readonly<Record<string, string>>>>;
}

export class ChaosCluster extends LocalCluster {
  constructor(options: ChaosClusterOptions) {
    super({
      name: "chaos",
      replicas: options.replicas,
      zoneAiEnv: { DEMO_GRID: options.grid, DEMO_NPCS_PER_ZONE: String(options.npcsPerZone) },
      maxClients: options.maxClients,
      natsNodes: options.natsNodes ?? 1,
      env: options.env,
      ownRedis: { appendfsync: APPENDFSYNC },
      onCrash: "respawn",
    });
  }
}

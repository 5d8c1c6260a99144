/**
 * Maintenance mode, kept in Postgres so that every uberdog replica sees it: while it is on, logins are
 * refused (503 `maintenance`, with the reason); the players connected when it began are warned at once
 * (a SYSTEM_MESSAGE with the reason and the time left) and ejected with Astron's 154 when the warning
 * runs out. Every replica sweeps while it is on (a timer at the ejection time, then every SWEEP_MS), so
 * players who connect late with a token from before, or a replica that dies meanwhile, leave no one in.
 */
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";
import type { AdminCluster } from "./cluster.ts";

/** Astron's eject code for a cluster going down for maintenance. */
export const MAINTENANCE_EJECT_CODE = 154;
const SWEEP_MS = 5000;

export interface MaintenanceState {
  readonly reason: string;
  readonly since: Date;
  readonly ejectAt: Date;
  readonly startedBy: string;
}

interface Row {
  reason: string;
  since: Date;
  eject_at: Date;
  started_by: string;
}

export class Maintenance {
  private readonly table: string;
  private timer: NodeJS.Timeout | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly cluster: AdminCluster | undefined,
    private readonly now: () => number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.table = `${quoteIdentifier(schema)}.maintenance`;
  }

  /** The maintenance in force, if any. */
  async state(): Promise<MaintenanceState | undefined> {
    const result = await this.pool.query<Row>(
      `SELECT reason, since, eject_at, started_by FROM ${this.table}`,
    );
    const row = result.rows[0];
    return row && { reason: row.reason, since: row.since, ejectAt: row.eject_at, startedBy: row.started_by };
  }

  /** Begins maintenance (or changes its reason and warning): warns every player now, ejects them later. */
  async begin(
    reason: string,
    warningMs: number,
    startedBy: string,
  ): Promise<{ state: MaintenanceState; warned: number }> {
    const since = new Date(this.now());
    const ejectAt = new Date(since.getTime() + warningMs);
    await this.pool.query(
      `INSERT INTO ${this.table} (reason, since, eject_at, started_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (singleton) DO UPDATE SET reason = $1, since = $2, eject_at = $3, started_by = $4`,
      [reason, since, ejectAt, startedBy],
    );
    const state = { reason, since, ejectAt, startedBy };
    let warned = 0;
    if (this.cluster) {
      const seconds = Math.round(warningMs / 1000);
      for (const agent of await this.cluster.sessions()) {
        for (const session of agent.sessions) {
          this.cluster.tell(
            session.client,
            `the cluster goes down for maintenance in ${seconds} s: ${reason}`,
          );
          warned += 1;
        }
      }
    }
    this.schedule(state);
    return { state, warned };
  }

  /** Ends maintenance: logins are let in again. False when it was not on. */
  async end(): Promise<boolean> {
    clearTimeout(this.timer);
    const result = await this.pool.query(`DELETE FROM ${this.table}`);
    return (result.rowCount ?? 0) > 0;
  }

  /** Sweeps while maintenance is on (every SWEEP_MS) until `stop`. */
  start(): void {
    this.sweeper = setInterval(() => void this.sweep().catch(this.onError), SWEEP_MS);
    this.sweeper.unref();
    void this.sweep().catch(this.onError);
  }

  stop(): void {
    clearInterval(this.sweeper);
    clearTimeout(this.timer);
  }

  /** Ejects every connected player (154) if maintenance is on and its warning ran out. */
  async sweep(): Promise<number> {
    const state = await this.state();
    if (!state || !this.cluster) return 0;
    if (this.now() < state.ejectAt.getTime()) {
      this.schedule(state);
      return 0;
    }
    let ejected = 0;
    for (const agent of await this.cluster.sessions()) {
      for (const session of agent.sessions) {
        this.cluster.eject(
          session.client,
          MAINTENANCE_EJECT_CODE,
          `the cluster is down for maintenance: ${state.reason}`,
        );
        ejected += 1;
      }
    }
    return ejected;
  }

  private schedule(state: MaintenanceState): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(
      () => void this.sweep().catch(this.onError),
      Math.max(0, state.ejectAt.getTime() - this.now()),
    );
    this.timer.unref();
  }
}

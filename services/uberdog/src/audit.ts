/**
 * The audit log: one row for every call of the admin API, allowed or not: when, who (the key or the
 * player, and the role they acted with), what (method, route, the object or account it was about, the
 * request without secrets) and how it ended (the status and a word: `ok`, or the error code).
 */
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";

export interface AuditEntry {
  readonly at: Date;
  readonly actor: string;
  readonly role: string | null;
  readonly method: string;
  readonly route: string;
  readonly target: string | null;
  readonly request: unknown;
  readonly status: number;
  readonly outcome: string;
}

export interface AuditRecord extends AuditEntry {
  readonly auditId: number;
}

export interface AuditQuery {
  readonly actor?: string;
  /** Rows with an id below this one (paging back: the last id of the previous page). */
  readonly before?: number;
  readonly limit: number;
}

interface AuditRow {
  audit_id: string;
  at: Date;
  actor: string;
  role: string | null;
  method: string;
  route: string;
  target: string | null;
  request: unknown;
  status: number;
  outcome: string;
}

export class AuditLog {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${quoteIdentifier(schema)}.audit`;
  }

  async record(entry: AuditEntry): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.table} (at, actor, role, method, route, target, request, status, outcome)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [
        entry.at,
        entry.actor,
        entry.role,
        entry.method,
        entry.route,
        entry.target,
        entry.request === undefined ? null : JSON.stringify(entry.request),
        entry.status,
        entry.outcome,
      ],
    );
  }

  /** The newest rows first. */
  async read(query: AuditQuery): Promise<AuditRecord[]> {
    const result = await this.pool.query<AuditRow>(
      `SELECT audit_id, at, actor, role, method, route, target, request, status, outcome FROM ${this.table}
       WHERE ($1::bigint IS NULL OR audit_id < $1) AND ($2::text IS NULL OR actor = $2)
       ORDER BY audit_id DESC LIMIT $3`,
      [query.before ?? null, query.actor ?? null, query.limit],
    );
    return result.rows.map((row) => ({
      auditId: Number(row.audit_id),
      at: row.at,
      actor: row.actor,
      role: row.role,
      method: row.method,
      route: row.route,
      target: row.target,
      request: row.request,
      status: row.status,
      outcome: row.outcome,
    }));
  }
}

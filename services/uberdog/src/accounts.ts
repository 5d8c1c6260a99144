import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";
import type { StoredRole } from "./roles.ts";

export interface Account {
  readonly accountId: number;
  readonly username: string;
  readonly passwordHash: string;
  readonly role: StoredRole;
}

/** An account as the admin API lists it. */
export interface AccountSummary {
  readonly accountId: number;
  readonly username: string;
  readonly role: StoredRole;
  readonly createdAt: Date;
  readonly lastLoginAt: Date | null;
}

export interface AccountQuery {
  /** Usernames starting with this (any case). */
  readonly prefix?: string;
  readonly role?: StoredRole;
  /** Accounts with an id above this one (paging: the last id of the previous page). */
  readonly after?: number;
  readonly limit: number;
}

/** Where accounts are kept. Usernames are matched whatever their case; times come from the caller's clock. */
export interface AccountStore {
  /** Creates an account; null when the username (in any case) is taken. */
  create(username: string, passwordHash: string, at: Date): Promise<number | null>;
  find(username: string): Promise<Account | undefined>;
  /** Records a successful login, and a new password hash when the old one was rehashed. */
  recordLogin(accountId: number, at: Date, newPasswordHash?: string): Promise<void>;
  /** True when the store answers (for /healthz). */
  ping(): Promise<boolean>;
}

const SUMMARY = "account_id, username, role, created_at, last_login_at";

interface SummaryRow {
  account_id: string;
  username: string;
  role: StoredRole;
  created_at: Date;
  last_login_at: Date | null;
}

function summaryOf(row: SummaryRow): AccountSummary {
  return {
    accountId: Number(row.account_id),
    username: row.username,
    role: row.role,
    createdAt: row.created_at,
    lastLoginAt: row.last_login_at,
  };
}

/** The accounts table of a Postgres schema (see migrations.ts). */
export class PostgresAccounts implements AccountStore {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${quoteIdentifier(schema)}.accounts`;
  }

  async create(username: string, passwordHash: string, at: Date): Promise<number | null> {
    const result = await this.pool.query<{ account_id: string }>(
      `INSERT INTO ${this.table} (username, password_hash, created_at) VALUES ($1, $2, $3)
       ON CONFLICT DO NOTHING RETURNING account_id`,
      [username, passwordHash, at],
    );
    const row = result.rows[0];
    return row ? Number(row.account_id) : null;
  }

  async find(username: string): Promise<Account | undefined> {
    const result = await this.pool.query<{
      account_id: string;
      username: string;
      password_hash: string;
      role: StoredRole;
    }>(
      `SELECT account_id, username, password_hash, role FROM ${this.table} WHERE lower(username) = lower($1)`,
      [username],
    );
    const row = result.rows[0];
    if (!row) return undefined;
    return {
      accountId: Number(row.account_id),
      username: row.username,
      passwordHash: row.password_hash,
      role: row.role,
    };
  }

  async recordLogin(accountId: number, at: Date, newPasswordHash?: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET last_login_at = $2, password_hash = coalesce($3, password_hash)
       WHERE account_id = $1`,
      [accountId, at, newPasswordHash ?? null],
    );
  }

  async ping(): Promise<boolean> {
    return (await this.pool.query("SELECT 1")).rowCount === 1;
  }

  async summary(accountId: number): Promise<AccountSummary | undefined> {
    const result = await this.pool.query<SummaryRow>(
      `SELECT ${SUMMARY} FROM ${this.table} WHERE account_id = $1`,
      [accountId],
    );
    const row = result.rows[0];
    return row ? summaryOf(row) : undefined;
  }

  /** Accounts in id order, filtered and paged. */
  async list(query: AccountQuery): Promise<AccountSummary[]> {
    const result = await this.pool.query<SummaryRow>(
      `SELECT ${SUMMARY} FROM ${this.table}
       WHERE account_id > $1
         AND ($2::text IS NULL OR lower(username) LIKE lower($2) || '%')
         AND ($3::text IS NULL OR role = $3)
       ORDER BY account_id LIMIT $4`,
      [query.after ?? 0, query.prefix?.replace(/[\\%_]/g, "\\$&") ?? null, query.role ?? null, query.limit],
    );
    return result.rows.map(summaryOf);
  }

  async setRole(accountId: number, role: StoredRole): Promise<void> {
    await this.pool.query(`UPDATE ${this.table} SET role = $2 WHERE account_id = $1`, [accountId, role]);
  }
}

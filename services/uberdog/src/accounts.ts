import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";

export interface Account {
  readonly accountId: number;
  readonly username: string;
  readonly passwordHash: string;
}

/** Where accounts are kept. Usernames are matched whatever their case. */
export interface AccountStore {
  /** Creates an account; null when the username (in any case) is taken. */
  create(username: string, passwordHash: string): Promise<number | null>;
  find(username: string): Promise<Account | undefined>;
  /** Records a successful login, and a new password hash when the old one was rehashed. */
  recordLogin(accountId: number, newPasswordHash?: string): Promise<void>;
  /** True when the store answers (for /healthz). */
  ping(): Promise<boolean>;
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

  async create(username: string, passwordHash: string): Promise<number | null> {
    const result = await this.pool.query<{ account_id: string }>(
      `INSERT INTO ${this.table} (username, password_hash) VALUES ($1, $2)
       ON CONFLICT DO NOTHING RETURNING account_id`,
      [username, passwordHash],
    );
    const row = result.rows[0];
    return row ? Number(row.account_id) : null;
  }

  async find(username: string): Promise<Account | undefined> {
    const result = await this.pool.query<{ account_id: string; username: string; password_hash: string }>(
      `SELECT account_id, username, password_hash FROM ${this.table} WHERE lower(username) = lower($1)`,
      [username],
    );
    const row = result.rows[0];
    if (!row) return undefined;
    return { accountId: Number(row.account_id), username: row.username, passwordHash: row.password_hash };
  }

  async recordLogin(accountId: number, newPasswordHash?: string): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.table} SET last_login_at = now(), password_hash = coalesce($2, password_hash)
       WHERE account_id = $1`,
      [accountId, newPasswordHash ?? null],
    );
  }

  async ping(): Promise<boolean> {
    return (await this.pool.query("SELECT 1")).rowCount === 1;
  }
}

/** Bans: a banned account's logins are refused (403 `banned`, with the reason and until when). */
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";

export interface Ban {
  readonly accountId: number;
  readonly reason: string;
  readonly bannedBy: string;
  readonly bannedAt: Date;
  /** null: until lifted. */
  readonly until: Date | null;
}

interface BanRow {
  account_id: string;
  reason: string;
  banned_by: string;
  banned_at: Date;
  until: Date | null;
}

function banOf(row: BanRow): Ban {
  return {
    accountId: Number(row.account_id),
    reason: row.reason,
    bannedBy: row.banned_by,
    bannedAt: row.banned_at,
    until: row.until,
  };
}

export class Bans {
  private readonly table: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.table = `${quoteIdentifier(schema)}.bans`;
  }

  /** Bans the account (a ban already in force is replaced). */
  async ban(ban: Ban): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.table} (account_id, reason, banned_by, banned_at, until) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (account_id) DO UPDATE SET reason = $2, banned_by = $3, banned_at = $4, until = $5`,
      [ban.accountId, ban.reason, ban.bannedBy, ban.bannedAt, ban.until],
    );
  }

  /** Lifts the ban; false when the account was not banned. */
  async unban(accountId: number): Promise<boolean> {
    const result = await this.pool.query(`DELETE FROM ${this.table} WHERE account_id = $1`, [accountId]);
    return result.rowCount === 1;
  }

  /** The ban in force on the account at `at`, if any. */
  async inForce(accountId: number, at: Date): Promise<Ban | undefined> {
    const found = await this.inForceOf([accountId], at);
    return found.get(accountId);
  }

  /** The bans in force on these accounts at `at`, by account. */
  async inForceOf(accountIds: readonly number[], at: Date): Promise<Map<number, Ban>> {
    if (accountIds.length === 0) return new Map();
    const result = await this.pool.query<BanRow>(
      `SELECT account_id, reason, banned_by, banned_at, until FROM ${this.table}
       WHERE account_id = ANY($1::bigint[]) AND (until IS NULL OR until > $2)`,
      [accountIds, at],
    );
    return new Map(result.rows.map((row) => [Number(row.account_id), banOf(row)]));
  }
}

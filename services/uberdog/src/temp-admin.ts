/**
 * The temp-admin rule (the Metatopia seed): if no admin has logged in for `adminAbsentDays` (X), the player
 * with the longest membership among those who logged in within the last `recentLoginDays` (Y) becomes the
 * temp admin: every right of an admin except making anyone, themself included, a permanent admin (see
 * roles.ts). The temp admin's own logins are not an admin's: they do not reset the admins' absence.
 *
 * The rule is evaluated when uberdog starts, every day after, and after every login (to the game or to
 * the admin API), so a longer-standing player who logs in later takes over at once, and an admin who
 * comes back ends the temp admin's term at once. The choice is kept in Postgres (`temp_admin`), so every
 * uberdog replica authorizes with the same one.
 *
 * - "Longest membership": the earliest `created_at` (ties: the lower account id).
 * - Banned players and admins are not chosen; moderators are players like others.
 * - On a cluster where no admin has ever logged in, the absence counts from the first account's creation,
 *   so a new cluster does not hand its first player the keys on day one.
 */
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";

export const DAY_MS = 86_400_000;

export interface TempAdminRule {
  /** X: days without an admin login after which a temp admin is chosen. */
  readonly adminAbsentDays: number;
  /** Y: only players who logged in within this many days may be chosen. */
  readonly recentLoginDays: number;
}

export interface TempAdminChoice {
  /** The temp admin's account, or null when there is none (an admin logged in within X days, or nobody qualifies). */
  readonly accountId: number | null;
  readonly username: string | null;
  /** Since when this choice holds. */
  readonly since: Date;
  /** When the last admin login was (null: never). */
  readonly lastAdminLoginAt: Date | null;
}

export class TempAdmin {
  private readonly schema: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    readonly rule: TempAdminRule,
    private readonly now: () => number,
    /** Told when the temp admin changes (the cluster's event log, the service log). */
    private readonly changed: (before: number | null, after: TempAdminChoice) => void = () => {},
  ) {
    this.schema = quoteIdentifier(schema);
  }

  /** Applies the rule now and keeps its choice; a new choice is announced through `changed`. */
  async evaluate(): Promise<TempAdminChoice> {
    const now = new Date(this.now());
    const s = this.schema;
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      // one evaluation at a time over every replica: the choice and its `since` are written once
      await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`${s}.temp_admin`]);
      const absence = await client.query<{ last_admin: Date | null; first_account: Date | null }>(
        `SELECT (SELECT max(last_login_at) FROM ${s}.accounts WHERE role = 'admin') AS last_admin,
                (SELECT min(created_at) FROM ${s}.accounts) AS first_account`,
      );
      const { last_admin: lastAdmin, first_account: firstAccount } = absence.rows[0]!;
      const absentSince = lastAdmin ?? firstAccount;
      let chosen: { account_id: string; username: string } | undefined;
      if (
        absentSince !== null &&
        now.getTime() - absentSince.getTime() >= this.rule.adminAbsentDays * DAY_MS
      ) {
        const candidates = await client.query<{ account_id: string; username: string }>(
          `SELECT a.account_id, a.username FROM ${s}.accounts a
           WHERE a.role <> 'admin' AND a.last_login_at >= $1
             AND NOT EXISTS (SELECT 1 FROM ${s}.bans b WHERE b.account_id = a.account_id
                             AND (b.until IS NULL OR b.until > $2))
           ORDER BY a.created_at, a.account_id LIMIT 1`,
          [new Date(now.getTime() - this.rule.recentLoginDays * DAY_MS), now],
        );
        chosen = candidates.rows[0];
      }
      const accountId = chosen ? Number(chosen.account_id) : null;
      const before = await client.query<{ account_id: string | null; since: Date }>(
        `SELECT account_id, since FROM ${s}.temp_admin`,
      );
      const previous = before.rows[0];
      const previousId = previous?.account_id == null ? null : Number(previous.account_id);
      const same = previous !== undefined && previousId === accountId;
      const since = same ? previous.since : now;
      await client.query(
        `INSERT INTO ${s}.temp_admin (account_id, since, evaluated_at) VALUES ($1, $2, $3)
         ON CONFLICT (singleton) DO UPDATE SET account_id = $1, since = $2, evaluated_at = $3`,
        [accountId, since, now],
      );
      await client.query("COMMIT");
      const choice = { accountId, username: chosen?.username ?? null, since, lastAdminLoginAt: lastAdmin };
      if (!same && (previousId !== null || accountId !== null)) this.changed(previousId, choice);
      return choice;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  /** The temp admin as last chosen (null: none). */
  async current(): Promise<number | null> {
    const result = await this.pool.query<{ account_id: string | null }>(
      `SELECT account_id FROM ${this.schema}.temp_admin`,
    );
    const id = result.rows[0]?.account_id;
    return id == null ? null : Number(id);
  }

  /** Evaluates now and then every day until the returned function is called. */
  everyDay(onError: (error: unknown) => void): () => void {
    const run = () => void this.evaluate().catch(onError);
    run();
    const timer = setInterval(run, DAY_MS);
    timer.unref();
    return () => clearInterval(timer);
  }
}

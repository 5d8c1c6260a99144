/**
 * Id allocation in ranges, from counters in Postgres: each allocation moves a counter forward in one
 * `UPDATE ... RETURNING`, so no id is ever handed out twice, by any replica, across restarts of the
 * director and of Redis (which keeps nothing on disk). Ids taken but never used are simply skipped.
 *
 * A block of channels given to a participant is recorded with it (`md_channel_blocks`), in the same
 * transaction: a client agent's client channels are its own for good, and a state server asks `owners`
 * whose a channel is before it accepts an update sent for it.
 */
import { messages } from "@overworld/protocol";
import { type IdRange, type Pool, quoteIdentifier } from "@overworld/service";
import type { IdRangeConfig } from "./config.ts";

export type IdKind = (typeof messages.ID_KINDS)[number];

/** Migrations, in order; each runs once per schema, recorded in `md_migrations`. */
const MIGRATIONS: readonly ((schema: string) => string)[] = [
  (schema) => `CREATE TABLE ${schema}.md_id_counters (
    kind text PRIMARY KEY,
    next_id bigint NOT NULL,
    last_id bigint NOT NULL,
    CHECK (next_id > 0 AND last_id > 0)
  )`,
  (schema) => `CREATE TABLE ${schema}.md_channel_blocks (
    first_id bigint PRIMARY KEY,
    count integer NOT NULL CHECK (count > 0),
    owner bigint NOT NULL
  )`,
];

/** Serialises migrations of replicas starting at the same time. */
const MIGRATION_LOCK = 0x6f77_6d64; // "owmd"

export class IdAllocator {
  private readonly schema: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    private readonly ranges: Record<IdKind, IdRangeConfig>,
  ) {
    this.schema = quoteIdentifier(schema);
  }

  /** Creates the schema and tables if missing, and records the configured ranges. */
  async migrate(): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query("BEGIN");
      await client.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${this.schema}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${this.schema}.md_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
      );
      const applied = await client.query<{ version: number }>(
        `SELECT coalesce(max(version), 0) AS version FROM ${this.schema}.md_migrations`,
      );
      for (let version = (applied.rows[0]?.version ?? 0) + 1; version <= MIGRATIONS.length; version++) {
        await client.query(MIGRATIONS[version - 1]!(this.schema));
        await client.query(`INSERT INTO ${this.schema}.md_migrations (version) VALUES ($1)`, [version]);
      }
      for (const kind of messages.ID_KINDS) {
        const { first, last } = this.ranges[kind];
        // A counter never moves back: a lower FIRST_* than before does not reissue ids.
        await client.query(
          `INSERT INTO ${this.schema}.md_id_counters (kind, next_id, last_id) VALUES ($1, $2, $3)
           ON CONFLICT (kind) DO UPDATE
             SET next_id = greatest(md_id_counters.next_id, excluded.next_id), last_id = excluded.last_id`,
          [kind, first, last],
        );
      }
      await client.query("COMMIT");
    } catch (error) {
      await client.query("ROLLBACK").catch(() => {});
      throw error;
    } finally {
      client.release();
    }
  }

  /**
   * Takes `count` consecutive ids of a kind; an `unavailable` RequestError when the range is used up.
   * Channels taken for a participant (`owner`) are recorded as its own.
   */
  async allocate(kind: IdKind, count: number, owner?: number): Promise<IdRange> {
    const take = `UPDATE ${this.schema}.md_id_counters SET next_id = next_id + $2
       WHERE kind = $1 AND next_id + $2 - 1 <= last_id
       RETURNING next_id - $2 AS first`;
    const result = await this.pool.query<{ first: string }>(
      owner === undefined
        ? take
        : `WITH taken AS (${take})
           INSERT INTO ${this.schema}.md_channel_blocks (first_id, count, owner)
           SELECT first, $2, $3 FROM taken RETURNING first_id AS first`,
      owner === undefined ? [kind, count] : [kind, count, owner],
    );
    const row = result.rows[0];
    if (!row) {
      const variable = kind === "doId" ? "LAST_DOID" : "LAST_CHANNEL";
      throw new messages.RequestError(
        "unavailable",
        `cannot allocate ${count} ${kind}s: the range ends at ${this.ranges[kind].last} (${variable}) and too few are left`,
      );
    }
    return { first: Number(row.first), count };
  }

  /** Whether Postgres answers (for /healthz). */
  async ping(): Promise<boolean> {
    return (await this.pool.query("SELECT 1")).rowCount === 1;
  }

  /** The participant each channel's block was given to, 0 for a channel in no participant's block. */
  async owners(channels: readonly number[]): Promise<number[]> {
    const result = await this.pool.query<{ channel: string; owner: string | null }>(
      `SELECT c.channel, b.owner FROM unnest($1::bigint[]) AS c(channel)
       LEFT JOIN LATERAL (
         SELECT owner, first_id, count FROM ${this.schema}.md_channel_blocks
         WHERE first_id <= c.channel ORDER BY first_id DESC LIMIT 1
       ) b ON c.channel < b.first_id + b.count`,
      [channels],
    );
    const byChannel = new Map(result.rows.map((row) => [Number(row.channel), Number(row.owner ?? 0)]));
    return channels.map((channel) => byChannel.get(channel) ?? 0);
  }
}

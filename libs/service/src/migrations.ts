import type { Pool } from "pg";

/** One schema change, applied once per schema, in version order. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  /** The SQL, given the quoted schema name. */
  sql(schema: string): string;
}

/** A schema or table name as SQL: names are validated by each service's config, and quoted here anyway. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings a service's Postgres schema up to date: creates the schema and its `migrations` table if
 * needed and applies the migrations not yet recorded, all in one transaction under an advisory lock,
 * so replicas starting at once apply each migration exactly once. Returns the versions applied now.
 */
export async function migrate(
  pool: Pool,
  schema: string,
  migrations: readonly Migration[],
): Promise<number[]> {
  const s = quoteIdentifier(schema);
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`overworld-migrations:${schema}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${s}.migrations (
         version integer PRIMARY KEY,
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now()
       )`,
    );
    const done = await client.query<{ version: number }>(`SELECT version FROM ${s}.migrations`);
    const applied = new Set(done.rows.map((row) => row.version));
    const now: number[] = [];
    for (const migration of migrations) {
      if (applied.has(migration.version)) continue;
      await client.query(migration.sql(s));
      await client.query(`INSERT INTO ${s}.migrations (version, name) VALUES ($1, $2)`, [
        migration.version,
        migration.name,
      ]);
      now.push(migration.version);
    }
    await client.query("COMMIT");
    return now;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new Error(`migrating Postgres schema ${schema} failed: ${(error as Error).message}`);
  } finally {
    client.release();
  }
}

import type { Pool } from "pg";

/** One schema change, applied once per schema, in version order. */
interface Migration {
  readonly version: number;
  readonly name: string;
  sql(schema: string): string;
}

/**
 * The stored objects: one row per object (its class), one row per stored field value (the packed
 * bytes). Deleting an object deletes its fields.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "stored objects and their db fields",
    sql: (s) => `
      CREATE TABLE ${s}.objects (
        do_id bigint PRIMARY KEY CHECK (do_id > 0 AND do_id <= 4294967295),
        class_id integer NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now()
      );
      CREATE TABLE ${s}.fields (
        do_id bigint NOT NULL REFERENCES ${s}.objects (do_id) ON DELETE CASCADE,
        field_id integer NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (do_id, field_id)
      );`,
  },
];

/** A schema name as SQL: validated by the config, quoted here anyway. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings the schema up to date: creates it and its migrations table if needed and applies the
 * migrations not yet recorded, all in one transaction under an advisory lock, so replicas starting at
 * once apply each migration exactly once. Returns the versions applied now.
 */
export async function migrate(pool: Pool, schema: string): Promise<number[]> {
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
    for (const migration of MIGRATIONS) {
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

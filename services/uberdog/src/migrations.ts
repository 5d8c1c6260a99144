import type { Pool } from "pg";

/** One schema change, applied once per schema, in version order. */
interface Migration {
  readonly version: number;
  readonly name: string;
  sql(schema: string): string;
}

/**
 * The accounts: an id handed out by Postgres, the username as the player chose it (unique whatever its
 * case, so "Alice" and "alice" cannot both exist), the password's stored hash (algorithm, parameters,
 * salt and hash in one string, see passwords.ts), and when the account was made and last logged in.
 */
const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "accounts",
    sql: (s) => `
      CREATE TABLE ${s}.accounts (
        account_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        username text NOT NULL CHECK (char_length(username) BETWEEN 3 AND 32),
        password_hash text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        last_login_at timestamptz
      );
      CREATE UNIQUE INDEX accounts_username_key ON ${s}.accounts (lower(username));`,
  },
];

/** A schema name as SQL: validated by the config, quoted here anyway. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Brings the schema up to date: creates it and its migrations table if needed and applies the migrations
 * not yet recorded, in one transaction under an advisory lock, so replicas starting at once apply each
 * migration exactly once. Returns the versions applied now.
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

import { type Migration, migrate as migrateSchema } from "@overworld/service";
import type { Pool } from "pg";

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

/** Brings this service's schema up to date (see `migrate` in @overworld/service). */
export function migrate(pool: Pool, schema: string): Promise<number[]> {
  return migrateSchema(pool, schema, MIGRATIONS);
}

import { type Migration, migrate as migrateSchema } from "@overworld/service";
import type { Pool } from "pg";

/**
 * The accounts: an id handed out by Postgres, the username as the player chose it (unique whatever its
 * case, so "Alice" and "alice" cannot both exist), the password's stored hash (algorithm, parameters,
 * salt and hash in one string, see passwords.ts), and when the account was made and last logged in.
 *
 * Then the admin API's (version 2): each account's role (player, moderator, admin), bans, operators' API
 * keys and players' admin sessions (only hashes of their secrets), the temp admin the rule chose (see
 * temp-admin.ts), maintenance mode, and the audit log of every admin call. Times are written by uberdog's
 * clock, not Postgres's, so that the temp-admin rule can be tested with a clock of its own.
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
  {
    version: 2,
    name: "admin",
    sql: (s) => `
      ALTER TABLE ${s}.accounts
        ADD COLUMN role text NOT NULL DEFAULT 'player' CHECK (role IN ('player', 'moderator', 'admin'));
      CREATE INDEX accounts_role ON ${s}.accounts (role) WHERE role <> 'player';
      CREATE INDEX accounts_created_at ON ${s}.accounts (created_at, account_id);

      CREATE TABLE ${s}.bans (
        account_id bigint PRIMARY KEY REFERENCES ${s}.accounts ON DELETE CASCADE,
        reason text NOT NULL,
        banned_by text NOT NULL,
        banned_at timestamptz NOT NULL,
        until timestamptz
      );

      CREATE TABLE ${s}.api_keys (
        key_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('moderator', 'admin')),
        secret_hash bytea NOT NULL,
        created_by text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      );

      CREATE TABLE ${s}.admin_sessions (
        token_hash bytea PRIMARY KEY,
        account_id bigint NOT NULL REFERENCES ${s}.accounts ON DELETE CASCADE,
        created_at timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
      );

      CREATE TABLE ${s}.temp_admin (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        account_id bigint REFERENCES ${s}.accounts ON DELETE SET NULL,
        since timestamptz NOT NULL,
        evaluated_at timestamptz NOT NULL
      );

      CREATE TABLE ${s}.maintenance (
        singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
        reason text NOT NULL,
        since timestamptz NOT NULL,
        eject_at timestamptz NOT NULL,
        started_by text NOT NULL
      );

      CREATE TABLE ${s}.audit (
        audit_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at timestamptz NOT NULL,
        actor text NOT NULL,
        role text,
        method text NOT NULL,
        route text NOT NULL,
        target text,
        request jsonb,
        status integer NOT NULL,
        outcome text NOT NULL
      );
      CREATE INDEX audit_at ON ${s}.audit (at DESC, audit_id DESC);`,
  },
];

/** Brings this service's schema up to date (see `migrate` in @overworld/service). */
export function migrate(pool: Pool, schema: string): Promise<number[]> {
  return migrateSchema(pool, schema, MIGRATIONS);
}

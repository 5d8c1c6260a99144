/**
 * What an operator does from a shell, straight on uberdog's schema (`pnpm overworld admin ...`): make the
 * first API key, or make a player an admin, before anyone can call the admin API. Whoever can reach
 * uberdog's Postgres is trusted with this anyway.
 */
import { connectPostgres, quoteIdentifier } from "@overworld/service";
import { Credentials, type KeyRole } from "./credentials.ts";
import { migrate } from "./migrations.ts";
import type { StoredRole } from "./roles.ts";

/** Makes an API key (revoking the live keys of the same name first when `replace`); its token. */
export async function makeApiKey(
  databaseUrl: string,
  schema: string,
  key: { name: string; role: KeyRole; replace?: boolean },
): Promise<string> {
  const pool = await connectPostgres(databaseUrl, "overworld admin", 1);
  try {
    await migrate(pool, schema);
    const credentials = new Credentials(pool, schema, 0);
    const now = new Date();
    if (key.replace) await credentials.revokeKeysNamed(key.name, now);
    return (await credentials.createKey(key.name, key.role, "overworld admin (shell)", now)).token;
  } finally {
    await pool.end();
  }
}

/** Gives a player's account a role; false when there is no such username. */
export async function grantRole(
  databaseUrl: string,
  schema: string,
  username: string,
  role: StoredRole,
): Promise<boolean> {
  const pool = await connectPostgres(databaseUrl, "overworld admin", 1);
  try {
    await migrate(pool, schema);
    const result = await pool.query(
      `UPDATE ${quoteIdentifier(schema)}.accounts SET role = $2 WHERE lower(username) = lower($1)`,
      [username, role],
    );
    return result.rowCount === 1;
  } finally {
    await pool.end();
  }
}

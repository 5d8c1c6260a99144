/**
 * How callers of the admin API prove who they are, with `Authorization: Bearer <token>`:
 *
 * - an operator's API key, `owk_<keyId>_<secret>`, made by an admin (or `pnpm overworld admin key`) for
 *   the role `admin` or `moderator`; it works until revoked;
 * - a player's admin session, `ows_<secret>`, from logging in to the admin API with the game account's
 *   username and password; it lasts ADMIN_SESSION_HOURS. The player's role is read at every call (from
 *   the account and the temp-admin rule), so a role taken away takes effect at once.
 *
 * Only SHA-256 hashes of the secrets are stored (the secrets are 32 random bytes: no salt or slow hash
 * needed); a token is shown once, when it is made.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { quoteIdentifier } from "@overworld/service";
import type { Pool } from "pg";
import type { StoredRole } from "./roles.ts";

const SECRET_BYTES = 32;
const KEY_TOKEN = /^owk_([1-9][0-9]{0,15})_([A-Za-z0-9_-]{43})$/;
const SESSION_TOKEN = /^ows_[A-Za-z0-9_-]{43}$/;

export type KeyRole = Extract<StoredRole, "admin" | "moderator">;

export interface ApiKey {
  readonly keyId: number;
  readonly name: string;
  readonly role: KeyRole;
  readonly createdBy: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

/** Who a bearer token stands for, before roles are worked out. */
export type Bearer =
  | { readonly kind: "key"; readonly key: ApiKey }
  | { readonly kind: "player"; readonly accountId: number };

function hash(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

function secret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

interface KeyRow {
  key_id: string;
  name: string;
  role: KeyRole;
  created_by: string;
  created_at: Date;
  revoked_at: Date | null;
}

function keyOf(row: KeyRow): ApiKey {
  return {
    keyId: Number(row.key_id),
    name: row.name,
    role: row.role,
    createdBy: row.created_by,
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}

export class Credentials {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
    /** How long a player's admin session lasts. */
    private readonly sessionMs: number,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /** Makes an API key; the token is returned once and never stored. */
  async createKey(
    name: string,
    role: KeyRole,
    createdBy: string,
    at: Date,
  ): Promise<{ key: ApiKey; token: string }> {
    const text = secret();
    const result = await this.pool.query<KeyRow>(
      `INSERT INTO ${this.s}.api_keys (name, role, secret_hash, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5) RETURNING key_id, name, role, created_by, created_at, revoked_at`,
      [name, role, hash(text), createdBy, at],
    );
    const key = keyOf(result.rows[0]!);
    return { key, token: `owk_${key.keyId}_${text}` };
  }

  async listKeys(): Promise<ApiKey[]> {
    const result = await this.pool.query<KeyRow>(
      `SELECT key_id, name, role, created_by, created_at, revoked_at FROM ${this.s}.api_keys ORDER BY key_id`,
    );
    return result.rows.map(keyOf);
  }

  /** Revokes a key; false when there is no such key (or it was revoked already). */
  async revokeKey(keyId: number, at: Date): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE ${this.s}.api_keys SET revoked_at = $2 WHERE key_id = $1 AND revoked_at IS NULL`,
      [keyId, at],
    );
    return result.rowCount === 1;
  }

  /** Revokes every live key of this name (`pnpm overworld start` replaces its own key each run). */
  async revokeKeysNamed(name: string, at: Date): Promise<void> {
    await this.pool.query(
      `UPDATE ${this.s}.api_keys SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL`,
      [name, at],
    );
  }

  /** Opens an admin session for a player who logged in; the token is returned once. */
  async openSession(accountId: number, at: Date): Promise<{ token: string; expiresAt: Date }> {
    const token = `ows_${secret()}`;
    const expiresAt = new Date(at.getTime() + this.sessionMs);
    await this.pool.query(
      `INSERT INTO ${this.s}.admin_sessions (token_hash, account_id, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
      [hash(token), accountId, at, expiresAt],
    );
    return { token, expiresAt };
  }

  /** Ends an admin session (logging out). */
  async closeSession(token: string): Promise<void> {
    await this.pool.query(`DELETE FROM ${this.s}.admin_sessions WHERE token_hash = $1`, [hash(token)]);
  }

  /** Who the token stands for, or undefined when it is no live key or session. */
  async verify(token: string, at: Date): Promise<Bearer | undefined> {
    const key = KEY_TOKEN.exec(token);
    if (key) {
      const result = await this.pool.query<KeyRow & { secret_hash: Buffer }>(
        `SELECT key_id, name, role, created_by, created_at, revoked_at, secret_hash FROM ${this.s}.api_keys
         WHERE key_id = $1 AND revoked_at IS NULL`,
        [key[1]],
      );
      const row = result.rows[0];
      if (!row || !timingSafeEqual(row.secret_hash, hash(key[2]!))) return undefined;
      return { kind: "key", key: keyOf(row) };
    }
    if (!SESSION_TOKEN.test(token)) return undefined;
    const result = await this.pool.query<{ account_id: string }>(
      `SELECT account_id FROM ${this.s}.admin_sessions WHERE token_hash = $1 AND expires_at > $2`,
      [hash(token), at],
    );
    const row = result.rows[0];
    return row ? { kind: "player", accountId: Number(row.account_id) } : undefined;
  }
}

/**
 * Who may do what through the admin API.
 *
 * An account's stored role is `player`, `moderator` or `admin`. Whoever calls the API acts with one of
 * three roles: a moderator or an admin (a player with that stored role who logged in to the admin API,
 * or an operator's API key made for that role), or the *temp admin* (the player the temp-admin rule
 * chose, see temp-admin.ts), who acts as an admin except that it cannot make anyone a permanent admin.
 *
 * - `read`: cluster status, objects, players, the event log and the audit log: everyone.
 * - `moderate`: kick, ban and unban, broadcast: everyone, on targets of a lower rank than their own.
 * - `administer`: set fields, maintenance mode, moderator roles, moderator API keys: admins and the
 *   temp admin.
 * - `grant-admin`: give or take the admin role, or make an admin API key: admins only.
 *
 * Ranks: player 0, moderator 1, admin 2 (the temp admin acts at 2). Nobody bans or kicks someone of
 * their own rank or above: a moderator cannot ban a moderator or an admin, and an admin who must be
 * banned is first made a player by another admin.
 */
export const STORED_ROLES = ["player", "moderator", "admin"] as const;
export type StoredRole = (typeof STORED_ROLES)[number];

export const ACTING_ROLES = ["admin", "temp-admin", "moderator"] as const;
export type ActingRole = (typeof ACTING_ROLES)[number];

export type Right = "read" | "moderate" | "administer" | "grant-admin";

const RIGHTS: Readonly<Record<ActingRole, readonly Right[]>> = {
  admin: ["read", "moderate", "administer", "grant-admin"],
  "temp-admin": ["read", "moderate", "administer"],
  moderator: ["read", "moderate"],
};

const RANK: Readonly<Record<StoredRole | ActingRole, number>> = {
  player: 0,
  moderator: 1,
  "temp-admin": 2,
  admin: 2,
};

/** Who is calling: an operator's API key or a player logged in to the admin API. */
export interface Actor {
  readonly kind: "key" | "player";
  /** `key:<id>:<name>` or `player:<accountId>:<username>`: how the audit log names it. */
  readonly name: string;
  readonly role: ActingRole;
  /** The player's account (kind `player`). */
  readonly accountId?: number;
}

export function mayDo(role: ActingRole, right: Right): boolean {
  return RIGHTS[role].includes(right);
}

/** "an admin", "a moderator": a role with its article, for reasons people read. */
export function aRole(role: StoredRole | ActingRole): string {
  return `${role === "admin" ? "an" : "a"} ${role}`;
}

/** Why `actor` may not act on an account with `target`'s role (kick, ban), or undefined when it may. */
export function outranks(actor: Actor, target: StoredRole): string | undefined {
  if (RANK[actor.role] > RANK[target]) return undefined;
  return `${aRole(actor.role)} may not act on ${aRole(target)}: only on accounts of a lower rank`;
}

/** The right needed to give an account this role, or to take its present one away. */
export function rightToSet(from: StoredRole, to: StoredRole): Right {
  return from === "admin" || to === "admin" ? "grant-admin" : "administer";
}

/**
 * What the admin routes share: their dependencies, who is calling (`request.actor`, set by the
 * authentication hook), the right a route needs (`config.right`), and the answers they refuse with.
 */
import type { FastifyReply } from "fastify";
import type { PostgresAccounts } from "../accounts.ts";
import type { AuditLog } from "../audit.ts";
import type { Bans } from "../bans.ts";
import type { AdminCluster } from "../cluster.ts";
import type { Credentials } from "../credentials.ts";
import type { Maintenance } from "../maintenance.ts";
import type { PasswordHasher } from "../passwords.ts";
import type { LoginBackoff } from "../rate-limit.ts";
import type { Actor, Right } from "../roles.ts";
import { ErrorAnswer } from "../schemas.ts";
import type { TempAdmin } from "../temp-admin.ts";
import type { LiveDeps } from "./live.ts";

declare module "fastify" {
  interface FastifyRequest {
    /** The caller of an admin route, once authenticated. */
    actor?: Actor;
    /** What the audit log says of the call's target (`account:7`, `object:100001`, `key:3`). */
    auditTarget?: string;
  }
  interface FastifyContextConfig {
    /** The right an admin route needs; none: any authenticated caller (or, for login, nobody). */
    right?: Right | "public";
  }
}

export interface AdminDeps {
  readonly accounts: PostgresAccounts;
  readonly passwords: PasswordHasher;
  readonly backoff: LoginBackoff;
  readonly bans: Bans;
  readonly credentials: Credentials;
  readonly audit: AuditLog;
  readonly tempAdmin: TempAdmin;
  readonly maintenance: Maintenance;
  readonly cluster: AdminCluster;
  /** Uberdog's clock (ms since the epoch): the temp-admin test sets its own. */
  readonly now: () => number;
  /** The warning before maintenance ejects players, when a call does not say. */
  readonly maintenanceWarningMs: number;
  /** The dashboard's live feed (absent: no /live route). */
  readonly live?: LiveDeps;
}

export function problem(error: ErrorAnswer["error"], reason: string, field?: string): ErrorAnswer {
  return field === undefined ? { error, reason } : { error, reason, field };
}

export function notFound(reply: FastifyReply, what: string) {
  return reply.code(404).send(problem("not_found", `${what} does not exist`));
}

export function forbidden(reply: FastifyReply, reason: string) {
  return reply.code(403).send(problem("forbidden", reason));
}

export function iso(date: Date): string {
  return date.toISOString();
}

export function isoOrNull(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

/** The error answers every admin route may give, for the OpenAPI document. */
export function errors() {
  return {
    400: ErrorAnswer,
    401: ErrorAnswer,
    403: ErrorAnswer,
    404: ErrorAnswer,
    429: ErrorAnswer,
    503: ErrorAnswer,
  };
}

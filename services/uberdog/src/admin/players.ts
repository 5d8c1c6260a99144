/**
 * Players: list and look up (account, role, ban, live sessions), kick (an eject code and reason, through
 * the client agent holding each session), ban and unban (a banned account's logins are refused, and its
 * sessions ejected), roles; the temp-admin rule's choice; the audit log.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { FastifyReply } from "fastify";
import type { AccountSummary } from "../accounts.ts";
import {
  AccountIdParams,
  AuditList,
  AuditQuery,
  BanBody,
  Banned,
  KickBody,
  Kicked,
  PlayerList,
  PlayerQuery,
  PlayerView,
  RoleBody,
  TempAdminView,
} from "../admin-schemas.ts";
import type { Ban } from "../bans.ts";
import type { AgentSessions } from "../cluster.ts";
import { type Actor, aRole, mayDo, outranks, rightToSet } from "../roles.ts";
import { DAY_MS } from "../temp-admin.ts";
import { type AdminDeps, errors, forbidden, iso, isoOrNull, notFound } from "./context.ts";

/** The eject code a banned player's sessions end with (Overworld's own, in Astron's range of server reasons). */
export const BANNED_EJECT_CODE = 152;

function banView(ban: Ban) {
  return {
    reason: ban.reason,
    bannedBy: ban.bannedBy,
    bannedAt: iso(ban.bannedAt),
    until: isoOrNull(ban.until),
  };
}

export const players: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  const { accounts, bans, cluster } = deps;

  /** Accounts as the API shows them: with their ban, their live sessions and whether they are the temp admin. */
  async function views(list: readonly AccountSummary[], agents: readonly AgentSessions[]) {
    const [banned, tempAdmin] = await Promise.all([
      bans.inForceOf(
        list.map((account) => account.accountId),
        new Date(deps.now()),
      ),
      deps.tempAdmin.current(),
    ]);
    return list.map((account) => ({
      accountId: account.accountId,
      username: account.username,
      role: account.role,
      tempAdmin: tempAdmin === account.accountId,
      createdAt: iso(account.createdAt),
      lastLoginAt: isoOrNull(account.lastLoginAt),
      ban: banned.has(account.accountId) ? banView(banned.get(account.accountId)!) : null,
      sessions: agents.flatMap((agent) =>
        agent.sessions
          .filter((session) => session.accountId === account.accountId)
          .map((session) => ({
            client: session.client,
            agent: agent.agent,
            address: session.address,
            connectedAt: iso(new Date(session.connectedAt)),
            objects: session.objects,
          })),
      ),
    }));
  }

  /** The account, if the actor may act on it (kick, ban); else the refusal has been sent. */
  async function target(
    actor: Actor,
    accountId: number,
    reply: FastifyReply,
  ): Promise<AccountSummary | undefined> {
    const account = await accounts.summary(accountId);
    if (!account) {
      await notFound(reply, `account ${accountId}`);
      return undefined;
    }
    const refusal =
      actor.accountId === accountId ? "nobody acts on their own account here" : outranks(actor, account.role);
    if (refusal !== undefined) {
      await forbidden(reply, `${refusal} (${account.username} is ${aRole(account.role)})`);
      return undefined;
    }
    return account;
  }

  /** Ejects every session of the account; how many there were. */
  async function ejectAll(accountId: number, code: number, reason: string): Promise<number> {
    const sessions = (await cluster.sessions(accountId)).flatMap((agent) => agent.sessions);
    for (const session of sessions) cluster.eject(session.client, code, reason);
    return sessions.length;
  }

  app.get(
    "/players",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: players"],
        summary: "Accounts by id, with role, ban and live sessions; online=true: only those connected now",
        querystring: PlayerQuery,
        response: { 200: PlayerList, ...errors() },
      },
    },
    async (request) => {
      const { prefix, role, online, after, limit } = request.query;
      const agents = await cluster.sessions();
      let list: AccountSummary[];
      if (online) {
        const ids = [
          ...new Set(agents.flatMap((agent) => agent.sessions.map((session) => session.accountId))),
        ]
          .filter((accountId) => accountId > (after ?? 0))
          .sort((a, b) => a - b);
        const found = await Promise.all(ids.map((accountId) => accounts.summary(accountId)));
        list = found
          .filter((account): account is AccountSummary => account !== undefined)
          .filter(
            (account) =>
              (role === undefined || account.role === role) &&
              (prefix === undefined || account.username.toLowerCase().startsWith(prefix.toLowerCase())),
          )
          .slice(0, limit);
      } else {
        list = await accounts.list({
          limit,
          ...(prefix === undefined ? {} : { prefix }),
          ...(role === undefined ? {} : { role }),
          ...(after === undefined ? {} : { after }),
        });
      }
      return {
        players: await views(list, agents),
        next: list.length === limit ? list.at(-1)!.accountId : null,
      };
    },
  );

  app.get(
    "/players/:accountId",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: players"],
        summary: "One player",
        params: AccountIdParams,
        response: { 200: PlayerView, ...errors() },
      },
    },
    async (request, reply) => {
      const account = await accounts.summary(request.params.accountId);
      if (!account) return notFound(reply, `account ${request.params.accountId}`);
      return (await views([account], await cluster.sessions(account.accountId)))[0]!;
    },
  );

  app.post(
    "/players/:accountId/kick",
    {
      config: { right: "moderate" },
      schema: {
        tags: ["admin: players"],
        summary: "Eject every session of the player with this code and reason",
        params: AccountIdParams,
        body: KickBody,
        response: { 200: Kicked, ...errors() },
      },
    },
    async (request, reply) => {
      const account = await target(request.actor!, request.params.accountId, reply);
      if (!account) return reply;
      const { code, reason } = request.body;
      const ejected = await ejectAll(account.accountId, code, reason);
      await cluster.record("admin.kick", {
        by: request.actor!.name,
        accountId: account.accountId,
        code,
        reason,
        ejected,
      });
      return { ejected };
    },
  );

  app.post(
    "/players/:accountId/ban",
    {
      config: { right: "moderate" },
      schema: {
        tags: ["admin: players"],
        summary: `Ban the player: its logins are refused, its sessions ejected (${BANNED_EJECT_CODE})`,
        params: AccountIdParams,
        body: BanBody,
        response: { 200: Banned, ...errors() },
      },
    },
    async (request, reply) => {
      const actor = request.actor!;
      const account = await target(actor, request.params.accountId, reply);
      if (!account) return reply;
      const { reason, days } = request.body;
      const now = deps.now();
      const ban: Ban = {
        accountId: account.accountId,
        reason,
        bannedBy: actor.name,
        bannedAt: new Date(now),
        until: days === undefined ? null : new Date(now + days * DAY_MS),
      };
      await bans.ban(ban);
      const ejected = await ejectAll(account.accountId, BANNED_EJECT_CODE, `banned: ${reason}`);
      await cluster.record("admin.ban", {
        by: actor.name,
        accountId: account.accountId,
        reason,
        until: ban.until?.getTime() ?? null,
      });
      return { ban: banView(ban), ejected };
    },
  );

  app.delete(
    "/players/:accountId/ban",
    {
      config: { right: "moderate" },
      schema: {
        tags: ["admin: players"],
        summary: "Lift the player's ban",
        params: AccountIdParams,
        response: { 200: PlayerView, ...errors() },
      },
    },
    async (request, reply) => {
      const account = await target(request.actor!, request.params.accountId, reply);
      if (!account) return reply;
      if (!(await bans.unban(account.accountId))) return notFound(reply, `a ban of ${account.username}`);
      await cluster.record("admin.unban", { by: request.actor!.name, accountId: account.accountId });
      return (await views([account], []))[0]!;
    },
  );

  app.put(
    "/players/:accountId/role",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: players"],
        summary: "Set the player's role (giving or taking the admin role needs a permanent admin)",
        params: AccountIdParams,
        body: RoleBody,
        response: { 200: PlayerView, ...errors() },
      },
    },
    async (request, reply) => {
      const actor = request.actor!;
      const account = await accounts.summary(request.params.accountId);
      if (!account) return notFound(reply, `account ${request.params.accountId}`);
      const { role } = request.body;
      const needed = rightToSet(account.role, role);
      if (!mayDo(actor.role, needed)) {
        return forbidden(
          reply,
          `${aRole(actor.role)} may not make ${account.username} ${aRole(role)}${account.role === "admin" ? " (an admin now)" : ""}: only a permanent admin gives or takes the admin role`,
        );
      }
      await accounts.setRole(account.accountId, role);
      await deps.tempAdmin.evaluate(); // a new admin (or one fewer) may end or start a temp admin's term
      await cluster.record("admin.role", {
        by: actor.name,
        accountId: account.accountId,
        from: account.role,
        to: role,
      });
      return (await views([{ ...account, role }], await cluster.sessions(account.accountId)))[0]!;
    },
  );

  app.get(
    "/temp-admin",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: players"],
        summary: "The temp-admin rule: its settings and its choice now",
        response: { 200: TempAdminView, ...errors() },
      },
    },
    async () => {
      const choice = await deps.tempAdmin.evaluate();
      return {
        ...deps.tempAdmin.rule,
        accountId: choice.accountId,
        username: choice.username,
        since: iso(choice.since),
        lastAdminLoginAt: isoOrNull(choice.lastAdminLoginAt),
      };
    },
  );

  app.get(
    "/audit",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: access"],
        summary: "The audit log, newest first",
        querystring: AuditQuery,
        response: { 200: AuditList, ...errors() },
      },
    },
    async (request) => {
      const { actor, before, limit } = request.query;
      const entries = await deps.audit.read({
        limit,
        ...(actor === undefined ? {} : { actor }),
        ...(before === undefined ? {} : { before }),
      });
      return {
        entries: entries.map((entry) => ({ ...entry, at: iso(entry.at) })),
        next: entries.length === limit ? entries.at(-1)!.auditId : null,
      };
    },
  );
};

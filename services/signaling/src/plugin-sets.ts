/**
 * Selective push: main's operator assigns a plugin set (exact name@version for the servers of a cluster
 * and for its clients) to every cluster, to named clusters, or to the clusters of a tag (declared when
 * they register); clusters ask what their set is, fetch and verify it themselves (libs/manifest), and
 * report what they run and what they refused.
 *
 *   POST /v1/plugin-sets                 push a set (operator)                                -> 201
 *   GET  /v1/plugin-sets                 per cluster: the set assigned, the set running, refusals (operator)
 *   POST /v1/plugins/assigned            a cluster asks for its set (signed, purpose "plugin-set")
 *   POST /v1/plugins/report              a cluster reports what it runs (signed, purpose "plugin-report")
 *
 * A cluster's assigned set is the newest push that names it (all, its name, or one of its tags), so a
 * cluster that registers later with a tag gets that tag's set too. Every package of a push must be
 * published on main (packages.ts) and run on the side it is pushed for (a server plugin for the servers,
 * a client plugin for the clients); main says which is not.
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Signed } from "@overworld/federation";
import { manifestId, parseSignedManifest, sideOf } from "@overworld/manifest";
import { quoteIdentifier } from "@overworld/service";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Pool } from "pg";
import { type Static, Type } from "typebox";
import type { ClusterRecord, Directory } from "./directory.ts";
import type { PackageStore } from "./packages.ts";
import { ErrorAnswer } from "./schemas.ts";
import { checkSignedOnce } from "./signatures.ts";

/** One plugin at one version, with its package id (the SHA-256 of its manifest). */
export interface PluginPin {
  readonly name: string;
  readonly version: string;
  readonly id: string;
}

export interface PushTarget {
  readonly all: boolean;
  readonly clusters: readonly string[];
  readonly tag: string | null;
}

export interface PluginPush {
  readonly id: number;
  readonly target: PushTarget;
  readonly servers: readonly PluginPin[];
  readonly clients: readonly PluginPin[];
  readonly pushedAt: Date;
}

export interface PluginRefusalReport {
  readonly package: string;
  readonly refusal: string;
  readonly detail: string;
}

export interface PluginReport {
  readonly push: number;
  readonly servers: readonly PluginPin[];
  readonly clients: readonly PluginPin[];
  readonly refusals: readonly PluginRefusalReport[];
  readonly reportedAt: Date;
}

interface PushRow {
  id: string;
  target_all: boolean;
  target_clusters: string[];
  target_tag: string | null;
  servers: PluginPin[];
  clients: PluginPin[];
  pushed_at: Date;
}

const toPush = (row: PushRow): PluginPush => ({
  id: Number(row.id),
  target: { all: row.target_all, clusters: row.target_clusters, tag: row.target_tag },
  servers: row.servers,
  clients: row.clients,
  pushedAt: row.pushed_at,
});

/** Whether a push names a cluster. */
export function pushNames(target: PushTarget, cluster: Pick<ClusterRecord, "name" | "tags">): boolean {
  return (
    target.all ||
    target.clusters.includes(cluster.name) ||
    (target.tag !== null && cluster.tags.includes(target.tag))
  );
}

export class PluginSetStore {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.s = quoteIdentifier(schema);
  }

  async push(target: PushTarget, servers: readonly PluginPin[], clients: readonly PluginPin[]) {
    const result = await this.pool.query<PushRow>(
      `INSERT INTO ${this.s}.plugin_pushes (target_all, target_clusters, target_tag, servers, clients)
       VALUES ($1, $2, $3, $4, $5) RETURNING *`,
      [
        target.all,
        JSON.stringify(target.clusters),
        target.tag,
        JSON.stringify(servers),
        JSON.stringify(clients),
      ],
    );
    return toPush(result.rows[0]!);
  }

  /** The set assigned to a cluster: the newest push naming it, or undefined when none does. */
  async assigned(cluster: Pick<ClusterRecord, "name" | "tags">): Promise<PluginPush | undefined> {
    const result = await this.pool.query<PushRow>(
      `SELECT * FROM ${this.s}.plugin_pushes
       WHERE target_all OR target_clusters ? $1 OR (target_tag IS NOT NULL AND $2::jsonb ? target_tag)
       ORDER BY id DESC LIMIT 1`,
      [cluster.name, JSON.stringify(cluster.tags)],
    );
    return result.rows[0] && toPush(result.rows[0]);
  }

  async report(cluster: string, report: Omit<PluginReport, "reportedAt">): Promise<void> {
    await this.pool.query(
      `INSERT INTO ${this.s}.plugin_reports (cluster, push, servers, clients, refusals)
       VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (cluster) DO UPDATE
         SET push = $2, servers = $3, clients = $4, refusals = $5, reported_at = now()`,
      [
        cluster,
        report.push,
        JSON.stringify(report.servers),
        JSON.stringify(report.clients),
        JSON.stringify(report.refusals),
      ],
    );
  }

  async reports(): Promise<Map<string, PluginReport>> {
    const result = await this.pool.query<{
      cluster: string;
      push: string;
      servers: PluginPin[];
      clients: PluginPin[];
      refusals: PluginRefusalReport[];
      reported_at: Date;
    }>(`SELECT * FROM ${this.s}.plugin_reports`);
    return new Map(
      result.rows.map((row) => [
        row.cluster,
        {
          push: Number(row.push),
          servers: row.servers,
          clients: row.clients,
          refusals: row.refusals,
          reportedAt: row.reported_at,
        },
      ]),
    );
  }
}

const Label = Type.String({
  pattern: "^[a-z0-9][a-z0-9._-]{0,63}@[0-9A-Za-z.+-]{1,256}$",
  description: "name@version of a published plugin",
});
const Name = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{0,31}$" });
export const PushBody = Type.Object(
  {
    servers: Type.Array(Label, { maxItems: 256, default: [] }),
    clients: Type.Array(Label, { maxItems: 256, default: [] }),
    to: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 1024, description: "these clusters" })),
    tag: Type.Optional(
      Type.String({ pattern: "^[a-z0-9][a-z0-9-]{0,31}$", description: "the clusters of a tag" }),
    ),
  },
  { additionalProperties: false, description: "without `to` or `tag`: every cluster" },
);
const Pin = Type.Object({ name: Type.String(), version: Type.String(), id: Type.String() });
const Target = Type.Object({
  all: Type.Boolean(),
  clusters: Type.Array(Type.String()),
  tag: Type.Union([Type.String(), Type.Null()]),
});
const Pushed = Type.Object({
  push: Type.Integer(),
  target: Target,
  servers: Type.Array(Pin),
  clients: Type.Array(Pin),
  clusters: Type.Array(Type.String(), { description: "the registered clusters it names now" }),
});
const Refusal = Type.Object({ package: Type.String(), refusal: Type.String(), detail: Type.String() });
const SetView = Type.Object({ push: Type.Integer(), servers: Type.Array(Pin), clients: Type.Array(Pin) });
const ClusterSets = Type.Object({
  clusters: Type.Array(
    Type.Object({
      name: Type.String(),
      tags: Type.Array(Type.String()),
      assigned: Type.Union([SetView, Type.Null()]),
      running: Type.Union([
        Type.Object({ ...SetView.properties, reportedAt: Type.String({ format: "date-time" }) }),
        Type.Null(),
      ]),
      refusals: Type.Array(Refusal),
    }),
  ),
});
const SignatureMembers = {
  at: Type.Integer({ minimum: 0 }),
  signature: Type.String({ pattern: "^[A-Za-z0-9+/]{86}==$" }),
};
const AssignedBody = Type.Object({ cluster: Name, ...SignatureMembers }, { additionalProperties: false });
const ReportBody = Type.Object(
  {
    cluster: Name,
    push: Type.Integer({ minimum: 0 }),
    servers: Type.Array(Pin, { maxItems: 256 }),
    clients: Type.Array(Pin, { maxItems: 256 }),
    refusals: Type.Array(
      Type.Object(
        {
          package: Type.String({ maxLength: 400 }),
          refusal: Type.String({ maxLength: 64 }),
          detail: Type.String({ maxLength: 2000 }),
        },
        { additionalProperties: false },
      ),
      { maxItems: 64 },
    ),
    ...SignatureMembers,
  },
  { additionalProperties: false },
);

export interface PluginSetRouteDeps {
  readonly sets: PluginSetStore;
  readonly packages: PackageStore;
  readonly directory: Directory;
  readonly operator: (request: FastifyRequest) => Promise<void>;
  readonly now: () => number;
}

function refuse(reply: FastifyReply, status: number, error: string, reason: string) {
  return reply.code(status).send({ error, reason });
}

export function addPluginSetRoutes(app: FastifyInstance, deps: PluginSetRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const errors = { 400: ErrorAnswer, 401: ErrorAnswer, 403: ErrorAnswer, 404: ErrorAnswer };

  /** The pins of labels for a side, or the reason one is not published or not of that side. */
  const pinsOf = async (
    labels: readonly string[],
    side: "server" | "client",
  ): Promise<PluginPin[] | string> => {
    const pins: PluginPin[] = [];
    for (const label of [...new Set(labels)].sort()) {
      const at = label.lastIndexOf("@");
      const name = label.slice(0, at);
      const version = label.slice(at + 1);
      const signed = await deps.packages.signed(name, version);
      if (signed === undefined)
        return `${label} is not published on main; publish it first: overworld plugin publish DIR`;
      const { manifest } = parseSignedManifest(signed, label);
      if (manifest.kind !== "plugin") return `${label} is an asset, not a plugin`;
      if (sideOf(manifest.edge) !== side) {
        return `${label} is a ${manifest.edge} plugin, run by a ${sideOf(manifest.edge)}; it cannot go in the ${side}s' set`;
      }
      if (pins.some((pin) => pin.name === name))
        return `${name} is given twice; a set holds one version of a plugin`;
      pins.push({ name, version, id: manifestId(manifest) });
    }
    return pins;
  };

  /** The cluster a signed body comes from, checked; otherwise the reply is sent and undefined returned. */
  const signedBy = async (
    body: Signed<{ cluster: string }>,
    purpose: string,
    reply: FastifyReply,
  ): Promise<ClusterRecord | undefined> => {
    const cluster = await deps.directory.find(body.cluster);
    if (cluster === undefined) {
      await refuse(reply, 401, "not_registered", `${body.cluster} is not registered`);
      return undefined;
    }
    const checked = await checkSignedOnce(deps.directory, cluster.publicKey, purpose, body, deps.now());
    if (!checked.ok) {
      await refuse(
        reply,
        401,
        checked.reason,
        `the signature is not ${body.cluster}'s over this request, or is stale, or was sent before`,
      );
      return undefined;
    }
    if (cluster.revokedAt !== null) {
      await refuse(reply, 403, "revoked", `the key of ${body.cluster} is revoked`);
      return undefined;
    }
    return cluster;
  };

  typed.post(
    "/v1/plugin-sets",
    {
      onRequest: deps.operator,
      schema: {
        tags: ["operator"],
        summary: "Push a plugin set to every cluster, to named clusters (to) or to a tag (tag)",
        security: [{ operator: [] }],
        body: PushBody,
        response: { 201: Pushed, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as Static<typeof PushBody>;
      if (body.to !== undefined && body.tag !== undefined) {
        return refuse(reply, 400, "invalid_request", "give `to` (clusters) or `tag`, not both");
      }
      const servers = await pinsOf(body.servers ?? [], "server");
      if (typeof servers === "string") return refuse(reply, 400, "invalid_request", servers);
      const clients = await pinsOf(body.clients ?? [], "client");
      if (typeof clients === "string") return refuse(reply, 400, "invalid_request", clients);
      const registered = (await deps.directory.list()).filter(
        (cluster) => cluster.kind === "cluster" && cluster.revokedAt === null,
      );
      if (body.to !== undefined) {
        const unknown = body.to.filter((name) => !registered.some((cluster) => cluster.name === name));
        if (unknown.length > 0) {
          return refuse(reply, 404, "not_found", `no registered cluster ${unknown.join(", ")}`);
        }
      }
      const target: PushTarget = {
        all: body.to === undefined && body.tag === undefined,
        clusters: [...new Set(body.to ?? [])].sort(),
        tag: body.tag ?? null,
      };
      const push = await deps.sets.push(target, servers, clients);
      const named = registered.filter((cluster) => pushNames(target, cluster)).map((cluster) => cluster.name);
      request.log.info({ push: push.id, target, clusters: named }, "plugin set pushed");
      return reply.code(201).send({
        push: push.id,
        target: { ...target, clusters: [...target.clusters] },
        servers,
        clients,
        clusters: named,
      });
    },
  );

  typed.get(
    "/v1/plugin-sets",
    {
      onRequest: deps.operator,
      schema: {
        tags: ["operator"],
        summary: "Per cluster: the plugin set assigned, the set it runs, and what it refused",
        security: [{ operator: [] }],
        response: { 200: ClusterSets, ...errors },
      },
    },
    async () => {
      const reports = await deps.sets.reports();
      const clusters = (await deps.directory.list()).filter((cluster) => cluster.kind === "cluster");
      const views = [];
      for (const cluster of clusters) {
        const assigned = await deps.sets.assigned(cluster);
        const report = reports.get(cluster.name);
        views.push({
          name: cluster.name,
          tags: [...cluster.tags],
          assigned: assigned
            ? { push: assigned.id, servers: [...assigned.servers], clients: [...assigned.clients] }
            : null,
          running: report
            ? {
                push: report.push,
                servers: [...report.servers],
                clients: [...report.clients],
                reportedAt: report.reportedAt.toISOString(),
              }
            : null,
          refusals: report ? [...report.refusals] : [],
        });
      }
      return { clusters: views };
    },
  );

  typed.post(
    "/v1/plugins/assigned",
    {
      schema: {
        tags: ["clusters"],
        summary: "The plugin set assigned to the asking cluster (signed with its key; push 0: none)",
        body: AssignedBody,
        response: { 200: SetView, ...errors },
      },
    },
    async (request, reply) => {
      const cluster = await signedBy(request.body, "plugin-set", reply);
      if (cluster === undefined) return reply;
      const assigned = await deps.sets.assigned(cluster);
      return assigned
        ? { push: assigned.id, servers: [...assigned.servers], clients: [...assigned.clients] }
        : { push: 0, servers: [], clients: [] };
    },
  );

  typed.post(
    "/v1/plugins/report",
    {
      schema: {
        tags: ["clusters"],
        summary: "A cluster reports the plugin set it runs and what it refused (signed with its key)",
        body: ReportBody,
        response: { 204: { type: "null" }, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const cluster = await signedBy(body, "plugin-report", reply);
      if (cluster === undefined) return reply;
      await deps.sets.report(cluster.name, {
        push: body.push,
        servers: body.servers,
        clients: body.clients,
        refusals: body.refusals,
      });
      if (body.refusals.length > 0) {
        request.log.warn({ cluster: cluster.name, refusals: body.refusals }, "a cluster refused plugins");
      }
      return reply.code(204).send(null);
    },
  );
}

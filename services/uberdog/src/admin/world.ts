/**
 * The cluster as operators see it: status (participants, versions, health, CCU per client agent, zone
 * placement), objects (query, read, set through the state server), the event log, broadcasts and
 * maintenance mode.
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { RequestError } from "@overworld/zone-ai/plugin";
import {
  BroadcastBody,
  Broadcasted,
  CallAnswer,
  CallBody,
  DoIdParams,
  EventList,
  EventQuery,
  MaintenanceBody,
  MaintenanceView,
  ObjectList,
  ObjectQuery,
  ObjectView,
  SetFieldsBody,
  Status,
  StatusQuery,
} from "../admin-schemas.ts";
import { BadField, type Json, type ObjectView as ObjectViewOf } from "../cluster.ts";
import type { MaintenanceState } from "../maintenance.ts";
import { ErrorAnswer } from "../schemas.ts";
import { type AdminDeps, errors, iso, problem } from "./context.ts";

const MS_PER_SECOND = 1000;

function maintenanceView(state: MaintenanceState | undefined) {
  if (!state) return { on: false };
  return {
    on: true,
    reason: state.reason,
    since: iso(state.since),
    ejectAt: iso(state.ejectAt),
    startedBy: state.startedBy,
  };
}

export const world: FastifyPluginAsyncTypebox<{ deps: AdminDeps }> = async (app, { deps }) => {
  const { cluster } = deps;

  app.get(
    "/status",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: cluster"],
        summary: "Participants, versions, health, connected players per client agent, zone placement",
        querystring: StatusQuery,
        response: { 200: Status, ...errors() },
      },
    },
    async (request) => {
      const { parentId } = request.query;
      const [members, agents, placement, maintenance, tempAdmin] = await Promise.all([
        cluster.members(),
        cluster.sessions(),
        parentId === undefined ? undefined : cluster.placement(parentId),
        deps.maintenance.state(),
        deps.tempAdmin.current(),
      ]);
      const clientAgents = agents.map((agent) => ({
        agent: agent.agent,
        instanceId: agent.instanceId,
        ccu: agent.sessions.length,
      }));
      const participants = Object.fromEntries(
        Object.entries(members).map(([role, list]) => [
          role,
          list.map(({ channel, instanceId, joinedAt }) => ({
            channel,
            instanceId,
            ...(joinedAt ? { joinedAt } : {}),
          })),
        ]),
      );
      return {
        version: cluster.version,
        schemaHash: cluster.schemaHash,
        healthy: cluster.alive && clientAgents.length === (members["client-agent"]?.length ?? 0),
        participants,
        clientAgents,
        ccu: clientAgents.reduce((sum, agent) => sum + agent.ccu, 0),
        ...(placement ? { placement } : {}),
        maintenance: maintenance !== undefined,
        tempAdmin,
      };
    },
  );

  app.get(
    "/objects",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: objects"],
        summary: "Objects by zone (parentId, zones), class (className) or owner (a player's session objects)",
        querystring: ObjectQuery,
        response: { 200: ObjectList, ...errors() },
      },
    },
    async (request) => {
      const { parentId, zones, className, owner, limit } = request.query;
      if (className !== undefined && cluster.dc.class(className) === undefined) {
        throw new BadField("className", `className: ${className} is not a class of the cluster's DC_FILES`);
      }
      let objects: ObjectViewOf[];
      if (owner !== undefined) {
        const sessions = (await cluster.sessions(owner)).flatMap((agent) => agent.sessions);
        objects = await Promise.all(
          sessions.flatMap((session) => session.objects).map((doId) => cluster.object(doId)),
        );
        if (parentId !== undefined) objects = objects.filter((object) => object.parentId === parentId);
      } else {
        if (parentId === undefined) {
          throw new BadField(
            "parentId",
            "parentId: required unless owner is given (objects are found zone by zone)",
          );
        }
        const zoneIds = zones?.split(",").map(Number) ?? (await cluster.activeZones(parentId));
        objects = zoneIds.length === 0 ? [] : await cluster.objectsIn(parentId, zoneIds);
      }
      if (className !== undefined) objects = objects.filter((object) => object.className === className);
      return { objects: objects.slice(0, limit), truncated: objects.length > limit };
    },
  );

  app.get(
    "/objects/:doId",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: objects"],
        summary: "One object with every stored field",
        params: DoIdParams,
        response: { 200: ObjectView, ...errors() },
      },
    },
    async (request) => cluster.object(request.params.doId),
  );

  app.patch(
    "/objects/:doId",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: objects"],
        summary: "Set fields through the state server, with its checks (all or none)",
        params: DoIdParams,
        body: SetFieldsBody,
        response: { 200: ObjectView, ...errors() },
      },
    },
    async (request) => cluster.setFields(request.params.doId, request.body.fields as Record<string, Json>),
  );

  app.post(
    "/objects/:doId/request",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: objects"],
        summary:
          "Call a method of an object (a zone's or an uberdog service's) and wait for its answer; its typed error is a 422 naming the code, no answer in time a 504",
        params: DoIdParams,
        body: CallBody,
        response: { 200: CallAnswer, ...errors(), 422: ErrorAnswer, 504: ErrorAnswer },
      },
    },
    async (request, reply) => {
      const { doId } = request.params;
      const { method, args, timeoutMs } = request.body;
      request.auditTarget = `object:${doId}`;
      try {
        return { reply: await cluster.request(doId, method, (args ?? null) as Json, timeoutMs ?? 5000) };
      } catch (error) {
        if (!(error instanceof RequestError)) throw error;
        if (error.code === "unknown_object") return reply.code(404).send(problem("not_found", error.message));
        return reply
          .code(error.code === "timeout" ? 504 : 422)
          .send({ ...problem("request_failed", error.message), code: error.code });
      }
    },
  );

  app.get(
    "/events",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: cluster"],
        summary: "The cluster event log, oldest first, from a sequence number, of one kind if asked",
        querystring: EventQuery,
        response: { 200: EventList, ...errors() },
      },
    },
    async (request) => {
      const { kind, fromSeq, limit } = request.query;
      const events = await cluster.events({ fromSeq, limit, ...(kind === undefined ? {} : { kind }) });
      const last = events.at(-1);
      return {
        events: events.map((event) => ({
          seq: event.seq,
          kind: event.kind,
          at: iso(new Date(event.at)),
          source: event.source,
          data: event.data,
        })),
        next: last && events.length === limit ? last.seq + 1 : null,
      };
    },
  );

  app.post(
    "/broadcast",
    {
      config: { right: "moderate" },
      schema: {
        tags: ["admin: players"],
        summary: "Say something to every player, or to those whose avatar is in one zone",
        body: BroadcastBody,
        response: { 200: Broadcasted, ...errors() },
      },
    },
    async (request) => {
      const { text, parentId, zoneId } = request.body;
      if ((parentId === undefined) !== (zoneId === undefined)) {
        const missing = parentId === undefined ? "parentId" : "zoneId";
        throw new BadField(
          missing,
          `${missing}: required with ${missing === "parentId" ? "zoneId" : "parentId"} (a zone is a parent and a zone id)`,
        );
      }
      const sessions = (await cluster.sessions()).flatMap((agent) => agent.sessions);
      let clients = sessions.map((session) => session.client);
      if (parentId !== undefined && zoneId !== undefined) {
        const owners = new Set((await cluster.objectsIn(parentId, [zoneId])).map((object) => object.owner));
        clients = clients.filter((client) => owners.has(client));
        request.auditTarget = `zone:${parentId}.${zoneId}`;
      }
      for (const client of clients) cluster.tell(client, text);
      await cluster.record("admin.broadcast", {
        by: request.actor!.name,
        text,
        parentId,
        zoneId,
        delivered: clients.length,
      });
      return { delivered: clients.length };
    },
  );

  app.get(
    "/maintenance",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: cluster"],
        summary: "Whether maintenance mode is on",
        response: { 200: MaintenanceView, ...errors() },
      },
    },
    async () => maintenanceView(await deps.maintenance.state()),
  );

  app.put(
    "/maintenance",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: cluster"],
        summary: "Maintenance mode on: logins refused with the reason; players warned, then ejected with 154",
        body: MaintenanceBody,
        response: { 200: MaintenanceView, ...errors() },
      },
    },
    async (request) => {
      const { reason, warningSeconds } = request.body;
      const warningMs =
        warningSeconds === undefined ? deps.maintenanceWarningMs : warningSeconds * MS_PER_SECOND;
      const { state, warned } = await deps.maintenance.begin(reason, warningMs, request.actor!.name);
      await cluster.record("admin.maintenance", {
        by: request.actor!.name,
        on: true,
        reason,
        warningMs,
        warned,
      });
      return maintenanceView(state);
    },
  );

  app.delete(
    "/maintenance",
    {
      config: { right: "administer" },
      schema: {
        tags: ["admin: cluster"],
        summary: "Maintenance mode off: logins let in again",
        response: { 200: MaintenanceView, ...errors() },
      },
    },
    async (request) => {
      await deps.maintenance.end();
      await cluster.record("admin.maintenance", { by: request.actor!.name, on: false });
      return { on: false };
    },
  );
};

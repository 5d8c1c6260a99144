/**
 * The dashboard's live feed, `GET /v1/admin/live?parentId=N`: server-sent events over one long response,
 * authenticated as every admin call (a bearer token of an admin, a moderator or the temp admin; the
 * dashboard reads the stream with fetch, which sends the header), so a plain player gets 401 or 403 and
 * no stream.
 *
 *   event: map     the world's objects, at most MAP_HZ times a second and only when something changed
 *                  (live-map.ts: the cluster's own location feed, not the REST API)
 *   event: stats   CCU, updates per second, latency, the participants and their health (cluster-stats.ts),
 *                  every STATS_SECONDS
 *   event: events  new entries of the cluster event log (the last ones first, then as they come)
 *
 * Opening a stream leaves an audit row, as every admin call does. A slow reader is not waited for: a map frame that finds the previous one still unsent is dropped (the
 * next one carries everything anyway).
 */
import type { FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import type { LoggedEvent } from "@overworld/service";
import { LiveQuery } from "../admin-schemas.ts";
import type { ClusterStats } from "../cluster-stats.ts";
import type { LiveMaps } from "../live-map.ts";
import { type AdminDeps, errors } from "./context.ts";

export interface LiveDeps {
  readonly maps: LiveMaps;
  readonly stats: ClusterStats;
  /** How often stats and new events are sent (ms). */
  readonly statsMs: number;
}

/** How many of the event log's latest entries a new stream starts with. */
const RECENT_EVENTS = 50;
const EVENT_PAGE = 1000;
/** A comment line every so often keeps proxies from closing a quiet stream. */
const KEEP_ALIVE_MS = 15_000;

function eventView(event: LoggedEvent) {
  return {
    seq: event.seq,
    kind: event.kind,
    at: new Date(event.at).toISOString(),
    source: event.source,
    data: event.data,
  };
}

export const live: FastifyPluginAsyncTypebox<{ deps: AdminDeps; live: LiveDeps }> = async (
  app,
  { deps, live: feed },
) => {
  /** The streams open now: ended when the app closes, which would otherwise wait for them. */
  const streams = new Set<() => void>();
  app.addHook("preClose", async () => {
    for (const end of streams) end();
  });

  app.get(
    "/live",
    {
      config: { right: "read" },
      schema: {
        tags: ["admin: cluster"],
        summary:
          "The dashboard's live feed (text/event-stream): map frames of a world's objects, stats, new events",
        querystring: LiveQuery,
        response: {
          200: {
            description: "server-sent events (map, stats, events), until the caller closes the stream",
            content: { "text/event-stream": { schema: { type: "string" } } },
          },
          ...errors(),
        },
      },
    },
    async (request, reply) => {
      const { parentId } = request.query;
      // a hijacked reply skips the hooks that audit every other call: the stream's opening is audited here
      const actor = request.actor!;
      await deps.audit
        .record({
          at: new Date(deps.now()),
          actor: actor.name,
          role: actor.role,
          method: request.method,
          route: request.routeOptions.url ?? request.url,
          target: `parent:${parentId}`,
          request: { query: request.query },
          status: 200,
          outcome: "ok",
        })
        .catch((error: unknown) => request.log.error({ err: error }, "the audit row could not be written"));
      reply.hijack();
      const out = reply.raw;
      out.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
        "x-accel-buffering": "no",
      });
      let open = true;
      const send = (event: string, data: unknown, droppable = false): void => {
        if (!open || (droppable && out.writableNeedDrain)) return;
        out.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      };

      let nextSeq = 1;
      let first = true;
      const tick = async () => {
        const [stats, events] = await Promise.all([
          feed.stats.sample(),
          deps.cluster.events({ fromSeq: nextSeq, limit: EVENT_PAGE }),
        ]);
        send("stats", stats);
        const fresh = first ? events.slice(-RECENT_EVENTS) : events;
        first = false;
        if (events.length > 0) nextSeq = events.at(-1)!.seq + 1;
        if (fresh.length > 0) send("events", fresh.map(eventView));
      };
      let ticking: Promise<void> = Promise.resolve();
      const run = () => {
        ticking = ticking
          .then(tick)
          .catch((error: unknown) => request.log.warn({ err: error }, "the live feed's stats failed"));
      };
      const stopMap = feed.maps.listen(parentId, (frame) => send("map", frame, true));
      run();
      const statsTimer = setInterval(run, feed.statsMs);
      const keepAlive = setInterval(() => open && out.write(": keep-alive\n\n"), KEEP_ALIVE_MS);
      const close = () => {
        if (!open) return;
        open = false;
        streams.delete(close);
        clearInterval(statsTimer);
        clearInterval(keepAlive);
        stopMap();
        out.end();
      };
      streams.add(close);
      request.raw.on("close", close);
      out.on("close", close);
      out.on("error", close);
    },
  );
};

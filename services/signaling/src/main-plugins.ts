/**
 * Main-side plugins: code that runs in main and talks with the plugin of the same name in clusters
 * (server-main) and in their clients (client-main, through their cluster). Main hosts them by name
 * (`startSignaling(config, { mainPlugins: { hud: { onMessage } } })`):
 *
 *   POST /v1/plugin-messages   a cluster's link end passes a plugin message on (signed with the cluster's
 *                              key, purpose "plugin-message"); main's answers come back in the response
 *   POST /v1/plugin-messages/pending
 *                              the link end takes what main's plugins sent the cluster first (signed,
 *                              purpose "plugin-pending"): `SignalingHandle.sendPluginMessage` puts it in
 *                              main's Postgres (`plugin_outbox`) until then
 *
 * Who sent it is what main checked, never what the body claims of itself: the cluster whose registered key
 * signed the request (unknown, revoked, a bad or stale signature: refused with 401/403), and for a client's
 * message the client's channel and account as that cluster vouches for them (its agent passed them on).
 * A message for a plugin main does not host is refused with 404; one the plugin refuses (throws), 422.
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { Signed } from "@overworld/federation";
import { decodeEnvelope, encodeEnvelope } from "@overworld/protocol";
import { quoteIdentifier } from "@overworld/service";
import type { FastifyInstance, FastifyReply } from "fastify";
import type { Pool } from "pg";
import { Type } from "typebox";
import type { Directory } from "./directory.ts";
import { ErrorAnswer } from "./schemas.ts";
import { checkSignedOnce } from "./signatures.ts";

/** The most data one plugin message carries (as inside clusters). */
export const MAX_MAIN_PLUGIN_DATA_BYTES = 64 * 1024;
/** The most answers a main plugin gives one message. */
export const MAX_MAIN_PLUGIN_REPLIES = 16;

/** Who sent a plugin message to main, as main checked it. */
export type MainPluginSender =
  | { readonly kind: "cluster"; readonly cluster: string }
  | {
      readonly kind: "client";
      readonly cluster: string;
      readonly client: number;
      readonly accountId: number;
    };

/** A plugin message at main. */
export interface MainPluginMessage {
  readonly plugin: string;
  readonly from: MainPluginSender;
  /** The bytes sent (a Uint8Array), or the MessagePack value, decoded. */
  readonly data: unknown;
  /** Answers the sender (the client, or the cluster's servers' plugin of this name): bytes or a MessagePack value. */
  reply(data: unknown): void;
}

/** A plugin hosted by main. */
export interface MainPlugin {
  onMessage(message: MainPluginMessage): void | Promise<void>;
}

export type MainPlugins = Readonly<Record<string, MainPlugin>>;

const Name = Type.String({ pattern: "^[a-z0-9][a-z0-9-]{0,31}$" });
const PluginName = Type.String({ pattern: "^[a-z0-9][a-z0-9._-]{0,63}$" });
const Encoding = Type.Union([Type.Literal(0), Type.Literal(1)]);
const Data = Type.String({ maxLength: Math.ceil(MAX_MAIN_PLUGIN_DATA_BYTES / 3) * 4, description: "base64" });
const MessageBody = Type.Object(
  {
    cluster: Name,
    plugin: PluginName,
    encoding: Encoding,
    data: Data,
    client: Type.Optional(
      Type.Object(
        { client: Type.Integer({ minimum: 1 }), accountId: Type.Integer({ minimum: 1 }) },
        { additionalProperties: false },
      ),
    ),
    at: Type.Integer({ minimum: 0 }),
    signature: Type.String({ pattern: "^[A-Za-z0-9+/]{86}==$" }),
  },
  { additionalProperties: false },
);
const Replies = Type.Object({ replies: Type.Array(Type.Object({ encoding: Encoding, data: Data })) });

export interface MainPluginRouteDeps {
  readonly plugins: MainPlugins;
  readonly directory: Directory;
  readonly now: () => number;
}

/** Bytes go as they are; anything else as one MessagePack value. */
function encoded(data: unknown): { encoding: 0 | 1; data: Uint8Array } {
  if (data instanceof Uint8Array) return { encoding: 0, data };
  return { encoding: 1, data: encodeEnvelope(data) };
}

export function addMainPluginRoutes(app: FastifyInstance, deps: MainPluginRouteDeps): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  const refuse = (reply: FastifyReply, status: number, error: string, reason: string) =>
    reply.code(status).send({ error, reason });
  const errors = { 400: ErrorAnswer, 401: ErrorAnswer, 403: ErrorAnswer, 404: ErrorAnswer, 422: ErrorAnswer };
  typed.post(
    "/v1/plugin-messages",
    {
      bodyLimit: 128 * 1024,
      schema: {
        tags: ["clusters"],
        summary:
          "A plugin message to main's plugin of that name, from a cluster's servers or one of its clients (signed with the cluster's key); main's answers in the response",
        body: MessageBody,
        response: { 200: Replies, ...errors },
      },
    },
    async (request, reply) => {
      const body = request.body as Signed<typeof request.body>;
      const cluster = await deps.directory.find(body.cluster);
      if (cluster === undefined)
        return refuse(reply, 401, "not_registered", `${body.cluster} is not registered`);
      const checked = await checkSignedOnce(
        deps.directory,
        cluster.publicKey,
        "plugin-message",
        body,
        deps.now(),
      );
      if (!checked.ok) {
        return refuse(
          reply,
          401,
          checked.reason,
          `the signature is not ${body.cluster}'s over this plugin message, or is stale, or was sent before`,
        );
      }
      if (cluster.revokedAt !== null)
        return refuse(reply, 403, "revoked", `the key of ${body.cluster} is revoked`);
      const plugin = deps.plugins[body.plugin];
      if (plugin === undefined || !Object.hasOwn(deps.plugins, body.plugin)) {
        return refuse(reply, 404, "not_found", `main hosts no plugin ${body.plugin}`);
      }
      const bytes = new Uint8Array(Buffer.from(body.data, "base64"));
      if (bytes.length > MAX_MAIN_PLUGIN_DATA_BYTES) {
        return refuse(reply, 400, "invalid_request", `over ${MAX_MAIN_PLUGIN_DATA_BYTES} bytes of data`);
      }
      let data: unknown = bytes;
      if (body.encoding === 1) {
        try {
          data = decodeEnvelope(bytes);
        } catch (error) {
          return refuse(
            reply,
            400,
            "invalid_request",
            `the data is not MessagePack: ${(error as Error).message}`,
          );
        }
      }
      const from: MainPluginSender =
        body.client === undefined
          ? { kind: "cluster", cluster: cluster.name }
          : {
              kind: "client",
              cluster: cluster.name,
              client: body.client.client,
              accountId: body.client.accountId,
            };
      const replies: { encoding: 0 | 1; data: string }[] = [];
      try {
        await plugin.onMessage({
          plugin: body.plugin,
          from,
          data,
          reply: (answer) => {
            if (replies.length >= MAX_MAIN_PLUGIN_REPLIES)
              throw new RangeError(`at most ${MAX_MAIN_PLUGIN_REPLIES} answers to one plugin message`);
            const out = encoded(answer);
            if (out.data.length > MAX_MAIN_PLUGIN_DATA_BYTES)
              throw new RangeError(
                `an answer of ${out.data.length} bytes, over ${MAX_MAIN_PLUGIN_DATA_BYTES}`,
              );
            replies.push({ encoding: out.encoding, data: Buffer.from(out.data).toString("base64") });
          },
        });
      } catch (error) {
        return refuse(
          reply,
          422,
          "not_allowed",
          `main's plugin ${body.plugin} refused the message: ${(error as Error).message}`,
        );
      }
      return { replies };
    },
  );
}

/** Messages a cluster's link end takes at once, at most. */
export const MAX_PENDING_TAKEN = 64;
/** Messages waiting for one cluster, at most: main's plugins are refused more until it takes some. */
export const MAX_PENDING_PER_CLUSTER = 4096;

/** A message main's plugin sends first, waiting for its cluster's link end. */
export interface PendingPluginMessage {
  readonly plugin: string;
  /** The client's channel, or none: to the cluster's servers. */
  readonly client: number | null;
  readonly encoding: 0 | 1;
  readonly data: Uint8Array;
}

/**
 * Where main's plugins put what they send first (main-server, main-client): a table in main's Postgres,
 * so any replica of main may take the message and any may hand it over. The cluster's link end asks for
 * them (signed) every PLUGIN_MESSAGE_POLL_MS and delivers each; a message is handed over once.
 */
export class PluginOutbox {
  private readonly s: string;

  constructor(
    private readonly pool: Pool,
    schema: string,
  ) {
    this.s = quoteIdentifier(schema);
  }

  /** Queues a message for a cluster; throws naming the reason when it cannot wait. */
  async put(cluster: string, message: PendingPluginMessage): Promise<void> {
    const waiting = await this.pool.query<{ count: string }>(
      `SELECT count(*) FROM ${this.s}.plugin_outbox WHERE cluster = $1`,
      [cluster],
    );
    if (Number(waiting.rows[0]?.count ?? 0) >= MAX_PENDING_PER_CLUSTER) {
      throw new RangeError(`${MAX_PENDING_PER_CLUSTER} plugin messages already wait for cluster ${cluster}`);
    }
    await this.pool.query(
      `INSERT INTO ${this.s}.plugin_outbox (cluster, plugin, client, encoding, data) VALUES ($1, $2, $3, $4, $5)`,
      [cluster, message.plugin, message.client, message.encoding, Buffer.from(message.data)],
    );
  }

  /** Takes (and removes) the oldest messages waiting for a cluster. */
  async take(cluster: string): Promise<PendingPluginMessage[]> {
    const result = await this.pool.query<{
      plugin: string;
      client: string | null;
      encoding: number;
      data: Buffer;
      id: string;
    }>(
      `DELETE FROM ${this.s}.plugin_outbox WHERE id IN (
         SELECT id FROM ${this.s}.plugin_outbox WHERE cluster = $1 ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED
       ) RETURNING id, plugin, client, encoding, data`,
      [cluster, MAX_PENDING_TAKEN],
    );
    return result.rows
      .sort((a, b) => Number(a.id) - Number(b.id))
      .map((row) => ({
        plugin: row.plugin,
        client: row.client === null ? null : Number(row.client),
        encoding: row.encoding === 1 ? 1 : 0,
        data: new Uint8Array(row.data),
      }));
  }
}

/** What main's own code uses to send a plugin message first (`SignalingHandle.sendPluginMessage`). */
export type MainPluginSend = (
  to: { readonly cluster: string; readonly client?: number },
  plugin: string,
  data: unknown,
) => Promise<void>;

/** Sends through the outbox, checking the plugin's name, the cluster and the size first. */
export function mainPluginSender(outbox: PluginOutbox, directory: Directory): MainPluginSend {
  return async (to, plugin, data) => {
    if (!/^[a-z0-9][a-z0-9._-]{0,63}$/.test(plugin))
      throw new RangeError(`${JSON.stringify(plugin)} is not a plugin name`);
    const cluster = await directory.find(to.cluster);
    if (cluster === undefined) throw new RangeError(`cluster ${to.cluster} is not registered with this main`);
    if (cluster.revokedAt !== null) throw new RangeError(`the key of cluster ${to.cluster} is revoked`);
    if (
      to.client !== undefined &&
      !(Number.isInteger(to.client) && to.client > 0 && to.client <= 0xffff_ffff)
    )
      throw new RangeError(`client ${to.client} is not a client channel`);
    const out = encoded(data);
    if (out.data.length > MAX_MAIN_PLUGIN_DATA_BYTES)
      throw new RangeError(
        `a plugin message of ${out.data.length} bytes, over ${MAX_MAIN_PLUGIN_DATA_BYTES}`,
      );
    await outbox.put(cluster.name, { plugin, client: to.client ?? null, ...out });
  };
}

const PendingBody = Type.Object(
  {
    cluster: Name,
    at: Type.Integer({ minimum: 0 }),
    signature: Type.String({ pattern: "^[A-Za-z0-9+/]{86}==$" }),
  },
  { additionalProperties: false },
);
const Pending = Type.Object({
  messages: Type.Array(
    Type.Object({
      plugin: Type.String(),
      client: Type.Union([Type.Integer(), Type.Null()]),
      encoding: Encoding,
      data: Data,
    }),
  ),
});

/** POST /v1/plugin-messages/pending: a cluster's link end takes what main's plugins sent it first (signed). */
export function addPendingRoute(
  app: FastifyInstance,
  deps: { readonly outbox: PluginOutbox; readonly directory: Directory; readonly now: () => number },
): void {
  const typed = app.withTypeProvider<TypeBoxTypeProvider>();
  typed.post(
    "/v1/plugin-messages/pending",
    {
      schema: {
        tags: ["clusters"],
        summary:
          "Plugin messages main's plugins sent the asking cluster first (signed with its key); each is handed over once",
        body: PendingBody,
        response: { 200: Pending, 401: ErrorAnswer, 403: ErrorAnswer },
      },
    },
    async (request, reply) => {
      const body = request.body as Signed<typeof request.body>;
      const cluster = await deps.directory.find(body.cluster);
      if (cluster === undefined)
        return reply.code(401).send({ error: "not_registered", reason: `${body.cluster} is not registered` });
      const checked = await checkSignedOnce(
        deps.directory,
        cluster.publicKey,
        "plugin-pending",
        body,
        deps.now(),
      );
      if (!checked.ok) {
        return reply.code(401).send({
          error: checked.reason,
          reason: `the signature is not ${body.cluster}'s over this request, or is stale, or was sent before`,
        });
      }
      if (cluster.revokedAt !== null)
        return reply.code(403).send({ error: "revoked", reason: `the key of ${body.cluster} is revoked` });
      const messages = await deps.outbox.take(cluster.name);
      return {
        messages: messages.map((message) => ({
          plugin: message.plugin,
          client: message.client,
          encoding: message.encoding,
          data: Buffer.from(message.data).toString("base64"),
        })),
      };
    },
  );
}

/**
 * Main-side plugins: code that runs in main and talks with the plugin of the same name in clusters
 * (server-main) and in their clients (client-main, through their cluster). Main hosts them by name
 * (`startSignaling(config, { mainPlugins: { hud: { onMessage } } })`):
 *
 *   POST /v1/plugin-messages   a cluster's link end passes a plugin message on (signed with the cluster's
 *                              key, purpose "plugin-message"); main's answers come back in the response
 *
 * Who sent it is what main checked, never what the body claims of itself: the cluster whose registered key
 * signed the request (unknown, revoked, a bad or stale signature: refused with 401/403), and for a client's
 * message the client's channel and account as that cluster vouches for them (its agent passed them on).
 * A message for a plugin main does not host is refused with 404; one the plugin refuses (throws), 422.
 */
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { checkSignature, type Signed } from "@overworld/federation";
import { decodeEnvelope, encodeEnvelope } from "@overworld/protocol";
import type { FastifyInstance, FastifyReply } from "fastify";
import { Type } from "typebox";
import type { Directory } from "./directory.ts";
import { ErrorAnswer } from "./schemas.ts";

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
      const checked = checkSignature(cluster.publicKey, "plugin-message", body, deps.now());
      if (!checked.ok) {
        return refuse(
          reply,
          401,
          checked.reason,
          `the signature is not ${body.cluster}'s over this plugin message, or is stale`,
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

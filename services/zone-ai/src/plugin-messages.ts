/**
 * Plugin messages on the server's edges: a zone-AI plugin hears its counterparts (the plugin of the same
 * name on a client, in a linked cluster, on main) through its `messages.onMessage` hook, and sends to them
 * with `cluster.sendPluginMessage(plugin, to, data)`.
 *
 * In: `game.plugin-message` (a queue group of the replicas: one takes each message). The sender is what the
 * cluster vouches for, never what the message says of itself: NATS lets only client agents publish
 * `...client-agent.<channel>` and only link ends `...link.<channel>`, so a `client` sender must come from
 * a client agent (and the director must have given that client's channel to that very agent), and a
 * `cluster` or `main` sender from the link end (which names the linked peer the message came over, or
 * main, whose answers it fetched with a request signed by the cluster's key).
 *
 * Out: to one client through its channel (the `plugin-message` control message: its agent sends it
 * PLUGIN_MESSAGE), to every client running the plugin (`ca.plugin-deliver`: each agent to its own), to a
 * linked cluster or to main through the link end (`lk.plugin-message`).
 *
 * Data is bytes (a Uint8Array, as it is) or any other MessagePack value (encoded once, decoded for the
 * handler).
 */
import { decodeEnvelope, encodeEnvelope, type Identity, messages } from "@overworld/protocol";
import { type Logger, type Participant, publish, type Subscription, serve } from "@overworld/service";
import type { ZonePlugin } from "./plugin.ts";

/** Who sent a plugin message, as the cluster vouches for it. */
export type PluginPeer = messages.PluginSender;

/** Where a plugin message goes: one client, every client running the plugin, a linked cluster, or main. */
export type PluginTarget =
  | { readonly kind: "client"; readonly client: number }
  | { readonly kind: "clients" }
  | { readonly kind: "cluster"; readonly cluster: string }
  | { readonly kind: "main" };

/** A message to a plugin from its counterpart at the other end of an edge. */
export interface PluginMessageIn {
  readonly plugin: string;
  /** Who sent it (authenticated by the cluster: see plugin-messages.ts). Answer with `sendPluginMessage(plugin, from, ...)`. */
  readonly from: PluginPeer;
  /** The bytes sent, or the MessagePack value, decoded. */
  readonly data: unknown;
}

/** Remembered client-to-agent pairs the director confirmed, at most (then forgotten, and asked again). */
const MAX_CONFIRMED_CLIENTS = 65_536;
const REQUEST_TIMEOUT_MS = 5000;

/** Bytes go as they are; anything else as one MessagePack value. */
export function encodePluginData(data: unknown): { encoding: 0 | 1; data: Uint8Array } {
  if (data instanceof Uint8Array) return { encoding: 0, data };
  return { encoding: 1, data: encodeEnvelope(data) };
}

/** Sends plugin messages from this replica's plugins (what `cluster.sendPluginMessage` does). */
export function pluginMessageSender(
  participant: Participant,
): (plugin: string, to: PluginTarget | PluginPeer, data: unknown) => Promise<void> {
  return async (plugin, to, data) => {
    const payload = encodePluginData(data);
    if (payload.data.length > messages.MAX_PLUGIN_MESSAGE_BYTES) {
      throw new RangeError(
        `plugin ${plugin}'s message is ${payload.data.length} bytes, over ${messages.MAX_PLUGIN_MESSAGE_BYTES}`,
      );
    }
    switch (to.kind) {
      case "client":
        publish(participant.nc, participant.subjects.participant(to.client), {
          kind: "plugin-message",
          sender: participant.channel,
          plugin,
          ...payload,
        });
        return;
      case "clients":
        participant.publish("ca", "plugin-deliver", { plugin, ...payload });
        return;
      case "cluster":
      case "main":
        await participant.request(
          "lk",
          "plugin-message",
          {
            plugin,
            to: to.kind === "main" ? { kind: "main" } : { kind: "cluster", cluster: to.cluster },
            ...payload,
          },
          REQUEST_TIMEOUT_MS,
        );
        return;
    }
  };
}

export interface PluginMessagesOptions {
  readonly participant: Participant;
  /** The plugin running now under a name (its current version). */
  readonly plugin: (name: string) => ZonePlugin | undefined;
  /** What the handler is given beside the message: the replica's cluster-wide actions. */
  readonly cluster: Parameters<NonNullable<ZonePlugin["messages"]>["onMessage"]>[1];
  readonly log: Logger;
}

/** Serves `game.plugin-message` for this replica's plugins until the subscription is closed. */
export function servePluginMessages(options: PluginMessagesOptions): Subscription {
  const { participant, log } = options;
  const confirmed = new Map<number, number>();
  /** True when the director gave the client's channel to that agent (it may speak for it). */
  const agentHolds = async (agent: number, client: number): Promise<boolean> => {
    if (confirmed.get(client) === agent) return true;
    const [owner] = await participant.owners([client]);
    if (owner !== agent) return false;
    if (confirmed.size >= MAX_CONFIRMED_CLIENTS) confirmed.clear();
    confirmed.set(client, agent);
    return true;
  };
  const vouch = async (body: messages.PluginMessage, sender: Identity): Promise<void> => {
    if (body.from.kind === "client") {
      if (sender.role !== "client-agent")
        throw new messages.RequestError(
          "forbidden",
          `a ${sender.role} may not send a plugin message for a client`,
        );
      if (!(await agentHolds(sender.channel, body.from.client))) {
        throw new messages.RequestError(
          "forbidden",
          `client ${body.from.client} is not a client of the agent ${sender.channel} that sent its message`,
        );
      }
      return;
    }
    if (sender.role !== "link") {
      throw new messages.RequestError(
        "forbidden",
        `only the link end may send a plugin message from ${body.from.kind === "main" ? "main" : "a linked cluster"}, not a ${sender.role}`,
      );
    }
  };
  return serve(
    participant.nc,
    participant.subjects.served("game", "plugin-message"),
    messages.GAME_OPS["plugin-message"].request,
    async (body, sender) => {
      await vouch(body, sender);
      const handler = options.plugin(body.plugin)?.messages;
      if (handler === undefined) {
        throw new messages.RequestError(
          "not_found",
          `no plugin ${body.plugin} with a message handler (messages.onMessage) runs on this cluster's servers`,
        );
      }
      // a plain Uint8Array for the handler (NATS hands a Buffer)
      let data: unknown = new Uint8Array(body.data.buffer, body.data.byteOffset, body.data.length);
      if (body.encoding === 1) {
        try {
          data = decodeEnvelope(body.data);
        } catch (error) {
          throw new messages.RequestError(
            "malformed",
            `the data is not MessagePack: ${(error as Error).message}`,
          );
        }
      }
      await handler.onMessage({ plugin: body.plugin, from: body.from, data }, options.cluster);
    },
    { queue: participant.subjects.queue("game"), log },
  );
}

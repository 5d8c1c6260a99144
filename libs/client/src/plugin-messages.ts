/**
 * Plugin messages of a client (`client.plugins`): a client plugin sends bytes or a MessagePack value to
 * the plugin of the same name on the cluster's servers (client-server) or on main (client-main, through
 * the cluster), and hears what they send it. The agent passes a message on only for a plugin of the
 * client's set (the required plugins the cluster told it, and the optional ones given to `connect`), at
 * most MAX_PLUGIN_DATA_BYTES of data (refused here already, with a RangeError), and within the agent's
 * rate; a refusal comes back as a `plugin-error` event, and the session goes on.
 */
import { decodeEnvelope, encodeEnvelope } from "@overworld/protocol";
import {
  type AgentMessageOf,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  MAX_PLUGIN_DATA_BYTES,
  PluginEdge,
  PluginEncoding,
} from "@overworld/protocol/client";

/** Where a plugin message goes, or came from: the cluster's servers, or main. */
export type PluginEnd = "server" | "main";

/** A message from the plugin of that name on the servers or on main. */
export interface PluginMessageEvent<T = unknown> {
  readonly plugin: string;
  readonly from: PluginEnd;
  /** The bytes sent (a Uint8Array), or the MessagePack value, decoded. */
  readonly data: T;
}

/** A plugin message of this client that was not delivered: why (`code`: too_large, not_in_set, rate_limited, no_handler, unavailable, refused). */
export interface PluginErrorEvent {
  readonly plugin: string;
  readonly to: PluginEnd;
  readonly code: string;
  readonly message: string;
}

export interface PluginSendOptions {
  /** Where to: the cluster's servers (default) or main. */
  readonly to?: PluginEnd;
}

type Handler = (data: unknown, from: PluginEnd) => void;

const endOf = (edge: number): PluginEnd => (edge === PluginEdge.Main ? "main" : "server");

export class ClientPluginMessages {
  private readonly handlers = new Map<string, Set<Handler>>();

  constructor(
    private readonly sendMessage: (message: ClientMessage) => void,
    private readonly flush: () => void,
    private readonly errors: (event: PluginErrorEvent) => void,
  ) {}

  /**
   * Sends `data` (a Uint8Array as it is, anything else as MessagePack) to the plugin `name` on the servers
   * (or `{ to: "main" }`). Throws a RangeError when the data is over MAX_PLUGIN_DATA_BYTES.
   */
  send<T>(name: string, data: T, options: PluginSendOptions = {}): void {
    const bytes = data instanceof Uint8Array;
    const encoded = bytes ? data : encodeEnvelope(data);
    if (encoded.length > MAX_PLUGIN_DATA_BYTES) {
      throw new RangeError(
        `a plugin message carries at most ${MAX_PLUGIN_DATA_BYTES} bytes of data; ${name}'s is ${encoded.length}`,
      );
    }
    this.sendMessage({
      type: ClientMessageType.PluginMessage,
      edge: options.to === "main" ? PluginEdge.Main : PluginEdge.Server,
      plugin: name,
      encoding: bytes ? PluginEncoding.Bytes : PluginEncoding.MessagePack,
      data: encoded,
    });
    this.flush();
  }

  /** Hears what the plugin `name` on the servers or main sends this client; returns what stops it. */
  on<T = unknown>(name: string, handler: (data: T, from: PluginEnd) => void): () => void {
    let set = this.handlers.get(name);
    if (set === undefined) {
      set = new Set();
      this.handlers.set(name, set);
    }
    const added = handler as Handler;
    set.add(added);
    return () => set.delete(added);
  }

  /** A PLUGIN_MESSAGE or PLUGIN_ERROR from the agent. */
  receive(
    message:
      | AgentMessageOf<typeof AgentMessageType.PluginMessage>
      | AgentMessageOf<typeof AgentMessageType.PluginError>,
  ): void {
    if (message.type === AgentMessageType.PluginError) {
      const { plugin, code } = message;
      this.errors({ plugin, to: endOf(message.edge), code, message: message.message });
      return;
    }
    const handlers = this.handlers.get(message.plugin);
    if (handlers === undefined || handlers.size === 0) return;
    let data: unknown = message.data.slice();
    if (message.encoding === PluginEncoding.MessagePack) {
      try {
        data = decodeEnvelope(message.data);
      } catch {
        return; // not MessagePack: nothing a handler could read
      }
    }
    const from = endOf(message.from);
    for (const handler of handlers) handler(data, from);
  }
}

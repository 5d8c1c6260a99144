/**
 * A session's plugin messages (client-server and client-main edges): what the client may send, checked
 * here, and what goes back to it. A client sends for a plugin of its set only (the required client plugins
 * its cluster told it, and the optional ones its hello listed), at most MAX_PLUGIN_DATA_BYTES of data, and
 * within its budget of messages (a token bucket from the agent's rate-limit module: PLUGIN_MESSAGE_BURST,
 * PLUGIN_MESSAGE_PER_SECOND). A message that breaks one of these is answered with PLUGIN_ERROR naming the
 * rule, and the session goes on: nothing else of the client is affected.
 *
 * What passes is queued for the agent, which passes it on under the client's channel and account (the
 * client never names itself): to the cluster's servers (`game.plugin-message`) or to main through the
 * cluster's link end (`lk.plugin-message`). A refusal from there (no plugin of that name listens, main is
 * unreachable) comes back as PLUGIN_ERROR too.
 */
import { messages } from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  MAX_PLUGIN_DATA_BYTES,
  PluginEdge,
  type PluginEncoding,
} from "@overworld/protocol/client";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";
import { AddressRateLimiter, type DatagramBudget } from "./rate-limit.ts";

/** Plugin messages waiting to be passed on, per session at most; more are refused (rate_limited). */
export const MAX_QUEUED_PLUGIN_MESSAGES = 64;
/** The limiter's one key: a session's limiter counts only that session's messages. */
const SESSION = "session";

export interface OutgoingPluginMessage {
  readonly edge: PluginEdge;
  readonly plugin: string;
  readonly encoding: PluginEncoding;
  readonly data: Uint8Array;
}

export class SessionPluginMessages {
  private readonly limiter: AddressRateLimiter;
  /** Messages to pass on, in the order the client sent them. */
  readonly outgoing: OutgoingPluginMessage[] = [];
  constructor(
    budget: DatagramBudget,
    /** The plugins the client runs now: required (told by the cluster) and its own optional ones. */
    private readonly plugins: () => ReadonlySet<string>,
    /** Counts each message by what became of it here: `accepted`, or the refusal's code. */
    private readonly count: (outcome: string) => void = () => undefined,
  ) {
    this.limiter = new AddressRateLimiter(budget, { burst: 0, perSecond: 0 }, 1);
  }

  /** True when the client runs this plugin (a message to it or from it may pass). */
  runs(plugin: string): boolean {
    return this.plugins().has(plugin);
  }

  /** A message the client sent: queued (undefined), or its refusal to send the client. */
  accept(message: OutgoingPluginMessage, now: number): AgentMessage | undefined {
    const refuse = (code: string, text: string): AgentMessage => {
      this.count(code);
      return {
        type: AgentMessageType.PluginError,
        edge: message.edge,
        plugin: message.plugin,
        code,
        message: text,
      };
    };
    if (!this.runs(message.plugin)) {
      return refuse(
        "not_in_set",
        `plugin ${message.plugin} is neither one of the client plugins the cluster requires nor one of the optional plugins the hello listed`,
      );
    }
    if (message.data.length > MAX_PLUGIN_DATA_BYTES) {
      return refuse(
        "too_large",
        `a plugin message carries at most ${MAX_PLUGIN_DATA_BYTES} bytes of data; this one had ${message.data.length}`,
      );
    }
    if (!this.limiter.allow(SESSION, now) || this.outgoing.length >= MAX_QUEUED_PLUGIN_MESSAGES) {
      return refuse("rate_limited", `too many plugin messages: slow down (PLUGIN_MESSAGE_PER_SECOND)`);
    }
    // the message's bytes are a view of a datagram: copied
    this.outgoing.push({ ...message, data: message.data.slice() });
    this.count("accepted");
    return undefined;
  }
}

/** What the cluster's refusal code of a plugin message becomes for the client. */
export function pluginErrorCode(code: string | undefined): string {
  if (code === "not_found") return "no_handler";
  if (code === "forbidden" || code === "malformed") return "refused";
  return "unavailable";
}

/** What the agent does with plugin data for its clients. */
export interface PluginDeliverer {
  /** Sends it to the sessions named (every one running the plugin when none are); how many got it. */
  deliverPlugins(from: PluginEdge, message: messages.PluginDeliver): number;
}

/**
 * Serves `ca.plugin-deliver` for this agent: plugin data from a server's plugin (role `zone-ai`) or from
 * main (role `link`, which relays main's), to this agent's clients. Where it comes from is the sender's
 * role, as its subject names it, never a member of the message.
 */
export function servePluginDeliveries(
  participant: Participant,
  sessions: PluginDeliverer,
  log: Logger,
): Subscription {
  return serve(
    participant.nc,
    participant.subjects.served("ca", "plugin-deliver"),
    messages.CLIENT_AGENT_OPS["plugin-deliver"].request,
    (body, from): messages.ResultOf<(typeof messages.CLIENT_AGENT_OPS)["plugin-deliver"]> => {
      const edge = from.role === "link" ? PluginEdge.Main : PluginEdge.Server;
      return { delivered: sessions.deliverPlugins(edge, body) };
    },
    { log },
  );
}

/**
 * Plugin messages out of the cluster and into it, at the link end:
 *
 * - server-server: a zone-AI plugin sends to the plugin of the same name in a linked cluster
 *   (`lk.plugin-message` to `{ kind: "cluster", cluster }`); the link end sends it over that cluster's
 *   federation link, and the link end there hands it to its servers (`game.plugin-message`) as from
 *   `{ kind: "cluster", cluster: <the peer> }`. The peer's name is the link's, authenticated when the link
 *   came up (a link token minted by main for that pair), never a member of the message.
 * - server-main and client-main: to `{ kind: "main" }`, the link end posts the message to main signed with
 *   the cluster's key (a client's message with its channel and account, as its agent vouched for them);
 *   main's plugin answers in the response, and the link end delivers each answer to where the message
 *   came from: the client (`ca.plugin-deliver`) or the servers' plugin (`game.plugin-message` from main).
 *
 * On the link, a plugin message is a MessagePack envelope beside shared objects' and package files':
 *   {t: "plugin-msg", plugin, encoding, data}
 */
import type { MainClient } from "@overworld/federation";
import { encodeEnvelope, messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";
import { readTagged } from "./link-message.ts";

/** The tag of plugin messages on a link: the other listeners leave it alone. */
export const PLUGIN_MESSAGE_TAG = "plugin-msg";
const PLUGIN_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const REQUEST_TIMEOUT_MS = 5000;

export interface LinkPluginMessagesOptions {
  readonly participant: Participant;
  readonly sendTo: (peer: string, bytes: Uint8Array) => boolean;
  readonly upPeers: () => string[];
  /** Main's API, signed with the cluster's key (server-main, client-main). */
  readonly main: Pick<MainClient, "pluginMessage" | "pendingPluginMessages">;
  /** How often to take what main's plugins sent this cluster first (main-server, main-client). */
  readonly pollMs: number;
  readonly log: Logger;
}

export class LinkPluginMessages {
  /** Messages sent to peers, received from peers (and handed on), and sent to main. */
  readonly counts = { sent: 0, received: 0, refused: 0, toMain: 0, fromMain: 0 };
  private subscription: Subscription | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private polling = false;
  /** The last reason taking from main failed (said once, not every poll). */
  private pollProblem = "";

  constructor(private readonly options: LinkPluginMessagesOptions) {}

  /** Serves `lk.plugin-message` (a queue group of the cluster's link ends). */
  start(): void {
    const { participant, log } = this.options;
    this.subscription = serve(
      participant.nc,
      participant.subjects.served("lk", "plugin-message"),
      messages.LINK_OPS["plugin-message"].request,
      async (body, sender) => ({ replies: await this.send(body, sender.role) }),
      { queue: participant.subjects.queue("lk"), log },
    );
    this.pollTimer = setInterval(() => void this.poll(), this.options.pollMs);
  }

  stop(): void {
    clearInterval(this.pollTimer);
    this.subscription?.unsubscribe();
  }

  /** Takes what main's plugins sent this cluster first and delivers it: to a client, or to the servers. */
  async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const pending = await this.options.main.pendingPluginMessages();
      this.pollProblem = "";
      for (const message of pending) {
        this.counts.fromMain++;
        await this.deliverFromMain(
          message.plugin,
          message.client ?? undefined,
          message.encoding,
          message.data,
        );
      }
    } catch (error) {
      const problem = (error as Error).message;
      if (problem !== this.pollProblem)
        this.options.log.warn({ err: problem }, "plugin messages from main not taken; trying again");
      this.pollProblem = problem;
    } finally {
      this.polling = false;
    }
  }

  /** A message from main's plugin: to one client of this cluster, or to the servers' plugin. */
  private async deliverFromMain(
    plugin: string,
    client: number | undefined,
    encoding: 0 | 1,
    data: Uint8Array,
  ): Promise<void> {
    const { participant } = this.options;
    if (client !== undefined) {
      participant.publish("ca", "plugin-deliver", { plugin, clients: [client], encoding, data });
      return;
    }
    await participant
      .request(
        "game",
        "plugin-message",
        { plugin, from: { kind: "main" }, encoding, data },
        REQUEST_TIMEOUT_MS,
      )
      .catch((error: unknown) =>
        this.options.log.warn(
          { plugin, err: (error as Error).message },
          "a plugin message from main was not taken by this cluster's servers",
        ),
      );
  }

  /** Sends a message out of the cluster; how many answers main gave (delivered already). */
  private async send(body: messages.LinkPluginMessage, role: string): Promise<number> {
    if (body.client !== undefined && role !== "client-agent") {
      throw new messages.RequestError(
        "forbidden",
        `only a client agent may send a plugin message for a client, not a ${role}`,
      );
    }
    if (body.client === undefined && role !== "zone-ai") {
      throw new messages.RequestError("forbidden", `a ${role} sends plugin messages for its clients only`);
    }
    if (body.to.kind === "main") return this.toMain(body);
    if (body.client !== undefined) {
      throw new messages.RequestError(
        "forbidden",
        "a client reaches a linked cluster through its own cluster's servers, not straight over the link",
      );
    }
    const peer = body.to.cluster;
    if (!this.options.upPeers().includes(peer)) {
      throw new messages.RequestError("unavailable", `no link to cluster ${peer} is up`);
    }
    const bytes = encodeEnvelope({
      t: PLUGIN_MESSAGE_TAG,
      plugin: body.plugin,
      encoding: body.encoding,
      data: body.data,
    });
    if (!this.options.sendTo(peer, bytes)) {
      throw new messages.RequestError("unavailable", `the link to cluster ${peer} did not take the message`);
    }
    this.counts.sent++;
    return 0;
  }

  /** Posts the message to main (signed by the cluster) and delivers main's answers back. */
  private async toMain(body: messages.LinkPluginMessage): Promise<number> {
    let answers: Awaited<ReturnType<MainClient["pluginMessage"]>>;
    try {
      answers = await this.options.main.pluginMessage({
        plugin: body.plugin,
        encoding: body.encoding,
        data: body.data,
        ...(body.client === undefined ? {} : { client: body.client }),
      });
    } catch (error) {
      const status = (error as { status?: number }).status ?? 0;
      const code = status === 404 ? "not_found" : status >= 400 && status < 500 ? "forbidden" : "unavailable";
      throw new messages.RequestError(code, `main: ${(error as Error).message}`);
    }
    this.counts.toMain++;
    for (const answer of answers.replies) {
      this.counts.fromMain++;
      await this.deliverFromMain(body.plugin, body.client?.client, answer.encoding, answer.data);
    }
    return answers.replies.length;
  }

  /** A message from a linked peer: true when it was a plugin message (the other listeners ignore it then). */
  receive(peer: string, bytes: Uint8Array): boolean {
    const message = readTagged(bytes);
    if (message?.t !== PLUGIN_MESSAGE_TAG) return false;
    const { plugin, encoding, data } = message;
    if (
      typeof plugin !== "string" ||
      !PLUGIN_NAME.test(plugin) ||
      (encoding !== 0 && encoding !== 1) ||
      !(data instanceof Uint8Array) ||
      data.length > messages.MAX_PLUGIN_MESSAGE_BYTES
    ) {
      this.counts.refused++;
      this.options.log.warn({ peer }, "a malformed plugin message from a linked cluster dropped");
      return true;
    }
    this.counts.received++;
    void this.options.participant
      .request(
        "game",
        "plugin-message",
        { plugin, from: { kind: "cluster", cluster: peer }, encoding, data },
        REQUEST_TIMEOUT_MS,
      )
      .catch((error: unknown) =>
        this.options.log.warn(
          { peer, plugin, err: (error as Error).message },
          "a plugin message from a linked cluster was not taken by this cluster's servers",
        ),
      );
    return true;
  }
}

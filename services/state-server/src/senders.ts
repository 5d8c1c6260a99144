/**
 * Who a request acts for. Its sender is the role and channel its subject names (NATS lets only that
 * participant publish there); a request may act for another channel (`as`, or an update group's
 * channel) only when its sender holds that channel:
 * - a client agent, for the client channels the message director gave it (asked once per channel:
 *   channels are never given to anyone else, so the answer never changes);
 * - a zone-AI replica, for any zone (zone AI is the game logic; the replica running a zone acts for it);
 * - an operator (`admin`, `tool`), for anyone.
 * Anything else is refused with `forbidden`, naming the sender and the channel.
 *
 * A client agent may also delete only objects one of its clients owns (its session objects).
 */
import { type Identity, isZoneChannel, messages } from "@overworld/protocol";

/** Channels whose owner this replica remembers; past this many it starts afresh. */
const OWNER_CACHE_LIMIT = 100_000;

export class Senders {
  private readonly owners = new Map<number, number>();

  /** `lookup`: the director's answer to whose each channel is (`Participant.owners`). */
  constructor(private readonly lookup: (channels: readonly number[]) => Promise<number[]>) {}

  /** The channel a request from `from` acts for: its own, or `as` if it may act for it. */
  async actingFor(from: Identity, as: number | undefined): Promise<number> {
    if (as === undefined || as === from.channel) return from.channel;
    await this.check(from, [as]);
    return as;
  }

  /** Refuses (`forbidden`) unless `from` may act for every one of these channels. */
  async check(from: Identity, channels: readonly number[]): Promise<void> {
    const others = channels.filter((channel) => channel !== from.channel && channel !== 0);
    if (others.length === 0) return;
    switch (from.role) {
      case "admin":
      case "tool":
        return;
      case "zone-ai": {
        const notZone = others.find((channel) => !isZoneChannel(channel));
        if (notZone !== undefined) throw forbidden(from, notZone, "it is not a zone channel");
        return;
      }
      case "client-agent": {
        const owners = await this.ownersOf(others);
        const stranger = others.findIndex((_, index) => owners[index] !== from.channel);
        if (stranger >= 0) {
          throw forbidden(from, others[stranger]!, "it is not one of this client agent's clients");
        }
        return;
      }
      default:
        throw forbidden(from, others[0]!, `a ${from.role} acts only for itself`);
    }
  }

  /** Refuses (`forbidden`) a client agent's updates that are not sent for one of its clients. */
  checkClients(from: Identity, channels: readonly number[]): void {
    if (channels.some((channel) => channel === 0 || channel === from.channel)) {
      throw new messages.RequestError(
        "forbidden",
        `client-agent ${from.channel} sends only its clients' updates: every group must name the client's channel`,
      );
    }
  }

  /** Refuses (`forbidden`) a client agent's deletion of an object none of its clients owns. */
  async checkDelete(from: Identity, owner: number): Promise<void> {
    if (from.role !== "client-agent") return;
    if (owner !== 0 && (await this.ownersOf([owner]))[0] === from.channel) return;
    throw new messages.RequestError(
      "forbidden",
      `client-agent ${from.channel} may delete only objects its clients own (this one's owner is ${owner || "nobody"})`,
    );
  }

  private async ownersOf(channels: readonly number[]): Promise<number[]> {
    const unknown = [...new Set(channels.filter((channel) => !this.owners.has(channel)))];
    if (unknown.length > 0) {
      const answer = await this.lookup(unknown);
      if (this.owners.size + unknown.length > OWNER_CACHE_LIMIT) this.owners.clear();
      unknown.forEach((channel, index) => {
        if (answer[index] !== 0) this.owners.set(channel, answer[index]!); // a channel not yet given may be soon
      });
    }
    return channels.map((channel) => this.owners.get(channel) ?? 0);
  }
}

function forbidden(from: Identity, channel: number, why: string): messages.RequestError {
  return new messages.RequestError(
    "forbidden",
    `${from.role} ${from.channel} may not act for channel ${channel}: ${why}`,
  );
}

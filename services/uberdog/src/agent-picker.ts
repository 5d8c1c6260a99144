/**
 * Which client agent a login goes to: connect tokens name every agent (CLIENT_AGENT_ADDRESSES), tried in
 * order, and the order puts the least loaded first. Every `everyMs` uberdog asks all agents how full they
 * are (`ca.load`: public address, clients, most clients); between two answers each token issued counts
 * for the agent it names first, so a burst of logins is spread rather than sent to one agent. An agent
 * that did not answer the last round (dead, or not started yet) goes last, still named: a client whose
 * first agents do not answer tries it. A player whose agent dies logs in again (the client library's
 * `resume`) and is given a live one.
 */
import type { messages, netcode } from "@overworld/protocol";

interface Load {
  clients: number;
  readonly maxClients: number;
}

export class AgentPicker {
  /** The last answer of each agent that answered the last round, by public address; plus tokens since. */
  private loads = new Map<string, Load>();

  constructor(private readonly addresses: readonly netcode.NetcodeAddress[]) {}

  /** What the agents answered this round (those that did not are taken as unavailable). */
  update(answers: readonly messages.AgentLoadReply[]): void {
    this.loads = new Map(
      answers.map((answer) => [
        answer.publicAddress,
        { clients: answer.clients, maxClients: answer.maxClients },
      ]),
    );
  }

  /**
   * The addresses for the next token, the least full first (ties in the configured order), the agents that
   * did not answer last; the first one is counted as one more client until the next round.
   */
  next(): readonly netcode.NetcodeAddress[] {
    const fill = (address: netcode.NetcodeAddress) => {
      const load = this.loads.get(address.key);
      return load === undefined ? Number.POSITIVE_INFINITY : load.clients / load.maxClients;
    };
    const order = this.addresses
      .map((address, index) => ({ address, index, fill: fill(address) }))
      .sort((a, b) => a.fill - b.fill || a.index - b.index)
      .map(({ address }) => address);
    const first = this.loads.get(order[0]!.key);
    if (first !== undefined) first.clients += 1;
    return order;
  }
}

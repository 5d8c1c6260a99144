/**
 * Session objects' safety net: every session object of every client of this agent is registered with the
 * message director as a post-remove of the agent (an `ss.delete` of it), so that if the agent dies its
 * clients' avatars die with it. The director keeps one list per participant and can only clear it whole,
 * so a clean removal clears the list and registers the rest again. Changes are made one at a time, in
 * order.
 */

import type { messages } from "@overworld/protocol";
import type { Logger, Participant, PostRemoveMessage } from "@overworld/service";

/** What the agent's sessions need from the cluster for ownership and session objects. */
export interface SessionPort {
  /** A new participant channel for a client, subscribed; what arrives on it goes to `deliver`. */
  openChannel(
    deliver: (message: messages.ClientChannelMessage) => void,
  ): Promise<{ channel: number; close(): void }>;
  /** Deletes a live object through the state server (fire and forget). */
  deleteObject(doId: number): void;
  readonly postRemoves: SessionPostRemoves;
}

export class SessionPostRemoves {
  private readonly doIds = new Set<number>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(
    private readonly messagesFor: (doIds: readonly number[]) => PostRemoveMessage[],
    private readonly director: Pick<Participant, "addPostRemoves" | "clearPostRemoves">,
    private readonly log: Logger,
  ) {}

  /** The session objects registered (or being registered) with the director. */
  get size(): number {
    return this.doIds.size;
  }

  /**
   * The agent is stopping: it deletes its clients' session objects itself and says goodbye, which drops
   * its post-removes at the director; nothing more is sent.
   */
  stop(): void {
    this.stopped = true;
  }

  /** Forgets every session object: the director fired (or dropped) their post-removes already. */
  reset(): void {
    this.doIds.clear();
  }

  /** Registers the post-remove of a session object; resolves once the director holds it. */
  add(doId: number): Promise<void> {
    if (this.stopped || this.doIds.has(doId)) return this.chain;
    this.doIds.add(doId);
    return this.enqueue(() => this.director.addPostRemoves(this.messagesFor([doId])));
  }

  /** Drops the post-remove of a session object that went cleanly; never rejects (failures are logged). */
  remove(doId: number): Promise<void> {
    if (!this.doIds.delete(doId) || this.stopped) return this.chain;
    this.enqueue(async () => {
      await this.director.clearPostRemoves();
      if (this.doIds.size > 0) await this.director.addPostRemoves(this.messagesFor([...this.doIds]));
    });
    return this.chain;
  }

  /** Runs the step after the previous ones; its own promise rejects if it fails, the chain goes on. */
  private enqueue(step: () => Promise<void>): Promise<void> {
    const next = this.chain.then(step);
    this.chain = next.catch((error: unknown) => {
      this.log.error({ err: error }, "the director's post-removes of session objects could not be updated");
    });
    return next;
  }
}

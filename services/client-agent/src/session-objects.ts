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
  /**
   * Deletes a live object through the state server, asking again until a state server answers (one may
   * be down or restarting: a deletion published into the void would leave a ghost); resolves once it is
   * gone, or when the agent gives up (stopping, or after DELETE_RETRY_LIMIT tries, logged).
   */
  deleteObject(doId: number): Promise<void>;
  readonly postRemoves: SessionPostRemoves;
}

/** Tries of a session object's deletion before the agent gives up on it (about two minutes). */
export const DELETE_RETRY_LIMIT = 60;
const DELETE_FIRST_DELAY_MS = 100;
const DELETE_MAX_DELAY_MS = 2000;

/**
 * Asks `request` (an `ss.delete`) until it is answered: an object already gone (`unknown_object`) counts
 * as deleted; any other failure (no state server answering) is tried again, waiting longer each time,
 * while `running()` holds. The first try is always made: a stopping agent deletes its clients' objects
 * this way too.
 */
export async function deleteUntilAnswered(
  doId: number,
  request: () => Promise<unknown>,
  running: () => boolean,
  log: Logger,
): Promise<void> {
  let delay = DELETE_FIRST_DELAY_MS;
  for (let attempt = 1; ; attempt++) {
    try {
      await request();
      return;
    } catch (error) {
      if (error instanceof Error && "code" in error && error.code === "unknown_object") return;
      if (attempt >= DELETE_RETRY_LIMIT) {
        log.error({ err: error, doId }, "a session object could not be deleted: no state server answered");
        return;
      }
    }
    if (!running()) return;
    await new Promise((wake) => setTimeout(wake, delay));
    delay = Math.min(delay * 2, DELETE_MAX_DELAY_MS);
  }
}

export class SessionPostRemoves {
  private readonly doIds = new Set<number>();
  private chain: Promise<void> = Promise.resolve();
  private isStopped = false;

  constructor(
    private readonly messagesFor: (doIds: readonly number[]) => PostRemoveMessage[],
    private readonly director: Pick<Participant, "addPostRemoves" | "clearPostRemoves">,
    private readonly log: Logger,
  ) {}

  /** True once the agent is stopping. */
  get stopped(): boolean {
    return this.isStopped;
  }

  /** The session objects registered (or being registered) with the director. */
  get size(): number {
    return this.doIds.size;
  }

  /**
   * The agent is stopping: it deletes its clients' session objects itself and says goodbye, which drops
   * its post-removes at the director; nothing more is sent.
   */
  stop(): void {
    this.isStopped = true;
  }

  /** Forgets every session object: the director fired (or dropped) their post-removes already. */
  reset(): void {
    this.doIds.clear();
  }

  /** Registers the post-remove of a session object; resolves once the director holds it. */
  add(doId: number): Promise<void> {
    if (this.isStopped || this.doIds.has(doId)) return this.chain;
    this.doIds.add(doId);
    return this.enqueue(() => this.director.addPostRemoves(this.messagesFor([doId])));
  }

  /** Drops the post-remove of a session object that went cleanly; never rejects (failures are logged). */
  remove(doId: number): Promise<void> {
    if (!this.doIds.delete(doId) || this.isStopped) return this.chain;
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

/**
 * Updates a client could not read yet. The agent names fields by keys local to their object's class, so
 * an update of an object that has not entered cannot be read, nor can anything after it in the same
 * message: its entry (reliable) may be held back by a loss while state (unreliable) overtakes it. The
 * rest of such a message is kept, under the object it waits for, and read once that object enters;
 * what is read then goes through the same tick checks (a value older than the one held is skipped).
 */
import type { UnreadUpdates } from "@overworld/protocol/client";

/** Objects whose unread updates are kept at most (the oldest go first). */
const MAX_AWAITED_OBJECTS = 1024;
/** How long unread updates are kept for an object that does not enter. */
const KEEP_MS = 5000;

export class UnreadStore {
  private readonly awaiting = new Map<number, { readonly since: number; readonly rests: UnreadUpdates[] }>();

  /** Keeps the rest of a message until its first object enters. */
  keep(unread: UnreadUpdates, now: number): void {
    let entry = this.awaiting.get(unread.doId);
    if (entry !== undefined && now - entry.since > KEEP_MS) {
      this.awaiting.delete(unread.doId);
      entry = undefined;
    }
    if (entry === undefined) {
      if (this.awaiting.size >= MAX_AWAITED_OBJECTS) this.awaiting.delete(this.awaiting.keys().next().value!);
      entry = { since: now, rests: [] };
      this.awaiting.set(unread.doId, entry);
    }
    entry.rests.push(unread);
  }

  /** What waited for the object that now entered (nothing if it waited too long), and forgets it. */
  take(doId: number, now: number): readonly UnreadUpdates[] {
    const entry = this.awaiting.get(doId);
    if (entry === undefined) return [];
    this.awaiting.delete(doId);
    return now - entry.since > KEEP_MS ? [] : entry.rests;
  }
}

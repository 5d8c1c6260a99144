/**
 * When each bot's recent walk steps left, on the process clock (clock.ts), in memory that every thread of
 * the run shares (a SharedArrayBuffer handed to each bot worker). A bot receiving another bot's step looks
 * up when it left and times it on the one clock, exact and free of the cluster clock estimates' error,
 * whichever thread the sender runs in.
 *
 * Per bot (its index in the run): the doId of its avatar, and a ring of its last STEPS_KEPT steps (stamp
 * and send time) with a count of the steps written. Only the bot's own thread writes its entries: it fills
 * the next slot, then publishes it by storing the count (Atomics). A reader takes the count, reads a slot,
 * and keeps what it read only if the count has not moved far enough meanwhile for that slot to be
 * rewritten; a step being overwritten as it is read is dropped, never misread. A receiver finds the
 * sender's index by the avatar's doId (a map per thread, rebuilt when another bot registered an avatar).
 */

/** Steps kept per bot: at 10 steps a second, a step arriving up to 6 s late is still timed. */
export const STEPS_KEPT = 64;

const INT32_BYTES = 4;
const FLOAT64_BYTES = 8;
/** Header: how many avatars the bots registered (changes when a receiver should look for new senders). */
const HEADER_INTS = 1;

export class SendTimes {
  /** [0]: avatars registered. */
  private readonly header: Int32Array;
  /** Steps written per bot (published with Atomics.store). */
  private readonly heads: Int32Array;
  /** Each bot's avatar doId (its 32 bits as int32), 0 before its first step. */
  private readonly avatars: Int32Array;
  /** Each bot's ring of step stamps, STEPS_KEPT a bot. */
  private readonly stamps: Uint32Array;
  /** Each bot's ring of send times (process clock, ms), beside its stamps. */
  private readonly times: Float64Array;
  /** This thread's map of avatar doId to bot index; `seen`: the avatars registered when it was built. */
  private readonly senders = new Map<number, number>();
  private seen = 0;

  /** Send times for `bots` bots, in a new SharedArrayBuffer (`buffer`) to hand to other threads. */
  static create(bots: number): SendTimes {
    return new SendTimes(new SharedArrayBuffer(SendTimes.bytesFor(bots)), bots);
  }

  /** The bytes `bots` bots take. */
  static bytesFor(bots: number): number {
    return SendTimes.timesOffset(bots) + bots * STEPS_KEPT * FLOAT64_BYTES;
  }

  /** Where the send times begin: past the header, heads, avatars and stamps, aligned to 8 bytes. */
  private static timesOffset(bots: number): number {
    const ints = HEADER_INTS + 2 * bots + bots * STEPS_KEPT;
    return Math.ceil((ints * INT32_BYTES) / FLOAT64_BYTES) * FLOAT64_BYTES;
  }

  /** The send times of `bots` bots in `buffer` (from `create` in this thread or another). */
  constructor(
    readonly buffer: SharedArrayBuffer,
    readonly bots: number,
  ) {
    if (buffer.byteLength < SendTimes.bytesFor(bots)) {
      throw new RangeError(
        `the send times buffer holds ${buffer.byteLength} bytes, ${SendTimes.bytesFor(bots)} needed for ${bots} bots`,
      );
    }
    let offset = 0;
    const ints = (length: number) => {
      const view = new Int32Array(buffer, offset, length);
      offset += length * INT32_BYTES;
      return view;
    };
    this.header = ints(HEADER_INTS);
    this.heads = ints(bots);
    this.avatars = ints(bots);
    this.stamps = new Uint32Array(buffer, offset, bots * STEPS_KEPT);
    this.times = new Float64Array(buffer, SendTimes.timesOffset(bots), bots * STEPS_KEPT);
  }

  /** Bot `bot`, whose avatar is `doId`, sent the step stamped `stamp` at `atMs` (process clock). */
  record(bot: number, doId: number, stamp: number, atMs: number): void {
    if (this.avatars[bot] !== (doId | 0)) {
      Atomics.store(this.avatars, bot, doId | 0);
      Atomics.add(this.header, 0, 1);
    }
    const written = this.heads[bot]!; // only this bot's thread writes its entries
    const slot = bot * STEPS_KEPT + (written % STEPS_KEPT);
    this.stamps[slot] = stamp;
    this.times[slot] = atMs;
    Atomics.store(this.heads, bot, written + 1);
  }

  /** When the step stamped `stamp` of the avatar `doId` left (process clock, ms), if a bot of the run sent it lately. */
  sentAt(doId: number, stamp: number): number | undefined {
    const bot = this.senderOf(doId);
    if (bot === undefined) return undefined;
    const written = Atomics.load(this.heads, bot);
    // newest first: most steps arrive before their sender's next one; the oldest slot may be rewritten now
    for (let step = written - 1; step > written - STEPS_KEPT && step >= 0; step--) {
      const slot = bot * STEPS_KEPT + (step % STEPS_KEPT);
      if (this.stamps[slot] !== stamp) continue;
      const atMs = this.times[slot]!;
      return step > Atomics.load(this.heads, bot) - STEPS_KEPT ? atMs : undefined;
    }
    return undefined;
  }

  /** The index of the bot whose avatar is `doId`; undefined for objects no bot of the run walks (NPCs). */
  private senderOf(doId: number): number | undefined {
    const known = this.senders.get(doId);
    if (known !== undefined) return known;
    const registered = Atomics.load(this.header, 0);
    if (registered === this.seen) return undefined;
    this.seen = registered;
    for (let bot = 0; bot < this.bots; bot++) {
      const avatar = Atomics.load(this.avatars, bot);
      if (avatar !== 0) this.senders.set(avatar >>> 0, bot);
    }
    return this.senders.get(doId);
  }
}

/**
 * The replies uberdog's service objects gave, per (caller, request id), so that a request that comes
 * again (its caller retried after a lost reply) is answered from its record instead of running again.
 * Kept in Redis under the cluster's prefix (`<REDIS_PREFIX>uberdog:reply:<caller>:<requestId>`) for
 * REPLY_TTL_SECONDS, so that a restarted uberdog still answers a retry of a request its previous run
 * answered; the most recent ones are kept in memory too (bounded), so a retry needs no round trip.
 */
import type { Redis } from "@overworld/service";

/** How long a reply is kept: well past the longest a client keeps a request waiting (60 s). */
export const REPLY_TTL_SECONDS = 600;
/** Replies kept in memory besides Redis; the oldest go first. */
export const REPLIES_IN_MEMORY = 4096;

/** A reply as it travels: the reply field's value packed, or an error. */
export type Answer =
  | { readonly value: Uint8Array }
  | { readonly error: { readonly code: string; readonly message: string } };

type Stored = { v: string } | { e: { code: string; message: string } };

export class ReplyRecords {
  private readonly recent = new Map<string, Answer>();

  constructor(
    private readonly redis: Redis,
    /** `<REDIS_PREFIX>uberdog:` */
    private readonly prefix: string,
  ) {}

  /** The answer given to this caller's request, if any (in memory, else in Redis). */
  async get(caller: number, requestId: number): Promise<Answer | undefined> {
    const key = this.key(caller, requestId);
    const known = this.recent.get(key);
    if (known !== undefined) return known;
    const stored = await this.redis.get(key);
    if (stored === null) return undefined;
    const parsed = JSON.parse(stored) as Stored;
    const answer: Answer = "v" in parsed ? { value: Buffer.from(parsed.v, "base64") } : { error: parsed.e };
    this.keep(key, answer);
    return answer;
  }

  /** Records an answer (before it is sent: a crash after the send cannot lose it). */
  async put(caller: number, requestId: number, answer: Answer): Promise<void> {
    const key = this.key(caller, requestId);
    const stored: Stored =
      "value" in answer ? { v: Buffer.from(answer.value).toString("base64") } : { e: answer.error };
    await this.redis.set(key, JSON.stringify(stored), "EX", REPLY_TTL_SECONDS);
    this.keep(key, answer);
  }

  private keep(key: string, answer: Answer): void {
    this.recent.delete(key);
    this.recent.set(key, answer);
    if (this.recent.size > REPLIES_IN_MEMORY) this.recent.delete(this.recent.keys().next().value!);
  }

  private key(caller: number, requestId: number): string {
    return `${this.prefix}reply:${caller}:${requestId}`;
  }
}

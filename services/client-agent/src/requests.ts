/**
 * A session's requests (calls of methods, dc/methods.ts) between the client and the cluster. A REQUEST
 * that passed the field rules (session.ts: the same as SET_FIELD's, and the field must be a method) is
 * queued here for the agent to pass to the state server (`ss.request`), and stays pending until its answer
 * comes to the client's channel. Only the first answer of a pending request goes to the client: a zone that
 * replays its journal after a failover answers again, and a retried request may be answered twice; the
 * client hears one REPLY or REQUEST_ERROR per request it sent. A retry of a pending request (same id) is
 * passed on again (its first copy, or its answer, may have been lost): the zone answers it from its recent
 * replies without running it twice.
 */
import type { messages } from "@overworld/protocol";
import { type AgentMessage, AgentMessageType } from "@overworld/protocol/client";

/** Requests a client may have waiting for their answers; more are refused with `too_many_requests`. */
export const MAX_PENDING_REQUESTS = 64;
/** A request unanswered this long no longer counts against the limit (an answer after that is dropped). */
export const PENDING_REQUEST_MS = 60_000;

export interface OutgoingCall {
  readonly requestId: number;
  readonly doId: number;
  readonly fieldId: number;
  readonly args: Uint8Array;
}

export class SessionRequests {
  /** When each request waiting for its answer was (last) made. */
  private readonly pending = new Map<number, number>();
  /** Calls to pass on, in the order the client made them. */
  readonly outgoing: OutgoingCall[] = [];

  /** A checked call: queued, or answered at once (returned) when too many are waiting. */
  accept(call: OutgoingCall, now: number): AgentMessage | undefined {
    if (!this.pending.has(call.requestId) && this.pending.size >= MAX_PENDING_REQUESTS) this.forget(now);
    if (!this.pending.has(call.requestId) && this.pending.size >= MAX_PENDING_REQUESTS) {
      return refusal(
        call.requestId,
        "too_many_requests",
        `${MAX_PENDING_REQUESTS} requests of this client already wait for their answers`,
      );
    }
    this.pending.set(call.requestId, now);
    this.outgoing.push({ ...call, args: call.args.slice() }); // the message's bytes are a view of a datagram
    return undefined;
  }

  /** The answer to send the client, or undefined when it is not (or no longer) waiting for one. */
  answer(reply: messages.RequestReply): AgentMessage | undefined {
    if (!this.pending.delete(reply.requestId)) return undefined;
    if (reply.error !== undefined) return refusal(reply.requestId, reply.error.code, reply.error.message);
    return {
      type: AgentMessageType.Reply,
      requestId: reply.requestId,
      value: reply.value ?? new Uint8Array(),
    };
  }

  /** Forgets the requests waiting longer than PENDING_REQUEST_MS (their zone never answered). */
  private forget(now: number): void {
    for (const [requestId, at] of this.pending) {
      if (now - at >= PENDING_REQUEST_MS) this.pending.delete(requestId);
    }
  }

  /** The call could not be passed on (no such object, no AI, the state server did not answer). */
  fail(requestId: number, code: string, message: string): AgentMessage | undefined {
    if (!this.pending.delete(requestId)) return undefined;
    return refusal(requestId, code, message);
  }
}

function refusal(requestId: number, code: string, message: string): AgentMessage {
  return { type: AgentMessageType.RequestError, requestId, code, message };
}

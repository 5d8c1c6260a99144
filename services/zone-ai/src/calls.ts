/**
 * Awaitable requests for code outside a zone's tick: a plugin's `Cluster.request` (zone-AI replica),
 * uberdog's own code and its admin API. Where a zone numbers its calls from its snapshot and hears the
 * replies in its journal (requests.ts), these are a participant's: numbered from its own counter, sent
 * through the state server (`ss.request`, which checks the method and passes the call to the object's AI,
 * a zone or an uberdog service), and answered on the participant's own channel (`<root>.c.<channel>`,
 * which every participant may hear: catalogue.ts). The promise resolves with the reply field's value,
 * typed by the class's handle, or rejects with a RequestError: the answering side's code (`sold_out`), the
 * state server's refusal (`unknown_object`, `forbidden`, `unavailable`), or `timeout`.
 *
 * The numbers start from a random point so that a participant which joined again, or a restarted one,
 * does not reuse a number an answering side still keeps a reply for under the same channel.
 */
import { randomInt } from "node:crypto";
import {
  type DClass,
  type DClassHandle,
  type Field,
  type FieldInfoMap,
  type FieldValue,
  isMethod,
  type MethodName,
  type MethodReply,
  type messages,
  packField,
  replyFieldOf,
  unpackField,
} from "@overworld/protocol";
import type { Participant } from "@overworld/service";
import { CODE, DEFAULT_REQUEST_TIMEOUT_MS, RequestError } from "./requests.ts";

/** How long the state server has to take a call on its way. */
const PASS_TIMEOUT_MS = 2000;

export interface AwaitOptions {
  /** Rejects with a RequestError of code `timeout` after this long without an answer (5 s by default). */
  readonly timeoutMs?: number;
}

/** `request(doId, Class, "method", args, { timeoutMs })`: the typed reply, or a RequestError. */
export type AwaitRequest = <G extends FieldInfoMap, N extends MethodName<G>>(
  doId: number,
  handle: DClassHandle<G>,
  method: N,
  args: G[N]["value"],
  options?: AwaitOptions,
) => Promise<MethodReply<G, N>>;

interface Waiting {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly what: string;
  readonly dclass: DClass;
  readonly method: Field;
  readonly timer: ReturnType<typeof setTimeout>;
}

/**
 * A participant's requests waiting for their answers. The owner feeds it the replies that come to the
 * participant's channel (`receive`); a zone-AI replica and uberdog each hear their channel once.
 */
export class AwaitedCalls {
  private next = randomInt(1, 0x7fff_ffff);
  private readonly waiting = new Map<number, Waiting>();

  constructor(private readonly participant: Participant) {}

  /** Calls `method` of object `doId` (of the handle's class) and waits for its answer. */
  readonly request: AwaitRequest = <G extends FieldInfoMap, N extends MethodName<G>>(
    doId: number,
    handle: DClassHandle<G>,
    method: N,
    args: G[N]["value"],
    options: AwaitOptions = {},
  ): Promise<MethodReply<G, N>> =>
    this.call(doId, handle.dclass, method, args as FieldValue, options) as Promise<MethodReply<G, N>>;

  /** The same for a class known at run time (the admin API's): the reply's value, unpacked. */
  call(
    doId: number,
    dclass: DClass,
    method: string,
    args: FieldValue,
    options: AwaitOptions = {},
  ): Promise<unknown> {
    const field = dclass.field(method);
    if (field === undefined) throw new RequestError("unknown_field", `${dclass.name} has no field ${method}`);
    if (!isMethod(field)) {
      throw new RequestError("forbidden", `${dclass.name}.${method} is not a method (no keyword request)`);
    }
    const packed = packField(field, args); // a bad value throws here, and nothing is sent
    const requestId = this.next;
    this.next = this.next >= 0xffff_ffff ? 1 : this.next + 1;
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const what = `${dclass.name}.${method} of object ${doId} (request ${requestId})`;
    const answered = new Promise<unknown>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          this.settle(requestId)?.reject(
            new RequestError("timeout", `${what}: no answer within ${timeoutMs} ms`),
          ),
        timeoutMs,
      );
      this.waiting.set(requestId, { resolve, reject, what, dclass, method: field, timer });
    });
    this.participant
      .request("ss", "request", { requestId, doId, fieldId: field.id, args: packed }, PASS_TIMEOUT_MS)
      .catch((error: unknown) => {
        // refused (no such object, not a method, no AI) or not taken (no state server answered)
        const { code, message } = error as { code?: unknown; message?: string };
        const named = typeof code === "string" && CODE.test(code) ? code : "unavailable";
        this.settle(requestId)?.reject(new RequestError(named, `${what}: ${message ?? String(error)}`));
      });
    return answered;
  }

  /** A reply that came to the participant's channel: settles its request (one no longer waiting is dropped). */
  receive(reply: messages.RequestReply): void {
    const waiting = this.settle(reply.requestId);
    if (waiting === undefined) return;
    if (reply.error !== undefined) {
      waiting.reject(new RequestError(reply.error.code, `${waiting.what}: ${reply.error.message}`));
      return;
    }
    const replyField = replyFieldOf(waiting.dclass, waiting.method);
    try {
      waiting.resolve(
        replyField === undefined ? undefined : unpackField(replyField, reply.value ?? new Uint8Array()),
      );
    } catch (error) {
      waiting.reject(new RequestError("bad_reply", `${waiting.what}: ${(error as Error).message}`));
    }
  }

  /** Every request still waiting fails (the participant stops). */
  closeAll(why: string): void {
    for (const requestId of [...this.waiting.keys()]) {
      this.settle(requestId)?.reject(new RequestError("unavailable", why));
    }
  }

  private settle(requestId: number): Waiting | undefined {
    const waiting = this.waiting.get(requestId);
    if (waiting === undefined) return undefined;
    this.waiting.delete(requestId);
    clearTimeout(waiting.timer);
    return waiting;
  }
}

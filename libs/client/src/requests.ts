/**
 * A client's requests: calls of methods of objects in view (a field with the keyword `request`, see
 * @overworld/protocol's dc/methods.ts), each numbered by the client and answered by the cluster with a
 * REPLY (the value of the class's `<method>Reply` field) or a REQUEST_ERROR (a code and a message).
 *
 * The request travels on the reliable channel; so does its answer. `retryMs` sends the same request (the
 * same number) again while no answer has come: the cluster runs it once and answers a retry from the
 * replies it keeps, so a retry after a lost answer (or a zone that was down) is safe. Past `timeoutMs`
 * the call rejects with a RequestTimeoutError; an answer that comes later is dropped.
 */
import {
  type DClass,
  type FieldValue,
  isMethod,
  packField,
  replyFieldOf,
  unpackField,
} from "@overworld/protocol";
import {
  type AgentMessageOf,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
} from "@overworld/protocol/client";

/** How long a request waits for its answer by default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

export interface CallOptions {
  /** Rejects with a RequestTimeoutError after this long without an answer (DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs?: number;
  /** Sends the request again (same number) every this many ms until answered; never by default. */
  readonly retryMs?: number;
}

/** A request the cluster answered with an error: `code` a short name (the game's, e.g. `sold_out`, or the cluster's). */
export class RequestError extends Error {
  override name = "RequestError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** No answer came within the request's time (code `timeout`). */
export class RequestTimeoutError extends RequestError {
  override name = "RequestTimeoutError";
  constructor(message: string) {
    super("timeout", message);
  }
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly what: string;
  readonly dclass: DClass;
  readonly method: NonNullable<ReturnType<DClass["field"]>>;
  readonly timers: ReturnType<typeof setTimeout>[];
}

/** The client's requests waiting for their answers. */
export class ClientRequests {
  private next = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly send: (message: ClientMessage) => void,
    private readonly flush: () => void,
  ) {}

  /** Calls `method` of object `doId` (of class `dclass`); resolves with the reply's value. */
  call(
    doId: number,
    dclass: DClass,
    method: string,
    args: FieldValue,
    options: CallOptions,
  ): Promise<unknown> {
    const field = dclass.field(method);
    if (field === undefined) throw new Error(`class ${dclass.name} has no field ${method}`);
    if (!isMethod(field))
      throw new Error(`${dclass.name}.${method} is not a method (it has no keyword request)`);
    const message: ClientMessage = {
      type: ClientMessageType.Request,
      requestId: this.next,
      doId,
      fieldId: field.id,
      value: packField(field, args), // a bad value throws here, and nothing is sent
    };
    const requestId = this.next;
    this.next = this.next >= 0xffff_ffff ? 1 : this.next + 1;
    const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const what = `${dclass.name}.${method} of object ${doId} (request ${requestId})`;
    return new Promise((resolve, reject) => {
      const timers = [
        setTimeout(
          () =>
            this.settle(requestId)?.reject(
              new RequestTimeoutError(`${what}: no answer within ${timeoutMs} ms`),
            ),
          timeoutMs,
        ),
      ];
      if (options.retryMs !== undefined && options.retryMs > 0) {
        timers.push(
          setInterval(() => {
            this.send(message);
            this.flush();
          }, options.retryMs),
        );
      }
      this.pending.set(requestId, { resolve, reject, what, dclass, method: field, timers });
      this.send(message);
      this.flush();
    });
  }

  /** A REPLY or REQUEST_ERROR: settles its request (one no longer waiting is dropped). */
  receive(
    message: AgentMessageOf<typeof AgentMessageType.Reply | typeof AgentMessageType.RequestError>,
  ): void {
    const pending = this.settle(message.requestId);
    if (pending === undefined) return;
    if (message.type === AgentMessageType.RequestError) {
      pending.reject(new RequestError(message.code, `${pending.what}: ${message.message}`));
      return;
    }
    const replyField = replyFieldOf(pending.dclass, pending.method);
    try {
      pending.resolve(replyField === undefined ? undefined : unpackField(replyField, message.value));
    } catch (error) {
      pending.reject(new RequestError("bad_reply", `${pending.what}: ${(error as Error).message}`));
    }
  }

  /** The client closed: every request waiting fails. */
  closeAll(error: Error): void {
    for (const requestId of [...this.pending.keys()]) this.settle(requestId)?.reject(error);
  }

  private settle(requestId: number): Pending | undefined {
    const pending = this.pending.get(requestId);
    if (pending === undefined) return undefined;
    this.pending.delete(requestId);
    for (const timer of pending.timers) clearTimeout(timer);
    return pending;
  }
}

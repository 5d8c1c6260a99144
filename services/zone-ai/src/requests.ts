/**
 * Requests in zone logic: answering calls of methods (dc/methods.ts) of the objects a zone runs, and
 * calling methods of other objects (another zone's, anywhere in the cluster) and hearing their replies.
 *
 * Answering: a call comes to the zone's channel (journaled, so it is an input like any other) from a
 * client or a zone; the handler the kind declared for that method (`onRequest(Class, "buy", fn)`) runs
 * with the zone's state and returns the reply's value, or throws a `RequestError(code, message)`. The
 * answer goes to the caller's channel, and is kept among the zone's recent replies (per caller, bounded,
 * in the snapshot): a call that comes again with the same request id (the caller retried after a lost
 * reply) is answered from there, without running the handler again. A zone resumed after a failover
 * replays its journal from its snapshot: a call applied after the snapshot runs again on the state from
 * before it, which is not a second run but the same one (its writes are absolute, its creations keep their
 * doIds), and its answer is made again; the caller takes only the first answer of each request (the client
 * agent forwards one per pending request, a calling zone drops replies it no longer waits for).
 *
 * Calling: `zone.request(doId, Class, "method", args, { onReply: "name", data, timeoutMs })` numbers the call
 * from the zone's own counter (in its snapshot: a replay calls again under the same number, which the
 * answering zone recognises) and sends it through the state server; its reply comes back to the zone's
 * channel, journaled too, and calls the kind's `replied(zone, state, "name", result, data)` hook, as does
 * its timeout (`code: "timeout"`). A closure cannot be snapshotted, hence a name and plain data rather
 * than a promise.
 */
import {
  DClass,
  type DClassHandle,
  type DcFile,
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
import type { Zone, ZoneHooks, ZoneObject } from "./plugin.ts";

/** A short snake_case name: what a RequestError's code must be (it travels as such to clients). */
export const CODE = /^[a-z][a-z0-9_]{0,63}$/;
const MAX_MESSAGE_CHARS = 1024;
/** Replies kept per caller (a client may have 64 requests waiting: client-agent/src/requests.ts). */
export const RECENT_REPLIES_PER_CALLER = 64;
/** Callers whose replies a zone keeps; the one heard from longest ago is forgotten first. */
export const RECENT_CALLERS = 1024;
/** How long a zone waits for a reply by default. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 5000;

/**
 * The error a request handler throws to answer with a typed error: `code` a short snake_case name the
 * caller can switch on (`sold_out`), `message` words for people. Anything else a handler throws is
 * answered `internal` (and logged).
 */
export class RequestError extends Error {
  override readonly name = "RequestError";
  constructor(
    readonly code: string,
    message: string,
  ) {
    if (!CODE.test(code)) {
      throw new RangeError(
        `a request error's code must be a short snake_case name, got ${JSON.stringify(code)}`,
      );
    }
    super(message.slice(0, MAX_MESSAGE_CHARS));
  }
}

/** What a call answered: its reply value, or an error. */
export type RequestResult<R = unknown> =
  | { readonly ok: true; readonly value: R }
  | { readonly ok: false; readonly code: string; readonly message: string };

/** A typed handler of one method of one class (see `onRequest`). */
export interface RequestHandler<S> {
  readonly dclass: DClass;
  readonly method: string;
  readonly handle: (
    zone: Zone,
    state: S,
    object: ZoneObject,
    args: FieldValue,
    sender: number,
  ) => FieldValue | undefined;
}

/**
 * A typed request handler: `onRequest(demo.DistributedShop, "buy", (zone, state, shop, [item], sender) =>
 * [left])`. It returns the value of the class's `<method>Reply` field (nothing when it has none) or throws
 * `new RequestError(code, message)`. `sender`: the caller's channel (a client's, a zone's).
 */
export function onRequest<S, G extends FieldInfoMap, N extends MethodName<G>>(
  handle: DClassHandle<G>,
  method: N,
  fn: (zone: Zone, state: S, object: ZoneObject<G>, args: G[N]["value"], sender: number) => MethodReply<G, N>,
): RequestHandler<S> {
  const field = handle.field(method); // throws now, naming the class, if it has no such field
  if (!isMethod(field)) {
    throw new Error(`${handle.name}.${method} is not a method: declare it with the keyword request`);
  }
  return { dclass: handle.dclass, method, handle: fn as RequestHandler<S>["handle"] };
}

export interface RequestOptions {
  /** The name the kind's `replied` hook is called with when the reply (or the timeout) comes. */
  readonly onReply: string;
  /** Plain data handed to `replied` with the result. */
  readonly data?: unknown;
  /** How long to wait for the reply (DEFAULT_REQUEST_TIMEOUT_MS). */
  readonly timeoutMs?: number;
}

/** A zone's call of a method, or its answer to one: what the replica sends. */
export type RequestOutput =
  | {
      readonly op: "request";
      readonly requestId: number;
      readonly doId: number;
      readonly fieldId: number;
      readonly args: Uint8Array;
    }
  | {
      readonly op: "reply";
      /** The caller's channel. */
      readonly to: number;
      readonly requestId: number;
      readonly answer: Answer;
    };

/** A reply as it travels: the reply field's value packed, or an error. */
export type Answer =
  | { readonly value: Uint8Array }
  | { readonly error: { readonly code: string; readonly message: string } };

interface PendingCall {
  readonly requestId: number;
  readonly classId: number;
  readonly fieldId: number;
  readonly onReply: string;
  readonly data: unknown;
  readonly deadline: number;
}

/** What of the requests a zone's snapshot keeps. */
export interface RequestsSnapshot {
  readonly next: number;
  readonly pending: readonly PendingCall[];
  /** [caller, [[requestId, answer], ...]], the caller heard from longest ago first. */
  readonly recent: readonly [number, [number, Answer][]][];
}

/** What a zone's requests need of the zone running them. */
export interface RequestHost {
  readonly dc: DcFile;
  readonly hooks: ZoneHooks<unknown>;
  readonly zone: Zone;
  state(): unknown;
  /** An object this zone runs. */
  object(doId: number): ZoneObject | undefined;
  output(output: RequestOutput): void;
  /** A class and the classes it inherits from, nearest first. */
  lineage(dclass: DClass): DClass[];
}

export class ZoneRequests {
  private readonly handlers = new Map<string, RequestHandler<unknown>>();
  private next = 1;
  private pending = new Map<number, PendingCall>();
  private recent = new Map<number, Map<number, Answer>>();

  constructor(private readonly host: RequestHost) {
    for (const handler of host.hooks.requests ?? []) {
      const key = `${handler.dclass.name}.${handler.method}`;
      if (this.handlers.has(key)) throw new Error(`two request handlers of ${key}`);
      this.handlers.set(key, handler);
    }
  }

  snapshot(): RequestsSnapshot {
    return {
      next: this.next,
      pending: [...this.pending.values()],
      recent: [...this.recent].map(([caller, answers]) => [caller, [...answers]]),
    };
  }

  restore(snapshot: RequestsSnapshot | undefined): void {
    if (snapshot === undefined) return;
    this.next = snapshot.next;
    this.pending = new Map(snapshot.pending.map((call) => [call.requestId, call]));
    this.recent = new Map(snapshot.recent.map(([caller, answers]) => [caller, new Map(answers)]));
  }

  /** A call of a method of an object this zone runs: answered once, again from the recent replies. */
  receiveCall(call: messages.RequestCall): void {
    const known = this.recent.get(call.sender)?.get(call.requestId);
    const answer = known ?? this.run(call);
    if (known === undefined) this.remember(call.sender, call.requestId, answer);
    this.host.output({ op: "reply", to: call.sender, requestId: call.requestId, answer });
  }

  /** A reply to one of this zone's calls; a repeat, or one after its timeout, is dropped. */
  receiveReply(reply: messages.RequestReply): void {
    const call = this.pending.get(reply.requestId);
    if (call === undefined) return;
    this.pending.delete(reply.requestId);
    if (reply.error !== undefined) {
      this.settle(call, { ok: false, ...reply.error });
      return;
    }
    const dclass = this.host.dc.typeById(call.classId);
    const method = dclass instanceof DClass ? dclass.fieldById(call.fieldId) : undefined;
    const replyField = dclass instanceof DClass && method ? replyFieldOf(dclass, method) : undefined;
    let result: RequestResult;
    try {
      const value =
        replyField === undefined ? undefined : unpackField(replyField, reply.value ?? new Uint8Array());
      result = { ok: true, value };
    } catch (error) {
      result = { ok: false, code: "bad_reply", message: (error as Error).message };
    }
    this.settle(call, result);
  }

  /** Calls whose time is up are answered `timeout`, in the order they were made. */
  expire(now: number): void {
    for (const call of [...this.pending.values()]) {
      if (call.deadline > now) continue;
      this.pending.delete(call.requestId);
      this.settle(call, {
        ok: false,
        code: "timeout",
        message: `no reply within its time (request ${call.requestId})`,
      });
    }
  }

  /** `zone.request`: numbers the call, keeps it pending, sends it. */
  call<G extends FieldInfoMap>(
    doId: number,
    handle: DClassHandle<G>,
    method: string,
    args: FieldValue,
    options: RequestOptions,
  ): number {
    const field = handle.field(method);
    if (!isMethod(field)) throw new Error(`${handle.name}.${method} is not a method (no keyword request)`);
    const requestId = this.next++;
    this.pending.set(requestId, {
      requestId,
      classId: handle.dclass.id,
      fieldId: field.id,
      onReply: options.onReply,
      data: options.data ?? null,
      deadline: this.host.zone.now + (options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS),
    });
    this.host.output({ op: "request", requestId, doId, fieldId: field.id, args: packField(field, args) });
    return requestId;
  }

  private run(call: messages.RequestCall): Answer {
    const object = this.host.object(call.doId);
    if (object === undefined) {
      return failure(
        "unknown_object",
        `object ${call.doId} is not run by this zone (it moved or was deleted)`,
      );
    }
    const field = object.dclass.fieldById(call.fieldId);
    const handler = field && this.handlerOf(object.dclass, field);
    if (field === undefined || handler === undefined) {
      return failure(
        "no_handler",
        `zone ${this.host.zone.kind} answers no ${object.dclass.name} method ${field?.name ?? call.fieldId}`,
      );
    }
    let args: FieldValue;
    try {
      args = unpackField(field, call.args);
    } catch (error) {
      return failure("bad_value", (error as Error).message);
    }
    try {
      const value = handler.handle(this.host.zone, this.host.state(), object, args, call.sender);
      const replyField = replyFieldOf(object.dclass, field);
      return {
        value: replyField === undefined ? new Uint8Array() : packField(replyField, value as FieldValue),
      };
    } catch (error) {
      if (error instanceof RequestError) return failure(error.code, error.message);
      this.host.zone.log.warn("a request handler failed", {
        method: `${object.dclass.name}.${field.name}`,
        error: (error as Error)?.message ?? String(error),
      });
      return failure("internal", `${object.dclass.name}.${field.name} failed`);
    }
  }

  private handlerOf(dclass: DClass, field: Field): RequestHandler<unknown> | undefined {
    for (const each of this.host.lineage(dclass)) {
      const handler = this.handlers.get(`${each.name}.${field.name}`);
      if (handler !== undefined) return handler;
    }
    return undefined;
  }

  private settle(call: PendingCall, result: RequestResult): void {
    this.host.hooks.replied?.(this.host.zone, this.host.state(), call.onReply, result, call.data);
  }

  /** Keeps an answer; the oldest of a caller's, and the caller heard from longest ago, go first. */
  private remember(caller: number, requestId: number, answer: Answer): void {
    const answers = this.recent.get(caller) ?? new Map<number, Answer>();
    this.recent.delete(caller); // to the end: heard from last
    this.recent.set(caller, answers);
    answers.set(requestId, answer);
    if (answers.size > RECENT_REPLIES_PER_CALLER) answers.delete(answers.keys().next().value!);
    if (this.recent.size > RECENT_CALLERS) this.recent.delete(this.recent.keys().next().value!);
  }
}

function failure(code: string, message: string): Answer {
  return { error: { code, message: message.slice(0, MAX_MESSAGE_CHARS) } };
}

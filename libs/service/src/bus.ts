import {
  type Authenticator,
  type ConnectionOptions,
  connect,
  credsAuthenticator,
  jwtAuthenticator,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";
import {
  decodeEnvelope,
  encodeEnvelope,
  type Identity,
  isUpdateFrame,
  messages,
  senderOf,
  updateDeliveryOf,
} from "@overworld/protocol";
import type { z } from "zod";
import type { Logger } from "./log.ts";
import { Permanent, untilReachable } from "./retry.ts";

export type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** How a connection proves who it is to NATS. */
export interface BusAuth {
  /** The content of a `.creds` file (a user JWT and its seed). */
  credentials?: string;
  /** A user JWT (read at every (re)connection, so it can be replaced) and the seed of its key. */
  jwt?: () => string;
  seed?: Uint8Array;
  /** Where replies to this connection's requests come (the only inbox its credentials let it hear). */
  inboxPrefix?: string;
}

/**
 * Connects to NATS (one URL or several, comma-separated), naming the connection after the service so
 * `nats server report` shows who is who; waits for NATS within CONNECT_TIMEOUT_MS. Without credentials
 * in `auth`, only a NATS without authentication lets it in.
 */
export function connectBus(url: string, name: string, auth: BusAuth = {}): Promise<NatsConnection> {
  return untilReachable(`NATS at ${url}`, () => tryBus(url, name, auth));
}

function authenticatorOf(auth: BusAuth): Authenticator | undefined {
  if (auth.credentials !== undefined) return credsAuthenticator(new TextEncoder().encode(auth.credentials));
  if (auth.jwt !== undefined) return jwtAuthenticator(auth.jwt, auth.seed);
  return undefined;
}

async function tryBus(url: string, name: string, auth: BusAuth): Promise<NatsConnection> {
  const authenticator = authenticatorOf(auth);
  const options: ConnectionOptions = {
    servers: url.split(",").map((server) => server.trim()),
    name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    // no Error (and its captured stack) made ahead of every request for a failure that seldom comes: that
    // was ~2-5% of a busy service's CPU; a failed request still names its subject in our own errors
    noAsyncTraces: true,
    ...(authenticator ? { authenticator } : {}),
    ...(auth.inboxPrefix ? { inboxPrefix: auth.inboxPrefix } : {}),
  };
  try {
    return await connect(options);
  } catch (error) {
    const message = (error as Error).message;
    if (/authoriz|authentic/i.test(message)) {
      // not worth waiting for: the credentials will not become right
      throw new NotAuthorized(
        `NATS at ${url} refused ${name}: ${message}; give it its role's credentials (NATS_CREDS)`,
      );
    }
    throw new Error(`cannot reach NATS at ${url} (${message}); is nats-server running? (NATS_URL)`);
  }
}

/**
 * Makes a connection connect again (e.g. with new credentials: its authenticator is asked afresh) and
 * resolves once it has: subscriptions are made again on the new connection, messages published
 * meanwhile go out on it.
 */
export async function reconnectBus(nc: NatsConnection, timeoutMs = 10_000): Promise<void> {
  const statuses = nc.status()[Symbol.asyncIterator]();
  const reconnected = (async () => {
    for (;;) {
      const next = await statuses.next();
      if (next.done || next.value.type === "reconnect") return;
    }
  })();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`NATS did not take the connection back within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    await nc.reconnect();
    await Promise.race([reconnected, timedOut]);
  } finally {
    clearTimeout(timer);
    await statuses.return?.();
  }
}

/** NATS refused the connection's credentials. */
export class NotAuthorized extends Permanent {
  override readonly name = "NotAuthorized";
}

/**
 * A request's handler: the body, validated; the sender, as the request's subject names it (credentials
 * let each instance publish only under its own role and channel); the NATS message.
 */
export type Handler<S extends z.ZodType> = (body: z.infer<S>, from: Identity, msg: Msg) => unknown;

/**
 * Serves requests on a subject whose last two tokens name the sender (`served(service, op)`): the
 * handler gets the sender as the subject names it. See `serveRaw` for what happens to each request.
 */
export function serve<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: Handler<S>,
  options: ServeOptions<z.infer<S>>,
): Subscription {
  return serveRaw(
    nc,
    subject,
    schema,
    (body, msg) => {
      const from = senderOf(msg.subject);
      if (from === undefined) {
        throw new messages.RequestError("malformed", `${msg.subject} names no sender (<role>.<channel>)`);
      }
      return handler(body, from, msg);
    },
    options,
  );
}

export interface ServeOptions<T> {
  readonly queue?: string;
  readonly log: Logger;
  /** The operation's binary form (`messages.Operation.frame`): a request in it is read by it, not the schema. */
  readonly frame?: messages.RequestFrame<T> | undefined;
}

/**
 * Serves requests on a subject: decodes the msgpackr envelope, validates it against the schema (or reads
 * the operation's binary frame, which checks as it reads), runs the handler and replies with its result
 * (`{ ok: true, ...result }`). A malformed message is answered with a `malformed` error naming what is
 * wrong; a `RequestError` with its code; anything else with `internal` (and a log line). The service goes
 * on serving everyone else either way.
 */
export function serveRaw<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: (body: z.infer<S>, msg: Msg) => unknown,
  options: ServeOptions<z.infer<S>>,
): Subscription {
  const frame = options.frame;
  const reply = (msg: Msg, body: unknown) => {
    if (msg.reply) msg.respond(encodeEnvelope(body));
  };
  return nc.subscribe(subject, {
    ...(options.queue ? { queue: options.queue } : {}),
    callback: (error, msg) => {
      if (error) {
        options.log.error({ err: error, subject }, "subscription failed");
        return;
      }
      let body: z.infer<S>;
      try {
        body = frame?.is(msg.data) ? frame.decode(msg.data) : parseMessage(schema, msg.data);
      } catch (problem) {
        options.log.warn(
          { subject: msg.subject, reason: (problem as Error).message },
          "malformed message refused",
        );
        reply(msg, messages.fail("malformed", (problem as Error).message));
        return;
      }
      Promise.resolve()
        .then(() => handler(body, msg))
        .then(
          (result) => reply(msg, { ok: true, ...(result as object | undefined) }),
          (failure: unknown) => {
            if (failure instanceof messages.RequestError) {
              reply(msg, messages.fail(failure.code, failure.message));
              return;
            }
            options.log.error({ err: failure, subject: msg.subject }, "handler failed");
            reply(
              msg,
              messages.fail("internal", `the ${subject} handler failed: ${(failure as Error).message}`),
            );
          },
        );
    },
  });
}

/**
 * Decodes one delivery from a location, AI or owner subject: an update frame (see update-frame.ts) or an
 * envelope checked against `messages.delivery`; throws naming what is wrong.
 */
export function parseDelivery(data: Uint8Array): messages.Delivery {
  if (!isUpdateFrame(data)) return parseMessage(messages.delivery, data);
  const delivery = updateDeliveryOf(data);
  if (delivery === undefined) throw new Error("a malformed update frame");
  return delivery;
}

/** Decodes and validates one message; the error names the first wrong member and what it needs. */
export function parseMessage<S extends z.ZodType>(schema: S, data: Uint8Array): z.infer<S> {
  const decoded = decodeEnvelope(data);
  const result = schema.safeParse(decoded);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const where = issue.path.length > 0 ? issue.path.join(".") : "the message";
  throw new Error(`${where}: ${issue.message}`);
}

/**
 * Sends a request and returns the `ok` reply, or throws a `RequestError` with the error reply's code
 * and message. Times out with an `unavailable` RequestError naming the subject.
 */
export async function request<T>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  timeoutMs = 2000,
  /** How the body goes on the wire: an envelope, or the operation's binary frame. */
  encode: (body: never) => Uint8Array = encodeEnvelope,
): Promise<T> {
  const data = encode(body as never);
  let response: Msg;
  try {
    response = await nc.request(subject, data, { timeout: timeoutMs });
  } catch (error) {
    throw new messages.RequestError(
      "unavailable",
      `no answer on ${subject} within ${timeoutMs} ms (${(error as Error).message})`,
    );
  }
  const answer = decodeEnvelope(response.data) as {
    ok?: boolean;
    error?: { code: messages.ErrorCode; message: string };
  };
  if (answer.ok === true) return answer as T;
  throw new messages.RequestError(
    answer.error?.code ?? "internal",
    answer.error?.message ?? `bad reply on ${subject}`,
  );
}

/**
 * Asks every server of a subject that serves it without a queue group (e.g. `ca.*`: every client agent)
 * and gathers their answers: until `expected` have come or `timeoutMs` passed, whichever is first. A
 * refusal (or an unreadable answer) rejects with the first one's RequestError; fewer answers than
 * expected is not an error (the caller compares, e.g. with the live members of the role).
 */
export async function gather<T>(
  nc: NatsConnection,
  subject: string,
  body: unknown,
  expected: number,
  timeoutMs = 2000,
): Promise<T[]> {
  if (expected <= 0) return [];
  const answers: T[] = [];
  const replies = await nc.requestMany(subject, encodeEnvelope(body), {
    strategy: "count",
    maxMessages: expected,
    maxWait: timeoutMs,
  });
  try {
    for await (const reply of replies) {
      const answer = decodeEnvelope(reply.data) as {
        ok?: boolean;
        error?: { code: messages.ErrorCode; message: string };
      };
      if (answer.ok !== true) {
        throw new messages.RequestError(
          answer.error?.code ?? "internal",
          answer.error?.message ?? `bad reply on ${subject}`,
        );
      }
      answers.push(answer as T);
    }
  } catch (error) {
    if (error instanceof messages.RequestError) throw error;
    // no responders, or the wait ran out: what came is the answer
  }
  return answers;
}

/** Publishes a message as an envelope. */
export function publish(nc: NatsConnection, subject: string, body: unknown): void {
  nc.publish(subject, encodeEnvelope(body));
}

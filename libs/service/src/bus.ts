import { connect, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";
import { decodeEnvelope, encodeEnvelope, messages } from "@overworld/protocol";
import type { z } from "zod";
import type { Logger } from "./log.ts";
import { untilReachable } from "./retry.ts";

export type { NatsConnection, Subscription } from "@nats-io/transport-node";

/** Connects to NATS, naming the connection after the service so `nats server report` shows who is who. */
export function connectBus(url: string, name: string): Promise<NatsConnection> {
  return untilReachable(`NATS at ${url}`, () => tryBus(url, name));
}

async function tryBus(url: string, name: string): Promise<NatsConnection> {
  try {
    return await connect({ servers: url, name, maxReconnectAttempts: -1, reconnectTimeWait: 250 });
  } catch (error) {
    throw new Error(
      `cannot reach NATS at ${url} (${(error as Error).message}); is nats-server running? (NATS_URL)`,
    );
  }
}

export type Handler<S extends z.ZodType> = (body: z.infer<S>, msg: Msg) => unknown;

/**
 * Serves requests on a subject: decodes the msgpackr envelope, validates it against the schema, runs
 * the handler and replies with its result (`{ ok: true, ...result }`). A malformed message is answered
 * with a `malformed` error naming what is wrong; a `RequestError` with its code; anything else with
 * `internal` (and a log line). The service goes on serving everyone else either way.
 */
export function serve<S extends z.ZodType>(
  nc: NatsConnection,
  subject: string,
  schema: S,
  handler: Handler<S>,
  options: { queue?: string; log: Logger },
): Subscription {
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
        body = parseMessage(schema, msg.data);
      } catch (problem) {
        options.log.warn({ subject, reason: (problem as Error).message }, "malformed message refused");
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
            options.log.error({ err: failure, subject }, "handler failed");
            reply(
              msg,
              messages.fail("internal", `the ${subject} handler failed: ${(failure as Error).message}`),
            );
          },
        );
    },
  });
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
): Promise<T> {
  let response: Msg;
  try {
    response = await nc.request(subject, encodeEnvelope(body), { timeout: timeoutMs });
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

/** Publishes a message as an envelope. */
export function publish(nc: NatsConnection, subject: string, body: unknown): void {
  nc.publish(subject, encodeEnvelope(body));
}

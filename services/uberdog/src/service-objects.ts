/**
 * Uberdog's service objects: distributed objects whose AI is uberdog's participant channel, answering
 * calls of their methods (the keyword `request`) the way a zone answers its objects' (zone-ai's
 * requests.ts), for what belongs to no zone: a directory of players, a leaderboard, a mailbox.
 *
 * A game declares them with `defineServices({ name, schema, objects, requests })` in a module uberdog
 * loads (`SERVICES`): each object by a fixed doId and a location (players must see it to call it: the
 * client agent checks a client's call by the same field rules as any update, `clsend` or `ownsend`, and
 * ejects it with 118 otherwise), and typed handlers `onServiceRequest(Class, "method", async (call, args)
 * => reply)`. A service is not journaled, so a handler may be async. It answers with the value of the
 * class's `<method>Reply` field or throws `new RequestError(code, message)` (zone-ai's, the same a zone
 * throws); anything else it throws is answered `internal` and logged.
 *
 * At start uberdog creates each object (idempotently: an object that exists is taken over, its AI set to
 * this uberdog's channel, which is new at every start and every rejoin). A call comes through the state
 * server to uberdog's channel; the answer goes to the caller's channel, as a zone's does (a client's agent
 * sends it REPLY or REQUEST_ERROR; a zone hears it journaled). Every answer is recorded per (caller,
 * request id), in Redis with a TTL (reply-records.ts) before it is sent: a call that comes again (its
 * caller retried after a lost reply, even to a restarted uberdog) is answered from its record and does
 * not run again; a copy that comes while the first still runs waits for its answer.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import {
  type DClass,
  type DClassHandle,
  type DcFile,
  type Field,
  type FieldInfoMap,
  type FieldValue,
  isMethod,
  legacyHash,
  type MethodName,
  type MethodReply,
  messages,
  packField,
  replyFieldOf,
  unpackField,
} from "@overworld/protocol";
import { ConfigError, type Logger, type Participant, parseMessage, publish } from "@overworld/service";
import { AwaitedCalls, type AwaitRequest } from "@overworld/zone-ai/calls";
import { RequestError } from "@overworld/zone-ai/plugin";
import type { Answer, ReplyRecords } from "./reply-records.ts";

export { RequestError } from "@overworld/zone-ai/plugin";

const MAX_MESSAGE_CHARS = 1024;
/** How long the state server has to answer uberdog's own operations. */
const SS_TIMEOUT_MS = 5000;

/** What a service handler may use: uberdog's seat in the cluster. */
export interface ServiceContext {
  readonly log: Logger;
  /** Calls a method of another object (a zone's, another service's) and waits for its answer. */
  readonly request: AwaitRequest;
  /** An object's class, location and stored fields (unpacked), or a RequestError `unknown_object`. */
  object(doId: number): Promise<ServiceObjectState>;
}

export interface ServiceObjectState {
  readonly doId: number;
  readonly dclass: DClass;
  readonly parent: number;
  readonly zone: number;
  readonly owner: number;
  readonly fields: Readonly<Record<string, FieldValue>>;
}

/** One call a handler answers. */
export interface ServiceCall {
  /** The service object called. */
  readonly doId: number;
  /** The caller's channel (a client's, a zone's, a participant's): where the answer goes. */
  readonly sender: number;
  readonly requestId: number;
  readonly services: ServiceContext;
}

/** A typed handler of one method of one class (see `onServiceRequest`). */
export interface ServiceHandler {
  readonly dclass: DClass;
  readonly method: string;
  readonly handle: (call: ServiceCall, args: FieldValue) => unknown;
}

/**
 * A typed service handler: `onServiceRequest(demo.DistributedDirectory, "whois", async (call, [avatar]) =>
 * [name])`. It returns (or resolves with) the value of the class's `<method>Reply` field (nothing when it
 * has none), or throws `new RequestError(code, message)`.
 */
export function onServiceRequest<G extends FieldInfoMap, N extends MethodName<G>>(
  handle: DClassHandle<G>,
  method: N,
  fn: (call: ServiceCall, args: G[N]["value"]) => MethodReply<G, N> | Promise<MethodReply<G, N>>,
): ServiceHandler {
  const field = handle.field(method); // throws now, naming the class, if it has no such field
  if (!isMethod(field)) {
    throw new Error(`${handle.name}.${method} is not a method: declare it with the keyword request`);
  }
  return { dclass: handle.dclass, method, handle: fn as ServiceHandler["handle"] };
}

/** A service object uberdog creates at start (or takes over) and answers for. */
export interface ServiceObject {
  readonly dclass: DClass;
  readonly doId: number;
  readonly parent: number;
  readonly zone: number;
  /** Its fields when created (the required ones at least), packed by the class. */
  readonly fields: readonly [number, Uint8Array][];
}

/** Declares a service object: `serviceObject(demo.DistributedDirectory, { doId, parent, zone }, { setName: [...] })`. */
export function serviceObject<G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  place: { readonly doId: number; readonly parent: number; readonly zone: number },
  fields: { readonly [N in keyof G]?: G[N]["value"] },
): ServiceObject {
  const packed: [number, Uint8Array][] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const field = handle.field(name);
    packed.push([field.id, packField(field, value as FieldValue)]);
  }
  return { dclass: handle.dclass, ...place, fields: packed.sort((a, b) => a[0] - b[0]) };
}

/** A game's uberdog services: what the module named by SERVICES exports (as `services` or default). */
export interface UberdogServices {
  readonly name: string;
  /** The classes it is written against; uberdog refuses to start if they are not the cluster's. */
  readonly schema: { readonly file: DcFile };
  readonly objects: readonly ServiceObject[];
  readonly requests: readonly ServiceHandler[];
}

/** Declares a game's services (an identity function that checks their shape at compile time). */
export function defineServices(services: UberdogServices): UberdogServices {
  return services;
}

export interface ServiceDeps {
  readonly participant: Participant;
  readonly dc: DcFile;
  readonly records: ReplyRecords;
  readonly log: Logger;
}

/**
 * The service objects uberdog answers for, and its own awaitable requests: everything that comes to
 * uberdog's channel (calls of its objects, replies to its requests) goes through here.
 */
export class ServiceObjects {
  /** Uberdog's awaitable requests (its own code's, the admin API's). */
  readonly calls: AwaitedCalls;
  private readonly handlers = new Map<string, ServiceHandler>();
  private readonly objects = new Map<number, ServiceObject>();
  /** Calls being answered, by caller and request id: a copy waits for the first's answer. */
  private readonly running = new Map<string, Promise<Answer>>();
  private readonly context: ServiceContext;
  private listening: { channel: number; stop(): void } | undefined;
  private watch: NodeJS.Timeout | undefined;

  constructor(
    private readonly deps: ServiceDeps,
    services: UberdogServices | undefined,
  ) {
    this.calls = new AwaitedCalls(deps.participant);
    this.context = {
      log: deps.log,
      request: this.calls.request,
      object: (doId) => this.objectState(doId),
    };
    if (services === undefined) return;
    if (legacyHash(services.schema.file) !== legacyHash(deps.dc)) {
      throw new Error(
        `services ${services.name} are written against other classes than the cluster's DC_FILES (schema hash 0x${legacyHash(services.schema.file).toString(16)} vs 0x${legacyHash(deps.dc).toString(16)})`,
      );
    }
    for (const handler of services.requests) {
      const key = `${handler.dclass.name}.${handler.method}`;
      if (this.handlers.has(key)) throw new Error(`services ${services.name}: two handlers of ${key}`);
      this.handlers.set(key, handler);
    }
    for (const object of services.objects) this.objects.set(object.doId, object);
  }

  /**
   * Hears uberdog's channel, and creates (or takes over) the service objects. If no state server answers
   * yet (the cluster is starting), uberdog starts anyway and tries again every second, as it does after a
   * rejoin (a new channel: heard, and made the objects' AI).
   */
  async start(): Promise<void> {
    this.listen();
    await this.deps.participant.nc.flush();
    let owned = await this.takeOver().then(
      () => true,
      (error: unknown) => {
        this.deps.log.warn({ err: error }, "the service objects are not taken over yet; trying again");
        return false;
      },
    );
    let trying = false;
    this.watch = setInterval(() => {
      const moved = this.listening?.channel !== this.deps.participant.channel;
      if ((owned && !moved) || trying || !this.deps.participant.alive) return;
      if (moved) this.listen();
      trying = true;
      this.takeOver()
        .then(
          () => {
            owned = true;
          },
          (error: unknown) => {
            owned = false;
            this.deps.log.warn({ err: error }, "the service objects are not taken over yet; trying again");
          },
        )
        .finally(() => {
          trying = false;
        });
    }, 1000);
    this.watch.unref();
  }

  stop(): void {
    clearInterval(this.watch);
    this.listening?.stop();
    this.listening = undefined;
    this.calls.closeAll("uberdog stopped");
  }

  private listen(): void {
    this.listening?.stop();
    const { participant } = this.deps;
    const channel = participant.channel;
    const subscription = participant.nc.subscribe(participant.subjects.participant(channel), {
      callback: (error, msg) => {
        if (error) return;
        let message: messages.RequestCall | messages.RequestReply;
        try {
          message = parseMessage(uberdogChannelMessage, msg.data);
        } catch {
          return; // an AI delivery of a service object (enter, field updates): nothing to do
        }
        if (message.kind === "reply") this.calls.receive(message);
        else void this.receiveCall(message);
      },
    });
    this.listening = { channel, stop: () => subscription.unsubscribe() };
  }

  /** Creates each service object, or makes uberdog's channel the AI of one that exists. */
  private async takeOver(): Promise<void> {
    const { participant } = this.deps;
    for (const object of this.objects.values()) {
      const ai = participant.channel;
      try {
        await participant.request("ss", "get", { doId: object.doId, fieldIds: [] }, SS_TIMEOUT_MS);
        await participant.request("ss", "set-ai", { doId: object.doId, ai }, SS_TIMEOUT_MS);
      } catch (error) {
        if ((error as { code?: string }).code !== "unknown_object") throw error;
        await participant
          .request(
            "ss",
            "create",
            {
              doId: object.doId,
              classId: object.dclass.id,
              parentId: object.parent,
              zoneId: object.zone,
              fields: [...object.fields],
              ai,
            },
            SS_TIMEOUT_MS,
          )
          .catch(async (problem: unknown) => {
            if ((problem as { code?: string }).code !== "exists") throw problem;
            await participant.request("ss", "set-ai", { doId: object.doId, ai }, SS_TIMEOUT_MS);
          });
      }
      this.deps.log.info(
        { doId: object.doId, class: object.dclass.name, ai },
        "service object answered here",
      );
    }
  }

  /** A call of a service object's method: answered once per (caller, request id), again from its record. */
  private async receiveCall(call: messages.RequestCall): Promise<void> {
    const key = `${call.sender}:${call.requestId}`;
    let answer: Answer;
    try {
      const under = this.running.get(key);
      if (under !== undefined) {
        answer = await under;
      } else {
        const answering = this.answer(call);
        this.running.set(key, answering);
        try {
          answer = await answering;
        } finally {
          this.running.delete(key);
        }
      }
    } catch (error) {
      this.deps.log.error({ err: error, sender: call.sender }, "a service call could not be answered");
      return; // Redis is down: unanswered, the caller times out or retries
    }
    const { participant } = this.deps;
    try {
      publish(participant.nc, participant.subjects.participant(call.sender), {
        kind: "reply",
        sender: participant.channel,
        requestId: call.requestId,
        ...answer,
      } satisfies messages.RequestReply);
    } catch (error) {
      // uberdog is stopping (its connection closed): the answer is recorded, a retry gets it
      this.deps.log.warn({ err: error, sender: call.sender }, "a service answer could not be sent");
    }
  }

  /** The recorded answer, or the handler's, recorded before it goes. */
  private async answer(call: messages.RequestCall): Promise<Answer> {
    const known = await this.deps.records.get(call.sender, call.requestId);
    if (known !== undefined) return known;
    const answer = await this.run(call);
    await this.deps.records.put(call.sender, call.requestId, answer);
    return answer;
  }

  private async run(call: messages.RequestCall): Promise<Answer> {
    const object = this.objects.get(call.doId);
    if (object === undefined) {
      return failure("unknown_object", `object ${call.doId} is not a service object of this uberdog`);
    }
    const field = object.dclass.fieldById(call.fieldId);
    const handler = field && this.handlerOf(object.dclass, field);
    if (field === undefined || handler === undefined) {
      return failure(
        "no_handler",
        `uberdog answers no ${object.dclass.name} method ${field?.name ?? call.fieldId}`,
      );
    }
    let args: FieldValue;
    try {
      args = unpackField(field, call.args);
    } catch (error) {
      return failure("bad_value", (error as Error).message);
    }
    const what = `${object.dclass.name}.${field.name}`;
    try {
      const value = await handler.handle(
        { doId: call.doId, sender: call.sender, requestId: call.requestId, services: this.context },
        args,
      );
      const replyField = replyFieldOf(object.dclass, field);
      return {
        value: replyField === undefined ? new Uint8Array() : packField(replyField, value as FieldValue),
      };
    } catch (error) {
      if (error instanceof RequestError) return failure(error.code, error.message);
      this.deps.log.warn({ method: what, err: error }, "a service request handler failed");
      return failure("internal", `${what} failed`);
    }
  }

  private handlerOf(dclass: DClass, field: Field): ServiceHandler | undefined {
    const seen = new Set<DClass>();
    const lineage = (each: DClass): ServiceHandler | undefined => {
      if (seen.has(each)) return undefined;
      seen.add(each);
      const own = this.handlers.get(`${each.name}.${field.name}`);
      if (own !== undefined) return own;
      for (const parent of each.parents) {
        const found = lineage(parent);
        if (found !== undefined) return found;
      }
      return undefined;
    };
    return lineage(dclass);
  }

  private async objectState(doId: number): Promise<ServiceObjectState> {
    let state: messages.ObjectState;
    try {
      state = await this.deps.participant.request("ss", "get", { doId }, SS_TIMEOUT_MS);
    } catch (error) {
      const { code, message } = error as { code?: string; message?: string };
      throw new RequestError(
        code === "unknown_object" ? "unknown_object" : "unavailable",
        message ?? String(error),
      );
    }
    const dclass = this.deps.dc.typeById(state.classId);
    if (dclass?.kind !== "class") {
      throw new RequestError("unknown_class", `class ${state.classId} is not in the cluster's DC_FILES`);
    }
    const fields: Record<string, FieldValue> = {};
    for (const [fieldId, bytes] of state.fields) {
      const field = dclass.fieldById(fieldId);
      if (field !== undefined) fields[field.name] = unpackField(field, bytes);
    }
    return {
      doId,
      dclass,
      parent: state.parentId,
      zone: state.zoneId,
      owner: state.owner,
      fields,
    };
  }
}

/** What uberdog acts on among what comes to its channel. */
const uberdogChannelMessage = messages.requestCall.or(messages.requestReply);

function failure(code: string, message: string): Answer {
  return { error: { code, message: message.slice(0, MAX_MESSAGE_CHARS) } };
}

/**
 * Loads the SERVICES module: its `services` export or its default one. `path` is a file (relative to the
 * working directory, as SCHEMA_MODULE is) when one is there, else a package specifier (`my-game/services`).
 */
export async function loadServices(path: string): Promise<UberdogServices> {
  const url = existsSync(resolve(path)) ? pathToFileURL(resolve(path)).href : path;
  let module: { services?: UberdogServices; default?: UberdogServices };
  try {
    module = await import(url);
  } catch (error) {
    throw new ConfigError(`SERVICES: cannot load ${path}: ${(error as Error).message}`);
  }
  const services = module.services ?? module.default;
  if (services === undefined || !Array.isArray(services.objects) || !Array.isArray(services.requests)) {
    throw new ConfigError(
      `SERVICES: ${path} exports no uberdog services (as \`services\` or default; see defineServices)`,
    );
  }
  return services;
}

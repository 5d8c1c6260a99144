/**
 * What the state-server tests share: an isolated namespace per test file (subject root, Redis prefix,
 * Postgres schema, event stream), the message director the state servers join (in-process, one per
 * namespace, started with the first state server), a state server started in-process or as a child
 * process, a client that speaks its operations, channel recorders, and the Astron test dclasses.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import {
  type DcFile,
  type FieldValue,
  type Identity,
  loadDcFiles,
  messages,
  packField,
  type Subjects,
  subjects,
  unpackField,
} from "@overworld/protocol";
import {
  connectPostgres,
  connectRedis,
  type NatsConnection,
  type Pool,
  parseDelivery,
  type Redis,
  request,
  type Subscription,
} from "@overworld/service";
import {
  loadDirectorConfig,
  type MessageDirector,
  startMessageDirector,
} from "../../services/message-director/src/director.ts";
import {
  loadStateServerConfig,
  type StateServerHandle,
  startStateServer,
} from "../../services/state-server/src/main.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { connectOperator, natsEnv } from "../support/nats.ts";
import { DATABASE_URL, NATS_URL, REDIS_URL } from "../support/services.ts";

const MAIN = fileURLToPath(new URL("../../services/state-server/src/main.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../", import.meta.url));

/** The version the state servers and their director run in these tests. */
export const CLUSTER_VERSION = "test-1";

/** The channel the tests' requests come from: a tool's, as their subjects say. */
export const SENDER = 5;
/** Who the tests' requests come from: a tool (an operator's rights: it may act for any channel). */
export const TOOL: Identity = { role: "tool", channel: SENDER };

export const dc: DcFile = loadDcFiles([DC_FIXTURES.astronTest]);

export function classId(name: string): number {
  const dclass = dc.class(name);
  if (!dclass) throw new Error(`test dc has no class ${name}`);
  return dclass.id;
}

export function fieldId(className: string, fieldName: string): number {
  const field = dc.class(className)?.field(fieldName);
  if (!field) throw new Error(`test dc has no field ${className}.${fieldName}`);
  return field.id;
}

/** [fieldId, packed value] for a field of a class. */
export function value(className: string, fieldName: string, fieldValue: FieldValue): [number, Uint8Array] {
  const field = dc.class(className)!.field(fieldName)!;
  return [field.id, packField(field, fieldValue)];
}

export function unpack(fieldIdValue: number, bytes: Uint8Array): FieldValue {
  return unpackField(dc.fieldById(fieldIdValue)!, bytes);
}

/** Field values as [fieldId, unpacked value] pairs, easy to compare. */
export function readable(fields: readonly (readonly [number, Uint8Array])[]): [number, FieldValue][] {
  return fields.map(([id, bytes]) => [id, unpack(id, bytes)]);
}

export interface Namespace {
  readonly tag: string;
  /** The state server's environment. */
  readonly env: Record<string, string>;
  /** The message director's environment: same root, version and .dc files; keys and tables inside the namespace. */
  readonly directorEnv: Record<string, string>;
  readonly subjects: Subjects;
  readonly prefix: string;
  readonly schema: string;
  /** The JetStream stream of the namespace's event log. */
  readonly stream: string;
}

/** A namespace of its own for one test file. */
export function namespace(name: string, overrides: Record<string, string> = {}): Namespace {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  const root = `owt${tag}`;
  const prefix = `owt:${tag}:`;
  const schema = `ss_${tag}`;
  const stream = `OWT_${tag.toUpperCase()}`;
  const shared = {
    REDIS_URL,
    DATABASE_URL,
    DC_FILES: DC_FIXTURES.astronTest,
    CLUSTER_VERSION,
    SUBJECT_ROOT: root,
    DB_SCHEMA: schema,
    LOG_LEVEL: "silent",
    HTTP_PORT: "0",
  };
  return {
    tag,
    subjects: subjects(root),
    prefix,
    schema,
    stream,
    env: { ...shared, ...natsEnv("state-server"), REDIS_PREFIX: prefix, ...overrides },
    directorEnv: {
      ...shared,
      ...natsEnv("message-director"),
      REDIS_PREFIX: `${prefix}md:`,
      EVENT_STREAM: stream,
      FIRST_DOID: "1000000",
    },
  };
}

/** The in-process director of each namespace, started by the first state server that needs it. */
const directors = new Map<string, Promise<MessageDirector>>();

/** Starts the namespace's message director in this process, once. */
export function ensureDirector(ns: Namespace): Promise<MessageDirector> {
  let director = directors.get(ns.tag);
  if (!director) {
    director = startMessageDirector(loadDirectorConfig(ns.directorEnv));
    directors.set(ns.tag, director);
  }
  return director;
}

async function stopDirector(ns: Namespace): Promise<void> {
  const director = directors.get(ns.tag);
  directors.delete(ns.tag);
  await (await director?.catch(() => undefined))?.stop();
}

export async function startInProcess(
  ns: Namespace,
  overrides: Record<string, string> = {},
): Promise<StateServerHandle> {
  await ensureDirector(ns);
  return startStateServer(loadStateServerConfig({ ...ns.env, ...overrides }));
}

/**
 * A state server as a child process (for kill -9); resolves once it serves. The namespace's director
 * is started in this process first, unless `director: false` (the test runs its own).
 */
export async function startChild(
  ns: Namespace,
  overrides: Record<string, string> = {},
  options: { director?: boolean } = {},
): Promise<ChildProcess> {
  if (options.director !== false) await ensureDirector(ns);
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: REPO,
    env: { ...process.env, ...ns.env, LOG_LEVEL: "info", ...overrides },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("state server ready")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code) =>
      reject(new Error(`state server exited with ${code} before ready:\n${output}`)),
    );
  });
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`state server not ready in 15 s:\n${output}`)), 15_000).unref(),
  );
  try {
    await Promise.race([ready, timeout]);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return child;
}

export async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** The test's own connections to NATS, Redis and Postgres, and calls to the state server. */
export class Client {
  private constructor(
    readonly nc: NatsConnection,
    readonly redis: Redis,
    readonly pool: Pool,
    readonly ns: Namespace,
  ) {}

  static async connect(ns: Namespace): Promise<Client> {
    const nc = await connectOperator(`test-${ns.tag}`);
    const redis = await connectRedis(REDIS_URL, `test-${ns.tag}`);
    const pool = await connectPostgres(DATABASE_URL, `test-${ns.tag}`, 4);
    return new Client(nc, redis, pool, ns);
  }

  ss<T = Record<string, unknown>>(op: messages.StateServerOp, body: object, timeoutMs = 5000): Promise<T> {
    return request<T>(this.nc, this.ns.subjects.service("ss", op, TOOL), body, timeoutMs);
  }

  db<T = Record<string, unknown>>(op: messages.DbOp, body: object, timeoutMs = 5000): Promise<T> {
    return request<T>(this.nc, this.ns.subjects.service("db", op, TOOL), body, timeoutMs);
  }

  async create(
    className: string,
    parentId: number,
    zoneId: number,
    fields: [number, Uint8Array][],
    extra: { doId?: number; ai?: number; owner?: number } = {},
  ): Promise<number> {
    const reply = await this.ss<{ doId: number }>("create", {
      classId: classId(className),
      parentId,
      zoneId,
      fields,
      ...extra,
    });
    return reply.doId;
  }

  get(doId: number, fieldIds?: number[]): Promise<messages.ObjectState> {
    return this.ss<messages.ObjectState>("get", fieldIds ? { doId, fieldIds } : { doId });
  }

  /** Records what is published on a subject. */
  async listen(subject: string): Promise<Recorder> {
    const recorder = new Recorder(this.nc.subscribe(subject));
    await this.nc.flush();
    return recorder;
  }

  location(parentId: number, zoneId: number): Promise<Recorder> {
    return this.listen(this.ns.subjects.location(parentId, zoneId));
  }

  channel(channel: number): Promise<Recorder> {
    return this.listen(this.ns.subjects.participant(channel));
  }

  /**
   * Stops the namespace's in-process director, deletes the namespace's Redis keys, Postgres schema and
   * event stream, and closes the connections.
   */
  async cleanUp(): Promise<void> {
    await stopDirector(this.ns);
    let cursor = "0";
    do {
      const [next, keys] = await this.redis.scan(cursor, "MATCH", `${this.ns.prefix}*`, "COUNT", 1000);
      if (keys.length > 0) await this.redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
    await this.pool.query(`DROP SCHEMA IF EXISTS "${this.ns.schema}" CASCADE`);
    await this.nc
      .request(`$JS.API.STREAM.DELETE.${this.ns.stream}`, undefined, { timeout: 2000 })
      .catch(() => undefined);
    await this.nc.drain();
    await this.redis.quit();
    await this.pool.end();
  }
}

/** The deliveries published on one subject, in order, waited for one at a time. */
export class Recorder {
  private readonly received: messages.Delivery[] = [];
  private waiter: (() => void) | undefined;

  constructor(readonly subscription: Subscription) {
    (async () => {
      for await (const msg of subscription) {
        this.received.push(parseDelivery(msg.data));
        this.waiter?.();
      }
    })().catch(() => undefined);
  }

  /** The next delivery; fails after `timeoutMs` naming the subject. */
  async next(timeoutMs = 2000): Promise<messages.Delivery> {
    const deadline = Date.now() + timeoutMs;
    while (this.received.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`nothing published on ${this.subscription.getSubject()} within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.received.shift()!;
  }

  /** The next delivery, which must be of this kind. */
  async nextOf<K extends messages.Delivery["kind"]>(
    kind: K,
    timeoutMs = 2000,
  ): Promise<Extract<messages.Delivery, { kind: K }>> {
    const delivery = await this.next(timeoutMs);
    if (delivery.kind !== kind) {
      throw new Error(`expected a ${kind} delivery, got ${JSON.stringify(delivery, bigintSafe)}`);
    }
    return delivery as Extract<messages.Delivery, { kind: K }>;
  }

  /** Waits a little and returns everything published meanwhile (expected empty by most callers). */
  async drain(waitMs = 150): Promise<messages.Delivery[]> {
    await new Promise((resolve) => setTimeout(resolve, waitMs));
    return this.received.splice(0);
  }

  stop(): void {
    this.subscription.unsubscribe();
  }
}

function bigintSafe(_key: string, item: unknown): unknown {
  if (typeof item === "bigint") return `${item}n`;
  if (item instanceof Uint8Array) return `<${Buffer.from(item).toString("hex")}>`;
  return item;
}

export { DATABASE_URL, messages, NATS_URL, REDIS_URL };

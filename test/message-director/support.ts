/**
 * What the message-director tests share: an isolated cluster namespace per test file (subject root,
 * Redis prefix, Postgres schema, event stream), a director in-process with participants joining it,
 * director child processes, and counting subscribers.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import {
  createLogger,
  type JoinOptions,
  joinCluster,
  type NatsConnection,
  type Participant,
} from "@overworld/service";
import { loadDirectorConfig } from "../../services/message-director/src/config.ts";
import { type MessageDirector, startMessageDirector } from "../../services/message-director/src/director.ts";
import { deleteStreams, dropRedisKeys, dropSchema } from "../support/cleanup.ts";
import { connectOperator, joinCredentials, natsEnv } from "../support/nats.ts";
import { DATABASE_URL, NATS_URL, REDIS_URL } from "../support/services.ts";

export const VERSION = "1.2.3";
export const SCHEMA_HASH = 0x0b77baf2;

const MAIN = fileURLToPath(new URL("../../services/message-director/src/main.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../", import.meta.url));

export interface Namespace {
  root: string;
  prefix: string;
  schema: string;
  stream: string;
  /** The director's environment: this namespace, fast heartbeats (100 ms, dead after 500 ms). */
  env: Record<string, string>;
}

/** A namespace of its own for one test file (or one part of it). */
export function namespace(name: string, overrides: Record<string, string> = {}): Namespace {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  const ns = {
    root: `owt${tag}`,
    prefix: `owt:${tag}:`,
    schema: `md_${tag}`,
    stream: `OWT_${tag.toUpperCase()}`,
  };
  return {
    ...ns,
    env: {
      ...natsEnv("message-director"),
      REDIS_URL,
      DATABASE_URL,
      CLUSTER_VERSION: VERSION,
      SCHEMA_HASH: `0x${SCHEMA_HASH.toString(16)}`,
      SUBJECT_ROOT: ns.root,
      REDIS_PREFIX: ns.prefix,
      DB_SCHEMA: ns.schema,
      EVENT_STREAM: ns.stream,
      HEARTBEAT_MS: "100",
      DEAD_AFTER_MS: "500",
      SWEEP_MS: "50",
      LEASE_MS: "600",
      LOG_LEVEL: "silent",
      ...overrides,
    },
  };
}

/** Removes everything a namespace left in Redis, Postgres and JetStream. */
export async function dropNamespace(ns: Namespace, redisUrl = REDIS_URL): Promise<void> {
  await dropRedisKeys(ns.prefix, redisUrl);
  await dropSchema(ns.schema);
  await deleteStreams([ns.stream]);
}

/** A participant (with a NATS connection of its own): `die` closes the connection, which is its dying. */
export interface Member {
  readonly participant: Participant;
  die(): Promise<void>;
}

/** A message director in-process for one test file, with the test's own NATS connection. */
export interface DirectorInProcess {
  readonly director: MessageDirector;
  /** The test's NATS connection: it may publish and subscribe anywhere. */
  readonly nc: NatsConnection;
  /** Joins with its role's credentials: a zone-AI replica in the director's namespace, unless told. */
  join(options: Partial<JoinOptions> & Pick<JoinOptions, "instanceId">): Promise<Member>;
  /** Closes every connection, stops the director and drops the namespace. */
  stop(): Promise<void>;
}

export async function startDirectorInProcess(ns: Namespace): Promise<DirectorInProcess> {
  const log = createLogger("message-director", "test", "silent");
  const director = await startMessageDirector(loadDirectorConfig(ns.env), { log });
  const nc = await connectOperator("md-test");
  const connections: NatsConnection[] = [];
  return {
    director,
    nc,
    async join(options) {
      const participant = await joinParticipant(ns, options);
      connections.push(participant.nc);
      return { participant, die: () => participant.nc.close() };
    },
    async stop() {
      for (const connection of connections) await connection.close().catch(() => {});
      await nc.close();
      await director.stop();
      await dropNamespace(ns);
    },
  };
}

/** Joins the director of a namespace as a participant with its role's credentials (zone AI unless told). */
export function joinParticipant(
  ns: Namespace,
  options: Partial<JoinOptions> & Pick<JoinOptions, "instanceId">,
): Promise<Participant> {
  const role = options.role ?? "zone-ai";
  return joinCluster({
    natsUrl: NATS_URL,
    credentials: joinCredentials(role),
    role,
    version: VERSION,
    schemaHash: SCHEMA_HASH,
    root: ns.root,
    ...options,
  });
}

/** A director started as a child process (`node --import tsx main.ts`). */
export interface DirectorProcess {
  child: ChildProcess;
  port: number;
  /** Every log line it wrote, parsed. */
  logs: Record<string, unknown>[];
  healthz(): Promise<{ status: number; body: Record<string, unknown> }>;
  metrics(): Promise<string>;
  /** SIGKILL, and wait for it to be gone. */
  kill9(): Promise<void>;
  /** SIGTERM; resolves with the exit code. */
  terminate(): Promise<number | null>;
}

const READY_TIMEOUT_MS = 15_000;

export async function startDirectorProcess(
  env: Record<string, string>,
  instanceId: string,
): Promise<DirectorProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", MAIN], {
    cwd: REPO,
    env: { ...process.env, ...env, LOG_LEVEL: "info", HTTP_PORT: "0", INSTANCE_ID: instanceId },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: Record<string, unknown>[] = [];
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(child, "exit");
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`director ${instanceId} not ready in ${READY_TIMEOUT_MS} ms: ${stderr}`));
    }, READY_TIMEOUT_MS);
    let pending = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split("\n");
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        const entry = JSON.parse(line) as Record<string, unknown>;
        logs.push(entry);
        if (entry.msg === "message director ready") {
          clearTimeout(timer);
          resolve(entry.port as number);
        }
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`director ${instanceId} exited with ${code} before it was ready: ${stderr}`));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    child,
    port,
    logs,
    async healthz() {
      const response = await fetch(`${base}/healthz`);
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
    async metrics() {
      return (await fetch(`${base}/metrics`)).text();
    },
    async kill9() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    async terminate() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const [code] = (await exited) as [number | null];
      return code;
    },
  };
}

/** Counts what arrives on a subject. */
export interface Counter {
  readonly received: { data: Uint8Array; at: number }[];
  readonly count: number;
  stop(): void;
}

export function countOn(nc: NatsConnection, subject: string): Counter {
  const received: { data: Uint8Array; at: number }[] = [];
  const subscription = nc.subscribe(subject, {
    callback: (_error, msg) => {
      received.push({ data: msg.data, at: Date.now() });
    },
  });
  return {
    received,
    get count() {
      return received.length;
    },
    stop: () => subscription.unsubscribe(),
  };
}

/** Waits until `check` holds, polling; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free TCP port on localhost. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  server.close();
  await once(server, "close");
  return port;
}

export const text = (value: string) => new TextEncoder().encode(value);
export const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

export { DATABASE_URL, NATS_URL, REDIS_URL };

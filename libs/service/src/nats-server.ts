/**
 * A nats-server of the cluster's own, run as a child process with the cluster's trust (operator mode,
 * JetStream on disk): what `pnpm overworld start` and the test suite run instead of an unauthenticated
 * NATS. The binary is `NATS_SERVER_BIN`, else `nats-server` on the PATH, else `/usr/sbin/nats-server`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { createUser } from "@nats-io/nkeys";
import { inboxOf, type NatsPermissions, type Role } from "@overworld/protocol";
import { connectBus, type NatsConnection } from "./bus.ts";
import {
  createNatsTrust,
  mint,
  type NatsServerOptions,
  natsServerConfig,
  readNatsTrust,
  trustFiles,
  writeNatsTrust,
} from "./nats-trust.ts";

export interface RunningNats {
  /** The URL clients connect to. */
  readonly url: string;
  readonly process: ChildProcess;
  /** Stops the server (SIGTERM, then SIGKILL after 5 s); resolves once it exited. */
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 5_000;

/**
 * The NATS variables of a service of `role`, for a trust directory: its role's join credentials, or, for
 * the message director, the account and its signing key.
 */
export function serviceNatsEnv(dir: string, url: string, role: Role): Record<string, string> {
  const files = trustFiles(dir);
  if (role === "message-director") {
    return { NATS_URL: url, NATS_ACCOUNT_FILE: files.account, NATS_SIGNING_KEY_FILE: files.signingKey };
  }
  return { NATS_URL: url, NATS_CREDS: files.credentials(role) };
}

/**
 * A connection minted on the spot with the trust in `dir` (its signing key), with exactly these
 * permissions and a private inbox: for tools, tests and benchmarks that hold the cluster's trust.
 */
export async function connectMinted(
  dir: string,
  url: string,
  name: string,
  permissions: NatsPermissions,
): Promise<NatsConnection> {
  const trust = readNatsTrust(dir);
  if (trust === undefined) throw new Error(`no NATS trust in ${dir}: make one with pnpm overworld nats init`);
  const key = createUser();
  const inbox = inboxOf(key.getPublicKey());
  const jwt = await mint(trust.signingKey, trust.account, key, name, {
    ...permissions,
    sub: { allow: [...permissions.sub.allow, `${inbox}.>`] },
  });
  return connectBus(url, name, { jwt: () => jwt, seed: key.getSeed(), inboxPrefix: inbox });
}

/** Permissions to publish and subscribe anywhere (and answer requests): the harness's view of the bus. */
export const EVERYWHERE: NatsPermissions = {
  pub: { allow: [">"] },
  sub: { allow: [">"] },
  resp: { max: 1, ttl: 0 },
};

/** The nats-server binary to run. */
export function natsServerBinary(env: NodeJS.ProcessEnv = process.env): string {
  if (env.NATS_SERVER_BIN) return env.NATS_SERVER_BIN;
  return existsSync("/usr/sbin/nats-server") ? "/usr/sbin/nats-server" : "nats-server";
}

/**
 * Makes a trust in `dir` unless one is there (keeping the existing one, so credentials handed out stay
 * good), writes its server configuration for `options`, and returns the trust.
 */
export async function ensureNatsTrust(
  dir: string,
  options: Omit<NatsServerOptions, "storeDir"> & { storeDir?: string },
) {
  const trust = readNatsTrust(dir) ?? (await createNatsTrust());
  writeNatsTrust(dir, trust, { ...options, storeDir: options.storeDir ?? join(dir, "jetstream") });
  return trust;
}

/**
 * Starts nats-server with the configuration in `dir` (see `ensureNatsTrust`) and waits until it accepts
 * connections on `port`. Its log lines go to `onLine`.
 */
export async function startNatsServer(
  dir: string,
  options: {
    host: string;
    port: number;
    onLine?: (line: string) => void;
    /** Its configuration file (default the trust's `nats.conf`). */
    config?: string;
  },
): Promise<RunningNats> {
  const child = spawn(natsServerBinary(), ["-c", options.config ?? trustFiles(dir).serverConfig], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const stream of [child.stdout, child.stderr]) {
    stream?.on("data", (chunk: Buffer) => {
      for (const line of chunk.toString("utf8").split("\n")) if (line) options.onLine?.(line);
    });
  }
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    const force = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    await exited;
    clearTimeout(force);
  };
  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (!(await accepts(options.host, options.port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(
        `nats-server (${natsServerBinary()}) did not start on ${options.host}:${options.port}${child.exitCode !== null ? ` (exit code ${child.exitCode})` : ""}; is the port free? set NATS_SERVER_BIN to the binary`,
      );
    }
    await new Promise((wake) => setTimeout(wake, 50));
  }
  return { url: `nats://${options.host}:${options.port}`, process: child, stop };
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      done(true);
    });
    socket.once("error", () => done(false));
  });
}

/** NATS as several nodes (or one): their client URLs as services take them, and each node to kill and start. */
export interface RunningNatsCluster {
  /** Every node's client URL, comma-separated (NATS_URL). */
  readonly url: string;
  /** The nodes, in order; a node killed and started again is a new RunningNats at the same index. */
  readonly nodes: readonly RunningNats[];
  /** kill -9 of one node; resolves once it exited. */
  kill(node: number): Promise<void>;
  /** Starts a node again, on its port, configuration and JetStream directory. */
  start(node: number): Promise<void>;
  /** Stops every node. */
  stop(): Promise<void>;
}

const JETSTREAM_READY_TIMEOUT_MS = 30_000;

/**
 * Starts `ports.length` nats-servers with the trust in `dir` (see `ensureNatsTrust`) as one NATS cluster
 * (routes between all of them on `clusterPorts`, JetStream clustered, each node its own store), or a lone
 * server when one port is given, and waits until JetStream answers on it (a cluster's meta group has
 * elected its leader). Node `i`'s configuration is `dir/nats-<i>.conf`.
 */
export async function startNatsCluster(
  dir: string,
  options: {
    host: string;
    ports: readonly number[];
    /** One per node when there are several. */
    clusterPorts?: readonly number[];
    name?: string;
    onLine?: (node: number, line: string) => void;
  },
): Promise<RunningNatsCluster> {
  const trust = readNatsTrust(dir);
  if (trust === undefined)
    throw new Error(`startNatsCluster: no NATS trust in ${dir} (ensureNatsTrust first)`);
  const count = options.ports.length;
  const clusterPorts = options.clusterPorts ?? [];
  if (count > 1 && clusterPorts.length !== count) {
    throw new RangeError(
      `startNatsCluster: ${count} nodes need ${count} cluster ports, got ${clusterPorts.length}`,
    );
  }
  const name = options.name ?? "overworld";
  const configs = options.ports.map((port, node) => {
    const path = join(dir, `nats-${node}.conf`);
    const text = natsServerConfig(trust, {
      host: options.host,
      port,
      storeDir: join(dir, `jetstream-${node}`),
      ...(count > 1
        ? {
            cluster: { name, serverName: `${name}-${node}`, port: clusterPorts[node]!, routes: clusterPorts },
          }
        : {}),
    });
    writeFileSync(path, text);
    return path;
  });
  const nodes: RunningNats[] = [];
  const start = async (node: number) => {
    nodes[node] = await startNatsServer(dir, {
      host: options.host,
      port: options.ports[node]!,
      config: configs[node],
      onLine: (line) => options.onLine?.(node, line),
    });
  };
  const stop = async () => {
    await Promise.all(nodes.map((running) => running.stop()));
  };
  try {
    await Promise.all(options.ports.map((_, node) => start(node)));
    const url = nodes.map((running) => running.url).join(",");
    await untilJetStreamAnswers(dir, url);
    return {
      url,
      nodes,
      start,
      stop,
      kill: async (node) => {
        const child = nodes[node]!.process;
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((done) => child.once("exit", () => done()));
        child.kill("SIGKILL");
        await exited;
      },
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function untilJetStreamAnswers(dir: string, url: string): Promise<void> {
  const nc = await connectMinted(dir, url, "jetstream readiness probe", EVERYWHERE);
  try {
    const deadline = Date.now() + JETSTREAM_READY_TIMEOUT_MS;
    for (;;) {
      try {
        await (await jetstreamManager(nc)).getAccountInfo();
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(
            `NATS at ${url}: JetStream did not answer within ${JETSTREAM_READY_TIMEOUT_MS} ms (${(error as Error).message})`,
          );
        }
        await new Promise((wake) => setTimeout(wake, 200));
      }
    }
  } finally {
    await nc.close();
  }
}

/**
 * A nats-server of the cluster's own, run as a child process with the cluster's trust (operator mode,
 * JetStream on disk): what `pnpm overworld start` and the test suite run instead of an unauthenticated
 * NATS. The binary is `NATS_SERVER_BIN`, else `nats-server` on the PATH, else `/usr/sbin/nats-server`.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import { createUser } from "@nats-io/nkeys";
import { inboxOf, type NatsPermissions, type Role } from "@overworld/protocol";
import { connectBus, type NatsConnection } from "./bus.ts";
import {
  createNatsTrust,
  mint,
  type NatsServerOptions,
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
  options: { host: string; port: number; onLine?: (line: string) => void },
): Promise<RunningNats> {
  const child = spawn(natsServerBinary(), ["-c", trustFiles(dir).serverConfig], {
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

/**
 * The options of a bot run, their defaults, and their checks. The defaults match what
 * `pnpm overworld start` runs: uberdog on port 8000, the demo world's classes and map, the cluster
 * version from CLUSTER_VERSION (else "dev").
 */
import { isIPv4 } from "node:net";
import { resolve } from "node:path";
import { DEFAULT_GRID, type Grid } from "../../../examples/demo/grid.ts";
import { FIRST_LOOPBACK_SOURCE, isIpv4LoopbackUrl } from "./source-addresses.ts";

const REPO = resolve(import.meta.dirname, "../../..");

export const DEFAULTS = {
  rate: 10,
  durationSeconds: 30,
  warmupSeconds: 1,
  ramp: 50,
  uberdog: "http://127.0.0.1:8000",
  dcFiles: [resolve(REPO, "examples/demo/demo.dc")] as readonly string[],
  grid: DEFAULT_GRID,
  prefix: "bot",
  password: "bot-password",
  speed: 10,
  updateHz: 30,
  startTimeoutSeconds: 30,
  resumeSeconds: 0,
  workers: 1,
} as const;

/** The cluster version `pnpm overworld start` gives its services (libs/cli/src/commands/start.ts). */
export function defaultClusterVersion(): string {
  return process.env.CLUSTER_VERSION ?? "dev";
}

/** Live figures, once a second (see `formatProgress`). */
export interface Progress {
  readonly elapsedSeconds: number;
  /** ramp: bots still starting; warm-up: all started, not yet measured; measure; done. */
  readonly phase: "ramp" | "warm-up" | "measure" | "done";
  readonly bots: number;
  readonly connected: number;
  readonly walking: number;
  readonly failed: number;
  readonly sentPerSecond: number;
  readonly deliveredPerSecond: number;
  /** Over the last second; 0 when no sample came. */
  readonly latencyP50Ms: number;
  readonly latencyP99Ms: number;
  readonly latencySamples: number;
  readonly ejections: number;
  readonly disconnects: number;
}

export interface BotOptions {
  /** How many bots. */
  readonly count: number;
  /** Walk steps (setSmXYH) each bot sends per second. */
  readonly rate?: number;
  /** How long to measure, in seconds, counted once every bot has started (or failed) and warmed up. */
  readonly durationSeconds?: number;
  /** Seconds between the last bot starting and the measurement (clocks settle, interests fill). */
  readonly warmupSeconds?: number;
  /** Bots started per second. */
  readonly ramp?: number;
  /** Uberdog's base URL, where bots register and log in. */
  readonly uberdog?: string;
  /** The cluster's .dc files, in order. */
  readonly dcFiles?: readonly string[];
  /** The cluster version the bots say hello with. */
  readonly version?: string;
  /** The world's map: which zone holds a point and which border it. */
  readonly grid?: Grid;
  /** Usernames are `<prefix><n>`, n from 1 to count. */
  readonly prefix?: string;
  readonly password?: string;
  /** Walking speed in world units per second. */
  readonly speed?: number;
  /** Transport updates per second of each bot's client (lower costs less CPU, adds up to 1/updateHz s of send delay). */
  readonly updateHz?: number;
  /** How long a bot may take from its first request to walking before it counts as failed. */
  readonly startTimeoutSeconds?: number;
  /**
   * A bot whose connection is lost (its agent died, a timeout, an ejection other than 100, 152 or 154)
   * comes back within this many seconds: logs in again, connects to a live agent and gets its avatar back
   * where it was (`resume` of @overworld/client), then walks on. 0 (the default): it stays disconnected.
   */
  readonly resumeSeconds?: number;
  /**
   * The local address the first bot sends from, for its login and its UDP socket; each next bot takes the
   * next address (127.0.1.1, 127.0.1.2, ...; see source-addresses.ts), so that every bot is a client
   * address of its own, as players are, and plays within uberdog's and the client agent's limits per
   * address. Null: the bots do not bind (one address for all). Default: 127.0.1.1 when uberdog is on
   * 127.x.x.x, else null.
   */
  readonly sourceAddress?: string | null;
  /**
   * Worker threads to spread the bots over, each running a contiguous share of them (bot i is the same
   * bot, username and source address whichever thread runs it), so that the load tester uses more than one
   * core. 1 (the default): every bot runs in the caller's thread, no worker.
   */
  readonly workers?: number;
  /** Ends the run early; the report covers what ran. */
  readonly signal?: AbortSignal;
  /** Called once a second with the live figures. */
  readonly onProgress?: (progress: Progress) => void;
}

export type ResolvedOptions = Required<Omit<BotOptions, "signal" | "onProgress">> &
  Pick<BotOptions, "signal" | "onProgress">;

/** Fills in the defaults and checks every number; a RangeError names the option that is wrong. */
export function resolveOptions(options: BotOptions): ResolvedOptions {
  const resolved: ResolvedOptions = {
    count: options.count,
    rate: options.rate ?? DEFAULTS.rate,
    durationSeconds: options.durationSeconds ?? DEFAULTS.durationSeconds,
    warmupSeconds: options.warmupSeconds ?? DEFAULTS.warmupSeconds,
    ramp: options.ramp ?? DEFAULTS.ramp,
    uberdog: options.uberdog ?? DEFAULTS.uberdog,
    dcFiles: options.dcFiles ?? DEFAULTS.dcFiles,
    version: options.version ?? defaultClusterVersion(),
    grid: options.grid ?? DEFAULTS.grid,
    prefix: options.prefix ?? DEFAULTS.prefix,
    password: options.password ?? DEFAULTS.password,
    speed: options.speed ?? DEFAULTS.speed,
    updateHz: options.updateHz ?? DEFAULTS.updateHz,
    startTimeoutSeconds: options.startTimeoutSeconds ?? DEFAULTS.startTimeoutSeconds,
    resumeSeconds: options.resumeSeconds ?? DEFAULTS.resumeSeconds,
    sourceAddress:
      options.sourceAddress !== undefined ? options.sourceAddress : defaultSource(options.uberdog),
    workers: options.workers ?? DEFAULTS.workers,
    signal: options.signal,
    onProgress: options.onProgress,
  };
  if (!Number.isInteger(resolved.count) || resolved.count < 1) {
    throw new RangeError(`count must be a whole number of 1 or more, not ${resolved.count}`);
  }
  if (!Number.isInteger(resolved.workers) || resolved.workers < 1 || resolved.workers > resolved.count) {
    throw new RangeError(
      `workers must be a whole number from 1 to count (${resolved.count}): each worker runs at least one bot, not ${resolved.workers}`,
    );
  }
  positive("rate", resolved.rate);
  positive("ramp", resolved.ramp);
  positive("updateHz", resolved.updateHz);
  positive("startTimeoutSeconds", resolved.startTimeoutSeconds);
  notNegative("durationSeconds", resolved.durationSeconds);
  notNegative("resumeSeconds", resolved.resumeSeconds);
  notNegative("warmupSeconds", resolved.warmupSeconds);
  notNegative("speed", resolved.speed);
  if (!/^[A-Za-z0-9_-]+$/.test(resolved.prefix)) {
    throw new RangeError(
      `prefix ${JSON.stringify(resolved.prefix)} may hold letters, digits, '_' and '-' only`,
    );
  }
  if (resolved.dcFiles.length === 0) throw new RangeError("dcFiles must name at least one .dc file");
  if (resolved.sourceAddress !== null && !isIPv4(resolved.sourceAddress)) {
    throw new RangeError(
      `sourceAddress must be an IPv4 address (e.g. ${FIRST_LOOPBACK_SOURCE}) or null, not ${JSON.stringify(resolved.sourceAddress)}`,
    );
  }
  return resolved;
}

/** Bots against a cluster on loopback each take a loopback address of their own. */
function defaultSource(uberdog: string | undefined): string | null {
  return isIpv4LoopbackUrl(uberdog ?? DEFAULTS.uberdog) ? FIRST_LOOPBACK_SOURCE : null;
}

function positive(name: string, value: number): void {
  if (!(Number.isFinite(value) && value > 0)) throw new RangeError(`${name} must be above 0, not ${value}`);
}

function notNegative(name: string, value: number): void {
  if (!(Number.isFinite(value) && value >= 0))
    throw new RangeError(`${name} must be 0 or more, not ${value}`);
}

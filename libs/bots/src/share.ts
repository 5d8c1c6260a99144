/**
 * A share of a run's bots: a contiguous range of their indices, run in one thread. The run (run.ts) drives
 * its shares through the phases (ramp, measure, stop) and merges what they report (share-figures.ts). With
 * one worker the one share runs in the caller's thread; with K, each of K worker threads runs one
 * (workers.ts, worker.ts). Bot i is bot i either way: username `<prefix><i + 1>`, the i-th source address,
 * started i / ramp seconds after the run's start (on the process clock, clock.ts, which every thread shares).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type DcFile, loadDcFiles } from "@overworld/protocol";
import { Bot, type BotConfig, BotStartError, BotStopped, WALK_FIELD } from "./bot.ts";
import { sleepUntil, untilAborted } from "./clock.ts";
import type { ResolvedOptions } from "./options.ts";
import type { SendTimes } from "./send-times.ts";
import type { ShareFinal, ShareProgress, ShareStarted, ShareWindow } from "./share-figures.ts";
import { sourceAddress } from "./source-addresses.ts";
import { RunStats } from "./stats.ts";
import { addTransport, emptyTransport } from "./transport.ts";

const MS_PER_SECOND = 1000;
const NANOSECONDS_PER_MS = 1e6;
const P99 = 99;
/** Event-loop delay sampling resolution (ms): fine enough to see a stalled bot thread. */
const LOOP_DELAY_RESOLUTION_MS = 10;
/** The class whose walk step the bots send (their avatars are DistributedAvatars, which inherit it). */
const WALKING_CLASS = "DistributedMover";

/** A run's options as a share needs them: plain data (no signal, no callback), to post to a worker. */
export type ShareOptions = Omit<ResolvedOptions, "signal" | "onProgress">;

/** The options without the signal and the callback. */
export function shareOptions(options: ResolvedOptions): ShareOptions {
  const { signal: _signal, onProgress: _onProgress, ...rest } = options;
  return rest;
}

/** Which bots a share runs: indices `from` (included) to `to` (excluded) of the run's `options.count`. */
export interface ShareSpec {
  readonly options: ShareOptions;
  readonly from: number;
  readonly to: number;
}

/** What the run asks of a share, whether it runs in this thread or in a worker. */
export interface Share {
  /**
   * Starts the share's bots, bot i at `startAtMs` + i / ramp seconds (process clock), and resolves once each
   * walks or failed, or once `abort` is called.
   */
  ramp(startAtMs: number): Promise<ShareStarted>;
  /** The run was aborted: bots not started yet will not be, and the ramp resolves at once. */
  abort(): void;
  /** Live figures; the latency samples since the last call. */
  progress(): Promise<ShareProgress>;
  /** Opens the measured window. */
  beginMeasure(): Promise<void>;
  /** Closes the measured window and says what it saw. */
  endMeasure(): Promise<ShareWindow>;
  /** Stops the bots (they say goodbye) and says what they did over the run. */
  stop(): Promise<ShareFinal>;
}

/** The .dc files, checked to hold the walk step the bots send. */
export function loadWalkingClasses(dcFiles: readonly string[]): DcFile {
  const dc = loadDcFiles([...dcFiles]);
  if (dc.class(WALKING_CLASS)?.field(WALK_FIELD) === undefined) {
    throw new Error(
      `the .dc files (${dcFiles.join(", ")}) have no ${WALKING_CLASS}.${WALK_FIELD}: ` +
        "bots walk the demo world; load examples/demo/demo.dc (or files that include its classes)",
    );
  }
  return dc;
}

/** The share's bots in this thread. */
export class BotShare implements Share {
  private readonly stats: RunStats;
  private readonly bots: Bot[] = [];
  private readonly aborted = new AbortController();
  private window:
    | {
        readonly sent: number;
        readonly delivered: number;
        readonly negative: number;
        readonly loopDelay: ReturnType<typeof monitorEventLoopDelay>;
      }
    | undefined;

  /** `sendTimes`: the run's, shared by all its threads. */
  constructor(
    private readonly spec: ShareSpec,
    private readonly dc: DcFile,
    sendTimes: SendTimes,
  ) {
    this.stats = new RunStats(sendTimes);
  }

  async ramp(startAtMs: number): Promise<ShareStarted> {
    const { options, from, to } = this.spec;
    const { signal } = this.aborted;
    const starts: Promise<void>[] = [];
    for (let index = from; index < to; index++) {
      await sleepUntil(startAtMs + (index * MS_PER_SECOND) / options.ramp, signal);
      if (signal.aborted) break;
      const bot = new Bot(botConfig(options, this.dc, index), this.stats);
      this.bots.push(bot);
      starts.push(bot.start().catch((error: unknown) => countFailure(this.stats, error)));
    }
    await untilAborted(Promise.all(starts), signal);
    return { walking: this.stats.walking };
  }

  abort(): void {
    this.aborted.abort();
  }

  async progress(): Promise<ShareProgress> {
    const { stats } = this;
    return {
      connected: stats.connected,
      walking: stats.walking,
      failed: stats.failureCount,
      sent: stats.sent,
      delivered: stats.delivered,
      ejections: stats.ejectionCount,
      disconnects: stats.disconnectCount,
      recent: stats.takeRecent(),
    };
  }

  async beginMeasure(): Promise<void> {
    const { stats } = this;
    const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
    loopDelay.enable();
    this.window = {
      sent: stats.sent,
      delivered: stats.delivered,
      negative: stats.negativeLatencies,
      loopDelay,
    };
    stats.setMeasuring(true);
  }

  async endMeasure(): Promise<ShareWindow> {
    const { stats, window } = this;
    if (window === undefined) throw new Error("endMeasure came before beginMeasure: open the window first");
    stats.setMeasuring(false);
    window.loopDelay.disable();
    this.window = undefined;
    const hasDelay = window.loopDelay.count > 0;
    return {
      sent: stats.sent - window.sent,
      delivered: stats.delivered - window.delivered,
      negative: stats.negativeLatencies - window.negative,
      ...stats.measuredCounts(),
      eventLoopDelayP99Ms: hasDelay ? window.loopDelay.percentile(P99) / NANOSECONDS_PER_MS : 0,
      eventLoopDelayMaxMs: hasDelay ? window.loopDelay.max / NANOSECONDS_PER_MS : 0,
    };
  }

  async stop(): Promise<ShareFinal> {
    this.abort();
    // the connections' counters and clocks, read before they close
    const transport = emptyTransport();
    const clockErrorBounds: number[] = [];
    for (const bot of this.bots) {
      if (bot.transport !== undefined) addTransport(transport, bot.transport);
      if (bot.clockErrorBoundMs !== undefined) clockErrorBounds.push(bot.clockErrorBoundMs);
    }
    const connectedAtEnd = this.stats.connected;
    await Promise.all(this.bots.map((bot) => bot.stop()));
    return { totals: this.stats.totals(), transport, clockErrorBounds, connectedAtEnd };
  }
}

function botConfig(options: ShareOptions, dc: DcFile, index: number): BotConfig {
  return {
    index,
    username: `${options.prefix}${index + 1}`,
    password: options.password,
    uberdog: options.uberdog,
    dc,
    version: options.version,
    grid: options.grid,
    rate: options.rate,
    speed: options.speed,
    updateHz: options.updateHz,
    startTimeoutMs: options.startTimeoutSeconds * MS_PER_SECOND,
    resumeMs: options.resumeSeconds * MS_PER_SECOND,
    ...(options.sourceAddress === null ? {} : { localAddress: sourceAddress(options.sourceAddress, index) }),
  };
}

/** Counts a bot that did not start walking; a bot stopped by the run is no failure. */
function countFailure(stats: RunStats, error: unknown): void {
  if (error instanceof BotStopped) return;
  if (error instanceof BotStartError) stats.fail(error.reason, error.message);
  else stats.fail("error", (error as Error).message ?? String(error));
}

/**
 * A bot run: starts the bots at the ramp rate, waits until every one walks (or failed), lets the run
 * warm up, measures for the given duration, stops the bots and reports. Progress comes once a second
 * through `onProgress`; an AbortSignal ends the run early with a report of what ran.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { type DcFile, loadDcFiles } from "@overworld/protocol";
import { Bot, BotStartError, BotStopped, WALK_FIELD } from "./bot.ts";
import { summarize } from "./latency.ts";
import { type BotOptions, type Progress, type ResolvedOptions, resolveOptions } from "./options.ts";
import {
  addTransport,
  type BotReport,
  buildReport,
  emptyTransport,
  type MeasuredWindow,
  perSecond,
  type TransportSum,
} from "./report.ts";
import { sourceAddress } from "./source-addresses.ts";
import { RunStats } from "./stats.ts";

const MS_PER_SECOND = 1000;
const PROGRESS_PERIOD_MS = 1000;
const NANOSECONDS_PER_MS = 1e6;
const MICROSECONDS_PER_SECOND = 1e6;
const PERCENT = 100;
/** Event-loop delay sampling resolution (ms): fine enough to see a stalled bot process. */
const LOOP_DELAY_RESOLUTION_MS = 10;
/** The class whose walk step the bots send (their avatars are DistributedAvatars, which inherit it). */
const WALKING_CLASS = "DistributedMover";

type Phase = Progress["phase"];

/** Runs the bots and resolves with the report; rejects only on bad options or unreadable .dc files. */
export async function runBots(options: BotOptions): Promise<BotReport> {
  const resolved = resolveOptions(options);
  const dc = loadWalkingClasses(resolved.dcFiles);
  const stats = new RunStats();
  const startedAt = new Date();
  const t0 = performance.now();
  const signal = resolved.signal;
  let phase: Phase = "ramp";
  const progress = resolved.onProgress ? startProgress(resolved, stats, t0, () => phase) : undefined;

  const bots = await rampUp(resolved, dc, stats, t0);
  // when no bot walks there is nothing to measure: report the failures at once
  const waitMs = (seconds: number) => (stats.walking === 0 ? 0 : seconds * MS_PER_SECOND);
  phase = "warm-up";
  await sleepUntil(performance.now() + waitMs(resolved.warmupSeconds), signal);
  const warmupSeconds = (performance.now() - t0) / MS_PER_SECOND;
  phase = "measure";
  const window = measureWindow(stats);
  await sleepUntil(performance.now() + waitMs(resolved.durationSeconds), signal);
  const measured = window.end();
  phase = "done";
  progress?.stop();

  const connections = connectionFigures(bots);
  const connectedAtEnd = stats.connected;
  await Promise.all(bots.map((bot) => bot.stop()));
  return buildReport({
    options: resolved,
    stats,
    startedAt,
    aborted: signal?.aborted ?? false,
    warmupSeconds,
    measured,
    connectedAtEnd,
    ...connections,
  });
}

/** The .dc files, checked to hold the walk step the bots send. */
function loadWalkingClasses(dcFiles: readonly string[]): DcFile {
  const dc = loadDcFiles([...dcFiles]);
  if (dc.class(WALKING_CLASS)?.field(WALK_FIELD) === undefined) {
    throw new Error(
      `the .dc files (${dcFiles.join(", ")}) have no ${WALKING_CLASS}.${WALK_FIELD}: ` +
        "bots walk the demo world; load examples/demo/demo.dc (or files that include its classes)",
    );
  }
  return dc;
}

/** Starts the bots `ramp` a second and waits until each walks or failed (or the run is aborted). */
async function rampUp(options: ResolvedOptions, dc: DcFile, stats: RunStats, t0: number): Promise<Bot[]> {
  const { signal } = options;
  const bots: Bot[] = [];
  const starts: Promise<void>[] = [];
  for (let index = 0; index < options.count; index++) {
    await sleepUntil(t0 + (index * MS_PER_SECOND) / options.ramp, signal);
    if (signal?.aborted) break;
    const bot = new Bot(
      {
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
        ...(options.sourceAddress === null
          ? {}
          : { localAddress: sourceAddress(options.sourceAddress, index) }),
      },
      stats,
    );
    bots.push(bot);
    starts.push(bot.start().catch((error: unknown) => countFailure(stats, error)));
  }
  await untilAborted(Promise.all(starts), signal);
  return bots;
}

/** The bots' transport counters summed, and their clock error bounds, read before they close. */
function connectionFigures(bots: readonly Bot[]): { transport: TransportSum; clockErrorBounds: number[] } {
  const transport = emptyTransport();
  const clockErrorBounds: number[] = [];
  for (const bot of bots) {
    if (bot.transport !== undefined) addTransport(transport, bot.transport);
    if (bot.clockErrorBoundMs !== undefined) clockErrorBounds.push(bot.clockErrorBoundMs);
  }
  return { transport, clockErrorBounds };
}

/** Counts a bot that did not start walking; a bot stopped by the run is no failure. */
function countFailure(stats: RunStats, error: unknown): void {
  if (error instanceof BotStopped) return;
  if (error instanceof BotStartError) stats.fail(error.reason, error.message);
  else stats.fail("error", (error as Error).message ?? String(error));
}

/** Opens the measured window: counters, latency samples, this process's CPU and event-loop delay. */
function measureWindow(stats: RunStats): { end(): MeasuredWindow } {
  const begin = {
    at: performance.now(),
    sent: stats.sent,
    delivered: stats.delivered,
    negative: stats.negativeLatencies,
    cpu: process.cpuUsage(),
  };
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_DELAY_RESOLUTION_MS });
  loopDelay.enable();
  stats.setMeasuring(true);
  return {
    end() {
      stats.setMeasuring(false);
      loopDelay.disable();
      const seconds = (performance.now() - begin.at) / MS_PER_SECOND;
      const cpu = process.cpuUsage(begin.cpu);
      const cpuSeconds = (cpu.user + cpu.system) / MICROSECONDS_PER_SECOND;
      const hasDelay = loopDelay.count > 0;
      return {
        seconds,
        sent: stats.sent - begin.sent,
        delivered: stats.delivered - begin.delivered,
        negative: stats.negativeLatencies - begin.negative,
        process: {
          cpuSeconds,
          cpuPercent: seconds === 0 ? 0 : (cpuSeconds / seconds) * PERCENT,
          eventLoopDelayP99Ms: hasDelay ? loopDelay.percentile(99) / NANOSECONDS_PER_MS : 0,
          eventLoopDelayMaxMs: hasDelay ? loopDelay.max / NANOSECONDS_PER_MS : 0,
        },
      };
    },
  };
}

/** Calls onProgress once a second with the figures of the last second. */
function startProgress(
  options: ResolvedOptions,
  stats: RunStats,
  t0: number,
  phase: () => Phase,
): { stop(): void } {
  let last = { at: t0, sent: 0, delivered: 0 };
  const timer = setInterval(() => {
    const at = performance.now();
    const seconds = (at - last.at) / MS_PER_SECOND;
    const latency = stats.takeRecent((histogram) => summarize(histogram));
    options.onProgress?.({
      elapsedSeconds: (at - t0) / MS_PER_SECOND,
      phase: phase(),
      bots: options.count,
      connected: stats.connected,
      walking: stats.walking,
      failed: stats.failureCount,
      sentPerSecond: perSecond(stats.sent - last.sent, seconds),
      deliveredPerSecond: perSecond(stats.delivered - last.delivered, seconds),
      latencyP50Ms: latency.p50,
      latencyP99Ms: latency.p99,
      latencySamples: latency.samples,
      ejections: stats.ejectionCount,
      disconnects: stats.disconnectCount,
    });
    last = { at, sent: stats.sent, delivered: stats.delivered };
  }, PROGRESS_PERIOD_MS);
  return { stop: () => clearInterval(timer) };
}

/** Sleeps until `performance.now()` reaches `at`, or less if the signal aborts first. */
function sleepUntil(at: number, signal: AbortSignal | undefined): Promise<void> {
  const ms = at - performance.now();
  if (ms <= 0 || signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", wake);
      resolve();
    };
    const timer = setTimeout(wake, ms);
    signal?.addEventListener("abort", wake);
  });
}

/** Waits for `promise`, or less if the signal aborts first. */
function untilAborted(promise: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      signal?.removeEventListener("abort", done);
      resolve();
    };
    signal?.addEventListener("abort", done);
    promise.then(done, done);
  });
}

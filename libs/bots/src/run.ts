/**
 * A bot run: starts the bots at the ramp rate, waits until every one walks (or failed), lets the run
 * warm up, measures for the given duration, stops the bots and reports. Progress comes once a second
 * through `onProgress`; an AbortSignal ends the run early with a report of what ran.
 *
 * The bots run in shares (share.ts): one in this thread by default, or one per worker thread (`workers`,
 * workers.ts). This thread drives every share through the same phases, so that all measure the same
 * window, and merges what they report (share-figures.ts) into one report.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { processClockMs, sleepUntil } from "./clock.ts";
import { summarizeCounts } from "./latency.ts";
import { type BotOptions, type Progress, type ResolvedOptions, resolveOptions } from "./options.ts";
import { type BotReport, buildReport, type MeasuredWindow, perSecond } from "./report.ts";
import { SendTimes } from "./send-times.ts";
import { BotShare, loadWalkingClasses, type Share, shareOptions } from "./share.ts";
import {
  mergeFinals,
  mergeProgress,
  mergeStarted,
  mergeWindows,
  type ShareProgress,
} from "./share-figures.ts";
import { type Fleet, startWorkers } from "./workers.ts";

const MS_PER_SECOND = 1000;
const PROGRESS_PERIOD_MS = 1000;
const MICROSECONDS_PER_SECOND = 1e6;
/** When a run fails midway: how long its bots get to say goodbye before their threads are ended. */
const STOP_TIMEOUT_MS = 10_000;

type Phase = Progress["phase"];

/**
 * Runs the bots and resolves with the report; rejects on bad options, unreadable .dc files, or a bot
 * worker that failed (the error names it; the other workers' bots are stopped first).
 */
export async function runBots(options: BotOptions): Promise<BotReport> {
  const resolved = resolveOptions(options);
  const dc = loadWalkingClasses(resolved.dcFiles); // checked here, so that a bad file is no worker's error
  const startedAt = new Date();
  const sendTimes = SendTimes.create(resolved.count);
  const shared = shareOptions(resolved);
  const fleet: Fleet =
    resolved.workers === 1
      ? inThisThread(new BotShare({ options: shared, from: 0, to: resolved.count }, dc, sendTimes))
      : await startWorkers(shared, sendTimes);
  try {
    return await runPhases(resolved, fleet, startedAt);
  } catch (error) {
    await stopBots(fleet.shares); // those that still answer say goodbye (stopping twice is harmless)
    throw error;
  } finally {
    await fleet.close();
  }
}

/** The one share of a run without workers, in this thread. */
function inThisThread(share: Share): Fleet {
  return { shares: [share], failure: new AbortController().signal, close: async () => {} };
}

/** Ramp, warm-up, measure, stop. */
async function runPhases(options: ResolvedOptions, fleet: Fleet, startedAt: Date): Promise<BotReport> {
  const { shares, failure } = fleet;
  const userSignal = options.signal;
  const abortShares = () => {
    for (const share of shares) share.abort();
  };
  userSignal?.addEventListener("abort", abortShares);
  if (userSignal?.aborted) abortShares();
  // the run's waits end early when the user aborts or a worker fails
  const signal = userSignal === undefined ? failure : AbortSignal.any([userSignal, failure]);
  const t0 = processClockMs();
  let phase: Phase = "ramp";
  const progress = options.onProgress ? startProgress(options, shares, t0, () => phase) : undefined;
  try {
    const { walking } = mergeStarted(await Promise.all(shares.map((share) => share.ramp(t0))));
    failure.throwIfAborted();
    // when no bot walks there is nothing to measure: report the failures at once
    const waitMs = (seconds: number) => (walking === 0 ? 0 : seconds * MS_PER_SECOND);
    phase = "warm-up";
    await sleepUntil(processClockMs() + waitMs(options.warmupSeconds), signal);
    failure.throwIfAborted();
    const warmupSeconds = (processClockMs() - t0) / MS_PER_SECOND;
    phase = "measure";
    const window = await openWindow(shares);
    await sleepUntil(window.openedAt + waitMs(options.durationSeconds), signal);
    failure.throwIfAborted();
    const measured = await window.close();
    phase = "done";
    progress?.stop();
    const final = mergeFinals(await Promise.all(shares.map((share) => share.stop())));
    return buildReport({
      options,
      startedAt,
      aborted: userSignal?.aborted ?? false,
      warmupSeconds,
      measured,
      final,
    });
  } finally {
    progress?.stop();
    userSignal?.removeEventListener("abort", abortShares);
  }
}

/**
 * Opens the measured window in every share; closing it gives the shares' figures merged, with the
 * window's length and this process's CPU in it (process.cpuUsage counts every thread, workers included).
 * A worker opens and closes its window as the message reaches it: within a millisecond or so of this
 * thread's, later when its event loop is held up (which its event-loop delay then shows).
 */
async function openWindow(
  shares: readonly Share[],
): Promise<{ readonly openedAt: number; close(): Promise<MeasuredWindow> }> {
  const openedAt = processClockMs();
  const cpu = process.cpuUsage();
  await Promise.all(shares.map((share) => share.beginMeasure()));
  return {
    openedAt,
    async close() {
      // the window's length and CPU as the shares are told to close it, before their answers come back
      const ending = Promise.all(shares.map((share) => share.endMeasure()));
      const seconds = (processClockMs() - openedAt) / MS_PER_SECOND;
      const used = process.cpuUsage(cpu);
      const figures = mergeWindows(await ending);
      return { seconds, cpuSeconds: (used.user + used.system) / MICROSECONDS_PER_SECOND, figures };
    },
  };
}

/** Calls onProgress once a second with the figures of the last second, all shares merged. */
function startProgress(
  options: ResolvedOptions,
  shares: readonly Share[],
  t0: number,
  phase: () => Phase,
): { stop(): void } {
  let last = { at: t0, sent: 0, delivered: 0 };
  let asking = false;
  let stopped = false;
  const tick = async () => {
    if (asking) return; // a share is slow to answer: skip a line rather than pile up questions
    asking = true;
    const at = processClockMs();
    let figures: ShareProgress;
    try {
      figures = mergeProgress(await Promise.all(shares.map((share) => share.progress())));
    } catch {
      return; // a worker failed: the run stops and says so
    } finally {
      asking = false;
    }
    if (stopped) return;
    const seconds = (at - last.at) / MS_PER_SECOND;
    const latency = summarizeCounts(figures.recent);
    options.onProgress?.({
      elapsedSeconds: (at - t0) / MS_PER_SECOND,
      phase: phase(),
      bots: options.count,
      connected: figures.connected,
      walking: figures.walking,
      failed: figures.failed,
      sentPerSecond: perSecond(figures.sent - last.sent, seconds),
      deliveredPerSecond: perSecond(figures.delivered - last.delivered, seconds),
      latencyP50Ms: latency.p50,
      latencyP99Ms: latency.p99,
      latencySamples: latency.samples,
      ejections: figures.ejections,
      disconnects: figures.disconnects,
    });
    last = { at, sent: figures.sent, delivered: figures.delivered };
  };
  const timer = setInterval(tick, PROGRESS_PERIOD_MS);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** After a failure: stops every share's bots that still answers, giving up on them after STOP_TIMEOUT_MS. */
async function stopBots(shares: readonly Share[]): Promise<void> {
  await Promise.race([
    Promise.allSettled(shares.map((share) => share.stop())),
    sleep(STOP_TIMEOUT_MS, undefined, { ref: false }),
  ]);
}

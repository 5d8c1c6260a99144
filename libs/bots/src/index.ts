/** @overworld/bots: the bot load tester behind `pnpm overworld bots`, callable in-process as `runBots`. */

export { Bot, type BotConfig, BotStartError, BotStopped, WALK_FIELD } from "./bot.ts";
export { processClockMs } from "./clock.ts";
export {
  type BinCounts,
  countsHistogram,
  LatencyBins,
  type LatencySummary,
  latencyHistogram,
  latencyMs,
  mergeBinCounts,
  summarize,
  summarizeCounts,
  timeStamp,
} from "./latency.ts";
export {
  type BotOptions,
  DEFAULTS,
  defaultClusterVersion,
  type Progress,
  resolveOptions,
} from "./options.ts";
export { type BotReport, formatProgress, formatSummary } from "./report.ts";
export { runBots } from "./run.ts";
export { SendTimes } from "./send-times.ts";
export {
  mergeFinals,
  mergeProgress,
  mergeWindows,
  type ShareFinal,
  type ShareProgress,
  type ShareWindow,
} from "./share-figures.ts";
export { FIRST_LOOPBACK_SOURCE, isIpv4LoopbackUrl, sourceAddress } from "./source-addresses.ts";
export { mergeTotals, RunStats, type StatsTotals, type Tally } from "./stats.ts";
export { type Pose, RandomWalk } from "./walk.ts";
export { shareRange } from "./workers.ts";

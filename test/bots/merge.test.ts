/**
 * How a run over worker threads puts its shares' figures together: latency bins merged bin by bin come
 * out as one histogram fed every sample (percentiles equal, not averaged); counters summed, tallies
 * merged keeping three examples, the worst event-loop delay; the send times every thread shares; the
 * shares' ranges of bots; and a worker that cannot load fails with an error naming it.
 */
import {
  type BinCounts,
  countsHistogram,
  LatencyBins,
  mergeBinCounts,
  mergeFinals,
  mergeTotals,
  mergeWindows,
  SendTimes,
  type ShareFinal,
  type ShareWindow,
  type StatsTotals,
  shareRange,
  summarizeCounts,
} from "@overworld/bots";
import { describe, expect, it } from "vitest";
import { startWorkers } from "../../libs/bots/src/workers.ts";
import { DEMO_DC } from "../support/avatars.ts";

/** A deterministic spread of latencies (µs): mostly 1-40 ms, a tail to 2 s. */
function samples(count: number, seed: number): number[] {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return Array.from({ length: count }, () => {
    const tail = next() < 0.02;
    return Math.round(tail ? next() * 2_000_000 : 1000 + next() * 39_000);
  });
}

function binsOf(values: readonly number[]): LatencyBins {
  const bins = new LatencyBins();
  for (const value of values) bins.add(value);
  return bins;
}

function emptyWindow(overrides: Partial<ShareWindow>): ShareWindow {
  const none: BinCounts = new LatencyBins().counts();
  return {
    sent: 0,
    delivered: 0,
    negative: 0,
    latency: none,
    localLatency: none,
    eventLoopDelayP99Ms: 0,
    eventLoopDelayMaxMs: 0,
    ...overrides,
  };
}

function totals(overrides: Partial<StatsTotals>): StatsTotals {
  return {
    sent: 0,
    delivered: 0,
    everConnected: 0,
    everWalked: 0,
    interestChanges: 0,
    failures: new Map(),
    ejections: new Map(),
    disconnects: new Map(),
    ...overrides,
  };
}

describe("merging shares' latency", () => {
  it("gives the percentiles of one histogram fed every sample", () => {
    const all = samples(30_000, 7);
    const parts = [all.slice(0, 5000), all.slice(5000, 21_000), all.slice(21_000)];
    const merged = mergeBinCounts(parts.map((part) => binsOf(part).counts()));
    expect(merged).toEqual(binsOf(all).counts()); // the very bins one thread would have counted
    const one = binsOf(all).toHistogram();
    const fromMerge = countsHistogram(merged);
    expect(fromMerge.totalCount).toBe(all.length);
    for (const percentile of [1, 10, 50, 90, 99, 99.9, 99.99, 100]) {
      expect(fromMerge.getValueAtPercentile(percentile)).toBe(one.getValueAtPercentile(percentile));
    }
    expect(fromMerge.mean).toBe(one.mean);
    expect(summarizeCounts(merged)).toEqual(summarizeCounts(binsOf(all).counts()));
    // averaging the parts' p99s would not do: they differ from the whole's
    const partP99s = parts.map((part) => binsOf(part).toHistogram().getValueAtPercentile(99));
    expect(partP99s).not.toEqual(partP99s.map(() => one.getValueAtPercentile(99)));
  });

  it("merges windows: counters summed, both latencies merged, the worst thread's event-loop delay", () => {
    const [a, b] = [samples(400, 1), samples(600, 2)];
    const merged = mergeWindows([
      emptyWindow({
        sent: 10,
        delivered: 40,
        negative: 1,
        latency: binsOf(a!).counts(),
        localLatency: binsOf(a!.slice(0, 100)).counts(),
        eventLoopDelayP99Ms: 12,
        eventLoopDelayMaxMs: 30,
      }),
      emptyWindow({
        sent: 15,
        delivered: 60,
        negative: 2,
        latency: binsOf(b!).counts(),
        localLatency: new LatencyBins().counts(),
        eventLoopDelayP99Ms: 20,
        eventLoopDelayMaxMs: 25,
      }),
    ]);
    expect(merged).toMatchObject({
      sent: 25,
      delivered: 100,
      negative: 3,
      eventLoopDelayP99Ms: 20,
      eventLoopDelayMaxMs: 30,
    });
    expect(summarizeCounts(merged.latency)).toEqual(summarizeCounts(binsOf([...a!, ...b!]).counts()));
    expect(summarizeCounts(merged.localLatency).samples).toBe(100);
  });
});

describe("merging shares' totals", () => {
  it("sums counters and merges tallies keeping at most three distinct examples", () => {
    const merged = mergeTotals([
      totals({
        sent: 5,
        delivered: 20,
        everConnected: 2,
        everWalked: 2,
        interestChanges: 1,
        failures: new Map([["no avatar", { count: 2, examples: ["a", "b"] }]]),
        ejections: new Map([[124, { count: 1, examples: ["bad version"] }]]),
      }),
      totals({
        sent: 7,
        delivered: 30,
        everConnected: 3,
        everWalked: 2,
        failures: new Map([
          ["no avatar", { count: 3, examples: ["b", "c", "d"] }],
          ["connect failed", { count: 1, examples: ["timeout"] }],
        ]),
        disconnects: new Map([["timed out", { count: 1, examples: ["timed out"] }]]),
      }),
    ]);
    expect(merged).toMatchObject({
      sent: 12,
      delivered: 50,
      everConnected: 5,
      everWalked: 4,
      interestChanges: 1,
    });
    expect(Object.fromEntries(merged.failures)).toEqual({
      "no avatar": { count: 5, examples: ["a", "b", "c"] },
      "connect failed": { count: 1, examples: ["timeout"] },
    });
    expect(merged.ejections.get(124)).toEqual({ count: 1, examples: ["bad version"] });
    expect(merged.disconnects.get("timed out")?.count).toBe(1);
  });

  it("adds transport sums and puts clock error bounds together", () => {
    const final = (bound: number, packets: number): ShareFinal => ({
      totals: totals({}),
      transport: {
        packetsSent: packets,
        packetsAcked: packets - 1,
        packetsReceived: 2 * packets,
        bytesSent: 100 * packets,
        bytesReceived: 200 * packets,
        partsResent: 1,
        unacknowledged: 1,
        receivedDropped: 0,
      },
      clockErrorBounds: [bound, bound + 0.5],
      connectedAtEnd: 2,
    });
    const merged = mergeFinals([final(0.1, 10), final(0.3, 20)]);
    expect(merged.transport).toEqual({
      packetsSent: 30,
      packetsAcked: 28,
      packetsReceived: 60,
      bytesSent: 3000,
      bytesReceived: 6000,
      partsResent: 2,
      unacknowledged: 2,
      receivedDropped: 0,
    });
    expect(merged.clockErrorBounds).toEqual([0.1, 0.6, 0.3, 0.8]);
    expect(merged.connectedAtEnd).toBe(4);
  });
});

describe("send times", () => {
  it("time another thread's bots' steps through the buffer they share", () => {
    const sender = SendTimes.create(3);
    const receiver = new SendTimes(sender.buffer, 3); // another thread's view of the same memory
    expect(receiver.sentAt(0xfffffff0, 5)).toBeUndefined(); // nobody registered: an NPC, say
    sender.record(2, 0xfffffff0, 5, 1000.25); // a doId above 2^31 keeps its 32 bits
    sender.record(0, 77, 9, 1001);
    expect(receiver.sentAt(0xfffffff0, 5)).toBe(1000.25);
    expect(receiver.sentAt(77, 9)).toBe(1001);
    expect(receiver.sentAt(77, 10)).toBeUndefined();
    expect(receiver.sentAt(78, 9)).toBeUndefined();
  });

  it("keep each bot's last 63 steps whatever the others send", () => {
    const times = SendTimes.create(2);
    for (let step = 0; step < 200; step++) {
      times.record(0, 10, step, step);
      times.record(1, 11, step, 1000 + step);
    }
    expect(times.sentAt(10, 199)).toBe(199);
    expect(times.sentAt(10, 137)).toBe(137);
    expect(times.sentAt(10, 136)).toBeUndefined(); // its slot is next to be rewritten: dropped, not misread
    expect(times.sentAt(11, 150)).toBe(1150);
  });

  it("refuse a buffer too small for the bots", () => {
    expect(() => new SendTimes(new SharedArrayBuffer(64), 10)).toThrow(
      /holds 64 bytes, \d+ needed for 10 bots/,
    );
  });
});

describe("bot workers", () => {
  it("share the bots in contiguous ranges, every bot once", () => {
    const ranges = [0, 1, 2].map((share) => shareRange(10, 3, share));
    expect(ranges).toEqual([
      { from: 0, to: 3 },
      { from: 3, to: 6 },
      { from: 6, to: 10 },
    ]);
    expect(shareRange(5, 5, 4)).toEqual({ from: 4, to: 5 });
  });

  it("fail to start with an error naming the worker when one cannot load", async () => {
    const options = {
      count: 3,
      rate: 10,
      durationSeconds: 1,
      warmupSeconds: 0,
      ramp: 50,
      uberdog: "http://127.0.0.1:1",
      dcFiles: [DEMO_DC, "/nonexistent/world.dc"],
      version: "dev",
      grid: { width: 2, height: 2, cellSize: 50 },
      prefix: "nobody",
      password: "x",
      speed: 10,
      updateHz: 30,
      startTimeoutSeconds: 1,
      resumeSeconds: 0,
      sourceAddress: null,
      workers: 2,
    };
    await expect(startWorkers(options, SendTimes.create(options.count))).rejects.toThrow(
      /^bot worker [12] of 2 \(bots (1 to 1|2 to 3)\) failed: .*world\.dc/,
    );
  });
});

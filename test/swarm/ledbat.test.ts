/**
 * The swarm yields to game traffic: the LEDBAT-like controller grows its window while the queueing delay
 * is under target, backs off when the delay rises, halves on loss (once per round trip); and in a
 * simulated swarm, game packets sharing the peers' uplinks keep a low delay with it and not without it.
 */
import { DEFAULT_LEDBAT, LedbatController, ManualClock } from "@overworld/swarm";
import { simulate } from "@overworld/swarm/sim";
import { describe, expect, it } from "vitest";

const MSS = DEFAULT_LEDBAT.mss;

/** Feeds the controller acks of one window's worth at a time, with the given one-way delay. */
function run(controller: LedbatController, clock: ManualClock, delayMs: number, rounds: number): number[] {
  const windows: number[] = [];
  for (let round = 0; round < rounds; round++) {
    const window = controller.window;
    for (let sent = 0; sent < window; sent += MSS) controller.acked(MSS, delayMs, window, 2 * delayMs);
    clock.advance(2 * delayMs);
    windows.push(controller.window);
  }
  return windows;
}

describe("the LEDBAT-like rate controller", () => {
  it("grows while the queueing delay is under target and backs off when the delay rises", () => {
    const clock = new ManualClock();
    const controller = new LedbatController(clock);
    const growing = run(controller, clock, 20, 30);
    expect(growing[29]!).toBeGreaterThan(5 * DEFAULT_LEDBAT.initialWindow);
    for (let index = 1; index < growing.length; index++)
      expect(growing[index]!).toBeGreaterThan(growing[index - 1]!);
    expect(controller.baseDelay).toBe(20);
    expect(controller.queueingDelay).toBe(0);

    // a queue builds on the path: 60 ms above the base, beyond the 25 ms target
    const peak = controller.window;
    const shrinking = run(controller, clock, 80, 10);
    expect(controller.queueingDelay).toBe(60);
    for (let index = 1; index < shrinking.length; index++) {
      expect(shrinking[index]!).toBeLessThanOrEqual(shrinking[index - 1]!);
    }
    // linear decrease, as RFC 6817's: (target - queueing) / target = -1.4 segments a round trip
    expect(controller.window).toBeLessThan(peak - 10 * MSS);
    expect(controller.window).toBeGreaterThanOrEqual(DEFAULT_LEDBAT.minWindow);

    // the queue drains: it grows again
    const low = controller.window;
    run(controller, clock, 22, 5);
    expect(controller.window).toBeGreaterThan(low);
  });

  it("halves its window on a loss, once per round trip", () => {
    const clock = new ManualClock();
    const controller = new LedbatController(clock);
    run(controller, clock, 20, 10);
    const before = controller.window;
    controller.lost();
    expect(controller.window).toBe(before / 2);
    controller.lost();
    expect(controller.window).toBe(before / 2);
    clock.advance(100);
    controller.lost();
    expect(controller.window).toBe(before / 4);
  });

  it("keeps game packets' delay low in a swarm, where sending flat out does not", () => {
    const options = {
      peers: 8,
      assetBytes: 8 * 1024 * 1024,
      chunkSize: 64 * 1024,
      seed: 3,
      gameTraffic: { bytes: 120, everyMs: 50 },
    } as const;
    const yielding = simulate({ ...options, congestion: "ledbat" });
    const flatOut = simulate({ ...options, congestion: "none" });
    expect(yielding.allFinished && flatOut.allFinished).toBe(true);
    expect(yielding.gameDelay.p99).toBeLessThan(4 * DEFAULT_LEDBAT.targetMs);
    expect(flatOut.gameDelay.p99).toBeGreaterThan(4 * yielding.gameDelay.p99);
  });
});

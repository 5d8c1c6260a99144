/** ClusterClock: RTT/2 correction, error bounds, and preferring tight samples without freezing on one. */
import { ClusterClock } from "@overworld/client";
import { describe, expect, it } from "vitest";

describe("ClusterClock", () => {
  it("is unknown (NaN) before any sample", () => {
    expect(new ClusterClock().at(1000)).toBeNaN();
  });

  it("adds half the round trip to the server's time and widens the bound by it", () => {
    const clock = new ClusterClock();
    // sent at local 1000, answered with server time 50_000, received at local 1040: rtt 40
    clock.sample(1000, 1040, 50_000, 3);
    expect(clock.current).toEqual({ offset: 50_000 + 20 - 1040, errorBound: 23, rtt: 40 });
    expect(clock.at(1100)).toBe(50_000 + 20 + 60);
  });

  it("keeps the tightest recent sample, and takes a looser one after a run of them", () => {
    const clock = new ClusterClock();
    clock.sample(0, 10, 1000); // bound 5
    clock.sample(100, 300, 2000); // bound 100: looser, ignored
    expect(clock.current!.errorBound).toBe(5);
    for (let i = 0; i < 8; i++) clock.sample(1000 + i * 100, 1200 + i * 100, 5000 + i * 100);
    expect(clock.current!.errorBound).toBe(100);
  });
});

import { describe, expect, it } from "vitest";
import { AddressRateLimiter } from "../../services/client-agent/src/rate-limit.ts";

describe("per-address rate limit", () => {
  it("allows a burst, then the refill rate, per address", () => {
    const limiter = new AddressRateLimiter(3, 10);
    expect([1, 2, 3, 4].map(() => limiter.allow("a", 0))).toEqual([true, true, true, false]);
    expect(limiter.allow("b", 0)).toBe(true);
    expect(limiter.allow("a", 50)).toBe(false);
    expect(limiter.allow("a", 100)).toBe(true);
    expect(limiter.dropped).toBe(2);
  });

  it("forgets the least recently seen address when full", () => {
    const limiter = new AddressRateLimiter(1, 1, 2);
    limiter.allow("a", 0);
    limiter.allow("b", 0);
    limiter.allow("c", 0);
    expect(limiter.size).toBe(2);
    expect(limiter.allow("a", 0)).toBe(true); // forgotten, so a fresh bucket
    expect(limiter.allow("c", 0)).toBe(false);
  });
});

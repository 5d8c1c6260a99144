import { describe, expect, it } from "vitest";
import { AddressRateLimiter } from "../../services/client-agent/src/rate-limit.ts";

const NO_SHARE = { burst: 0, perSecond: 0 };

describe("per-address rate limit", () => {
  it("allows a burst, then the refill rate, per address", () => {
    const limiter = new AddressRateLimiter({ burst: 3, perSecond: 10 }, NO_SHARE);
    expect([1, 2, 3, 4].map(() => limiter.allow("a", 0))).toEqual([true, true, true, false]);
    expect(limiter.allow("b", 0)).toBe(true);
    expect(limiter.allow("a", 50)).toBe(false);
    expect(limiter.allow("a", 100)).toBe(true);
    expect(limiter.dropped).toBe(2);
  });

  it("gives an address a share more for each session it holds", () => {
    const limiter = new AddressRateLimiter({ burst: 2, perSecond: 10 }, { burst: 3, perSecond: 100 });
    const taken = (sessions: number, now: number) => {
      let allowed = 0;
      while (limiter.allow("nat", now, sessions)) allowed += 1;
      return allowed;
    };
    expect(taken(2, 0)).toBe(2 + 2 * 3);
    expect(taken(2, 20)).toBe(4); // 0.02 s at 10 + 2 x 100 a second: 4.2 datagrams
    expect(taken(0, 1000)).toBe(2); // with no session left, back to the address's own burst
  });

  it("forgets the least recently seen address when full", () => {
    const limiter = new AddressRateLimiter({ burst: 1, perSecond: 1 }, NO_SHARE, 2);
    limiter.allow("a", 0);
    limiter.allow("b", 0);
    limiter.allow("c", 0);
    expect(limiter.size).toBe(2);
    expect(limiter.allow("a", 0)).toBe(true); // forgotten, so a fresh bucket
    expect(limiter.allow("c", 0)).toBe(false);
  });
});

/**
 * Uberdog's reply records on the real Redis: an answer (a value or an error) recorded by one uberdog is
 * read back by the next (a restart), under the cluster's prefix and with its TTL; the memory copy is
 * bounded (the oldest are forgotten there, and then come from Redis alone).
 */
import { connectRedis, type Redis } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  REPLIES_IN_MEMORY,
  REPLY_TTL_SECONDS,
  ReplyRecords,
} from "../../services/uberdog/src/reply-records.ts";
import { dropRedisKeys } from "../support/cleanup.ts";
import { REDIS_URL } from "../support/services.ts";

const PREFIX = `owtreplies${process.pid}${Date.now().toString(36)}:uberdog:`;
let redis: Redis;

beforeAll(async () => {
  redis = await connectRedis(REDIS_URL, "reply-records test");
});

afterAll(async () => {
  await redis?.quit();
  await dropRedisKeys(PREFIX);
});

describe("reply records", () => {
  it("keeps values and errors per caller and request id, in Redis with a TTL, for the next uberdog", async () => {
    const first = new ReplyRecords(redis, PREFIX);
    await first.put(7, 1, { value: Uint8Array.of(1, 2, 3) });
    await first.put(7, 2, { error: { code: "sold_out", message: "none left" } });
    expect(await first.get(8, 1)).toBeUndefined(); // another caller's request 1 is another request
    const restarted = new ReplyRecords(redis, PREFIX);
    expect(await restarted.get(7, 1)).toEqual({ value: Buffer.from([1, 2, 3]) });
    expect(await restarted.get(7, 2)).toEqual({ error: { code: "sold_out", message: "none left" } });
    const ttl = await redis.ttl(`${PREFIX}reply:7:1`);
    expect(ttl).toBeGreaterThan(REPLY_TTL_SECONDS - 10);
    expect(ttl).toBeLessThanOrEqual(REPLY_TTL_SECONDS);
  });

  it("keeps at most REPLIES_IN_MEMORY in memory: the oldest then come from Redis alone", async () => {
    const records = new ReplyRecords(redis, PREFIX);
    for (let requestId = 1; requestId <= REPLIES_IN_MEMORY + 1; requestId++) {
      await records.put(9, requestId, { value: Uint8Array.of(requestId & 0xff) });
    }
    await redis.del(`${PREFIX}reply:9:1`, `${PREFIX}reply:9:${REPLIES_IN_MEMORY + 1}`);
    expect(await records.get(9, 1)).toBeUndefined(); // forgotten in memory, gone from Redis
    expect(await records.get(9, REPLIES_IN_MEMORY + 1)).toEqual({
      value: Uint8Array.of((REPLIES_IN_MEMORY + 1) & 0xff),
    }); // the newest is still in memory
  });
});

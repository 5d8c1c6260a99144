/**
 * The cluster-wide session counts on the real Redis, as two agents keep them: the oldest sessions of an
 * account end and never the newest; an address at its limit is refused; and an agent that dies without
 * releasing its sessions (its lease runs out: here deleted, as Redis's expiry would) blocks nobody.
 */
import { connectRedis, createLogger, type Redis } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SessionLimits } from "../../services/client-agent/src/session-limits.ts";
import { dropRedisKeys } from "../support/cleanup.ts";
import { REDIS_URL } from "../support/services.ts";

const prefix = `owt:limits${process.pid}${Date.now().toString(36)}:ca:`;
const log = createLogger("test", "session-limits", "silent");
let redis: Redis;
const agents: SessionLimits[] = [];

async function agent(channel: number, perAccount: number, perAddress: number): Promise<SessionLimits> {
  const limits = new SessionLimits(redis, prefix, channel, { perAccount, perAddress }, log);
  await limits.start();
  agents.push(limits);
  return limits;
}

beforeAll(async () => {
  redis = await connectRedis(REDIS_URL, "session-limits test");
});

afterAll(async () => {
  for (const limits of agents) await limits.stop();
  redis?.disconnect();
  await dropRedisKeys(prefix);
});

describe("session limits in Redis", () => {
  it("ends the oldest sessions of an account over its limit, never the newest", async () => {
    const a = await agent(101, 2, 100);
    const b = await agent(102, 2, 100);
    expect(await a.admit({ client: 1, accountId: 7, address: "10.0.0.1" })).toEqual({
      admitted: true,
      ended: [],
    });
    expect(await b.admit({ client: 2, accountId: 7, address: "10.0.0.2" })).toEqual({
      admitted: true,
      ended: [],
    });
    expect(await b.admit({ client: 3, accountId: 7, address: "10.0.0.2" })).toEqual({
      admitted: true,
      ended: [1],
    });
    expect(await a.admit({ client: 4, accountId: 7, address: "10.0.0.1" })).toEqual({
      admitted: true,
      ended: [2],
    });
    b.release(2); // its agent ejected it: releasing it again changes nothing
    expect(await a.admit({ client: 5, accountId: 7, address: "10.0.0.1" })).toEqual({
      admitted: true,
      ended: [3],
    });
  });

  it("refuses an address at its limit until one of its sessions ends, or its agent dies", async () => {
    const a = await agent(201, 1, 2);
    const b = await agent(202, 1, 2);
    expect((await a.admit({ client: 11, accountId: 21, address: "10.0.1.1" })).admitted).toBe(true);
    expect((await b.admit({ client: 12, accountId: 22, address: "10.0.1.1" })).admitted).toBe(true);
    expect(await b.admit({ client: 13, accountId: 23, address: "10.0.1.1" })).toEqual({
      admitted: false,
      held: 2,
    });
    expect((await b.admit({ client: 14, accountId: 24, address: "10.0.1.2" })).admitted).toBe(true);

    b.release(12);
    expect((await a.admit({ client: 15, accountId: 25, address: "10.0.1.1" })).admitted).toBe(true);
    expect((await b.admit({ client: 16, accountId: 26, address: "10.0.1.1" })).admitted).toBe(false);

    // agent a dies holding 11 and 15: once its lease is gone they count no more
    await redis.del(`${prefix}agent:201`);
    expect((await b.admit({ client: 17, accountId: 27, address: "10.0.1.1" })).admitted).toBe(true);
  });
});

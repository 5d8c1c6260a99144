/**
 * The atomic claim of a dead participant's post-removes, raced on the real Redis: whatever the
 * interleaving, each batch is claimed once, and only by the lease holder. A heartbeat and a goodbye
 * racing the claim leave the participant either alive or claimed, never both.
 */
import { randomUUID } from "node:crypto";
import { connectRedis, type Redis } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LeaderLease } from "../../services/message-director/src/lease.ts";
import { type ParticipantInfo, Registry } from "../../services/message-director/src/registry.ts";
import { dropNamespace, namespace, REDIS_URL, SCHEMA_HASH, sleep, text, VERSION } from "./support.ts";

const ns = namespace("claims");
let redisA: Redis;
let redisB: Redis;
let a: Registry;
let b: Registry;

const info = (instanceId: string): ParticipantInfo => ({
  role: "zone-ai",
  instanceId,
  key: `U${"A".repeat(55)}`,
  version: VERSION,
  schemaHash: SCHEMA_HASH,
  joinedAt: Date.now(),
  director: "test",
});

/** A join proof never used before. */
const proof = () => ({ id: randomUUID(), ttlMs: 60_000 });

beforeAll(async () => {
  redisA = await connectRedis(REDIS_URL, "md-test-a");
  redisB = await connectRedis(REDIS_URL, "md-test-b");
  a = new Registry(redisA, ns.prefix);
  b = new Registry(redisB, ns.prefix);
});

afterAll(async () => {
  redisA?.disconnect();
  redisB?.disconnect();
  await dropNamespace(ns);
});

describe("claiming a dead participant", () => {
  it("claims each batch exactly once when two directors race, and never with a stale lease", async () => {
    const lease = await new LeaderLease(redisA, a.keys, "md-a", 5000).acquire(0);
    expect(lease.acquired).toBe(true);
    const value = lease.acquired ? lease.value : "";
    const channels = Array.from({ length: 50 }, (_, i) => 7000 + i);
    for (const channel of channels) {
      await a.join(channel, info(`race-${channel}`), 0, proof());
      await a.addPostRemoves(channel, [{ subject: "ow.x", payload: text(`pr-${channel}`) }], 10);
    }
    await sleep(5);
    const attempts = channels.flatMap((channel) => [
      a.claimDead(channel, value),
      b.claimDead(channel, value),
      b.claimDead(channel, "md-b#0"), // a replica that believes it leads, with a stale token
    ]);
    const claims = await Promise.all(attempts);
    const claimed = claims.filter((claim) => claim.status === "claimed");
    expect(claimed).toHaveLength(channels.length);
    expect(claims.filter((_, i) => i % 3 === 2).every((claim) => claim.status === "not-leader")).toBe(true);
    const payloads = claimed.flatMap((claim) =>
      claim.status === "claimed" ? claim.messages.map((m) => new TextDecoder().decode(m.payload)) : [],
    );
    expect(new Set(payloads)).toEqual(new Set(channels.map((channel) => `pr-${channel}`)));
    expect(await a.count()).toBe(0);
    await redisA.del(a.keys.lease);
  });

  it("does not claim a participant that heartbeats in time", async () => {
    const lease = await new LeaderLease(redisA, a.keys, "md-a", 5000).acquire(0);
    const value = lease.acquired ? lease.value : "";
    await a.join(8000, info("alive"), 1000, proof());
    expect(await a.due(10)).not.toContain(8000);
    expect((await a.claimDead(8000, value)).status).toBe("not-due");
    expect(await b.heartbeat(8000, 1000)).toBe(true);
    expect(await a.goodbye(8000)).toMatchObject({ instanceId: "alive" });
    expect(await b.heartbeat(8000, 1000)).toBe(false);
    expect((await a.claimDead(8000, value)).status).toBe("not-due");
    await redisA.del(a.keys.lease);
  });
});

/**
 * Zone leases against the real Redis: one running owner per zone at any instant, fencing tokens that
 * only grow, and a replica frozen past its lease that, on waking, is refused and finds its token stale.
 * "Replicas" are in-process instances, each with its own Redis connection, so that one synchronous
 * sample of every replica's `holds()` sees one instant.
 */
import { connectRedis, type Redis } from "@overworld/service";
import { afterAll, describe, expect, it } from "vitest";
import {
  type LostReason,
  type ZoneLeaseOptions,
  ZoneLeases,
} from "../../services/zone-ai/src/zone-leases.ts";
import { dropNamespace, namespace, REDIS_URL, sleep, waitFor } from "./support.ts";

const ns = namespace("leases");
const connections: Redis[] = [];

interface Replica {
  name: string;
  leases: ZoneLeases;
  lost: { zone: string; reason: LostReason }[];
}

/** Short leases, so the tests take seconds: TTL 300 ms, deadline 80 ms before it, renewal every 50 ms. */
async function replica(name: string, options: Partial<ZoneLeaseOptions> = {}): Promise<Replica> {
  const redis = await connectRedis(REDIS_URL, `zone-ai-test-${name}`);
  connections.push(redis);
  const lost: Replica["lost"] = [];
  const leases = new ZoneLeases(redis, {
    prefix: ns.prefix,
    owner: name,
    ttlMs: 300,
    marginMs: 80,
    renewEveryMs: 50,
    onLost: (zone, reason) => lost.push({ zone, reason }),
    ...options,
  });
  return { name, leases, lost };
}

afterAll(async () => {
  for (const redis of connections) redis.disconnect();
  await dropNamespace(ns);
});

describe("zone leases", () => {
  it("give a zone to one replica at a time, with a token that grows at every acquisition", async () => {
    const [a, b] = await Promise.all([replica("basic-a"), replica("basic-b")]);
    const zone = "basic.1";
    const first = await a.leases.acquire(zone);
    expect(first).toEqual({ acquired: true, token: 1 });
    expect(a.leases.holds(zone)).toBe(true);
    expect(await a.leases.acquire(zone)).toEqual(first); // already ours: the same token

    const refused = await b.leases.acquire(zone);
    expect(refused).toMatchObject({ acquired: false, holder: "basic-a", token: 1 });
    expect(refused.acquired === false && refused.expiresInMs).toBeGreaterThan(0);
    expect(refused.acquired === false && refused.expiresInMs).toBeLessThanOrEqual(300);
    expect(b.leases.holds(zone)).toBe(false);

    expect(await a.leases.release(zone)).toBe(true);
    expect(a.leases.holds(zone)).toBe(false);
    expect(await b.leases.acquire(zone)).toEqual({ acquired: true, token: 2 });
    expect(await b.leases.holder(zone)).toMatchObject({ owner: "basic-b", token: 2 });
    expect(await a.leases.release(zone)).toBe(false); // not ours
    expect(await b.leases.holder(zone)).toMatchObject({ owner: "basic-b" });
    await b.leases.release(zone);
    expect(await a.leases.acquire(zone)).toEqual({ acquired: true, token: 3 });
    expect(await a.leases.currentToken(zone)).toBe(3);
    await a.leases.close();
    expect(await b.leases.holder(zone)).toBeUndefined();
  });

  it("keep a renewed lease well past its TTL, and free an unrenewed one only after it", async () => {
    const [a, b] = await Promise.all([replica("ttl-a"), replica("ttl-b")]);
    const zone = "ttl.1";
    a.leases.start();
    await a.leases.acquire(zone);
    await sleep(900); // three TTLs
    expect(a.leases.holds(zone)).toBe(true);
    expect((await b.leases.acquire(zone)).acquired).toBe(false);

    a.leases.stop(); // as if frozen
    const frozenAt = performance.now();
    await waitFor("the local deadline", () => !a.leases.holds(zone), 1000);
    expect(performance.now() - frozenAt).toBeLessThan(300 - 80 + 10);
    await waitFor("b to take the zone", async () => (await b.leases.acquire(zone)).acquired, 1000);
    expect(performance.now() - frozenAt).toBeGreaterThan(300 - 50 - 5); // at most one renewal period late
    expect(a.lost).toEqual([]);
    await b.leases.close();
  });

  it("let a replica paused past its deadline, but not its TTL, resume with the same token", async () => {
    const a = await replica("resume-a", { ttlMs: 600, marginMs: 250, renewEveryMs: 100 });
    const zone = "resume.1";
    const { token } = (await a.leases.acquire(zone)) as { token: number };
    await sleep(450); // past the local deadline (350 ms), within the TTL (600 ms)
    expect(a.leases.holds(zone)).toBe(false);
    expect(await a.leases.renew(zone)).toBe(true);
    expect(a.leases.holds(zone)).toBe(true);
    expect(a.leases.token(zone)).toBe(token);
    expect(a.lost).toEqual([]);
    await a.leases.close();
  });

  it("report a lease as expired when Redis cannot be reached past the deadline", async () => {
    const a = await replica("down-a");
    const zone = "down.1";
    await a.leases.acquire(zone);
    connections.at(-1)!.disconnect(); // Redis gone for this replica
    a.leases.start();
    await waitFor("the expiry", () => a.lost.length > 0, 2000);
    expect(a.lost).toEqual([{ zone, reason: "expired" }]);
    expect(a.leases.holds(zone)).toBe(false);
    a.leases.stop();
  });

  it("refuse timings that would lose a healthy lease, naming the option", () => {
    const redis = connections[0]!;
    const make = (options: Partial<ZoneLeaseOptions>) => () =>
      new ZoneLeases(redis, { prefix: ns.prefix, owner: "x", ...options });
    expect(make({ ttlMs: 300, marginMs: 300 })).toThrow(
      /marginMs \(300\) must be at least 0 and less than ttlMs/,
    );
    expect(make({ ttlMs: 300, marginMs: 100, renewEveryMs: 150 })).toThrow(
      /renewEveryMs \(150\) must be positive and at most half of ttlMs - marginMs \(200\)/,
    );
    expect(make({ owner: "" })).toThrow(/owner must name this replica/);
    expect(make({}).call(null).renewEveryMs).toBe(300); // a fifth of the default 1500 ms TTL
  });

  it("never have two replicas running a zone, through contention, releases and a frozen replica", async () => {
    const names = ["race-a", "race-b", "race-c"];
    const replicas = await Promise.all(names.map((name) => replica(name)));
    const zones = Array.from({ length: 6 }, (_, i) => `race.${i}`);
    const [a, b, frozen] = replicas as [Replica, Replica, Replica];
    for (const { leases } of replicas) leases.start();

    // The sampler: one synchronous look at every replica is one instant.
    let samples = 0;
    const violations: string[] = [];
    const lastOwner = new Map<string, string>();
    let handovers = 0;
    const sample = () => {
      samples += 1;
      for (const zone of zones) {
        const owners = replicas.filter(({ leases }) => leases.holds(zone)).map(({ name }) => name);
        if (owners.length > 1) violations.push(`${zone}: ${owners.join(" and ")}`);
        if (owners.length === 1 && lastOwner.get(zone) !== owners[0]) {
          if (lastOwner.has(zone)) handovers += 1;
          lastOwner.set(zone, owners[0]!);
        }
      }
    };
    const sampler = setInterval(sample, 1);

    // Each replica grabs and drops zones at random, with random pauses; the frozen one can be paused.
    let running = true;
    let frozenIsPaused = false;
    let frozenIsIdle = false;
    const act = async ({ leases, name }: Replica, canPause: () => boolean) => {
      while (running) {
        if (canPause()) {
          if (name === frozen.name) frozenIsIdle = true;
          await sleep(5);
          continue;
        }
        const zone = zones[Math.floor(Math.random() * zones.length)]!;
        if (leases.holds(zone) && Math.random() < 0.3) await leases.release(zone);
        else await leases.acquire(zone);
        sample();
        await sleep(Math.random() * 30);
      }
    };
    const actors = [act(a, () => false), act(b, () => false), act(frozen, () => frozenIsPaused)];

    await sleep(1000);
    // Freeze the third replica while it holds at least one zone: no more renewals, no more actions.
    await waitFor("the third replica to hold a zone", () => frozen.leases.zones().length > 0, 3000);
    frozenIsPaused = true;
    await waitFor("the third replica's last action to end", () => frozenIsIdle, 1000);
    frozen.leases.stop();
    const frozenLeases = frozen.leases.zones().map((zone) => ({ zone, token: frozen.leases.token(zone)! }));
    // The others take its zones over once its leases expire in Redis.
    await waitFor(
      "the frozen replica's zones to be taken over",
      async () => {
        for (const { zone } of frozenLeases) {
          const holder = await a.leases.holder(zone);
          if (!holder || holder.owner === frozen.name) return false;
        }
        return true;
      },
      3000,
    );
    for (const { zone } of frozenLeases) expect(frozen.leases.holds(zone)).toBe(false);
    // It wakes: its first renewal round is refused for every zone, and its tokens are stale.
    frozen.leases.start();
    await waitFor("the refusals", () => frozen.lost.length >= frozenLeases.length, 1000);
    expect(frozen.lost).toEqual(frozenLeases.map(({ zone }) => ({ zone, reason: "refused" })));
    for (const { zone, token } of frozenLeases) {
      expect(await frozen.leases.currentToken(zone)).toBeGreaterThan(token);
    }
    frozenIsPaused = false;
    await sleep(1000);

    running = false;
    await Promise.all(actors);
    clearInterval(sampler);
    for (const { leases } of replicas) await leases.close();
    expect(violations).toEqual([]);
    expect(samples).toBeGreaterThan(1000);
    expect(handovers).toBeGreaterThan(5); // the zones really changed hands, several times (fewer on a loaded machine)
  });
});

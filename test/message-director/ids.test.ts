/**
 * Ids never repeat: across restarts of the director, a FLUSHALL and a kill -9 of Redis (a private
 * redis-server that keeps nothing on disk, so the shared one is left alone), and between allocators
 * racing on the same Postgres counters.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { connect } from "node:net";
import {
  connectPostgres,
  connectRedis,
  createLogger,
  type NatsConnection,
  type Participant,
} from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDirectorConfig } from "../../services/message-director/src/config.ts";
import { type MessageDirector, startMessageDirector } from "../../services/message-director/src/director.ts";
import { IdAllocator } from "../../services/message-director/src/ids.ts";
import { DATABASE_URL, dropNamespace, freePort, joinParticipant, namespace, waitFor } from "./support.ts";

const log = createLogger("message-director", "test", "silent");
let redisPort: number;
let redisUrl: string;
let redisServer: ChildProcess | undefined;
const ns = namespace("ids", {
  FIRST_DOID: "5000",
  LAST_DOID: "1000000",
  CHANNEL_BLOCK: "3",
});
const connections: NatsConnection[] = [];
let director: MessageDirector | undefined;

async function startRedis(): Promise<void> {
  redisServer = spawn("redis-server", ["--port", String(redisPort), "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  await waitFor("the private redis-server", () => answersPing(redisPort));
}

/** A raw PING, so that probing a server still starting leaves no client error behind. */
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    socket.once("data", (data) => {
      socket.destroy();
      resolve(data.toString().startsWith("+PONG"));
    });
    socket.once("error", () => resolve(false));
    socket.once("connect", () => socket.write("PING\r\n"));
  });
}

async function killRedis(): Promise<void> {
  if (!redisServer || redisServer.exitCode !== null) return;
  const exited = once(redisServer, "exit");
  redisServer.kill("SIGKILL");
  await exited;
}

async function startDirector(): Promise<MessageDirector> {
  director = await startMessageDirector(loadDirectorConfig({ ...ns.env, REDIS_URL: redisUrl }), { log });
  return director;
}

async function join(instanceId: string, onRejoin?: () => void): Promise<Participant> {
  const participant = await joinParticipant(ns, {
    role: "uberdog",
    instanceId,
    doIdBlock: 10,
    ...(onRejoin ? { onRejoin } : {}),
  });
  connections.push(participant.nc);
  return participant;
}

/** Takes doIds and channels every way the client offers, checking none was seen before. */
async function takeIds(participant: Participant, seen: { doIds: Set<number>; channels: Set<number> }) {
  const add = (set: Set<number>, id: number, kind: string) => {
    if (set.has(id)) throw new Error(`${kind} ${id} handed out twice`);
    set.add(id);
  };
  add(seen.channels, participant.channel, "channel");
  for (let i = 0; i < 25; i++) add(seen.doIds, await participant.nextDoId(), "doId");
  const range = await participant.allocateIds("doId", 7);
  for (let id = range.first; id < range.first + range.count; id++) add(seen.doIds, id, "doId");
  for (let i = 0; i < 5; i++) add(seen.channels, await participant.nextChannel(), "channel");
}

beforeAll(async () => {
  redisPort = await freePort();
  redisUrl = `redis://127.0.0.1:${redisPort}`;
  await startRedis();
});

afterAll(async () => {
  for (const connection of connections) await connection.close().catch(() => {});
  await director?.stop();
  await dropNamespace(ns, redisUrl).catch(() => {});
  await killRedis();
});

describe("id allocation", () => {
  it("never hands out an id twice across director restarts, a FLUSHALL and a Redis restart", async () => {
    const seen = { doIds: new Set<number>(), channels: new Set<number>() };

    await startDirector();
    const first = await join("ud-1");
    await takeIds(first, seen);
    await director!.stop();

    // A new director process-equivalent: fresh memory, same Redis and Postgres.
    await startDirector();
    let told = false;
    const second = await join("ud-2", () => {
      told = true;
    });
    await takeIds(second, seen);

    // Redis forgets everything; the participant learns it is no longer registered.
    const admin = await connectRedis(redisUrl, "md-test-admin");
    await admin.flushall();
    admin.disconnect();
    await waitFor("the participant to learn it was forgotten", () => told, 3000);
    const third = await join("ud-3");
    await takeIds(third, seen);

    // Redis itself dies and comes back empty; the director reconnects.
    await killRedis();
    await startRedis();
    const fourth = await waitForJoin("ud-4");
    await takeIds(fourth, seen);
    await director!.stop();
    director = undefined;

    await startDirector();
    await takeIds(await join("ud-5"), seen);

    expect(seen.doIds.size).toBe(5 * 32);
    expect(Math.min(...seen.doIds)).toBeGreaterThanOrEqual(5000);
    expect(seen.channels.size).toBe(5 * 6);
  });

  it("refuses a range that does not fit, naming the variable", async () => {
    const participant = await join("ud-big");
    await expect(participant.allocateIds("doId", 1_000_000)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringMatching(/range ends at 1000000 \(LAST_DOID\)/),
    });
    await participant.leave();
  });

  it("gives disjoint ranges to allocators racing on the same counters", async () => {
    const pools = await Promise.all([
      connectPostgres(DATABASE_URL, "md-test-a", 4),
      connectPostgres(DATABASE_URL, "md-test-b", 4),
    ]);
    try {
      const ranges = { doId: { first: 5000, last: 1_000_000 }, channel: { first: 1, last: 1_000_000 } };
      const allocators = pools.map((pool) => new IdAllocator(pool, ns.schema, ranges));
      await Promise.all(allocators.map((allocator) => allocator.migrate()));
      const taken = await Promise.all(
        Array.from({ length: 200 }, (_, i) => allocators[i % 2]!.allocate("doId", 1 + (i % 5))),
      );
      const ids = taken.flatMap((range) => Array.from({ length: range.count }, (_, k) => range.first + k));
      expect(new Set(ids).size).toBe(ids.length);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});

/** Right after Redis comes back the director's connection may still be reconnecting. */
async function waitForJoin(instanceId: string): Promise<Participant> {
  let joined: Participant | undefined;
  await waitFor(
    "a join after the Redis restart",
    async () => {
      joined = await join(instanceId).catch(() => undefined);
      return joined !== undefined;
    },
    5000,
  );
  return joined!;
}

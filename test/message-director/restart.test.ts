/**
 * The director as a process that dies: kill -9 while participants are registered, a participant dying
 * while no director runs, and a restart; a firing cut short by a crash; /healthz, /metrics and a
 * graceful SIGTERM.
 */
import { connectRedis, createLogger, type NatsConnection } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDirectorConfig } from "../../services/message-director/src/config.ts";
import { type MessageDirector, startMessageDirector } from "../../services/message-director/src/director.ts";
import { Registry } from "../../services/message-director/src/registry.ts";
import { connectOperator } from "../support/nats.ts";
import {
  countOn,
  type DirectorProcess,
  decode,
  dropNamespace,
  joinParticipant,
  namespace,
  REDIS_URL,
  SCHEMA_HASH,
  sleep,
  startDirectorProcess,
  text,
  VERSION,
  waitFor,
} from "./support.ts";

const ns = namespace("restart");
let nc: NatsConnection;
const connections: NatsConnection[] = [];
const directors: DirectorProcess[] = [];

beforeAll(async () => {
  nc = await connectOperator("md-test");
});

afterAll(async () => {
  for (const director of directors) await director.kill9();
  for (const connection of connections) await connection.close().catch(() => {});
  await nc?.close();
  await dropNamespace(ns);
});

describe("a director killed with -9 and restarted", () => {
  it("fires the post-removes of a participant that died while it was down, once, and spares the living", async () => {
    const first = await startDirectorProcess(ns.env, "md-restart-1");
    directors.push(first);
    const doomed = await joinParticipant(ns, { role: "client-agent", instanceId: "ca-doomed" });
    const doomedConnection = doomed.nc;
    const survivor = await joinParticipant(ns, { role: "zone-ai", instanceId: "ai-survivor" });
    connections.push(doomed.nc, survivor.nc);
    // what each may publish: an account channel (client agent), a participant channel (zone AI)
    const doomedSubject = `${ns.root}.a.91000004`;
    const survivorSubject = `${ns.root}.c.91000005`;
    const doomedFired = countOn(nc, doomedSubject);
    const survivorFired = countOn(nc, survivorSubject);
    await doomed.addPostRemoves([
      { subject: doomedSubject, payload: text("delete avatar") },
      { subject: doomedSubject, payload: text("delete inventory") },
    ]);
    await survivor.addPostRemove(survivorSubject, text("delete zone objects"));

    await first.kill9();
    await doomedConnection.close(); // dies while no director runs
    await sleep(1000); // longer than the deadline: nobody is receiving heartbeats

    const second = await startDirectorProcess(ns.env, "md-restart-2");
    directors.push(second);
    await waitFor("the doomed participant's post-removes", () => doomedFired.count === 2, 3000);
    await sleep(1500); // and nothing more, for either of them
    expect(doomedFired.received.map(({ data }) => decode(data))).toEqual([
      "delete avatar",
      "delete inventory",
    ]);
    expect(survivorFired.count).toBe(0);
    expect(survivor.alive).toBe(true);

    const health = await second.healthz();
    expect(health.status).toBe(200);
    expect(health.body).toMatchObject({
      ok: true,
      role: "leader",
      checks: { nats: true, redis: true, postgres: true, leader: true },
    });
    const metrics = await second.metrics();
    expect(metrics).toMatch(/^ow_md_deaths_total\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^ow_md_post_removes_fired_total\{[^}]*\} 2$/m);
    expect(metrics).toMatch(/^ow_md_participants\{[^}]*\} 1$/m);
    expect(metrics).toMatch(/^ow_md_leader\{[^}]*\} 1$/m);

    await survivor.leave();
    await sleep(700);
    expect(survivorFired.count).toBe(0);

    expect(await second.terminate()).toBe(0);
    expect(second.logs.map((entry) => entry.msg)).toContain("leader lease released");
    expect(second.logs.map((entry) => entry.msg)).toContain("message director stopped");
    doomedFired.stop();
    survivorFired.stop();
  });

  it("refuses to start on a bad variable, naming it", async () => {
    await expect(startDirectorProcess({ ...ns.env, DEAD_AFTER_MS: "soon" }, "md-bad")).rejects.toThrow(
      /exited with 2 .*DEAD_AFTER_MS: .*\(got "soon"\)/s,
    );
  });
});

describe("a firing cut short by a crash", () => {
  const space = namespace("firing");
  let director: MessageDirector | undefined;

  afterAll(async () => {
    await director?.stop();
    await dropNamespace(space);
  });

  it("is resumed by the next leader, so no post-remove is lost", async () => {
    // A director that took the lease, claimed a dead participant's post-removes and died before
    // publishing them: exactly the state it leaves in Redis.
    const redis = await connectRedis(REDIS_URL, "md-test");
    const registry = new Registry(redis, space.prefix);
    const crashedLease = "md-crashed#1";
    await redis.set(registry.keys.lease, crashedLease, "PX", 400);
    const subject = `${space.root}.c.91000006`;
    await registry.join(
      4242,
      {
        role: "zone-ai",
        instanceId: "ai-x",
        key: `U${"A".repeat(55)}`,
        version: VERSION,
        schemaHash: SCHEMA_HASH,
        joinedAt: 0,
        director: "md-crashed",
      },
      0,
      { id: "resumed-proof", ttlMs: 60_000 },
    );
    await registry.addPostRemoves(4242, [{ subject, payload: text("resume me") }], 10);
    await sleep(5);
    const claim = await registry.claimDead(4242, crashedLease);
    expect(claim.status).toBe("claimed");
    redis.disconnect();

    const fired = countOn(nc, subject);
    await nc.flush();
    director = await startMessageDirector(loadDirectorConfig(space.env), {
      log: createLogger("message-director", "test", "silent"),
    });
    await waitFor("the resumed firing", () => fired.count === 1, 3000);
    await sleep(800);
    expect(fired.count).toBe(1);
    fired.stop();
  });
});

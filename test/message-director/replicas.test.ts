/**
 * Two director replicas as processes: both serve requests, exactly one (the lease holder) fires a dead
 * participant's post-removes, and when the leader is killed with -9 the other takes over within 3 s
 * (with the default lease) without declaring the living dead.
 */
import type { NatsConnection, Participant } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectOperator } from "../support/nats.ts";
import {
  countOn,
  type DirectorProcess,
  dropNamespace,
  joinParticipant,
  namespace,
  sleep,
  startDirectorProcess,
  text,
  waitFor,
} from "./support.ts";

// Fast heartbeats, but the default lease (1500 ms): the takeover bound is the production one.
const ns = namespace("replicas", { LEASE_MS: "" });
let nc: NatsConnection;
const connections: NatsConnection[] = [];
const directors: DirectorProcess[] = [];

async function join(instanceId: string): Promise<{ participant: Participant; die: () => Promise<void> }> {
  const participant = await joinParticipant(ns, { role: "state-server", instanceId });
  connections.push(participant.nc);
  return { participant, die: () => participant.nc.close() };
}

const deathsOf = async (director: DirectorProcess) =>
  Number(/^ow_md_deaths_total\{[^}]*\} (\d+)$/m.exec(await director.metrics())?.[1] ?? "NaN");

beforeAll(async () => {
  nc = await connectOperator("md-test");
});

afterAll(async () => {
  for (const director of directors) await director.kill9();
  for (const connection of connections) await connection.close().catch(() => {});
  await nc?.close();
  await dropNamespace(ns);
});

describe("two director replicas", () => {
  it("fire a death's post-removes exactly once, and the follower takes over within 3 s of a kill -9", async () => {
    const [a, b] = await Promise.all([
      startDirectorProcess(ns.env, "md-replica-a"),
      startDirectorProcess(ns.env, "md-replica-b"),
    ]);
    directors.push(a, b);
    const roles = async () => [(await a.healthz()).body.role, (await b.healthz()).body.role];
    await waitFor("one leader", async () => (await roles()).filter((role) => role === "leader").length === 1);
    const [leader, follower] = (await roles())[0] === "leader" ? [a, b] : [b, a];
    expect((await follower.healthz()).body).toMatchObject({ ok: true, role: "follower" });

    // Exactly one of them fires.
    const first = await join("ss-1");
    const keeper = await join("ss-2");
    const firstSubject = `${ns.root}.c.91000002`;
    const keeperSubject = `${ns.root}.c.91000003`;
    const firstFired = countOn(nc, firstSubject);
    const keeperFired = countOn(nc, keeperSubject);
    // Many requests, so both replicas (one queue group) serve some of them.
    for (let i = 0; i < 20; i++) await first.participant.addPostRemove(firstSubject, text(`m${i}`));
    await keeper.participant.addPostRemove(keeperSubject, text("keeper"));
    await first.die();
    await waitFor("the first participant's post-removes", () => firstFired.count === 20, 3000);
    await sleep(1000);
    expect(firstFired.count).toBe(20);
    expect([await deathsOf(leader), await deathsOf(follower)]).toEqual([1, 0]);

    // The leader dies; the follower leads within 3 s.
    await leader.kill9();
    const killedAt = Date.now();
    await waitFor(
      "the follower to take the lease",
      async () => (await follower.healthz()).body.role === "leader",
      3000,
    );
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).toBeLessThan(3000);

    // The living were not declared dead meanwhile; the new leader handles the next death, once.
    expect(keeper.participant.alive).toBe(true);
    expect(keeperFired.count).toBe(0);
    await keeper.die();
    await waitFor("the keeper's post-remove", () => keeperFired.count === 1, 3000);
    await sleep(800);
    expect(keeperFired.count).toBe(1);
    expect(firstFired.count).toBe(20);
    firstFired.stop();
    keeperFired.stop();
  });
});

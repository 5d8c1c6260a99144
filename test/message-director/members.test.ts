/**
 * The director's `members` operation, through the participant handle: the live participants of a role,
 * which zone-AI replicas use to find each other. Someone who leaves or dies is no longer listed.
 */
import { decodeEnvelope, encodeEnvelope, subjects } from "@overworld/protocol";
import type { JoinOptions, NatsConnection, Participant } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  countOn,
  type DirectorInProcess,
  namespace,
  startDirectorInProcess,
  text,
  waitFor,
} from "./support.ts";

const ns = namespace("members");
let md: DirectorInProcess;
let nc: NatsConnection;

const join = (instanceId: string, options: Partial<JoinOptions> = {}) => md.join({ instanceId, ...options });

const instancesOf = async (participant: Participant, role: JoinOptions["role"] = "zone-ai") =>
  (await participant.members(role)).map((member) => member.instanceId);

beforeAll(async () => {
  md = await startDirectorInProcess(ns);
  ({ nc } = md);
});

afterAll(async () => {
  await md?.stop();
});

describe("members", () => {
  it("lists the live participants of one role, by channel, with when they joined", async () => {
    const before = Date.now();
    const a = await join("ai-a");
    const b = await join("ai-b");
    const server = await join("ss-1", { role: "state-server" });
    const members = await a.participant.members("zone-ai");
    expect(members).toEqual([
      { channel: a.participant.channel, role: "zone-ai", instanceId: "ai-a", joinedAt: expect.any(Number) },
      { channel: b.participant.channel, role: "zone-ai", instanceId: "ai-b", joinedAt: expect.any(Number) },
    ]);
    expect(members[0]!.joinedAt).toBeGreaterThanOrEqual(before);
    expect(await instancesOf(server.participant, "state-server")).toEqual(["ss-1"]);
    expect(await instancesOf(server.participant, "uberdog")).toEqual([]);
    for (const { participant } of [a, b, server]) await participant.leave();
  });

  it("drops one that says goodbye at once, and one that dies once the director declares it dead", async () => {
    const watcher = await join("ai-watcher");
    const leaving = await join("ai-leaving");
    const dying = await join("ai-dying");
    const deathSubject = `${ns.root}.c.91000001`;
    const fired = countOn(nc, deathSubject);
    await dying.participant.addPostRemove(deathSubject, text("dead"));
    expect(await instancesOf(watcher.participant)).toEqual(["ai-watcher", "ai-leaving", "ai-dying"]);

    await leaving.participant.leave();
    expect(await instancesOf(watcher.participant)).toEqual(["ai-watcher", "ai-dying"]);

    await dying.die();
    // Silent for less than its deadline (500 ms here) is not dead: it is still listed...
    expect(await instancesOf(watcher.participant)).toEqual(["ai-watcher", "ai-dying"]);
    // ...until the director declares it dead (its post-remove fires), and from then on it is gone.
    await waitFor("the death's post-remove", () => fired.count === 1, 3000);
    expect(await instancesOf(watcher.participant)).toEqual(["ai-watcher"]);
    fired.stop();
    await watcher.participant.leave();
  });

  it("lists a restarted instance once, under its new channel", async () => {
    const watcher = await join("ai-watcher-2");
    const first = await join("ai-restarting");
    await first.die(); // a process killed; the restarted one joins once the old is declared dead
    const second = await join("ai-restarting");
    const members = await watcher.participant.members("zone-ai");
    expect(members.filter((member) => member.instanceId === "ai-restarting")).toEqual([
      expect.objectContaining({ channel: second.participant.channel }),
    ]);
    expect(first.participant.channel).not.toBe(second.participant.channel);
    await second.participant.leave();
    await watcher.participant.leave();
  });

  it("refuses a sender that is not a live participant, and a role that does not exist", async () => {
    const subject = subjects(ns.root).service("md", "members", { role: "zone-ai", channel: 12345 });
    const ask = async (body: unknown) =>
      decodeEnvelope((await nc.request(subject, encodeEnvelope(body), { timeout: 2000 })).data);
    expect(await ask({ role: "zone-ai" })).toMatchObject({
      ok: false,
      error: { code: "not_found", message: expect.stringMatching(/channel 12345 is not a live participant/) },
    });
    expect(await ask({ role: "wizard" })).toMatchObject({
      ok: false,
      error: { code: "malformed", message: expect.stringMatching(/^role: /) },
    });
  });
});

/**
 * The message director in-process, against the real NATS, Redis and Postgres: joining, heartbeats and
 * deaths, post-removes (the cases of Astron's own message-director suite, and ours), malformed control
 * messages, id allocation through the participant client, and the event log.
 */
import { createUser } from "@nats-io/nkeys";
import {
  decodeEnvelope,
  formatHash,
  type Identity,
  legacyHash,
  loadDcFiles,
  messages,
  subjects,
} from "@overworld/protocol";
import {
  ConfigError,
  createLogger,
  type JoinOptions,
  type NatsConnection,
  readEvents,
  request,
} from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDirectorConfig } from "../../services/message-director/src/config.ts";
import { type MessageDirector, startMessageDirector } from "../../services/message-director/src/director.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import {
  countOn,
  type DirectorInProcess,
  decode,
  dropNamespace,
  joinParticipant,
  type Namespace,
  namespace,
  SCHEMA_HASH,
  sleep,
  startDirectorInProcess,
  text,
  VERSION,
  waitFor,
} from "./support.ts";

/** The subject of a director operation sent by `from`, under this file's root. */
const mdSubject = (operation: messages.DirectorOp, from: Identity) =>
  subjects(ns.root).service("md", operation, from);
const zoneAi = (channel: number): Identity => ({ role: "zone-ai", channel });

/** A participant channel's subject nobody listens to but the test: zone AI may publish there. */
let spare = 90_000_000;
const channelSubject = (space: Namespace = ns) => subjects(space.root).participant(++spare);

const log = createLogger("message-director", "test", "silent");
const ns = namespace("dir");
let md: DirectorInProcess;
let nc: NatsConnection;
let instance = 0;

/** A zone-AI replica of `space` (numbered), over a NATS connection of its own. */
const join = (space: Namespace = ns, options: Partial<JoinOptions> = {}) =>
  md.join({ instanceId: `ai-${++instance}`, root: space.root, ...options });

beforeAll(async () => {
  md = await startDirectorInProcess(ns);
  ({ nc } = md);
});

afterAll(async () => {
  await md?.stop();
});

describe("configuration", () => {
  it("hashes DC_FILES as the legacy hash of the files loaded in order", () => {
    const config = loadDirectorConfig({
      CLUSTER_VERSION: "1",
      DC_FILES: `${DC_FIXTURES.otp},${DC_FIXTURES.toon}`,
    });
    expect(config.schemaHash).toBe(legacyHash(loadDcFiles([DC_FIXTURES.otp, DC_FIXTURES.toon])));
  });

  it("takes SCHEMA_HASH in hex or decimal", () => {
    expect(loadDirectorConfig({ CLUSTER_VERSION: "1", SCHEMA_HASH: "0x0b77baf2" }).schemaHash).toBe(
      0x0b77baf2,
    );
    expect(loadDirectorConfig({ CLUSTER_VERSION: "1", SCHEMA_HASH: "12345" }).schemaHash).toBe(12345);
  });

  it("names every bad variable", () => {
    const load = (env: Record<string, string>) => () => loadDirectorConfig(env);
    expect(load({})).toThrow(/CLUSTER_VERSION: /);
    expect(load({ CLUSTER_VERSION: "1" })).toThrow(/DC_FILES: set DC_FILES .* or SCHEMA_HASH/);
    expect(load({ CLUSTER_VERSION: "1", SCHEMA_HASH: "0xzz" })).toThrow(/SCHEMA_HASH: .*\(got "0xzz"\)/);
    expect(
      load({ CLUSTER_VERSION: "1", SCHEMA_HASH: "1", HEARTBEAT_MS: "500", DEAD_AFTER_MS: "900" }),
    ).toThrow(/DEAD_AFTER_MS: must be more than twice HEARTBEAT_MS/);
    expect(load({ CLUSTER_VERSION: "1", DC_FILES: "/nowhere/game.dc" })).toThrow(/DC_FILES: cannot load/);
    expect(load({ CLUSTER_VERSION: "1", DC_FILES: DC_FIXTURES.astronTest, SCHEMA_HASH: "0x1" })).toThrow(
      /SCHEMA_HASH: 0x00000001 does not match 0x[0-9a-f]{8}, the hash of DC_FILES/,
    );
    expect(load({ CLUSTER_VERSION: "1", SCHEMA_HASH: "1", FIRST_DOID: "10", LAST_DOID: "5" })).toThrow(
      ConfigError,
    );
  });
});

describe("joining", () => {
  it("accepts a participant with the cluster's version and schema hash, on a channel of its own", async () => {
    const a = await join();
    const b = await join();
    expect(a.participant.channel).toBeGreaterThanOrEqual(1_000_000);
    expect(b.participant.channel).not.toBe(a.participant.channel);
    expect(a.participant.heartbeatMs).toBe(100);
    expect(a.participant.deadAfterMs).toBe(500);
    await a.participant.leave();
    await b.participant.leave();
  });

  it("refuses another version, naming both", async () => {
    await expect(join(ns, { version: "1.2.4" })).rejects.toMatchObject({
      name: "ConfigError",
      code: "mismatch",
      message: expect.stringMatching(/version 1\.2\.4 does not match the cluster's 1\.2\.3/),
    });
  });

  it("refuses another schema hash, naming both in hex", async () => {
    await expect(join(ns, { schemaHash: 0x1234abcd })).rejects.toMatchObject({
      name: "ConfigError",
      code: "mismatch",
      message: expect.stringMatching(
        new RegExp(`schema hash 0x1234abcd does not match the cluster's ${formatHash(SCHEMA_HASH)}: rebuild`),
      ),
    });
  });
});

describe("heartbeats and deaths", () => {
  it("keeps a heartbeating participant alive well past its deadline", async () => {
    const { participant } = await join();
    const subject = channelSubject();
    const fired = countOn(nc, subject);
    await participant.addPostRemove(subject, text("should not fire"));
    await sleep(4 * participant.deadAfterMs);
    expect(participant.alive).toBe(true);
    expect(fired.count).toBe(0);
    await participant.leave();
    fired.stop();
  });

  it("declares a silent participant dead within 3 s and fires its post-removes exactly once, in order", async () => {
    const { participant, die } = await join();
    const subject = channelSubject();
    const fired = countOn(nc, subject);
    await participant.addPostRemove(subject, text("first"));
    await participant.addPostRemoves([
      { subject, payload: text("second") },
      { subject, payload: text("third") },
    ]);
    await die();
    const silentSince = Date.now();
    await waitFor("the post-removes", () => fired.count === 3, 3000);
    expect(fired.received[0]!.at - silentSince).toBeLessThan(3000);
    await sleep(1000); // nothing more comes
    expect(fired.received.map(({ data }) => decode(data))).toEqual(["first", "second", "third"]);
    fired.stop();
  });

  it("a participant declared dead while it runs joins again by itself, under a new channel, and says so", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = createLogger("client-agent", "paused", "info", {
      write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
    });
    let rejoined = 0;
    const participant = await joinParticipant(ns, {
      role: "client-agent",
      instanceId: "paused",
      log,
      onRejoin: () => {
        rejoined += 1;
      },
    });
    const before = participant.channel;
    // Pretend to be a process frozen past its deadline: the director forgets it...
    await request(nc, mdSubject("goodbye", { role: "client-agent", channel: before }), {});
    // ...its next heartbeat is refused, and it joins again.
    await waitFor("the rejoin", () => rejoined === 1, 3000);
    expect(participant.alive).toBe(true);
    expect(participant.channel).not.toBe(before);
    expect(lines.map((line) => line.msg)).toEqual(
      expect.arrayContaining([
        "declared dead by the message director; joining again",
        "joined the cluster again after being declared dead",
      ]),
    );
    // its requests work again, as its new self
    await participant.addPostRemove(subjects(ns.root).account(++spare), text("x"));
    await participant.leave();
  });

  it("refuses a join for a live instance under another key: a restarted process waits for the old one's death", async () => {
    const first = await join(ns, { instanceId: "restarting-ai" });
    const subject = channelSubject();
    const fired = countOn(nc, subject);
    await first.participant.addPostRemove(subject, text("old registration"));
    let second: Awaited<ReturnType<typeof join>> | undefined;
    const joining = join(ns, { instanceId: "restarting-ai" }).then((member) => {
      second = member;
    });
    await sleep(1500); // three deadlines: the first heartbeats on, the second is kept waiting
    expect(second).toBeUndefined();
    expect(first.participant.alive).toBe(true);
    expect(fired.count).toBe(0);
    await first.die();
    await joining;
    expect(second!.participant.alive).toBe(true);
    await waitFor("the old registration's post-removes", () => fired.count === 1, 3000);
    await second!.participant.leave();
    fired.stop();
  });

  it("refuses a join whose signature is not its key's, and one replayed", async () => {
    const key = createUser();
    const unsigned = {
      instanceId: "forged",
      version: VERSION,
      schemaHash: SCHEMA_HASH,
      key: key.getPublicKey(),
      at: Date.now(),
    };
    const joinSubject = subjects(ns.root).join("client-agent");
    const stranger = createUser().sign(messages.joinProof("client-agent", unsigned));
    await expect(request(nc, joinSubject, { ...unsigned, signature: stranger })).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/signature does not match its key/),
    });
    // signed for another role: the role is the subject's
    const otherRole = key.sign(messages.joinProof("zone-ai", unsigned));
    await expect(request(nc, joinSubject, { ...unsigned, signature: otherRole })).rejects.toMatchObject({
      code: "forbidden",
    });
    const signature = key.sign(messages.joinProof("client-agent", unsigned));
    const reply = await request<messages.JoinReply>(nc, joinSubject, { ...unsigned, signature });
    expect(reply.jwt).toMatch(/^ey/); // its own credentials
    await expect(request(nc, joinSubject, { ...unsigned, signature })).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(/a replay/),
    });
    const stale = { ...unsigned, at: Date.now() - 5 * 60_000 };
    await expect(
      request(nc, joinSubject, { ...stale, signature: key.sign(messages.joinProof("client-agent", stale)) }),
    ).rejects.toMatchObject({ code: "forbidden", message: expect.stringMatching(/check the hosts' clocks/) });
    await request(nc, mdSubject("goodbye", { role: "client-agent", channel: reply.channel }), {});
  });
});

describe("post-removes (Astron's message-director cases)", () => {
  it("fires once on death and never again; a clear cancels; several fire together", async () => {
    const subject = channelSubject();
    const other = channelSubject();
    const fired = countOn(nc, subject);
    const firedOther = countOn(nc, other);

    // Hang one on c1; nothing happens until c1 goes away; then it is sent once.
    const c1 = await join();
    await c1.participant.addPostRemove(subject, text("Testing..."));
    await sleep(200);
    expect(fired.count).toBe(0);
    await c1.die();
    await waitFor("c1's post-remove", () => fired.count === 1, 3000);

    // A new c1 goes away too: nothing is sent again.
    const c1again = await join();
    await c1again.die();
    await sleep(1000);
    expect(fired.count).toBe(1);

    // Hang one on c2, then clear it: its death sends nothing.
    const c2 = await join();
    await c2.participant.addPostRemove(subject, text("Testing..."));
    await c2.participant.clearPostRemoves();
    await c2.die();
    await sleep(1000);
    expect(fired.count).toBe(1);

    // Several on one participant: all are sent when it dies, each once.
    const c3 = await join();
    await c3.participant.addPostRemove(subject, text("one"));
    await c3.participant.addPostRemove(other, text("two"));
    await sleep(200);
    expect(fired.count + firedOther.count).toBe(1);
    await c3.die();
    await waitFor("both post-removes", () => fired.count === 2 && firedOther.count === 1, 3000);
    await sleep(500);
    expect([fired.count, firedOther.count]).toEqual([2, 1]);
    fired.stop();
    firedOther.stop();
  });

  it("drops them on a clean goodbye", async () => {
    const { participant } = await join();
    const subject = channelSubject();
    const fired = countOn(nc, subject);
    await participant.addPostRemove(subject, text("never"));
    await participant.leave();
    expect(participant.alive).toBe(false);
    await sleep(1000);
    expect(fired.count).toBe(0);
    await expect(participant.clearPostRemoves()).rejects.toMatchObject({ code: "not_found" });
    fired.stop();
  });

  it("refuses a subject that cannot be published to, one its participant may not publish, and more than the limit", async () => {
    const { participant } = await join();
    await expect(participant.addPostRemove(`${ns.root}.objects.*`, text("x"))).rejects.toMatchObject({
      code: "malformed",
      message: expect.stringMatching(/^messages\.0\.subject: must be a NATS subject/),
    });
    // a zone-AI replica may not speak as a client agent, so the director will not do it for it
    const another = subjects(ns.root).service("ss", "delete", { role: "client-agent", channel: 7 });
    await expect(participant.addPostRemove(another, text("x"))).rejects.toMatchObject({
      code: "forbidden",
      message: expect.stringMatching(
        new RegExp(`zone-ai ${participant.channel} may not publish on ${another.replace(/\./g, "\\.")}`),
      ),
    });
    const subject = channelSubject();
    const many = Array.from({ length: 1024 }, () => ({ subject, payload: text("x") }));
    for (let i = 0; i < 4; i++) await participant.addPostRemoves(many);
    await expect(participant.addPostRemove(subject, text("x"))).rejects.toMatchObject({
      code: "bad_value",
      message: expect.stringMatching(/more than 4096 post-removes \(POST_REMOVE_LIMIT\)/),
    });
    await participant.leave();
  });
});

describe("malformed control messages", () => {
  it("are answered with an error naming the problem, and the director keeps serving", async () => {
    const joinSubject = subjects(ns.root).join("zone-ai");
    const garbage = await nc.request(joinSubject, new Uint8Array([0xc1, 0x00]), { timeout: 2000 });
    expect(messages.errorReply.parse(decodeEnvelope(garbage.data)).error.code).toBe("malformed");
    await expect(
      request(nc, subjects(ns.root).join("message-director"), {
        instanceId: "x",
        version: "1",
        schemaHash: 1,
      }),
    ).rejects.toMatchObject({ code: "malformed", message: expect.stringMatching(/^key: /) });
    await expect(request(nc, `${ns.root}.md.heartbeat.zone-ai.seven`, {})).rejects.toMatchObject({
      code: "malformed",
      message: expect.stringMatching(/names no sender/),
    });
    await expect(
      request(nc, mdSubject("addPostRemoves", zoneAi(5)), { messages: [{ subject: "a" }] }),
    ).rejects.toMatchObject({ code: "malformed", message: expect.stringMatching(/^messages\.0\.payload: /) });
    await expect(
      request(nc, mdSubject("allocateIds", zoneAi(5)), { kind: "doId", count: -3 }),
    ).rejects.toMatchObject({ code: "malformed", message: expect.stringMatching(/^count: /) });
    await expect(request(nc, mdSubject("heartbeat", zoneAi(4_000_000_000)), {})).rejects.toMatchObject({
      code: "not_found",
      message: expect.stringMatching(/channel 4000000000 is not a live participant/),
    });
    // Still serving.
    const { participant } = await join();
    expect(participant.alive).toBe(true);
    await participant.leave();
  });
});

describe("id allocation through the participant client", () => {
  it("hands out doIds and channels that never repeat, in ranges", async () => {
    const a = await join(ns, { doIdBlock: 16 });
    const b = await join(ns, { doIdBlock: 16 });
    const seen = new Set<number>();
    const take = async (id: Promise<number>) => {
      const value = await id;
      expect(seen.has(value)).toBe(false);
      seen.add(value);
    };
    await Promise.all(Array.from({ length: 100 }, (_, i) => take((i % 2 ? a : b).participant.nextDoId())));
    const range = await a.participant.allocateIds("doId", 50);
    for (let id = range.first; id < range.first + range.count; id++) await take(Promise.resolve(id));
    expect(seen.size).toBe(150);
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(100_000_000);

    const channels = new Set<number>([a.participant.channel, b.participant.channel]);
    for (let i = 0; i < 70; i++) channels.add(await a.participant.nextChannel());
    expect(channels.size).toBe(72);
    await a.participant.leave();
    await b.participant.leave();
  });

  it("refuses ids to a channel that is not a live participant", async () => {
    await expect(
      request(nc, mdSubject("allocateIds", zoneAi(77)), { kind: "doId", count: 1 }),
    ).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("the cluster event log", () => {
  it("records joins, goodbyes and deaths in order, and takes other services' events", async () => {
    const events = (await readEvents(nc, { stream: ns.stream, root: ns.root })).length;
    const a = await join(ns, { instanceId: "log-a" });
    const b = await join(ns, { instanceId: "log-b" });
    await a.participant.appendEvent("object.created", { doId: 100_000_123 });
    await a.participant.leave();
    await b.die();
    const expected = [
      ["participant.joined", "log-a"],
      ["participant.joined", "log-b"],
      ["object.created", undefined],
      ["participant.left", "log-a"],
      ["participant.died", "log-b"],
    ];
    let read: Awaited<ReturnType<typeof readEvents>> = [];
    await waitFor("the death in the log", async () => {
      read = await readEvents(nc, { stream: ns.stream, root: ns.root, fromSeq: events + 1 });
      return read.length >= expected.length;
    });
    const ours = read.filter(
      (event) =>
        event.kind === "object.created" ||
        ["log-a", "log-b"].includes((event.data as { instanceId?: string }).instanceId ?? ""),
    );
    expect(ours.map((event) => [event.kind, (event.data as { instanceId?: string }).instanceId])).toEqual(
      expected,
    );
    const sequences = read.map((event) => event.seq);
    expect(sequences).toEqual([...sequences].sort((x, y) => x - y));
    expect(ours[2]!.source).toBe(`zone-ai#${a.participant.channel}`);
    expect(ours[4]!.data).toMatchObject({ channel: b.participant.channel, role: "zone-ai" });

    const onlyDeaths = await readEvents(nc, {
      stream: ns.stream,
      root: ns.root,
      kind: "participant.died",
      fromSeq: events + 1,
    });
    expect(onlyDeaths.map((event) => event.kind)).toEqual(onlyDeaths.map(() => "participant.died"));
    expect(onlyDeaths.some((event) => (event.data as { instanceId: string }).instanceId === "log-b")).toBe(
      true,
    );
  });
});

describe("with the default timings", () => {
  const defaults = namespace("dirdefaults", {
    HEARTBEAT_MS: "",
    DEAD_AFTER_MS: "",
    SWEEP_MS: "",
    LEASE_MS: "",
  });
  let second: MessageDirector | undefined;

  afterAll(async () => {
    await second?.stop();
    await dropNamespace(defaults);
  });

  it("declares a silent participant dead within 3 s of its last heartbeat", async () => {
    second = await startMessageDirector(loadDirectorConfig(defaults.env), { log });
    const { participant, die } = await join(defaults);
    expect(participant.heartbeatMs).toBe(500);
    const subject = channelSubject(defaults);
    const fired = countOn(nc, subject);
    await participant.addPostRemove(subject, text("gone"));
    await sleep(600); // at least one heartbeat went through
    const silentSince = Date.now();
    await die();
    await waitFor("the post-remove", () => fired.count === 1, 3000);
    expect(fired.received[0]!.at - silentSince).toBeLessThan(3000);
    fired.stop();
  });
});

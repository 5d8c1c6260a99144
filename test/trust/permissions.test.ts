/**
 * Every role against every subject of the catalogue, on the real NATS with credentials: each role's
 * instance, with the credentials the director mints for it, tries to publish on every subject the
 * catalogue knows (its own requests, everyone else's, joins, locations, participant, zone and account
 * channels, events) and to subscribe to every one; the harness's operator connection sees what got
 * through. Allowed exactly when the catalogue's tables say so; without credentials nothing connects;
 * a role's join credentials say nothing but its join.
 */
import {
  BROADCASTS,
  type BroadcastRule,
  EVENT_STREAM,
  encodeEnvelope,
  type Identity,
  ROLES,
  type Role,
  SERVICES,
  type ServiceName,
  streamsOf,
  subjects,
  ZONE_CHANNEL_BASE,
} from "@overworld/protocol";
import { connectBus, type NatsConnection } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectAs, connectOperator, connectWith, joinCredentials } from "../support/nats.ts";
import { NATS_URL } from "../support/services.ts";

const root = `owtperm${process.pid}${Date.now().toString(36)}`;
const names = subjects(root);
/** Each role's instance has a channel of its own. */
const channelOf = (role: Role) => 1_000_000 + ROLES.indexOf(role);
const identity = (role: Role): Identity => ({ role, channel: channelOf(role) });
/** A channel no role's instance has: someone else's. */
const STRANGER = 7_777_777;
/** How long a message has to get through before it counts as refused. */
const SETTLE_MS = 400;

/** One subject of the catalogue, concrete, and who may publish and subscribe to it by the tables. */
interface Case {
  readonly what: string;
  readonly subject: string;
  readonly mayPublish: (role: Role) => boolean;
  readonly maySubscribe: (role: Role) => boolean;
}

const DIRECTOR: Role = "message-director";

/** The cases, from the catalogue's tables: this is what the generated permissions are held to. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const [service, rule] of Object.entries(SERVICES) as [ServiceName, (typeof SERVICES)[ServiceName]][]) {
    for (const [operation, senders] of Object.entries(rule.operations) as [string, readonly Role[]][]) {
      for (const sender of ROLES) {
        // each role's own request subject: only a sender the table names may publish it (and the
        // director, which publishes post-removes for the dead); only the serving role hears it
        out.push({
          what: `${service}.${operation} as ${sender}`,
          subject: names.service(service, operation, identity(sender)),
          mayPublish: (role) => role === DIRECTOR || (role === sender && senders.includes(role)),
          maySubscribe: (role) => role === rule.servedBy,
        });
      }
      out.push({
        what: `${service}.${operation} as a stranger`,
        subject: names.service(service, operation, { role: senders[0] ?? "tool", channel: STRANGER }),
        mayPublish: (role) => role === DIRECTOR,
        maySubscribe: (role) => role === rule.servedBy,
      });
    }
  }
  for (const joining of ROLES.filter((role) => role !== DIRECTOR)) {
    out.push({
      what: `join as ${joining}`,
      subject: names.join(joining),
      mayPublish: (role) => role === joining || role === DIRECTOR,
      maySubscribe: (role) => role === DIRECTOR,
    });
  }
  const broadcasts: [string, string, BroadcastRule][] = [
    ["a location", names.location(5, 6), BROADCASTS.location],
    ["a participant channel", names.participant(STRANGER), BROADCASTS.participant],
    ["a zone channel", names.participant(ZONE_CHANNEL_BASE + 3), BROADCASTS.zone],
    ["an account channel", names.account(42), BROADCASTS.account],
  ];
  for (const [what, subject, rule] of broadcasts) {
    out.push({
      what,
      subject,
      mayPublish: (role) => rule.publish.includes(role) || role === DIRECTOR,
      maySubscribe: (role) => rule.subscribe.includes(role),
    });
  }
  for (const author of ROLES) {
    out.push({
      what: `an event of ${author}`,
      subject: names.event(identity(author), "test.happened"),
      mayPublish: (role) => role === author,
      maySubscribe: () => false, // read through JetStream only
    });
  }
  return out;
}

const all = cases();
const connections = new Map<Role, NatsConnection>();
let operator: NatsConnection;

beforeAll(async () => {
  operator = await connectOperator("permissions test");
  for (const role of ROLES) connections.set(role, await connectAs(identity(role), root));
});

afterAll(async () => {
  for (const nc of connections.values()) await nc.close();
  await operator?.close();
});

/** Publishes every case's subject from `nc` and says which arrived at the operator. */
async function published(nc: NatsConnection): Promise<Set<string>> {
  const arrived = new Set<string>();
  const subscription = operator.subscribe(">", {
    callback: (_error, msg) => {
      if (msg.subject.startsWith(`${root}.`)) arrived.add(msg.subject);
    },
  });
  await operator.flush();
  for (const each of all) nc.publish(each.subject, encodeEnvelope({ probe: true }));
  await nc.flush().catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  subscription.unsubscribe();
  return arrived;
}

/** Subscribes `nc` to every case's subject, has the operator publish on each, and says which were heard. */
async function heard(nc: NatsConnection): Promise<Set<string>> {
  const got = new Set<string>();
  const subscriptions = all.map((each) =>
    nc.subscribe(each.subject, {
      callback: (error, msg) => {
        if (!error) got.add(msg.subject);
      },
    }),
  );
  await nc.flush().catch(() => undefined);
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const each of all) operator.publish(each.subject, encodeEnvelope({ probe: true }));
  await operator.flush();
  await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
  for (const subscription of subscriptions) subscription.unsubscribe();
  return got;
}

describe("the permissions generated from the catalogue", () => {
  it.each(ROLES)("let %s publish exactly what the catalogue says", async (role) => {
    const arrived = await published(connections.get(role)!);
    const expected = all.filter((each) => each.mayPublish(role)).map((each) => each.what);
    const actual = all.filter((each) => arrived.has(each.subject)).map((each) => each.what);
    expect(actual.sort()).toEqual(expected.sort());
  });

  it.each(ROLES)("let %s subscribe to exactly what the catalogue says", async (role) => {
    const got = await heard(connections.get(role)!);
    const expected = all.filter((each) => each.maySubscribe(role)).map((each) => each.what);
    const actual = all.filter((each) => got.has(each.subject)).map((each) => each.what);
    expect(actual.sort()).toEqual(expected.sort());
  });

  it("let nobody hear another's replies", async () => {
    // the client agent asks the state server something: the reply subject is its own inbox
    const question = names.service("ss", "query-zones", identity("client-agent"));
    let inbox = "";
    const answering = operator.subscribe(question, {
      callback: (_error, msg) => {
        inbox = msg.reply ?? "";
        msg.respond(encodeEnvelope({ ok: true, objects: [] }));
      },
    });
    await operator.flush();
    const zoneAi = connections.get("zone-ai")!;
    const overheard: string[] = [];
    for (const pattern of ["_INBOX.>", ">"]) {
      zoneAi.subscribe(pattern, {
        callback: (error, msg) => {
          if (!error) overheard.push(msg.subject);
        },
      });
    }
    await zoneAi.flush().catch(() => undefined);
    await connections.get("client-agent")!.request(question, encodeEnvelope({}), { timeout: 2000 });
    expect(inbox).toMatch(/^_INBOX\.U[A-Z2-7]{55}\./);
    operator.publish(inbox, encodeEnvelope({ secret: true }));
    await operator.flush();
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    expect(overheard).toEqual([]);
    answering.unsubscribe();
  });

  it("give JetStream's API only to the roles with streams, for their own streams", async () => {
    const streams = streamsOf(root, EVENT_STREAM);
    const asks = async (role: Role, subject: string) =>
      connections
        .get(role)!
        .request(subject, undefined, { timeout: 500 })
        .then(
          () => true,
          (error: Error) => !/timeout|permission/i.test(error.message),
        );
    expect(await asks("zone-ai", `$JS.API.STREAM.INFO.${streams.zones}`)).toBe(true);
    expect(await asks("zone-ai", `$JS.API.STREAM.DELETE.${streams.events}`)).toBe(false);
    expect(await asks("client-agent", `$JS.API.STREAM.INFO.${streams.zones}`)).toBe(false);
    expect(await asks("state-server", `$JS.API.STREAM.PURGE.${streams.zones}`)).toBe(false);
  });
});

describe("a connection without a participant's credentials", () => {
  it("is refused by NATS, with an error naming the credentials it lacks", async () => {
    await expect(connectBus(NATS_URL, "no credentials")).rejects.toThrow(/refused .*NATS_CREDS/);
  });

  it("with a role's join credentials may say nothing but that role's join", async () => {
    const joining = await connectBus(NATS_URL, "join credentials only", {
      credentials: joinCredentials("client-agent"),
      inboxPrefix: "_INBOX.join.client-agent",
    });
    try {
      const arrived = await published(joining);
      expect([...arrived]).toEqual([names.join("client-agent")]);
    } finally {
      await joining.close();
    }
  });

  it("signed by another account's key is refused", async () => {
    const { createAccount } = await import("@nats-io/nkeys");
    const { mint } = await import("@overworld/service");
    const { createUser } = await import("@nats-io/nkeys");
    const forger = createAccount();
    const key = createUser();
    const jwt = await mint(new TextDecoder().decode(forger.getSeed()), forger.getPublicKey(), key, "forged", {
      pub: { allow: [">"] },
      sub: { allow: [">"] },
    });
    await expect(connectBus(NATS_URL, "forged", { jwt: () => jwt, seed: key.getSeed() })).rejects.toThrow(
      /refused/,
    );
    // and an operator-made one with the real key works, so the refusal is the forgery's
    const fine = await connectWith({ pub: { allow: [`${root}.x`] }, sub: { allow: [] } }, "fine");
    await fine.close();
  });
});

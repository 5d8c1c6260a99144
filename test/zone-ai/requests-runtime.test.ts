/**
 * Requests in a zone's runtime, as pure logic over its journal (no services): the demo's shop answering
 * calls. A call repeated under its request id is answered from the zone's recent replies without running
 * again, also after a snapshot and on another replica; a replay from an older snapshot answers the same;
 * a zone's own call gets its reply, or its timeout, through its `replied` hook; the recent replies are
 * bounded per caller.
 */
import { type messages, packField, unpackField, ZONE_CHANNEL_BASE } from "@overworld/protocol";
import { describe, expect, it } from "vitest";
import { arenaZone, demoWorld, SHOP_STOCK } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneHooks } from "../../services/zone-ai/src/plugin.ts";
import { RECENT_REPLIES_PER_CALLER, type RequestOutput } from "../../services/zone-ai/src/requests.ts";
import {
  type ZoneInput,
  type ZoneOutput,
  ZoneRuntime,
  type ZoneSnapshot,
} from "../../services/zone-ai/src/zone-runtime.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const plugin = demoWorld({ grid, worldId: 1000, npcsPerZone: 0, cratesPerZone: 0, dungeonEntrance: false });
const ARENA = arenaZone(grid);
const SHOP = 1001;
const CLIENT = 77;
const AVATAR = 5000;
const channelOf = (zone: number) => ZONE_CHANNEL_BASE + zone;
const { DistributedShop, DistributedAvatar } = demo;

function runtime(zone: number, kind: string): ZoneRuntime {
  return new ZoneRuntime({
    spec: { parent: 1000, zone, kind },
    channel: channelOf(zone),
    dc: demo.file,
    hooks: plugin.kinds[kind] as ZoneHooks<unknown>,
    channelOf,
    log: { info: () => {}, warn: () => {} },
  });
}

/** The shop's zone, begun fresh (or from a snapshot) with the shop. */
function shopZone(snapshot?: ZoneSnapshot): ZoneRuntime {
  const zone = runtime(ARENA, "arena");
  zone.addIds(9000, 100);
  const name = DistributedShop.field("setName");
  const shop = { doId: SHOP, classId: DistributedShop.dclass.id, parent: 1000, zone: ARENA, owner: 0 };
  zone.begin([{ ...shop, fields: [[name.id, packField(name, ["the shop"])]] }], snapshot, 0);
  return zone;
}

function buy(seq: number, requestId: number, item: number, sender = CLIENT): ZoneInput {
  const buyField = DistributedShop.field("buy");
  const message: messages.RequestCall = {
    kind: "request",
    sender,
    requestId,
    doId: SHOP,
    fieldId: buyField.id,
    args: packField(buyField, [item]),
  };
  return { seq, time: 100 + seq, message };
}

type Reply = Extract<RequestOutput, { op: "reply" }>;

/** The zone's answers, read: [to, requestId, reply value or error code]. */
function replies(outputs: readonly ZoneOutput[]): [number, number, unknown][] {
  return outputs
    .filter((output): output is Reply => output.op === "reply")
    .map(({ to, requestId, answer }) => [
      to,
      requestId,
      "error" in answer ? answer.error.code : unpackField(DistributedShop.field("buyReply"), answer.value),
    ]);
}

function feed(zone: ZoneRuntime, inputs: readonly ZoneInput[], now = 1000): ZoneOutput[] {
  for (const input of inputs) zone.receive(input);
  return zone.tick(now);
}

describe("requests in a zone's runtime", () => {
  it("answers a repeated request id from its recent replies, without running it again", () => {
    const zone = shopZone();
    const out = feed(zone, [buy(1, 1, 0), buy(2, 1, 0), buy(3, 2, 0), buy(4, 1, 0)]);
    expect(replies(out)).toEqual([
      [CLIENT, 1, [SHOP_STOCK[0] - 1]],
      [CLIENT, 1, [SHOP_STOCK[0] - 1]],
      [CLIENT, 2, [SHOP_STOCK[0] - 2]],
      [CLIENT, 1, [SHOP_STOCK[0] - 1]],
    ]);
    // another caller's request 1 is another request
    expect(replies(feed(zone, [buy(5, 1, 0, CLIENT + 1)]))).toEqual([[CLIENT + 1, 1, [SHOP_STOCK[0] - 3]]]);
  });

  it("keeps its recent replies in its snapshot: a retry after a failover runs no more", () => {
    const first = shopZone();
    feed(first, [buy(1, 1, 1)]);
    const resumed = shopZone(first.snapshot());
    expect(replies(feed(resumed, [buy(2, 1, 1), buy(3, 2, 1)]))).toEqual([
      [CLIENT, 1, [SHOP_STOCK[1] - 1]],
      [CLIENT, 2, [SHOP_STOCK[1] - 2]],
    ]);
  });

  it("replays a request after its snapshot to the same answer (the caller takes the first)", () => {
    const zone = shopZone();
    const before = structuredClone(zone.snapshot()); // as stored: encoded when taken
    const live = replies(feed(zone, [buy(1, 1, 2), buy(2, 2, 2)]));
    const replayed = replies(feed(shopZone(before), [buy(1, 1, 2), buy(2, 2, 2)]));
    expect(live).toEqual([
      [CLIENT, 1, [0]],
      [CLIENT, 2, "sold_out"],
    ]);
    expect(replayed).toEqual(live);
  });

  it("answers typed errors, and no_handler for a method its kind does not answer", () => {
    const zone = shopZone();
    const count = DistributedShop.field("count");
    const unknownItem = buy(1, 1, 9);
    const counted: ZoneInput = {
      seq: 2,
      time: 102,
      message: { ...(buy(2, 2, 0).message as messages.RequestCall), fieldId: count.id },
    };
    const gone: ZoneInput = {
      seq: 3,
      time: 103,
      message: { ...(buy(3, 3, 0).message as messages.RequestCall), doId: 4242 },
    };
    const field = runtime(1, "field");
    field.begin([], undefined, 0);
    const out = replies(feed(zone, [unknownItem, counted, gone]));
    expect(out.map(([, id, answer]) => [id, Array.isArray(answer) ? "ok" : answer])).toEqual([
      [1, "unknown_item"],
      [2, "ok"],
      [3, "unknown_object"],
    ]);
    // a field zone runs no shop: a call of an object it does not run
    expect(replies(feed(field, [buy(1, 1, 0)]))[0]![2]).toBe("unknown_object");
  });

  it("bounds the replies it keeps per caller", () => {
    const zone = shopZone();
    const calls = Array.from({ length: RECENT_REPLIES_PER_CALLER + 1 }, (_, i) => buy(i + 1, i + 1, 9));
    feed(zone, calls);
    const recent = zone.snapshot().requests!.recent;
    expect(recent).toHaveLength(1);
    expect(recent[0]![1]).toHaveLength(RECENT_REPLIES_PER_CALLER);
    expect(recent[0]![1][0]![0]).toBe(2); // request 1, the oldest, was forgotten
  });

  it("calls another zone's object and hears the reply (or the timeout) in `replied`", () => {
    const field = runtime(1, "field");
    field.addIds(9100, 100);
    const say = DistributedAvatar.field("say");
    const avatarData = {
      doId: AVATAR,
      classId: DistributedAvatar.dclass.id,
      parent: 1000,
      zone: 1,
      owner: CLIENT,
    };
    field.begin([{ ...avatarData, fields: [] }], undefined, 0);
    const said = (seq: number, text: string): ZoneInput => ({
      seq,
      time: 100 + seq,
      message: {
        kind: "update",
        sender: CLIENT,
        updates: [[AVATAR, say.id, packField(say, [text]), CLIENT]],
      },
    });
    const calls = feed(field, [said(1, "/stock 1"), said(2, "/stock 0")]).filter(
      (output): output is Extract<RequestOutput, { op: "request" }> => output.op === "request",
    );
    expect(calls.map((call) => [call.requestId, call.doId])).toEqual([
      [1, SHOP],
      [2, SHOP],
    ]);
    // the shop's zone answers the first (as the replica passes it on), the second never comes
    const shop = shopZone();
    const [answer] = feed(shop, [
      {
        seq: 1,
        time: 150,
        message: { kind: "request", sender: field.channel, ...calls[0]!, args: calls[0]!.args },
      },
    ]).filter((output): output is Reply => output.op === "reply");
    const reply: messages.RequestReply = {
      kind: "reply",
      sender: shop.channel,
      requestId: answer!.requestId,
      ...answer!.answer,
    };
    const chat = (outputs: ZoneOutput[]) =>
      outputs
        .flatMap((o) => (o.op === "updates" ? o.updates : []))
        .map(([, fieldId, value]) => unpackField(DistributedAvatar.dclass.fieldById(fieldId)!, value));
    expect(chat(feed(field, [{ seq: 3, time: 200, message: reply }], 300))).toEqual([
      [SHOP, "sword: 5 left"],
    ]);
    // the same reply again (the shop's zone replayed its journal): dropped
    expect(chat(feed(field, [{ seq: 4, time: 201, message: reply }], 400))).toEqual([]);
    // the second call's time runs out
    expect(chat(feed(field, [], 100 + 2 + 5000))).toEqual([[SHOP, "potion: timeout"]]);
  });
});

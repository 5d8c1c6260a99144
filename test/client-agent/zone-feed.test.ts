/**
 * Encode once, send many: a zone's field updates of a tick are gathered once for every client of the
 * agent that covers the zone and encoded once; each client is sent those same bytes. Within the tick the
 * latest value of a state field wins (STATE_UPDATES stamped with the tick, for the unreliable channel)
 * and events keep their order (FIELD_UPDATES, reliable); the next tick starts empty. A lost state
 * message is sent again only for what is still the newest.
 */
import { encodeUpdateFrame, type FrameUpdate, reliable } from "@overworld/protocol";
import { AgentMessageType, decodeAgentMessage, type WireClasses } from "@overworld/protocol/client";
import { describe, expect, it } from "vitest";
import { LocationSubscriptions, ZoneFeed } from "../../services/client-agent/src/interest.ts";
import { fieldRulesOf } from "../../services/client-agent/src/session.ts";
import { dc } from "./support.ts";

const object1 = dc.class("DistributedTestObject1")!;
const setB1 = object1.field("setB1")!; // broadcast: an event
const setBRA1 = object1.field("setBRA1")!; // broadcast ram: state
const rules = fieldRulesOf(dc);
const u32 = (value: number) => Uint8Array.from([value, 0, 0, 0]);
const classId = object1.id;
/** A client that saw every object enter: all of them are test objects. */
const wire: WireClasses = { dc, classOf: () => object1 };

describe("a zone's feed", () => {
  it("is gathered and encoded once per tick for every client covering the zone", () => {
    const frames = new Map<string, (frame: Uint8Array) => boolean>();
    const locations = new LocationSubscriptions(
      (subject, _deliver, frame) => {
        frames.set(subject, frame);
        return () => frames.delete(subject);
      },
      (parent, zone) => `l.${parent}.${zone}`,
      rules.isState,
      dc,
    );
    const sink = { receiveDelivery: () => {} };
    const other = { receiveDelivery: () => {} };
    const feed = locations.add(7, 1, sink);
    expect(locations.add(7, 1, other)).toBe(feed); // one feed for the zone, whoever covers it
    expect(frames.size).toBe(1);

    // the state server's frame for the zone
    const frame = encodeUpdateFrame(9, [
      [100, setBRA1.id, u32(1), classId],
      [100, setB1.id, Uint8Array.from([1]), classId],
      [100, setBRA1.id, u32(2), classId],
      [100, setB1.id, Uint8Array.from([2]), classId],
    ]);
    expect(frames.get("l.7.1")!(frame)).toBe(true);
    expect(frames.get("l.7.1")!(frame.subarray(0, frame.length - 1))).toBe(false); // cut short: refused whole
    locations.sealAll();
    expect(feed.sealed).toHaveLength(1); // the same bytes for every client of the zone
    expect(decodeAgentMessage(feed.sealed[0]!, wire)).toEqual({
      ok: true,
      message: {
        type: AgentMessageType.FieldUpdates,
        updates: [
          { doId: 100, classId, fieldId: setB1.id, value: Uint8Array.from([1]) },
          { doId: 100, classId, fieldId: setB1.id, value: Uint8Array.from([2]) },
        ],
      },
    });
    expect(feed.sealedState).toHaveLength(1);
    expect(decodeAgentMessage(feed.sealedState[0]!.bytes, wire)).toEqual({
      ok: true,
      message: {
        type: AgentMessageType.StateUpdates,
        tick: locations.tick,
        updates: [{ doId: 100, classId, fieldId: setBRA1.id, value: u32(2) }],
      },
    });

    locations.sealAll();
    expect(feed.sealed).toEqual([]); // a quiet tick sends nothing
    expect(feed.sealedState).toEqual([]);
  });

  it("splits a busy tick into messages that each travel whole in one datagram", () => {
    const feed = new ZoneFeed(rules.isState, dc);
    const updates: FrameUpdate[] = [];
    for (let doId = 1000; doId < 1600; doId++) updates.push([doId, setBRA1.id, u32(doId), classId]);
    feed.add(updates);
    feed.seal(1);
    const { fragmentSize, maxUnreliableSize } = reliable.resolveReliableConfig();
    const whole = Math.min(fragmentSize, maxUnreliableSize);
    const messages = feed.sealedState.map((message) => message.bytes);
    expect(messages.length).toBeGreaterThan(1);
    const received: number[] = [];
    for (const [index, message] of messages.entries()) {
      expect(message.length).toBeLessThanOrEqual(whole);
      if (index < messages.length - 1) expect(message.length).toBeGreaterThan(whole - 16); // full
      const decoded = decodeAgentMessage(message, wire);
      if (!decoded.ok || decoded.message.type !== AgentMessageType.StateUpdates) throw new Error("not state");
      for (const update of decoded.message.updates) received.push(update.doId);
    }
    expect(received).toEqual(updates.map(([doId]) => doId)); // all of them, in order
  });

  it("orders a tick's state by doId, so that each doId costs one byte of difference", () => {
    const feed = new ZoneFeed(rules.isState, dc);
    // in arrival order three of the differences take two bytes (-157, +117, -80); sorted, none does
    const doIds = [100_000_160, 100_000_003, 100_000_120, 100_000_040, 100_000_080];
    feed.add(doIds.map((doId): FrameUpdate => [doId, setBRA1.id, u32(1), classId]));
    feed.seal(1);
    const bytes = feed.sealedState[0]!.bytes;
    const decoded = decodeAgentMessage(bytes, wire);
    if (!decoded.ok || decoded.message.type !== AgentMessageType.StateUpdates) throw new Error("not state");
    expect(decoded.message.updates.map((update) => update.doId)).toEqual([...doIds].sort((a, b) => a - b));
    // type, tick, count, then the first doId (zigzag from 0: 4 bytes) and 1 byte for each next one,
    // a key and the 4-byte value each
    expect(bytes.length).toBe(3 + 4 + 4 * 1 + doIds.length * (1 + 4));
  });

  it("sends a lost state message again for what is still the newest, with its tick", () => {
    const feed = new ZoneFeed(rules.isState, dc);
    feed.add([
      [100, setBRA1.id, u32(1), classId],
      [101, setBRA1.id, u32(1), classId],
    ]);
    feed.seal(1);
    const [lost] = feed.sealedState;
    feed.add([[100, setBRA1.id, u32(2), classId]]); // 100 changed since: its tick-1 value is stale
    feed.seal(2);
    const again = feed.stillNewest(lost!);
    expect(decodeAgentMessage(again!.bytes, wire)).toEqual({
      ok: true,
      message: {
        type: AgentMessageType.StateUpdates,
        tick: 1,
        updates: [{ doId: 101, classId, fieldId: setBRA1.id, value: u32(1) }],
      },
    });
    feed.add([[101, setBRA1.id, u32(2), classId]]);
    feed.seal(3);
    expect(feed.stillNewest(again!)).toBeUndefined(); // everything it held was superseded
  });
});

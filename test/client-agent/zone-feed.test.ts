/**
 * Encode once, send many: a zone's field updates of a tick are gathered once for every client of the
 * agent that covers the zone and encoded once; each client is sent those same bytes. Within the tick the
 * latest value of a state field wins and events keep their order; the next tick starts empty.
 */
import { encodeUpdateFrame, reliable } from "@overworld/protocol";
import { AgentMessageType, dcFieldSizer, decodeAgentMessage } from "@overworld/protocol/client";
import { describe, expect, it } from "vitest";
import { LocationSubscriptions, ZoneFeed } from "../../services/client-agent/src/interest.ts";
import { fieldRulesOf } from "../../services/client-agent/src/session.ts";
import { dc } from "./support.ts";

const object1 = dc.class("DistributedTestObject1")!;
const setB1 = object1.field("setB1")!; // broadcast: an event
const setBRA1 = object1.field("setBRA1")!; // broadcast ram: state
const rules = fieldRulesOf(dc);
const u32 = (value: number) => Uint8Array.from([value, 0, 0, 0]);

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
    );
    const sink = { receiveDelivery: () => {} };
    const other = { receiveDelivery: () => {} };
    const feed = locations.add(7, 1, sink);
    expect(locations.add(7, 1, other)).toBe(feed); // one feed for the zone, whoever covers it
    expect(frames.size).toBe(1);

    // the state server's frame for the zone
    const frame = encodeUpdateFrame(9, [
      [100, setBRA1.id, u32(1)],
      [100, setB1.id, Uint8Array.from([1])],
      [100, setBRA1.id, u32(2)],
      [100, setB1.id, Uint8Array.from([2])],
    ]);
    expect(frames.get("l.7.1")!(frame)).toBe(true);
    expect(frames.get("l.7.1")!(frame.subarray(0, frame.length - 1))).toBe(false); // cut short: refused whole
    locations.sealAll();
    const sealed = feed.sealed;
    expect(sealed).toHaveLength(1); // the same bytes for every client of the zone
    const decoded = decodeAgentMessage(sealed[0]!, dcFieldSizer(dc));
    expect(decoded).toEqual({
      ok: true,
      message: {
        type: AgentMessageType.FieldUpdates,
        updates: [
          { doId: 100, fieldId: setB1.id, value: Uint8Array.from([1]) },
          { doId: 100, fieldId: setBRA1.id, value: u32(2) },
          { doId: 100, fieldId: setB1.id, value: Uint8Array.from([2]) },
        ],
      },
    });

    locations.sealAll();
    expect(feed.sealed).toEqual([]); // a quiet tick sends nothing
  });

  it("splits a busy tick into messages that each travel whole in one datagram", () => {
    const feed = new ZoneFeed(rules.isState);
    const updates: [number, number, Uint8Array][] = [];
    for (let doId = 1000; doId < 1600; doId++) updates.push([doId, setBRA1.id, u32(doId)]);
    feed.add(updates);
    feed.seal();
    const { fragmentSize } = reliable.resolveReliableConfig();
    expect(feed.sealed.length).toBeGreaterThan(1);
    const received: number[] = [];
    for (const [index, message] of feed.sealed.entries()) {
      expect(message.length).toBeLessThanOrEqual(fragmentSize);
      if (index < feed.sealed.length - 1) expect(message.length).toBeGreaterThan(fragmentSize - 16); // full
      const decoded = decodeAgentMessage(message, dcFieldSizer(dc));
      if (!decoded.ok || decoded.message.type !== AgentMessageType.FieldUpdates)
        throw new Error("not updates");
      for (const update of decoded.message.updates) received.push(update.doId);
    }
    expect(received).toEqual(updates.map(([doId]) => doId)); // all of them, in order
  });
});

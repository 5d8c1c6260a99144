/** Subjects under a cluster's root: senders named in the subjects of requests and events. */
import { describe, expect, it } from "vitest";
import { SUBJECT_ROOT, senderOf, subjects } from "../../libs/protocol/src/index.ts";

describe("subjects(root)", () => {
  it("puts every subject under the root given, the sender of a request or event in its subject", () => {
    const at = subjects("test_1-a");
    const agent = { role: "client-agent", channel: 1_000_007 } as const;
    expect(at.root).toBe("test_1-a");
    expect(at.location(7, 3)).toBe("test_1-a.l.7.3");
    expect(at.participant(1_000_001)).toBe("test_1-a.c.1000001");
    expect(at.participant(0xf000_0001)).toBe(`test_1-a.zc.${0xf000_0001}`);
    expect(at.account(42)).toBe("test_1-a.a.42");
    expect(at.service("ss", "set-location", agent)).toBe("test_1-a.ss.set-location.client-agent.1000007");
    expect(at.served("ss", "set-location")).toBe("test_1-a.ss.set-location.*.*");
    expect(at.sentBy("ss", "updates", "zone-ai")).toBe("test_1-a.ss.updates.zone-ai.*");
    expect(at.join("state-server")).toBe("test_1-a.md.join.state-server");
    expect(at.queue("db")).toBe("test_1-a-db");
    expect(at.event(agent, "object.created")).toBe("test_1-a.events.client-agent.1000007.object.created");
    expect(at.events(">")).toBe("test_1-a.events.*.*.>");
  });

  it("defaults to ow", () => {
    expect(subjects().root).toBe(SUBJECT_ROOT);
    expect(SUBJECT_ROOT).toBe("ow");
  });

  it("reads the sender back from a request's subject, and nothing from a subject without one", () => {
    const at = subjects("ow");
    expect(senderOf(at.service("ss", "updates", { role: "zone-ai", channel: 5 }))).toEqual({
      role: "zone-ai",
      channel: 5,
    });
    expect(senderOf("ow.ss.updates")).toBeUndefined();
    expect(senderOf("ow.ss.updates.nobody.5")).toBeUndefined();
    expect(senderOf("ow.ss.updates.zone-ai.0")).toBeUndefined();
    expect(senderOf("ow.ss.updates.zone-ai.x")).toBeUndefined();
  });

  it("refuses a root that is not one subject token, naming it", () => {
    for (const bad of ["", "a.b", "a b", "ow.*", ">", "é"]) {
      expect(() => subjects(bad), bad).toThrow(
        new RegExp(`subject root ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
      );
    }
  });
});

/** Subjects under a cluster's root, and the `ow` defaults the free functions keep. */
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SUBJECTS,
  eventSubject,
  locationSubject,
  objectSubject,
  parentWildcard,
  participantSubject,
  SUBJECT_ROOT,
  serviceQueue,
  serviceSubject,
  subjects,
} from "../../libs/protocol/src/index.ts";

describe("subjects(root)", () => {
  it("puts every subject under the root given", () => {
    const at = subjects("test_1-a");
    expect(at.root).toBe("test_1-a");
    expect(at.object(42)).toBe("test_1-a.o.42");
    expect(at.location(7, 3)).toBe("test_1-a.l.7.3");
    expect(at.parent(7)).toBe("test_1-a.l.7.*");
    expect(at.participant(1_000_001)).toBe("test_1-a.c.1000001");
    expect(at.account(77)).toBe("test_1-a.a.77");
    expect(at.service("ss", "set-location")).toBe("test_1-a.ss.set-location");
    expect(at.service("md", "join")).toBe("test_1-a.md.join");
    expect(at.queue("db")).toBe("test_1-a-db");
    expect(at.event("object.created")).toBe("test_1-a.events.object.created");
    expect(at.event(">")).toBe("test_1-a.events.>");
  });

  it("defaults to ow, which the free functions use", () => {
    expect(subjects().root).toBe(SUBJECT_ROOT);
    expect(SUBJECT_ROOT).toBe("ow");
    expect(DEFAULT_SUBJECTS.root).toBe("ow");
    expect(objectSubject(5)).toBe("ow.o.5");
    expect(locationSubject(1, 2)).toBe("ow.l.1.2");
    expect(parentWildcard(1)).toBe("ow.l.1.*");
    expect(participantSubject(9)).toBe("ow.c.9");
    expect(serviceSubject("md", "heartbeat")).toBe("ow.md.heartbeat");
    expect(serviceQueue("ss")).toBe("ow-ss");
    expect(eventSubject("participant.died")).toBe("ow.events.participant.died");
  });

  it("refuses a root that is not one subject token, naming it", () => {
    for (const bad of ["", "a.b", "a b", "ow.*", ">", "é"]) {
      expect(() => subjects(bad), bad).toThrow(
        new RegExp(`subject root ${JSON.stringify(bad).replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`),
      );
    }
  });
});

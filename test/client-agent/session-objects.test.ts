/**
 * The post-removes of session objects, against a recording stand-in for the director: each object added
 * is registered; removing one clears the agent's list and registers the rest again, in order.
 */

import { messages } from "@overworld/protocol";
import { createLogger, type PostRemoveMessage } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { deleteUntilAnswered, SessionPostRemoves } from "../../services/client-agent/src/session-objects.ts";

const subjectOf = (doId: number) => `ow.ss.delete#${doId}`;

function recordingDirector() {
  const calls: string[] = [];
  let held: string[] = [];
  return {
    calls,
    held: () => held,
    director: {
      addPostRemoves: async (list: readonly PostRemoveMessage[]) => {
        calls.push(`add ${list.map((m) => m.subject).join(",")}`);
        held = [...held, ...list.map((m) => m.subject)];
      },
      clearPostRemoves: async () => {
        calls.push("clear");
        held = [];
      },
    },
  };
}

const messagesFor = (doIds: readonly number[]) =>
  doIds.map((doId) => ({ subject: subjectOf(doId), payload: new Uint8Array() }));

describe("session object post-removes", () => {
  it("registers each session object and re-registers the rest when one goes", async () => {
    const fake = recordingDirector();
    const postRemoves = new SessionPostRemoves(
      messagesFor,
      fake.director,
      createLogger("test", "t", "silent"),
    );
    await postRemoves.add(1);
    await postRemoves.add(2);
    await postRemoves.add(3);
    await postRemoves.remove(2);
    expect(fake.held()).toEqual([subjectOf(1), subjectOf(3)]);
    await postRemoves.remove(1);
    await postRemoves.remove(3);
    expect(fake.held()).toEqual([]);
    expect(fake.calls.at(-1)).toBe("clear");
    expect(postRemoves.size).toBe(0);
  });

  it("ignores removing an object it never held", async () => {
    const fake = recordingDirector();
    const postRemoves = new SessionPostRemoves(
      messagesFor,
      fake.director,
      createLogger("test", "t", "silent"),
    );
    await postRemoves.remove(42);
    expect(fake.calls).toEqual([]);
  });

  it("asks a session object's deletion again until a state server answers", async () => {
    const log = createLogger("test", "t", "silent");
    const answers = ["unavailable", "unavailable", "ok"];
    let asked = 0;
    await deleteUntilAnswered(
      7,
      async () => {
        const answer = answers[asked++];
        if (answer !== "ok") throw new messages.RequestError("unavailable", "no responders");
      },
      () => true,
      log,
    );
    expect(asked).toBe(3);
    // an object already gone is deleted; an agent that stops stops asking
    let gone = 0;
    await deleteUntilAnswered(
      8,
      async () => {
        gone++;
        throw new messages.RequestError("unknown_object", "object 8 does not exist");
      },
      () => true,
      log,
    );
    expect(gone).toBe(1);
    let stopped = 0;
    let running = true;
    await deleteUntilAnswered(
      9,
      async () => {
        stopped++;
        running = false;
        throw new messages.RequestError("unavailable", "no responders");
      },
      () => running,
      log,
    );
    expect(stopped).toBe(1);
  });
});

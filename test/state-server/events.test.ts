/** The event recorder on its own: batches, order of appends, flush, losses counted. */
import { createLogger } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { EventRecorder } from "../../services/state-server/src/events.ts";

const log = createLogger("state-server", "test", "silent");
const tick = () => new Promise((resolve) => setTimeout(resolve, 1));

describe("EventRecorder", () => {
  it("issues the appends in the order recorded, in batches, without waiting for one to finish", async () => {
    const issued: number[] = [];
    const batches: number[] = [];
    let outstanding = 0;
    let mostOutstanding = 0;
    const recorder = new EventRecorder(
      async (_kind, data) => {
        issued.push((data as { n: number }).n);
        outstanding += 1;
        mostOutstanding = Math.max(mostOutstanding, outstanding);
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 3));
        outstanding -= 1;
      },
      log,
      { batchMax: 100, observe: (appended) => batches.push(appended) },
    );
    for (let n = 0; n < 250; n++) recorder.record("object.created", { n });
    expect(issued).toEqual([]); // recording never runs the append itself
    await recorder.flush();
    expect(issued).toEqual(Array.from({ length: 250 }, (_, n) => n));
    expect(batches).toEqual([100, 100, 50]);
    expect(mostOutstanding).toBe(100);
    expect(recorder.queued).toBe(0);

    // recorded while a flush is under way: appended by it or by the next one, still in order
    recorder.record("object.created", { n: 250 });
    await tick();
    recorder.record("object.created", { n: 251 });
    await recorder.flush();
    expect(issued.slice(250)).toEqual([250, 251]);
  });

  it("counts failed appends and events past the queue limit as lost, and goes on", async () => {
    const lost: number[] = [];
    const appended: number[] = [];
    const recorder = new EventRecorder(
      async (_kind, data) => {
        const n = (data as { n: number }).n;
        if (n % 2 === 0) throw new Error("JetStream unavailable");
        appended.push(n);
      },
      log,
      { queueMax: 6, observe: (_ok, missing) => lost.push(missing) },
    );
    for (let n = 0; n < 10; n++) recorder.record("object.deleted", { n });
    await recorder.flush();
    expect(appended).toEqual([1, 3, 5]);
    expect(lost).toEqual([3 + 4]); // 0, 2, 4 failed; 6 to 9 did not fit the queue
    recorder.record("object.deleted", { n: 11 });
    await recorder.flush();
    expect(appended).toEqual([1, 3, 5, 11]);
    expect(lost).toEqual([7, 0]);
  });
});

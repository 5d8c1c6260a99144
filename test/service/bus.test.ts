import { encodeEnvelope, messages } from "@overworld/protocol";
import { createLogger, type NatsConnection, request, serve } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { connectOperator } from "../support/nats.ts";

const served = `ow.test.bus${process.pid}${Date.now()}`;
/** What a tool with channel 5 sends: the sender is the subject's last two tokens. */
const subject = `${served}.tool.5`;
const log = createLogger("test", "bus", "silent");
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connectOperator("bus-test");
  const add = z.object({ a: z.number(), b: z.number() });
  serve(
    nc,
    `${served}.*.*`,
    add,
    ({ a, b }, from) => {
      if (a === 0) return { from };
      if (a < 0) throw new messages.RequestError("bad_value", `a must not be negative, got ${a}`);
      if (a === 13) throw new Error("unlucky");
      return { sum: a + b };
    },
    { queue: "bus-test", log },
  );
  await nc.flush();
});

afterAll(async () => {
  await nc.drain();
});

describe("request and serve over the real NATS", () => {
  it("answers a valid request, telling the handler who sent it as the subject says", async () => {
    expect(await request(nc, subject, { a: 2, b: 3 })).toEqual({ ok: true, sum: 5 });
    expect(await request(nc, `${served}.zone-ai.42`, { a: 0, b: 3 })).toEqual({
      ok: true,
      from: { role: "zone-ai", channel: 42 },
    });
  });

  it("refuses a request whose subject names no sender", async () => {
    await expect(request(nc, `${served}.wizard.42`, { a: 2, b: 3 })).rejects.toMatchObject({
      code: "malformed",
      message: expect.stringMatching(/names no sender/),
    });
  });

  it("refuses a malformed request naming the member, and keeps serving", async () => {
    await expect(request(nc, subject, { a: "two", b: 3 })).rejects.toMatchObject({
      code: "malformed",
      message: expect.stringMatching(/^a: /),
    });
    const garbage = await nc.request(subject, new Uint8Array([0xc1]), { timeout: 2000 });
    expect(garbage.data.length).toBeGreaterThan(0);
    expect(await request(nc, subject, { a: 1, b: 1 })).toEqual({ ok: true, sum: 2 });
  });

  it("passes a handler's RequestError on with its code and reason", async () => {
    await expect(request(nc, subject, { a: -1, b: 0 })).rejects.toMatchObject({
      code: "bad_value",
      message: "a must not be negative, got -1",
    });
  });

  it("answers a handler crash with 'internal' and keeps serving", async () => {
    await expect(request(nc, subject, { a: 13, b: 0 })).rejects.toMatchObject({ code: "internal" });
    expect(await request(nc, subject, { a: 4, b: 4 })).toEqual({ ok: true, sum: 8 });
  });

  it("times out with 'unavailable' naming the subject when nobody serves it", async () => {
    await expect(request(nc, `${subject}.nobody`, encodeEnvelope({}), 300)).rejects.toMatchObject({
      code: "unavailable",
      message: expect.stringContaining(`${subject}.nobody`),
    });
  });
});

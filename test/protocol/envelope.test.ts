import { decodeEnvelope, EnvelopeError, type EnvelopeErrorCode, encodeEnvelope } from "@overworld/protocol";
import fc from "fast-check";
import { describe, expect, it } from "vitest";

function envelopeError(action: () => unknown): EnvelopeError {
  try {
    action();
  } catch (error) {
    if (error instanceof EnvelopeError) return error;
    throw error;
  }
  throw new Error("expected an EnvelopeError, but nothing was thrown");
}

function expectCode(action: () => unknown, code: EnvelopeErrorCode): void {
  expect(envelopeError(action).code).toBe(code);
}

describe("service envelopes (MessagePack)", () => {
  it("round-trips nested objects, 64-bit ids as bigints, and binary payloads as copies", () => {
    const envelope = {
      type: 2001,
      channel: 4_000_000_123n,
      sender: -(2n ** 63n),
      big: 2n ** 64n - 1n,
      name: "Flippy \u{1f42c}",
      ratio: 0.5,
      flags: [true, false, null],
      body: new Uint8Array([1, 2, 3]),
      nested: { list: [1, { deep: "x" }] },
    };
    const bytes = encodeEnvelope(envelope);
    const { body, ...rest } = decodeEnvelope(bytes) as typeof envelope;
    const { body: _sent, ...sentRest } = envelope;
    expect(rest).toEqual(sentRest);
    expect(body).toBeInstanceOf(Uint8Array);
    expect([...body]).toEqual([1, 2, 3]);
    bytes.fill(0);
    expect([...body]).toEqual([1, 2, 3]);
  });

  it("writes plain MessagePack maps (no msgpackr records)", () => {
    // A map (0x80-0x8f fixmap or 0xde map16), never msgpackr's record extension (0xd4 0x72 ...).
    const first = encodeEnvelope({ a: 1 })[0]!;
    expect(first === 0xde || (first & 0xf0) === 0x80).toBe(true);
  });

  it("keeps earlier results intact while encoding more", () => {
    const first = encodeEnvelope({ n: 1 });
    const copy = first.slice();
    for (let i = 0; i < 2000; i++) encodeEnvelope({ n: i, pad: "x".repeat(50) });
    expect(first).toEqual(copy);
  });

  it("rejects malformed input with an EnvelopeError", () => {
    expectCode(() => decodeEnvelope(new Uint8Array(0)), "malformed");
    expectCode(() => decodeEnvelope(encodeEnvelope({ a: "hello" }).subarray(0, 4)), "malformed");
    expectCode(() => decodeEnvelope(new Uint8Array([0x92, 0xc1, 0x01])), "malformed");
    expectCode(() => decodeEnvelope(new Uint8Array([0xc1])), "malformed");
    expectCode(() => decodeEnvelope("abc" as unknown as Uint8Array), "malformed");
    const withExtra = new Uint8Array([...encodeEnvelope(1), 0x01]);
    expectCode(() => decodeEnvelope(withExtra), "trailing_bytes");
  });

  it("rejects values it cannot encode with an EnvelopeError", () => {
    expectCode(() => encodeEnvelope(2n ** 64n), "unencodable");
    expectCode(() => encodeEnvelope(Symbol("x")), "unencodable");
  });

  it("never gives a prototype through a __proto__ key", () => {
    // {"__proto__": {"polluted": 1}} written by hand.
    const bytes = new Uint8Array([0x81, 0xa9, ...new TextEncoder().encode("__proto__"), 0x81, 0xa8]);
    const full = new Uint8Array([...bytes, ...new TextEncoder().encode("polluted"), 0x01]);
    const decoded = decodeEnvelope(full) as Record<string, unknown>;
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("answers random and mutated bytes with a value or an EnvelopeError", () => {
    const valid = encodeEnvelope({ type: 1, to: 12n, items: [1, "two", new Uint8Array(3)] });
    const input = fc.oneof(
      fc.uint8Array({ maxLength: 64 }),
      fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })).map(([at, byte]) => {
        const mutated = valid.slice();
        mutated[at % mutated.length] = byte;
        return mutated;
      }),
    );
    fc.assert(
      fc.property(input, (bytes) => {
        try {
          decodeEnvelope(bytes);
        } catch (error) {
          expect(error).toBeInstanceOf(EnvelopeError);
        }
      }),
      { numRuns: 3000 },
    );
  });
});

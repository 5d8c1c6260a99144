/**
 * Canonical ordering of one tick's inputs: however they arrive, they are applied in one order, so the
 * same inputs give the same state.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  canonicalOrder,
  compareInputs,
  dropRepeats,
  type OrderedInput,
} from "../../services/zone-ai/src/ordering.ts";

interface Input extends OrderedInput {
  readonly payload: Uint8Array;
}

const SET = 0;
const ADD = 1;
const DOUBLE = 2;

/**
 * A boss's hit points under inputs that do not commute (set, add, double), and who touched it last:
 * any change of order shows in the result.
 */
function apply(inputs: readonly Input[]): { hp: number; lastSource: number | string | undefined } {
  let hp = 100;
  let lastSource: number | string | undefined;
  for (const { payload, source } of inputs) {
    const [op, value] = payload;
    if (op === SET) hp = value!;
    else if (op === ADD) hp = (hp + value!) % 65_536;
    else hp = (hp * 2) % 65_536;
    lastSource = source;
  }
  return { hp, lastSource };
}

/**
 * Inputs that collide a lot: few times, few sources (numbered and named), few sequence numbers, so that
 * every tie-break is exercised, including repeats of a whole (time, source, sequence).
 */
const input: fc.Arbitrary<Input> = fc.record({
  time: fc.constantFrom(1000, 1016, 1016.5, 1033),
  source: fc.constantFrom<number | string>(7, 1_000_001, 1_000_002, "uberdog", "npc-brain"),
  sequence: fc.nat(3),
  payload: fc
    .tuple(fc.constantFrom(SET, ADD, DOUBLE), fc.nat(255))
    .map(([op, value]) => Uint8Array.of(op, value)),
});

/** Two arrival orders of the same inputs (copies of the objects, so identity cannot help). */
const twoArrivals = fc
  .array(input, { maxLength: 40 })
  .chain((inputs) =>
    fc.tuple(
      fc.shuffledSubarray(inputs, { minLength: inputs.length }),
      fc.shuffledSubarray(inputs, { minLength: inputs.length }),
    ),
  )
  .map(([a, b]) => [a.map((x) => ({ ...x })), b.map((x) => ({ ...x }))] as const);

const key = (x: Input) => `${x.time}|${typeof x.source}:${x.source}|${x.sequence}|${x.payload.join(",")}`;

describe("canonical order", () => {
  it("gives shuffled inputs the same order and the same state", () => {
    fc.assert(
      fc.property(twoArrivals, ([first, second]) => {
        const a = canonicalOrder(first);
        const b = canonicalOrder(second);
        expect(a.map(key)).toEqual(b.map(key));
        expect(apply(a)).toEqual(apply(b));
        expect(apply(dropRepeats(a))).toEqual(apply(dropRepeats(b)));
      }),
      { numRuns: 500 },
    );
  });

  it("matters: the same inputs in arrival order can give different states", () => {
    const hit = { time: 1000, source: 7, sequence: 1, payload: Uint8Array.of(ADD, 10) };
    const heal = { time: 1000, source: 8, sequence: 1, payload: Uint8Array.of(SET, 50) };
    expect(apply([hit, heal])).not.toEqual(apply([heal, hit]));
    expect(apply(canonicalOrder([hit, heal]))).toEqual(apply(canonicalOrder([heal, hit])));
  });

  it("sorts by time, then source (numbers before names), then sequence, then payload", () => {
    const inputs: Input[] = [
      { time: 2, source: 1, sequence: 0, payload: Uint8Array.of(0) },
      { time: 1, source: "b", sequence: 0, payload: Uint8Array.of(0) },
      { time: 1, source: "a", sequence: 5, payload: Uint8Array.of(0) },
      { time: 1, source: 9, sequence: 1, payload: Uint8Array.of(0) },
      { time: 1, source: 10, sequence: 0, payload: Uint8Array.of(0) },
      { time: 1, source: 9, sequence: 0, payload: Uint8Array.of(1, 0) },
      { time: 1, source: 9, sequence: 0, payload: Uint8Array.of(1) },
    ];
    const order = canonicalOrder(inputs).map(
      (x) => `${x.time}/${x.source}/${x.sequence}/${x.payload.join(".")}`,
    );
    expect(order).toEqual(["1/9/0/1", "1/9/0/1.0", "1/9/1/0", "1/10/0/0", "1/a/5/0", "1/b/0/0", "2/1/0/0"]);
  });

  it("is a total order: antisymmetric and transitive over colliding inputs", () => {
    fc.assert(
      fc.property(input, input, input, (a, b, c) => {
        expect(Math.sign(compareInputs(a, b))).toBe(-Math.sign(compareInputs(b, a)) || 0);
        if (compareInputs(a, b) <= 0 && compareInputs(b, c) <= 0)
          expect(compareInputs(a, c)).toBeLessThanOrEqual(0);
        // Equal only when interchangeable.
        if (compareInputs(a, b) === 0) expect(key(a)).toBe(key(b));
      }),
      { numRuns: 2000 },
    );
  });

  it("leaves its argument as it was", () => {
    const inputs = [
      { time: 2, source: 1, sequence: 0 },
      { time: 1, source: 1, sequence: 0 },
    ];
    canonicalOrder(inputs);
    expect(inputs.map((x) => x.time)).toEqual([2, 1]);
  });

  it("keeps one input of a repeated source and sequence, the first in canonical order", () => {
    const retried = [
      { time: 1016, source: 7, sequence: 3, payload: Uint8Array.of(ADD, 1) },
      { time: 1000, source: 7, sequence: 3, payload: Uint8Array.of(ADD, 1) },
      { time: 1000, source: "7", sequence: 3, payload: Uint8Array.of(ADD, 1) },
    ];
    expect(dropRepeats(canonicalOrder(retried))).toEqual([retried[1], retried[2]]);
  });

  it("refuses an input it cannot order, naming it", () => {
    const good = { time: 1, source: 1, sequence: 1 };
    expect(() => canonicalOrder([good, { ...good, time: Number.NaN }])).toThrow(
      /input 1: time must be a finite number of ms, got NaN/,
    );
    expect(() => canonicalOrder([{ ...good, sequence: Number.POSITIVE_INFINITY }])).toThrow(
      /input 0: sequence/,
    );
    expect(() => canonicalOrder([{ ...good, source: null as unknown as string }])).toThrow(
      /input 0: source must be a finite number or a string, got null/,
    );
  });
});

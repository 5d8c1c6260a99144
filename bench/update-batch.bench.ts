/**
 * The batch a client agent sends the state server (`ss.updates`), both ways it may travel: as a msgpack
 * envelope checked by the catalogue's zod schema (as every request was, and operators' still are), and as
 * the binary frame the typed client now sends (update-batch-frame.ts). Each round encodes the batch as the
 * sender does and decodes it as the state server does; the two alternate round by round.
 *
 *   node --import tsx bench/update-batch.bench.ts            # 9 rounds of 300 ms
 *   node --import tsx bench/update-batch.bench.ts --quick    # 3 rounds of 80 ms
 *
 * The batch: 200 groups (one per client, as the agent forwards a turn of the event loop at N = 200), each
 * one 14-byte `setSmXYH` value. Figures: medians of CPU µs per batch and per update (process user + system
 * time), and the bytes on the wire.
 */
import {
  decodeEnvelope,
  decodeUpdateBatchFrame,
  encodeEnvelope,
  encodeUpdateBatchFrame,
  messages,
} from "@overworld/protocol";

const QUICK = process.argv.includes("--quick");
const ROUNDS = QUICK ? 3 : 9;
const ROUND_MS = QUICK ? 80 : 300;
const CLIENTS = 200;
const VALUE_BYTES = 14;

const batch: messages.UpdateBatch = {
  groups: Array.from({ length: CLIENTS }, (_, i) => [
    1_000_000 + i,
    [[100_000 + i * 3, 151, new Uint8Array(VALUE_BYTES).fill(i & 0xff)]],
  ]),
  seq: 12_345,
};

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

let kept = 0;
const ways = {
  "envelope + zod": () => {
    const parsed = messages.updateBatch.safeParse(decodeEnvelope(encodeEnvelope(batch)));
    if (!parsed.success) throw new Error("the batch does not parse");
    kept += parsed.data.groups.length;
  },
  "binary frame": () => {
    kept += decodeUpdateBatchFrame(encodeUpdateBatchFrame(batch)).groups.length;
  },
};

/** CPU µs per batch over one round. */
function round(way: () => void): number {
  const start = cpuMicros();
  const until = performance.now() + ROUND_MS;
  let count = 0;
  while (performance.now() < until) {
    way();
    count++;
  }
  return (cpuMicros() - start) / count;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const results = Object.fromEntries(Object.keys(ways).map((name) => [name, [] as number[]]));
for (const way of Object.values(ways)) round(way); // warm-up
for (let r = 0; r < ROUNDS; r++) {
  const order = r % 2 === 0 ? Object.entries(ways) : Object.entries(ways).reverse();
  for (const [name, way] of order) results[name]!.push(round(way));
}
const sizes = {
  "envelope + zod": encodeEnvelope(batch).length,
  "binary frame": encodeUpdateBatchFrame(batch).length,
};
console.log(
  `update batch: ${CLIENTS} groups of one ${VALUE_BYTES}-byte value, encoded and decoded; medians of ${ROUNDS} rounds:`,
);
for (const [name, rounds] of Object.entries(results)) {
  const perBatch = median(rounds);
  console.log(
    `  ${name.padEnd(14)}  ${perBatch.toFixed(1)} µs per batch  ${(perBatch / CLIENTS).toFixed(2)} µs per update  ` +
      `${sizes[name as keyof typeof sizes]} bytes  (${rounds.map((v) => v.toFixed(0)).join(", ")})`,
  );
}
if (kept < 0) console.log(kept);

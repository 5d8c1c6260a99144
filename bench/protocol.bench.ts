/**
 * Protocol benchmark: Overworld's dclass packing and tick deltas side by side with @colyseus/schema 5
 * encoding the same data, in the same process, rounds interleaved so machine noise hits both alike.
 *
 *   pnpm bench:protocol            # full run (about a minute)
 *   pnpm bench:protocol --quick    # short rounds, for a smoke check
 *   pnpm bench:protocol --json out.json
 *
 * Cases:
 * - set and encode a position update (two float32) of one object; decode it and apply it to a replica;
 * - the packer alone (pack and unpack the field value, no change tracking);
 * - a tick's delta over 1,000 objects with 10% moving: produce it; apply it to a replica;
 * - bytes of one position update, and of a whole tick.
 * Figures are medians over rounds; ratios are Overworld / Colyseus (above 1 means Overworld is faster).
 */
import { writeFileSync } from "node:fs";
import { Decoder, Encoder, schema, t } from "@colyseus/schema";
import {
  applyTickDeltas,
  DatagramReader,
  DatagramWriter,
  DeltaTracker,
  encodeTickDeltas,
  ObjectState,
  parseDcText,
  readField,
  writeField,
} from "@overworld/protocol";

const QUICK = process.argv.includes("--quick");
const JSON_OUT = argValue("--json");
const ROUNDS = QUICK ? 3 : 9;
const ROUND_MS = QUICK ? 80 : 300;
const OBJECTS = 1000;
const MOVING = 100;

function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

// ---- timing -------------------------------------------------------------------------------------

/** Runs `op` in batches for about ROUND_MS and returns operations per second. */
function round(op: () => void): number {
  let batch = 1;
  const deadline = performance.now() + ROUND_MS;
  let ops = 0;
  const start = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < batch; i++) op();
    ops += batch;
    if (batch < 1 << 16) batch *= 2;
  }
  return ops / ((performance.now() - start) / 1000);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface Pair {
  readonly name: string;
  readonly overworld: number;
  readonly colyseus: number;
}

/** Alternates rounds of the two contenders and returns the median ops/s of each. */
function compare(name: string, overworld: () => void, colyseus: () => void): Pair {
  round(overworld); // warm-up: let the JIT settle both
  round(colyseus);
  const ours: number[] = [];
  const theirs: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    ours.push(round(overworld));
    theirs.push(round(colyseus));
    process.stderr.write(`\r  ${name}: round ${i + 1}/${ROUNDS}   `);
  }
  process.stderr.write("\r\x1b[K");
  return { name, overworld: median(ours), colyseus: median(theirs) };
}

// ---- the Overworld side -------------------------------------------------------------------------

const dc = parseDcText(`
  dclass Player {
    setXY(float32 x, float32 y) required broadcast ram ownsend;
  };
`);
const Player = dc.class("Player")!;
const setXY = Player.field("setXY")!;
const FIRST_DOID = 100_000_000;

function overworldWorld(tracker?: DeltaTracker): ObjectState[] {
  return Array.from(
    { length: OBJECTS },
    (_, i) =>
      new ObjectState(Player, { setXY: [i, i] }, { doId: FIRST_DOID + i, ...(tracker ? { tracker } : {}) }),
  );
}

// ---- the Colyseus side --------------------------------------------------------------------------

Encoder.BUFFER_SIZE = 256 * 1024;
const ColyPlayer = schema({ x: t.float32(), y: t.float32() }, "Player");
const ColyState = schema({ players: t.map(ColyPlayer) }, "State");
type ColyPlayerT = InstanceType<typeof ColyPlayer>;

function colyseusWorld(count: number) {
  const state = new ColyState();
  const players: ColyPlayerT[] = [];
  for (let i = 0; i < count; i++) {
    const player = new ColyPlayer();
    player.x = i;
    player.y = i;
    state.players.set(String(FIRST_DOID + i), player);
    players.push(player);
  }
  const encoder = new Encoder(state);
  const full = encoder.encodeAll();
  encoder.discardChanges();
  const decoder = new Decoder(new ColyState());
  decoder.decode(full);
  return { encoder, decoder, players };
}

// ---- cases --------------------------------------------------------------------------------------

let tickNo = 0;

/** A single-object world with a tracker, for the one-update cases. */
function oneOverworldObject() {
  const tracker = new DeltaTracker();
  const state = new ObjectState(Player, { setXY: [0, 0] }, { doId: FIRST_DOID, tracker });
  return { tracker, state };
}

function encodeUpdate(): Pair {
  const { tracker, state } = oneOverworldObject();
  const writer = new DatagramWriter(64);
  const overworld = () => {
    state.set(setXY, [tickNo++, tickNo]);
    writer.reset();
    encodeTickDeltas(tracker, writer);
  };
  const coly = colyseusWorld(1);
  const player = coly.players[0]!;
  const colyseus = () => {
    player.x = tickNo++;
    player.y = tickNo;
    coly.encoder.encode();
    coly.encoder.discardChanges();
  };
  return compare("set and encode one position update", overworld, colyseus);
}

function applyUpdate(): Pair {
  const { tracker, state } = oneOverworldObject();
  state.set(setXY, [1.5, 2.5]);
  const writer = new DatagramWriter(64);
  encodeTickDeltas(tracker, writer);
  const bytes = writer.toBytes();
  const reader = new DatagramReader(bytes);
  const replica = new ObjectState(Player, { setXY: [0, 0] }, { doId: FIRST_DOID });
  const resolve = () => replica;
  const overworld = () => {
    reader.reset(bytes);
    applyTickDeltas(reader, resolve);
  };
  const coly = colyseusWorld(1);
  coly.players[0]!.x = 1.5;
  coly.players[0]!.y = 2.5;
  const colyBytes = Uint8Array.from(coly.encoder.encode());
  coly.encoder.discardChanges();
  const colyseus = () => {
    coly.decoder.decode(colyBytes);
  };
  return compare("decode and apply one position update", overworld, colyseus);
}

/** The packer alone (no change tracking): Colyseus has no separate step to compare it with. */
function packerOnly(): { pack: number; unpack: number } {
  const writer = new DatagramWriter(64);
  const value = [0, 0];
  const pack = () => {
    writer.reset();
    value[0] = tickNo++;
    writeField(writer, setXY, value);
  };
  writeField(writer, setXY, [1.5, 2.5]);
  const packed = writer.toBytes();
  const reader = new DatagramReader(packed);
  const unpack = () => {
    reader.reset(packed);
    readField(reader, setXY);
  };
  round(pack);
  round(unpack);
  const packs: number[] = [];
  const unpacks: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    packs.push(round(pack));
    unpacks.push(round(unpack));
  }
  return { pack: median(packs), unpack: median(unpacks) };
}

function moveOverworld(states: ObjectState[], tick: number): void {
  for (let i = 0; i < MOVING; i++) {
    const index = (i * (OBJECTS / MOVING) + tick) % OBJECTS;
    states[index]!.set(setXY, [tick + i, tick - i]);
  }
}

function moveColyseus(players: ColyPlayerT[], tick: number): void {
  for (let i = 0; i < MOVING; i++) {
    const player = players[(i * (OBJECTS / MOVING) + tick) % OBJECTS]!;
    player.x = tick + i;
    player.y = tick - i;
  }
}

function produceTick(): Pair {
  const tracker = new DeltaTracker();
  const states = overworldWorld(tracker);
  const writer = new DatagramWriter(16 * 1024);
  const overworld = () => {
    moveOverworld(states, tickNo++);
    writer.reset();
    encodeTickDeltas(tracker, writer);
  };
  const coly = colyseusWorld(OBJECTS);
  const colyseus = () => {
    moveColyseus(coly.players, tickNo++);
    coly.encoder.encode();
    coly.encoder.discardChanges();
  };
  return compare(`produce a tick delta (${OBJECTS} objects, ${MOVING} moving)`, overworld, colyseus);
}

function applyTick(): Pair & { readonly bytes: { overworld: number; colyseus: number } } {
  const tracker = new DeltaTracker();
  const source = overworldWorld(tracker);
  const replicas = new Map(overworldWorld().map((state) => [state.doId, state]));
  moveOverworld(source, 7);
  const writer = new DatagramWriter(16 * 1024);
  encodeTickDeltas(tracker, writer);
  const tick = writer.toBytes();
  const reader = new DatagramReader(tick);
  const resolve = (doId: number) => replicas.get(doId);
  const overworld = () => {
    reader.reset(tick);
    applyTickDeltas(reader, resolve);
  };
  const coly = colyseusWorld(OBJECTS);
  moveColyseus(coly.players, 7);
  const colyTick = Uint8Array.from(coly.encoder.encode());
  coly.encoder.discardChanges();
  const colyseus = () => {
    coly.decoder.decode(colyTick);
  };
  const pair = compare(`apply a tick delta (${MOVING} of ${OBJECTS} moved)`, overworld, colyseus);
  return { ...pair, bytes: { overworld: tick.length, colyseus: colyTick.length } };
}

function singleUpdateBytes(): { overworld: number; colyseus: number; overworldValue: number } {
  const tracker = new DeltaTracker();
  const states = overworldWorld(tracker);
  states[5]!.set(setXY, [1.5, 2.5]);
  const writer = new DatagramWriter(64);
  encodeTickDeltas(tracker, writer);
  const coly = colyseusWorld(OBJECTS);
  coly.players[5]!.x = 1.5;
  coly.players[5]!.y = 2.5;
  const colyBytes = coly.encoder.encode().length;
  const value = new DatagramWriter(16);
  writeField(value, setXY, [1.5, 2.5]);
  return { overworld: writer.position, colyseus: colyBytes, overworldValue: value.position };
}

// ---- report -------------------------------------------------------------------------------------

function fmt(opsPerSecond: number): string {
  return opsPerSecond >= 1e6 ? `${(opsPerSecond / 1e6).toFixed(2)}M` : `${(opsPerSecond / 1e3).toFixed(1)}k`;
}

function main(): void {
  process.stderr.write(`protocol benchmark: ${ROUNDS} rounds of ${ROUND_MS} ms per contender, medians\n`);
  const single = singleUpdateBytes();
  const pairs = [encodeUpdate(), applyUpdate(), produceTick()];
  const packer = packerOnly();
  const apply = applyTick();
  pairs.push(apply);

  const rows = pairs.map((p) => [
    p.name,
    `${fmt(p.overworld)}/s`,
    `${fmt(p.colyseus)}/s`,
    `${(p.overworld / p.colyseus).toFixed(2)}x`,
  ]);
  rows.push(["packer only: pack setXY(float32, float32)", `${fmt(packer.pack)}/s`, "-", "-"]);
  rows.push(["packer only: unpack setXY(float32, float32)", `${fmt(packer.unpack)}/s`, "-", "-"]);
  const perUpdate = (bytes: number) => (bytes / MOVING).toFixed(2);
  rows.push(["bytes: one position update (value only)", String(single.overworldValue), "-", "-"]);
  rows.push([
    "bytes: one position update (with object and field id)",
    String(single.overworld),
    String(single.colyseus),
    `${(single.overworld / single.colyseus).toFixed(2)}x`,
  ]);
  rows.push([
    `bytes: tick of ${MOVING} moving`,
    `${apply.bytes.overworld} (${perUpdate(apply.bytes.overworld)}/update)`,
    `${apply.bytes.colyseus} (${perUpdate(apply.bytes.colyseus)}/update)`,
    `${(apply.bytes.overworld / apply.bytes.colyseus).toFixed(2)}x`,
  ]);
  const header = ["case", "Overworld", "@colyseus/schema 5", "ratio"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  ");
  console.log(line(header));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const row of rows) console.log(line(row));
  console.log(
    "\nratio: ops/s Overworld / Colyseus (higher is better for Overworld); bytes Overworld / Colyseus (lower is better)",
  );
  if (JSON_OUT) {
    writeFileSync(
      JSON_OUT,
      JSON.stringify(
        { date: new Date().toISOString(), node: process.version, pairs, packer, single, tick: apply.bytes },
        null,
        2,
      ),
    );
  }
}

main();

/**
 * Byte-cursor benchmark: the three hot paths the shared DatagramReader / DatagramWriter serve, through
 * their public APIs only, so the same file measures any implementation of the cursor underneath.
 *
 *   node --import tsx bench/cursor.bench.ts            # 9 rounds of 300 ms per case
 *   node --import tsx bench/cursor.bench.ts --quick    # 3 rounds of 80 ms, a smoke check
 *   node --import tsx bench/cursor.bench.ts --json out.json
 *
 * Cases:
 * - fieldUpdates: pack 40 position updates (float32 x, float32 y, uint32 sent time) with the dclass
 *   packer, frame them as one FIELD_UPDATES message, then read it in place and unpack every value;
 * - netcode: write and read a keep-alive packet's data through the AEAD, and a connect token with its
 *   private part (the layouts the netcode cursor reads and writes);
 * - reliable: one endpoint sends 8 reliable and 8 unreliable messages, builds its datagram(s), and the
 *   other endpoint receives them (header, records, acks).
 * Figures are medians over rounds, in operations per CPU second (the process's user + system time, so a
 * busy machine slows the run down but moves the figures less).
 */
import { writeFileSync } from "node:fs";
import {
  DatagramReader,
  DatagramWriter,
  netcode,
  parseDcText,
  readField,
  reliable,
  writeField,
} from "@overworld/protocol";
import {
  AgentMessageType,
  encodeAgentMessage,
  type FieldUpdate,
  readFieldUpdates,
  type WireClasses,
} from "@overworld/protocol/client";

const QUICK = process.argv.includes("--quick");
const JSON_OUT = argValue("--json");
const ROUNDS = QUICK ? 3 : 9;
const ROUND_MS = QUICK ? 80 : 300;

function argValue(flag: string): string | undefined {
  const at = process.argv.indexOf(flag);
  return at >= 0 ? process.argv[at + 1] : undefined;
}

/** Microseconds of CPU this process has used: unlike wall time, not inflated by other work on the machine. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** Runs `op` in doubling batches for about ROUND_MS of CPU and returns operations per CPU second. */
function round(op: () => void): number {
  let batch = 1;
  let ops = 0;
  const start = cpuMicros();
  const budget = ROUND_MS * 1000;
  while (cpuMicros() - start < budget) {
    for (let i = 0; i < batch; i++) op();
    ops += batch;
    if (batch < 1 << 14) batch *= 2;
  }
  return ops / ((cpuMicros() - start) / 1e6);
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[sorted.length >> 1]!;
}

// ---- FIELD_UPDATES ------------------------------------------------------------------------------

const dc = parseDcText(`
dclass Avatar {
  setMove(float32 x, float32 y, uint32 sentAt) broadcast ram;
};
`);
const avatar = dc.class("Avatar")!;
const setMove = avatar.field("setMove")!;
const UPDATES = 40;
const valueWriter = new DatagramWriter(64);
const valueReader = new DatagramReader(new Uint8Array(0));
const updates: FieldUpdate[] = [];
/** Every object of the benchmark is an Avatar. */
const classes: WireClasses = { dc, classOf: () => avatar };
let unpacked = 0;

function fieldUpdatesRoundTrip(): void {
  updates.length = 0;
  for (let i = 0; i < UPDATES; i++) {
    valueWriter.reset();
    writeField(valueWriter, setMove, [i * 1.5, i * -0.25, 1000 + i]);
    updates.push({
      doId: 100_000 + i,
      classId: avatar.id,
      fieldId: setMove.id,
      value: valueWriter.toBytes(),
    });
  }
  const message = encodeAgentMessage({ type: AgentMessageType.FieldUpdates, updates }, dc);
  const read = readFieldUpdates(message, classes, (_doId, _field, _nested, bytes, start, end) => {
    valueReader.reset(bytes, start, end);
    const value = readField(valueReader, setMove) as number[];
    unpacked += value[2]!;
  });
  if (!read.ok) throw new Error(`FIELD_UPDATES unreadable: ${read.detail}`);
}

// ---- netcode ------------------------------------------------------------------------------------

const PROTOCOL_ID = 0x1122334455667788n;
const key = new Uint8Array(32).fill(7);
const keepAlive = { type: netcode.PacketType.KeepAlive, clientIndex: 3, maxClients: 64 } as const;
const addresses = [netcode.parseAddress("127.0.0.1:40000"), netcode.parseAddress("[::1]:40001")];
let netcodeSequence = 0n;

function netcodeRoundTrip(): void {
  netcodeSequence += 1n;
  const packet = netcode.writeEncryptedPacket(keepAlive, netcodeSequence, key, PROTOCOL_ID);
  const read = netcode.readEncryptedPacket(packet, {
    key,
    protocolId: PROTOCOL_ID,
    allowed: netcode.CLIENT_ACCEPTED_PACKETS,
  });
  if (!read.ok) throw new Error(`keep-alive unreadable: ${read.reason}`);
  const privatePart = netcode.writePrivateToken({
    clientId: netcodeSequence,
    timeoutSeconds: 10,
    serverAddresses: addresses,
    clientToServerKey: key,
    serverToClientKey: key,
    userData: new Uint8Array(netcode.USER_DATA_BYTES),
  });
  const token = netcode.readPrivateToken(privatePart);
  if (!token.ok) throw new Error(`private token unreadable: ${token.reason}`);
  const whole = netcode.writeConnectToken({
    protocolId: PROTOCOL_ID,
    createTimestamp: 1n,
    expireTimestamp: 2n,
    nonce: new Uint8Array(netcode.CONNECT_TOKEN_NONCE_BYTES),
    sealedPrivate: privatePart,
    timeoutSeconds: 10,
    serverAddresses: addresses,
    clientToServerKey: key,
    serverToClientKey: key,
  });
  if (!netcode.readConnectToken(whole).ok) throw new Error("connect token unreadable");
}

// ---- reliable -----------------------------------------------------------------------------------

const sender = new reliable.ReliableEndpoint();
const receiver = new reliable.ReliableEndpoint();
const reliablePayload = new Uint8Array(40).fill(1);
const unreliablePayload = new Uint8Array(24).fill(2);
let now = 0;

function reliableRoundTrip(): void {
  now += 1;
  for (let i = 0; i < 8; i++) {
    sender.sendReliable(reliablePayload);
    sender.sendUnreliable(unreliablePayload);
  }
  for (const datagram of sender.update(now)) {
    const result = receiver.receivePacket(datagram, now);
    if (!result.accepted) throw new Error(`reliable datagram dropped: ${result.reason}`);
  }
  for (const datagram of receiver.update(now)) sender.receivePacket(datagram, now);
}

// ---- main ---------------------------------------------------------------------------------------

const cases = { fieldUpdates: fieldUpdatesRoundTrip, netcode: netcodeRoundTrip, reliable: reliableRoundTrip };
const results: Record<string, number[]> = { fieldUpdates: [], netcode: [], reliable: [] };
for (const op of Object.values(cases)) round(op); // warm up every case before timing any
for (let r = 0; r < ROUNDS; r++) {
  for (const [name, op] of Object.entries(cases)) results[name]!.push(round(op));
}
const medians = Object.fromEntries(Object.entries(results).map(([name, rounds]) => [name, median(rounds)]));
for (const [name, opsPerSecond] of Object.entries(medians)) {
  console.log(`${name.padEnd(14)} ${Math.round(opsPerSecond).toLocaleString("en-US").padStart(12)} ops/s`);
}
if (unpacked < 0) console.log("unreachable"); // keeps the unpacked values alive
if (JSON_OUT !== undefined) writeFileSync(JSON_OUT, JSON.stringify(medians));

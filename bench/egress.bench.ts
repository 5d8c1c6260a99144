/**
 * Client-agent egress benchmark (issue 10 item 2): the CPU the agent spends per datagram it sends, without
 * sockets, in one process, through the public APIs the agent uses: per tick and per session, one zone's
 * STATE_UPDATES (encoded once per tick, shared by every session) queued on the session's reliable
 * endpoint, the endpoint's datagrams built, each sealed as a netcode payload packet (the AEAD); every
 * other tick each client's ack packet is received by the agent's endpoint.
 *
 *   node --import tsx bench/egress.bench.ts            # 200 sessions, 9 rounds of 100 ticks
 *   node --import tsx bench/egress.bench.ts --quick    # 3 rounds of 20 ticks
 *
 * The clients' side (receiving the datagrams, building the acks) runs outside the measured spans. The
 * variants alternate round by round: "copying" (the endpoint copies messages when queued and datagrams out of
 * its builder, each packet is a new array), "in place" (the client agent's: `copyMessages: false`,
 * `updateViews`, packets sealed into a ByteSlab as NetcodeServer does), and "in place" with the real socket:
 * each packet sent over loopback UDP to a process that reads them (bench/support/udp-sink.ts), either as
 * the client agent sends (`netcode.openUdpEndpoint`: no completion callback) or with a completion callback
 * per send (as the agent did before 2026-12-03's second hot-path pass). The figure is the median over
 * rounds of agent CPU µs per datagram (process user + system time, so a busy machine moves it less than wall
 * time would; the kernel's loopback delivery to the reader is charged to the sender's system time).
 */
import { fork } from "node:child_process";
import { createSocket } from "node:dgram";
import { ByteSlab, netcode, reliable } from "@overworld/protocol";

const QUICK = process.argv.includes("--quick");
const SESSIONS = 200;
const ROUNDS = QUICK ? 3 : 9;
const TICKS = QUICK ? 20 : 100;
const TICK_MS = 50;
/** About one zone's STATE_UPDATES per tick at N = 200 (50 moves of 9 bytes). */
const STATE_BYTES = 450;
const PROTOCOL_ID = 0x1234n;
const key = new Uint8Array(32).fill(7);

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

interface Pair {
  readonly agent: reliable.ReliableEndpoint;
  readonly client: reliable.ReliableEndpoint;
  sequence: bigint;
}

/**
 * The two ways an agent can drive its endpoints, alternated round by round: "copying" (messages copied when
 * queued, datagrams copied out of the builder: `update`), and "in place" (as the client agent does:
 * `copyMessages: false` and `updateViews`).
 */
interface Variant {
  readonly name: string;
  readonly pairs: Pair[];
  readonly build: (endpoint: reliable.ReliableEndpoint, now: number) => Uint8Array[];
  /** Where each packet is sealed: a new array each (copying), a slab's share (in place, as NetcodeServer does). */
  readonly allocate: ((size: number) => Uint8Array) | undefined;
  /** Where each sealed packet goes: nowhere, or a real socket. */
  readonly send: ((packet: Uint8Array) => void) | undefined;
  now: number;
  readonly perDatagram: number[];
}

function variantOf(name: string, copyMessages: boolean, send?: (packet: Uint8Array) => void): Variant {
  return {
    name,
    pairs: Array.from({ length: SESSIONS }, () => ({
      agent: new reliable.ReliableEndpoint({ copyMessages }),
      client: new reliable.ReliableEndpoint(),
      sequence: 0n,
    })),
    build: copyMessages
      ? (endpoint, now) => endpoint.update(now)
      : (endpoint, now) => endpoint.updateViews(now),
    allocate: copyMessages ? undefined : slabAllocator(),
    send,
    now: 1_000,
    perDatagram: [],
  };
}

function slabAllocator(): (size: number) => Uint8Array {
  const slab = new ByteSlab();
  return (size) => slab.alloc(size);
}

/** A process that reads what the socket variants send, as the clients would. */
const sink = fork(new URL("./support/udp-sink.ts", import.meta.url).pathname, [], {
  execArgv: ["--import", "tsx"],
});
const sinkPort = await new Promise<number>((resolve) =>
  sink.once("message", (port) => resolve(port as number)),
);
const udp = await netcode.openUdpEndpoint({ onDatagram: () => {} });
const sinkAddress = netcode.addressFromHostPort("127.0.0.1", sinkPort);
const withCallback = createSocket("udp4");
await new Promise<void>((resolve) => withCallback.bind(0, "127.0.0.1", () => resolve()));
let sendsUnderWay = 0;
const sent = () => {
  sendsUnderWay -= 1;
};

const variants = [
  variantOf("copying", true),
  variantOf("in place", false),
  variantOf("in place + socket", false, (packet) => udp.send(packet, sinkAddress)),
  variantOf("in place + socket, callback per send", false, (packet) => {
    sendsUnderWay += 1;
    withCallback.send(packet, sinkPort, "127.0.0.1", sent);
  }),
];
let bytesOut = 0;

/** One tick; returns [agent CPU µs, datagrams sent]. The socket variants' sends complete within the span. */
async function tick(variant: Variant, index: number): Promise<[number, number]> {
  const { pairs, build, allocate, send } = variant;
  variant.now += TICK_MS;
  const now = variant.now;
  const state = new Uint8Array(STATE_BYTES).fill(index & 0xff);
  const tag = { tick: index };
  const sent: Uint8Array[][] = [];
  let datagrams = 0;
  const start = cpuMicros();
  for (const pair of pairs) {
    pair.agent.sendUnreliable(state, undefined, tag);
    const plain: Uint8Array[] = [];
    for (const payload of build(pair.agent, now)) {
      const packet = netcode.writeEncryptedPacket(
        { type: netcode.PacketType.Payload, payload },
        pair.sequence++,
        key,
        PROTOCOL_ID,
        allocate,
      );
      send?.(packet);
      bytesOut += packet.length;
      plain.push(payload.slice()); // the client's copy (outside the measured span's cost model)
      datagrams += 1;
    }
    sent.push(plain);
    bytesOut += pair.agent.takeLostTags().length;
  }
  if (send !== undefined) await new Promise((resolve) => setImmediate(resolve)); // dgram sends after a tick
  let agentMicros = cpuMicros() - start;
  const acks: Uint8Array[][] = [];
  for (let i = 0; i < pairs.length; i++) {
    const pair = pairs[i]!;
    for (const payload of sent[i]!) pair.client.receivePacket(payload, now);
    acks.push(index % 2 === 0 ? pair.client.update(now).map((ack) => ack.slice()) : []);
  }
  const ackStart = cpuMicros();
  for (let i = 0; i < pairs.length; i++) {
    for (const ack of acks[i]!) pairs[i]!.agent.receivePacket(ack, now);
  }
  agentMicros += cpuMicros() - ackStart;
  return [agentMicros, datagrams];
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

for (const each of variants) for (let i = 0; i < TICKS; i++) await tick(each, i); // warm-up
for (let round = 0; round < ROUNDS; round++) {
  for (const each of round % 2 === 0 ? variants : [...variants].reverse()) {
    let micros = 0;
    let datagrams = 0;
    for (let i = 0; i < TICKS; i++) {
      const [spent, count] = await tick(each, i);
      micros += spent;
      datagrams += count;
    }
    each.perDatagram.push(micros / datagrams);
  }
}
console.log(
  `egress: ${SESSIONS} sessions, a ${STATE_BYTES}-byte state message a tick; agent CPU µs per datagram ` +
    `(reliable endpoint + AEAD, and the socket where named), median of ${ROUNDS} rounds:`,
);
for (const each of variants) {
  const rounds = each.perDatagram.map((v) => v.toFixed(2)).join(", ");
  console.log(`  ${each.name.padEnd(36)}  ${median(each.perDatagram).toFixed(2)}  (${rounds})`);
}
await udp.close();
withCallback.close();
sink.send("done");
const received = await new Promise<number>((resolve) => sink.once("message", (n) => resolve(n as number)));
console.log(
  `  (the reader got ${received} datagrams; ${bytesOut} bytes sealed; ${sendsUnderWay} sends under way at the end)`,
);

/**
 * One end of the link benchmark, run inside a network namespace: a LinkNode (libs/federation) on UDP
 * 41000 that registers with main and links as main assigns. Each event is one JSON line on stdout. The
 * dialer, once linked, measures: round trips of a small reliable message (ping, pong), then how many
 * shared-object slot updates (messages of a boss slot's size) one link carries per second.
 *
 * Environment: CLUSTER_NAME, CLUSTER_SEED (hex), SIGNALING_URL, SIGNALING_KEY, PINGS, UPDATES.
 */
import { decodeKey, LinkNode, MainClient, parseSeed, signingKeyFromSeed } from "@overworld/federation";
import { netcode } from "@overworld/protocol";

const Kind = { Ping: 1, Pong: 2, Update: 3, Done: 4 } as const;
const say = (event: Record<string, unknown>) =>
  process.stdout.write(`${JSON.stringify({ at: Date.now(), ...event })}\n`);

const name = process.env.CLUSTER_NAME!;
const key = signingKeyFromSeed(parseSeed(process.env.CLUSTER_SEED!));
const main = new MainClient(process.env.SIGNALING_URL!, name, key, decodeKey(process.env.SIGNALING_KEY!)!);
const pings = Number(process.env.PINGS ?? 2000);
const updates = Number(process.env.UPDATES ?? 100_000);
/** A shared-object slot update as the link end sends it: a boss's damage slot, msgpack, ~90 bytes. */
const UPDATE_BYTES = 90;

await main.register({ plugins: [] });
const identity = await main.identity();
let node: LinkNode;
const udp = await netcode.openUdpEndpoint({
  host: "0.0.0.0",
  port: 41000,
  onDatagram: (bytes, from) => node.receive(bytes, from),
});
let received = 0;
let pong: (() => void) | undefined;
let done: (() => void) | undefined;
node = new LinkNode({
  cluster: name,
  instance: `${name}-bench`,
  key,
  keys: main.keys,
  rendezvous: netcode.parseAddress(identity.rendezvous),
  send: (bytes, to) => udp.send(bytes, to),
  requestToken: async (peer) => (await main.linkToken(peer)).token,
  log: { info: () => {}, warn: () => {} },
  heartbeatMs: 200,
  punchTimeoutMs: 2000,
  onLinkUp: (peer, via) => {
    say({ event: "up", peer, via });
    if (name < peer) void measure(peer);
  },
  onLinkDown: (peer, reason) => say({ event: "down", peer, reason }),
  onMessage: (peer, bytes) => {
    switch (bytes[0]) {
      case Kind.Ping:
        node.sendTo(peer, new Uint8Array([Kind.Pong, ...bytes.subarray(1)]));
        return;
      case Kind.Pong:
        pong?.();
        return;
      case Kind.Update:
        received += 1;
        if (received === updates) node.sendTo(peer, new Uint8Array([Kind.Done]));
        return;
      case Kind.Done:
        done?.();
        return;
    }
  },
});
setInterval(() => node.update(), 5);

async function measure(peer: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 500));
  const rtts: number[] = [];
  const ping = new Uint8Array(16);
  ping[0] = Kind.Ping;
  for (let i = 0; i < pings; i++) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      pong = resolve;
      node.sendTo(peer, ping);
    });
    rtts.push(performance.now() - start);
  }
  rtts.sort((a, b) => a - b);
  const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))]!;
  say({ event: "rtt", p50: at(0.5), p99: at(0.99), mean: rtts.reduce((s, v) => s + v, 0) / rtts.length });

  const update = new Uint8Array(UPDATE_BYTES);
  update[0] = Kind.Update;
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const start = performance.now();
  let sent = 0;
  while (sent < updates) {
    const pending = node.status()[0]?.stats?.reliablePendingMessages ?? 0;
    const room = Math.min(4000 - pending, updates - sent);
    for (let i = 0; i < room; i++) node.sendTo(peer, update);
    sent += Math.max(0, room);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await finished;
  const seconds = (performance.now() - start) / 1000;
  say({ event: "updates", count: updates, seconds, perSecond: updates / seconds });
}

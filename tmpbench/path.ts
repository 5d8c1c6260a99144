import { createSocket } from "node:dgram";
import { netcode, reliable } from "@overworld/protocol";

const N = 200,
  TICKS = 200,
  MSG = 700;
const servers = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
const clients = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
const msg = new Uint8Array(MSG).fill(7);
const key = new Uint8Array(32).fill(1);
let now = 1000;
// 1. reliable only
let dgrams = 0;
let t0 = performance.now();
for (let t = 0; t < TICKS; t++) {
  now += 50;
  for (let i = 0; i < N; i++) {
    servers[i].sendReliable(msg);
    for (const p of servers[i].update(now)) {
      dgrams++;
      clients[i].receivePacket(p, now + 1);
    }
    for (const p of clients[i].update(now + 2)) servers[i].receivePacket(p, now + 3);
  }
}
let el = performance.now() - t0;
console.log(`reliable send+ack roundtrip: ${((el * 1000) / dgrams).toFixed(2)} us per datagram (${dgrams})`);
// 2. encrypt
const payload = new Uint8Array(800).fill(3);
t0 = performance.now();
const K = 100000;
for (let i = 0; i < K; i++)
  netcode.writeEncryptedPacket({ type: netcode.PacketType.Payload, payload }, BigInt(i), key, 0x11n);
el = performance.now() - t0;
console.log(`writeEncryptedPacket 800B: ${((el * 1000) / K).toFixed(2)} us`);
// 3. udp send
const sink = createSocket("udp4");
await new Promise((r) => sink.bind(0, "127.0.0.1", r));
const port = sink.address().port;
let got = 0;
sink.on("message", () => got++);
const sock = createSocket("udp4");
await new Promise((r) => sock.bind(0, "127.0.0.1", r));
const buf = new Uint8Array(830);
t0 = performance.now();
const M = 50000;
await new Promise<void>((resolve) => {
  let left = M;
  for (let i = 0; i < M; i++)
    sock.send(buf, port, "127.0.0.1", () => {
      if (--left === 0) resolve();
    });
});
el = performance.now() - t0;
console.log(`dgram send: ${((el * 1000) / M).toFixed(2)} us wall per send (incl. receiver in same process)`);
sock.close();
sink.close();

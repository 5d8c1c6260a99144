import { reliable } from "@overworld/protocol";

const N = 200,
  TICKS = 1500,
  MSG = 700;
const servers = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
const clients = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
const msg = new Uint8Array(MSG).fill(7);
let now = 1000;
let tSend = 0,
  tRecv = 0,
  tAckSend = 0,
  tAckRecv = 0,
  dgrams = 0;
for (let t = 0; t < TICKS; t++) {
  now += 50;
  for (let i = 0; i < N; i++) {
    const a = performance.now();
    servers[i].sendReliable(msg);
    const out = servers[i].update(now);
    const b = performance.now();
    tSend += b - a;
    for (const p of out) {
      dgrams++;
      clients[i].receivePacket(p, now + 1);
    }
    const c = performance.now();
    tRecv += c - b;
    const acks = clients[i].update(now + 2);
    const d = performance.now();
    tAckSend += d - c;
    for (const p of acks) servers[i].receivePacket(p, now + 3);
    tAckRecv += performance.now() - d;
  }
}
const us = (x: number) => ((x * 1000) / dgrams).toFixed(2);
console.log(
  `per datagram: server send ${us(tSend)} | client receive ${us(tRecv)} | client ack ${us(tAckSend)} | server takes ack ${us(tAckRecv)}`,
);

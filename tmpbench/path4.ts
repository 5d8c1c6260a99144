import { reliable } from "@overworld/protocol";

const N = 200,
  TICKS = 100,
  MSG = 700,
  RUNS = 40;
const msg = new Uint8Array(MSG).fill(7);
const best = { send: Infinity, recv: Infinity, ack: Infinity, take: Infinity };
for (let run = 0; run < RUNS; run++) {
  const servers = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
  const clients = Array.from({ length: N }, () => new reliable.ReliableEndpoint());
  let now = 1000,
    tSend = 0,
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
  const us = (x: number) => (x * 1000) / dgrams;
  best.send = Math.min(best.send, us(tSend));
  best.recv = Math.min(best.recv, us(tRecv));
  best.ack = Math.min(best.ack, us(tAckSend));
  best.take = Math.min(best.take, us(tAckRecv));
}
console.log(
  `best of ${RUNS}, us per datagram: server send ${best.send.toFixed(2)} | client receive ${best.recv.toFixed(2)} | client ack ${best.ack.toFixed(2)} | server takes ack ${best.take.toFixed(2)}`,
);

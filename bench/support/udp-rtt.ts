/**
 * Raw UDP round trips between two namespaces behind NATs, for the link benchmark's baseline: both sides
 * bind UDP 42000 and punch towards the other's public address (a cone NAT keeps the port), then the
 * pinger sends PINGS datagrams one at a time and the echo returns each. Prints one JSON line.
 *
 * Environment: ROLE (ping or echo), PEER (the other side's public ip), PINGS.
 */
import { createSocket } from "node:dgram";

const PORT = 42000;
const role = process.env.ROLE;
const peer = process.env.PEER!;
const pings = Number(process.env.PINGS ?? 2000);
const socket = createSocket("udp4");
await new Promise<void>((resolve) => socket.bind(PORT, "0.0.0.0", () => resolve()));
let open = false;
let onReply: (() => void) | undefined;
socket.on("message", (message) => {
  if (message[0] === 0) {
    open = true;
    return;
  }
  if (role === "echo") socket.send(message, PORT, peer);
  else onReply?.();
});
const punch = setInterval(() => socket.send(Buffer.from([0]), PORT, peer), 50);
while (!open) await new Promise((resolve) => setTimeout(resolve, 20));
await new Promise((resolve) => setTimeout(resolve, 300));
if (role === "ping") {
  clearInterval(punch);
  const rtts: number[] = [];
  const payload = Buffer.alloc(64, 1);
  for (let i = 0; i < pings; i++) {
    const start = performance.now();
    await new Promise<void>((resolve) => {
      onReply = resolve;
      socket.send(payload, PORT, peer);
    });
    rtts.push(performance.now() - start);
  }
  rtts.sort((a, b) => a - b);
  const at = (q: number) => rtts[Math.min(rtts.length - 1, Math.floor(q * rtts.length))]!;
  process.stdout.write(
    `${JSON.stringify({ event: "rtt", p50: at(0.5), p99: at(0.99), mean: rtts.reduce((s, v) => s + v, 0) / rtts.length })}\n`,
  );
  socket.close();
  process.exit(0);
}

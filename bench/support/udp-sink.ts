/**
 * The receiving end of the egress benchmark's socket variants, a process of its own (as the clients are): binds
 * a loopback UDP port, tells its parent the port, reads every datagram, and on the parent's message answers how
 * many it read and exits.
 */
import { createSocket } from "node:dgram";

const socket = createSocket("udp4");
let received = 0;
socket.on("message", () => {
  received += 1;
});
socket.bind(0, "127.0.0.1", () => process.send!(socket.address().port));
process.on("message", () => {
  process.send!(received, () => {
    socket.close();
    process.disconnect();
  });
});

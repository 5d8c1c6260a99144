/**
 * A lossy link on loopback: a UDP relay between one client and a server that drops a share of the
 * datagrams each way (seeded, so a failing run can be replayed). Real sockets, real datagrams: the client
 * sends to the relay's address (name it first in the connect token's server addresses) and the server
 * sees the relay as the client.
 */
import { createSocket, type Socket } from "node:dgram";
import { once } from "node:events";
import { seededRandom } from "../transport/reliable.link.ts";

export interface LossyRelay {
  /** "127.0.0.1:port": where the client sends. */
  readonly address: string;
  /** Datagrams forwarded and dropped, towards the server and towards the client. */
  readonly counts: { toServer: number; toClient: number; droppedToServer: number; droppedToClient: number };
  close(): Promise<void>;
}

export async function startLossyRelay(server: string, loss: number, seed = 1): Promise<LossyRelay> {
  const [serverHost, serverPort] = server.split(":") as [string, string];
  const random = seededRandom(seed);
  const counts = { toServer: 0, toClient: 0, droppedToServer: 0, droppedToClient: 0 };
  const clientSide: Socket = createSocket("udp4");
  const serverSide: Socket = createSocket("udp4");
  let client: { address: string; port: number } | undefined;
  clientSide.on("message", (bytes, from) => {
    client = { address: from.address, port: from.port };
    if (random() < loss) counts.droppedToServer += 1;
    else {
      counts.toServer += 1;
      serverSide.send(bytes, Number(serverPort), serverHost);
    }
  });
  serverSide.on("message", (bytes) => {
    if (client === undefined) return;
    if (random() < loss) counts.droppedToClient += 1;
    else {
      counts.toClient += 1;
      clientSide.send(bytes, client.port, client.address);
    }
  });
  clientSide.bind(0, "127.0.0.1");
  serverSide.bind(0, "127.0.0.1");
  await Promise.all([once(clientSide, "listening"), once(serverSide, "listening")]);
  return {
    address: `127.0.0.1:${clientSide.address().port}`,
    counts,
    async close() {
      await Promise.all([
        new Promise<void>((resolve) => clientSide.close(() => resolve())),
        new Promise<void>((resolve) => serverSide.close(() => resolve())),
      ]);
    },
  };
}

/** A NetcodeClient and NetcodeServer over real UDP sockets on loopback, through the node:dgram adapter. */
import { afterEach, describe, expect, it } from "vitest";
import { type ClientEvent, NetcodeClient } from "../../libs/protocol/src/transport/netcode/client.ts";
import { generateConnectToken } from "../../libs/protocol/src/transport/netcode/connect-token.ts";
import { ClientState } from "../../libs/protocol/src/transport/netcode/constants.ts";
import { NetcodeServer, type ServerEvent } from "../../libs/protocol/src/transport/netcode/server.ts";
import { openUdpEndpoint, type UdpEndpoint } from "../../libs/protocol/src/transport/netcode/udp.ts";
import { PRIVATE_KEY, PROTOCOL_ID } from "./netcode-support.ts";

const TICK_MS = 10;
const endpoints: UdpEndpoint[] = [];
const timers: NodeJS.Timeout[] = [];

afterEach(async () => {
  for (const timer of timers.splice(0)) clearInterval(timer);
  await Promise.all(endpoints.splice(0).map((endpoint) => endpoint.close()));
});

async function until(condition: () => boolean, limitMs = 5000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > limitMs) throw new Error(`condition not reached within ${limitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
}

describe("netcode over UDP loopback", () => {
  it("connects, exchanges payloads both ways, and disconnects", async () => {
    let server: NetcodeServer | undefined;
    const serverEvents: ServerEvent[] = [];
    const serverSocket = await openUdpEndpoint({
      onDatagram: (bytes, from) => serverOutput(server!.receive(bytes, from, Date.now())),
    });
    endpoints.push(serverSocket);
    server = new NetcodeServer({
      protocolId: PROTOCOL_ID,
      privateKey: PRIVATE_KEY,
      publicAddresses: [serverSocket.address],
      maxClients: 8,
    });
    function serverOutput(events: ServerEvent[]): void {
      for (const event of events) {
        serverEvents.push(event);
        if (event.type === "send") serverSocket.send(event.bytes, event.to);
        if (event.type === "payload")
          serverOutput(server!.send(event.clientIndex, event.payload.slice().reverse(), Date.now()));
      }
    }

    const client = new NetcodeClient();
    const received: Uint8Array[] = [];
    const clientSocket = await openUdpEndpoint({
      onDatagram: (bytes, from) => clientOutput(client.receive(bytes, from, performance.now())),
    });
    endpoints.push(clientSocket);
    function clientOutput(events: ClientEvent[]): void {
      for (const event of events) {
        if (event.type === "send") clientSocket.send(event.bytes, event.to);
        if (event.type === "payload") received.push(event.payload);
      }
    }
    timers.push(
      setInterval(() => {
        serverOutput(server!.update(Date.now()));
        clientOutput(client.update(performance.now()));
      }, TICK_MS),
    );

    const token = generateConnectToken({
      protocolId: PROTOCOL_ID,
      privateKey: PRIVATE_KEY,
      clientId: 5n,
      serverAddresses: [serverSocket.address],
      expireSeconds: 30,
      timeoutSeconds: 5,
    });
    clientOutput(client.connect(token, performance.now()));
    await until(() => client.state === ClientState.Connected);

    clientOutput(client.send(new Uint8Array([1, 2, 3]), performance.now()));
    await until(() => received.length === 1);
    expect(received[0]).toEqual(new Uint8Array([3, 2, 1]));
    const connected = serverEvents.find((event) => event.type === "connected");
    expect(connected?.type === "connected" && connected.address.key).toBe(clientSocket.address.key);

    clientOutput(client.disconnect(performance.now()));
    await until(() => serverEvents.some((event) => event.type === "disconnected"));
    expect(server.connectedClients).toBe(0);
  });
});

/**
 * The client over UDP (Node): a netcode.io connection authenticated by the connect token, the reliable
 * layer over its payloads, one socket.
 */
import { netcode, reliable } from "@overworld/protocol";
import type { ClientTransport, TransportEvents } from "./transport.ts";

/**
 * A client mostly listens: the agent's datagrams come in bursts, one per tick (20 Hz by default). Acks
 * ride on whatever the client sends; alone, one per burst is enough (the agent's next datagrams are
 * acked with the 32 before them), not one or two per datagram heard.
 */
const ACK_DELAY_MS = 50;

export class UdpTransport implements ClientTransport {
  private readonly netcodeClient = new netcode.NetcodeClient();
  /** Received messages are views of their payload, which netcode decrypted into memory nothing reuses. */
  private readonly endpoint = new reliable.ReliableEndpoint({
    ackDelayMs: ACK_DELAY_MS,
    copyReceived: false,
  });
  private udp: netcode.UdpEndpoint | null = null;

  private constructor(
    private readonly events: TransportEvents,
    private readonly now: () => number,
  ) {}

  /** Binds a socket on `host` and starts the netcode handshake with the token's servers. */
  static async open(
    token: Uint8Array,
    host: string,
    events: TransportEvents,
    now: () => number,
  ): Promise<UdpTransport> {
    const transport = new UdpTransport(events, now);
    transport.udp = await netcode.openUdpEndpoint({
      host,
      onDatagram: (bytes, from) => transport.handle(transport.netcodeClient.receive(bytes, from, now())),
    });
    transport.handle(transport.netcodeClient.connect(token, now()));
    return transport;
  }

  get connected(): boolean {
    return this.netcodeClient.state === netcode.ClientState.Connected;
  }

  get stats(): reliable.ReliableStats {
    return this.endpoint.stats;
  }

  send(bytes: Uint8Array): void {
    this.endpoint.sendReliable(bytes);
  }

  /** Each payload is a view of the endpoint's scratch space, sealed into a packet of its own at once. */
  flush(now: number): void {
    if (!this.connected) return;
    for (const payload of this.endpoint.updateViews(now)) this.handle(this.netcodeClient.send(payload, now));
  }

  update(now: number): void {
    this.handle(this.netcodeClient.update(now));
    this.flush(now);
  }

  async close(now: number): Promise<void> {
    if (this.connected) this.handle(this.netcodeClient.disconnect(now));
    const udp = this.udp;
    this.udp = null;
    await udp?.close();
  }

  private handle(events: netcode.ClientEvent[]): void {
    for (const event of events) {
      switch (event.type) {
        case "send":
          this.udp?.send(event.bytes, event.to);
          break;
        case "payload":
          this.receivePayload(event.payload);
          break;
        case "state":
          this.stateChanged(event.to);
          break;
        case "dropped":
          break;
      }
    }
  }

  private stateChanged(state: netcode.ClientState): void {
    if (state === netcode.ClientState.Connected) {
      this.events.open();
      return;
    }
    if (state > netcode.ClientState.Disconnected) return;
    this.events.closed(stateName(state));
  }

  private receivePayload(payload: Uint8Array): void {
    const result = this.endpoint.receivePacket(payload, this.now());
    if (!result.accepted) return;
    for (const message of result.messages) this.events.message(message.bytes);
  }
}

function stateName(state: netcode.ClientState): string {
  for (const [name, value] of Object.entries(netcode.ClientState)) if (value === state) return name;
  return `state ${state}`;
}

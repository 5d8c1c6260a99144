/**
 * The client over WebSocket (browsers; Node too, with the `ws` package): the first frame is netcode's
 * connection request made from the connect token (the bytes a UDP client sends first), which the agent
 * checks as it checks a datagram's and spends; then one message per binary frame each way. TCP makes them
 * reliable and ordered, TLS (`wss://`) secret, so neither the netcode packet layer nor the reliable layer
 * runs here. A refused token closes the socket with 1008 and the reason (`connect token refused: ...`).
 */
import { readConnectToken, writeConnectionRequest } from "@overworld/protocol/netcode";
import { emptyDropCounts, type ReliableStats } from "@overworld/protocol/reliable";
import type { ClientTransport, TransportEvents } from "./transport.ts";

/** What the transport needs of a WebSocket: the browser's has it, and so has the `ws` package's. */
export interface WebSocketLike {
  binaryType: string;
  readonly readyState: number;
  readonly bufferedAmount: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code: number; readonly reason: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: Uint8Array): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;

const OPEN = 1;
const CLOSE_NORMAL = 1000;

export class WebSocketTransport implements ClientTransport {
  private readonly socket: WebSocketLike;
  private readonly counts = {
    packetsSent: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
  };
  private ended = false;

  /** Opens the socket to `url` (`ws://` or `wss://`); `events.open` follows once the request is sent. */
  constructor(
    url: string,
    token: Uint8Array,
    private readonly events: TransportEvents,
    WebSocketClass: WebSocketConstructor,
  ) {
    const request = connectionRequest(token);
    this.socket = new WebSocketClass(url);
    this.socket.binaryType = "arraybuffer";
    this.socket.onopen = () => {
      this.write(request);
      this.events.open();
    };
    this.socket.onmessage = ({ data }) => {
      if (!(data instanceof ArrayBuffer)) return; // the agent sends binary frames only
      this.counts.packetsReceived += 1;
      this.counts.bytesReceived += data.byteLength;
      this.events.message(new Uint8Array(data));
    };
    this.socket.onerror = () => undefined; // a close follows, with the code
    this.socket.onclose = ({ code, reason }) => {
      if (this.ended) return;
      this.ended = true;
      this.events.closed(`the WebSocket closed (${code}${reason ? `: ${reason}` : ""})`);
    };
  }

  get connected(): boolean {
    return !this.ended && this.socket.readyState === OPEN;
  }

  /** Frames count as packets; TCP delivers each or ends the connection, so every one counts as acked. */
  get stats(): ReliableStats {
    const { packetsSent, packetsReceived, bytesSent, bytesReceived } = this.counts;
    return {
      packetsSent,
      packetsReceived,
      packetsAcked: packetsSent,
      bytesSent,
      bytesReceived,
      reliableQueued: packetsSent,
      reliableDelivered: packetsReceived,
      unreliableQueued: 0,
      unreliableDelivered: 0,
      partsResent: 0,
      unreliableReplaced: 0,
      unreliableDropped: 0,
      reliablePendingMessages: 0,
      reliablePendingBytes: this.socket.bufferedAmount,
      packetsInFlight: 0,
      receiveBufferedBytes: 0,
      sentBytesPerSecond: 0,
      receivedBytesPerSecond: 0,
      ackedBytesPerSecond: 0,
      dropped: emptyDropCounts(),
    };
  }

  /** Frames go as they are sent: the socket batches them itself. */
  send(bytes: Uint8Array): void {
    if (!this.connected) return;
    this.write(bytes);
  }

  flush(): void {}

  update(): void {}

  async close(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.socket.close(CLOSE_NORMAL);
  }

  private write(bytes: Uint8Array): void {
    this.counts.packetsSent += 1;
    this.counts.bytesSent += bytes.length;
    this.socket.send(bytes);
  }
}

/** The netcode connection request of a connect token; throws when the token is not one. */
function connectionRequest(token: Uint8Array): Uint8Array {
  const read = readConnectToken(token);
  if (!read.ok) throw new TypeError(`the connect token is unreadable: ${read.reason}`);
  const { protocolId, expireTimestamp, nonce, sealedPrivate } = read.value;
  return writeConnectionRequest({ protocolId, expireTimestamp, nonce, sealedPrivate });
}

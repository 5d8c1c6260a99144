/**
 * The seam between the client (client.ts: hello, interests, mirrors, fields, the same everywhere) and what
 * carries its messages to the client agent:
 * - UDP (udp-transport.ts, Node): netcode.io, encrypted and authenticated by the connect token, with the
 *   reliable layer above it (reliable and ordered messages, stored state unreliable, newest value wins).
 * - WebSocket (websocket-transport.ts, browsers and Node): the same connect token, sent once as netcode's
 *   connection request; then one message per frame, reliable and ordered (TCP), secret under `wss://`.
 */
import type { reliable } from "@overworld/protocol";

/** What a transport tells the client. */
export interface TransportEvents {
  /** The connection is up: the client says hello. */
  open(): void;
  /** One whole agent message. */
  message(bytes: Uint8Array): void;
  /** The connection ended (or never came up); the reason names how. */
  closed(reason: string): void;
}

export interface ClientTransport {
  readonly connected: boolean;
  /** Counters of the connection (over WebSocket a packet is a frame; nothing is lost or resent there). */
  readonly stats: reliable.ReliableStats;
  /** Queues a client message: delivered reliably, in order. */
  send(bytes: Uint8Array): void;
  /** Sends what is queued now. */
  flush(now: number): void;
  /** Keeps the connection going (keep-alives, resends, time-outs) and sends what is queued; often. */
  update(now: number): void;
  /** Says goodbye if still connected and releases the socket; no event follows. */
  close(now: number): Promise<void>;
}

/**
 * What one client session talks through, whatever carries it: the seam between the session's logic
 * (session.ts: hello, interest, field rules, ejections, the same for every client) and the transport.
 *
 * - Over UDP (`ReliableLink`), netcode carries datagrams and the reliable layer turns them into messages:
 *   control, entries and events reliable and ordered; stored state (STATE_UPDATES) unreliable, newest
 *   value wins: a lost message is reported and the interest sends its values again if nothing newer went.
 * - Over WebSocket (`StreamLink`), TCP already delivers every frame once and in order, so one agent message
 *   is one binary frame and nothing is acknowledged, resent or lost. State goes in the same ordered stream,
 *   with one exception that keeps a slow reader from growing the agent's memory: while more than
 *   `stateBacklogBytes` wait unsent at the socket, a state message is not written but reported lost, as
 *   over UDP, and the interest sends newer values once the reader has caught up.
 */

import { reliable } from "@overworld/protocol";
import type { StateMessage } from "./interest.ts";

export interface SessionLink {
  /**
   * The client's messages in what arrived: a reliable-layer packet over UDP, one message over WebSocket.
   * null when the layer refuses it (a bad reliable packet is dropped there, not ejected).
   */
  receive(payload: Uint8Array, now: number): readonly Uint8Array[] | null;
  /** Delivered once, in order. */
  sendReliable(bytes: Uint8Array): void;
  /** Stored state, newest value wins: it may be reported lost by `takeLost` instead. */
  sendState(message: StateMessage): void;
  /** What to put on the wire now: datagram payloads over UDP, frames over WebSocket (valid until the next flush). */
  flush(now: number): Uint8Array[];
  /** State messages lost since the last call. */
  takeLost(): StateMessage[];
  /** True while reliable messages (an EJECT, say) are not yet delivered as far as the link can tell. */
  readonly pending: boolean;
}

/** UDP: the reliable layer over netcode payloads. */
export class ReliableLink implements SessionLink {
  /**
   * Messages are queued uncopied: every one the session sends is encoded for it or, once per zone and
   * tick, for every session covering the zone, and never changed afterwards. Received messages are views
   * of their payload, which netcode decrypted into memory of its own that nothing reuses.
   */
  private readonly endpoint = new reliable.ReliableEndpoint({ copyMessages: false, copyReceived: false });

  /** `dropped` hears why the reliable layer refused a payload (for the agent's metrics). */
  constructor(private readonly dropped: (reason: reliable.DropReason) => void = () => {}) {}

  receive(payload: Uint8Array, now: number): readonly Uint8Array[] | null {
    const result = this.endpoint.receivePacket(payload, now);
    if (result.accepted) return result.messages.map((message) => message.bytes);
    this.dropped(result.reason);
    return null;
  }

  sendReliable(bytes: Uint8Array): void {
    this.endpoint.sendReliable(bytes);
  }

  sendState(message: StateMessage): void {
    this.endpoint.sendUnreliable(message.bytes, undefined, message);
  }

  /** The payloads are views of the endpoint's scratch space: the agent seals each at once (no copy). */
  flush(now: number): Uint8Array[] {
    return this.endpoint.updateViews(now);
  }

  takeLost(): StateMessage[] {
    return this.endpoint.takeLostTags() as StateMessage[];
  }

  get pending(): boolean {
    return this.endpoint.stats.reliablePendingMessages > 0;
  }
}

/** WebSocket: one message per frame, over a stream that is already reliable and ordered. */
export class StreamLink implements SessionLink {
  private queued: Uint8Array[] = [];
  private lost: StateMessage[] = [];

  constructor(
    /** Bytes written to the socket and not yet sent. */
    private readonly backlog: () => number,
    private readonly stateBacklogBytes: number,
  ) {}

  receive(payload: Uint8Array): readonly Uint8Array[] {
    return [payload];
  }

  sendReliable(bytes: Uint8Array): void {
    this.queued.push(bytes);
  }

  sendState(message: StateMessage): void {
    if (this.backlog() > this.stateBacklogBytes) this.lost.push(message);
    else this.queued.push(message.bytes);
  }

  flush(): Uint8Array[] {
    const frames = this.queued;
    this.queued = [];
    return frames;
  }

  takeLost(): StateMessage[] {
    const lost = this.lost;
    this.lost = [];
    return lost;
  }

  get pending(): boolean {
    return this.queued.length > 0;
  }
}

/**
 * The per-address budget (rate-limit.ts) for a WebSocket client. A datagram over the budget is dropped
 * and the reliable layer sends it again; a frame cannot be dropped (the stream is the only copy, and what
 * follows depends on it), so over the budget frames wait, in order, and the socket stops being read until
 * the bucket has tokens again: TCP then slows the sender down.
 */

import type { WebSocket } from "ws";

/** How often held frames try the budget again. */
const RETRY_MS = 50;

export class HeldFrames {
  private readonly held: Uint8Array[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly socket: WebSocket,
    /** Takes a token of the address's budget; false: none left. */
    private readonly allow: () => boolean,
    private readonly deliver: (bytes: Uint8Array) => void,
  ) {}

  /** A frame that arrived: delivered now if the budget allows and nothing waits before it. */
  push(bytes: Uint8Array): void {
    if (this.held.length === 0 && this.allow()) {
      this.deliver(bytes);
      return;
    }
    this.held.push(bytes);
    if (this.timer !== undefined) return;
    this.socket.pause();
    this.timer = setTimeout(() => this.retry(), RETRY_MS);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.length = 0;
  }

  private retry(): void {
    this.timer = undefined;
    while (this.held.length > 0 && this.allow()) this.deliver(this.held.shift()!);
    if (this.held.length === 0) {
      this.socket.resume();
      return;
    }
    this.timer = setTimeout(() => this.retry(), RETRY_MS);
  }
}

/**
 * The WebSocket side's parts, alone: StreamLink (one message per frame, in order; state held back and
 * reported lost only while a slow reader's socket has too much unsent) and HeldFrames (frames over the
 * address's budget wait in order with the socket paused, never dropped).
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import type { WebSocket } from "ws";
import { HeldFrames } from "../../services/client-agent/src/held-frames.ts";
import type { StateMessage } from "../../services/client-agent/src/interest.ts";
import { StreamLink } from "../../services/client-agent/src/session-link.ts";

const bytes = (...values: number[]) => new Uint8Array(values);
/** A state message as the link sees it: bytes it sends or reports lost, the rest passed through. */
const state = (value: number) =>
  ({ bytes: bytes(value), tick: value, updates: [] }) as unknown as StateMessage;

describe("StreamLink", () => {
  it("takes one message per frame and sends everything in the order it was queued", () => {
    const link = new StreamLink(() => 0, 1024);
    expect(link.receive(bytes(1, 2, 3))).toEqual([bytes(1, 2, 3)]);
    link.sendReliable(bytes(1));
    link.sendState(state(2));
    link.sendReliable(bytes(3));
    expect(link.pending).toBe(true);
    expect(link.flush()).toEqual([bytes(1), bytes(2), bytes(3)]);
    expect(link.pending).toBe(false);
    expect(link.flush()).toEqual([]);
    expect(link.takeLost()).toEqual([]);
  });

  it("reports state lost instead of queueing it while the socket holds too much unsent, never events", () => {
    let unsent = 5000;
    const link = new StreamLink(() => unsent, 1024);
    const held = state(7);
    link.sendState(held);
    link.sendReliable(bytes(8));
    expect(link.flush()).toEqual([bytes(8)]);
    expect(link.takeLost()).toEqual([held]);
    expect(link.takeLost()).toEqual([]);
    unsent = 0; // the reader caught up
    link.sendState(state(9));
    expect(link.flush()).toEqual([bytes(9)]);
  });
});

describe("HeldFrames", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it("delivers within the budget; over it, holds frames in order with the socket paused until tokens come back", () => {
    vi.useFakeTimers();
    const socket = { pause: vi.fn(), resume: vi.fn() };
    let tokens = 2;
    const delivered: number[] = [];
    const held = new HeldFrames(
      socket as unknown as WebSocket,
      () => tokens-- > 0,
      (frame) => delivered.push(frame[0]!),
    );
    for (let i = 1; i <= 5; i++) held.push(bytes(i));
    expect(delivered).toEqual([1, 2]);
    expect(socket.pause).toHaveBeenCalledTimes(1);
    tokens = 1;
    vi.advanceTimersByTime(50);
    expect(delivered).toEqual([1, 2, 3]);
    expect(socket.resume).not.toHaveBeenCalled();
    held.push(bytes(6)); // arrived meanwhile: waits behind the others
    tokens = 10;
    vi.advanceTimersByTime(50);
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6]);
    expect(socket.resume).toHaveBeenCalledTimes(1);
    held.push(bytes(7));
    expect(delivered).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it("forgets what it holds when the socket closes", () => {
    vi.useFakeTimers();
    const delivered: number[] = [];
    const held = new HeldFrames(
      { pause: vi.fn(), resume: vi.fn() } as unknown as WebSocket,
      () => false,
      (frame) => delivered.push(frame[0]!),
    );
    held.push(bytes(1));
    held.close();
    vi.advanceTimersByTime(1000);
    expect(delivered).toEqual([]);
  });
});

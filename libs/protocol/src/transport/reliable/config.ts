/**
 * Settings of a reliable endpoint, their defaults, and the sizes derived from them. Both ends of a
 * connection must use the same `maxPayloadSize` and `maxMessageSize`.
 */

import { MAX_VARUINT_VALUE, maxFragmentRecordHeader, maxUnreliableRecordHeader } from "./message-records.ts";
import { MAX_PACKET_HEADER_BYTES } from "./packet-header.ts";

export interface ReliableConfig {
  /** The largest datagram payload produced or accepted, packet header included. */
  readonly maxPayloadSize: number;
  /** The largest reliable message; larger ones travel as fragments and are reassembled. */
  readonly maxMessageSize: number;
  /**
   * Receive side: bytes of reliable messages held back waiting for an earlier one, beyond the one
   * message being delivered next. Send side: bytes of messages sent ahead of the oldest unacknowledged
   * one. A packet that would overflow the receive side is dropped unacknowledged (and sent again).
   */
  readonly maxBufferedBytes: number;
  /** At most this many datagrams carrying messages leave one `update` call (acks may add a few). */
  readonly maxDatagramsPerUpdate: number;
  /**
   * At most this many message-carrying packets are in flight (sent, neither acknowledged nor yet
   * counted as lost); `update` sends no more until some are. Keeps every packet in flight inside the
   * window of packets each end remembers, whatever the round-trip time, and bounds bursts.
   */
  readonly maxPacketsInFlight: number;
  /** Resend delay bounds; in between it follows the measured RTT (smoothed RTT + 4 deviations). */
  readonly minResendDelayMs: number;
  readonly maxResendDelayMs: number;
  /** The resend delay before the first RTT sample. */
  readonly initialResendDelayMs: number;
  /** A packet not acknowledged this long after it was sent counts as lost for the loss estimate. */
  readonly lossDecisionDelayMs: number;
  /** Unreliable messages waiting for room beyond this many are dropped, oldest first. */
  readonly maxQueuedUnreliable: number;
  /**
   * A datagram carrying nothing but acks leaves at most this long after the previous datagram (0: at
   * once). Acks ride on every datagram that leaves anyway; an end that mostly listens (a game client
   * hearing a server's ticks) sends one ack per tick instead of one or two per datagram heard.
   */
  readonly ackDelayMs: number;
  /**
   * True (the default): `sendReliable` and `sendUnreliable` queue a copy of the bytes, so the caller may
   * reuse its buffer at once. False: they queue the caller's bytes as they are, which the caller then
   * never changes (the client agent's messages, each encoded once for every session that sends it).
   */
  readonly copyMessages: boolean;
  /**
   * True (the default): the messages `receivePacket` delivers, and the whole reliable messages it keeps
   * until their turn, are copies, so the caller may reuse the packet's buffer at once. False: they are
   * views of the packet's bytes, for a caller that never reuses a received packet's buffer (netcode's
   * payloads are each decrypted into fresh memory): a copy and an ArrayBuffer less per message.
   */
  readonly copyReceived: boolean;
}

export const DEFAULT_RELIABLE_CONFIG: ReliableConfig = {
  // netcode.io's largest payload: a datagram of at most ~1,250 bytes with netcode's header and tag and
  // UDP/IP's, under IPv6's minimum MTU of 1,280
  maxPayloadSize: 1200,
  maxMessageSize: 256 * 1024,
  maxBufferedBytes: 1024 * 1024,
  maxDatagramsPerUpdate: 64,
  maxPacketsInFlight: 256,
  minResendDelayMs: 20,
  maxResendDelayMs: 1000,
  initialResendDelayMs: 100,
  lossDecisionDelayMs: 250,
  maxQueuedUnreliable: 1024,
  ackDelayMs: 0,
  copyMessages: true,
  copyReceived: true,
};

/** Reliable message ids in flight at once; a receiver refuses ids further than this from its next. */
export const MESSAGE_WINDOW = 1024;
/** Packets remembered on each side (sent and received), for acks and duplicate detection. */
export const PACKET_WINDOW = 1024;
/** Packets whose fate the loss estimate averages over. */
export const LOSS_SAMPLE_WINDOW = 256;
/** The byte rates are measured over windows this long. */
export const RATE_WINDOW_MS = 1000;

const MIN_PAYLOAD_SIZE = 64;
/** Half the packet window: the other half is room for packets sent while these await their acks. */
const MAX_PACKETS_IN_FLIGHT = PACKET_WINDOW / 2;
const MAX_FRAGMENT_COUNT = 0xffff;

/** Sizes that follow from a config. */
export interface ReliableLimits {
  readonly config: ReliableConfig;
  /** Bytes of message data in each fragment but the last; reliable messages up to this go whole. */
  readonly fragmentSize: number;
  readonly maxFragments: number;
  readonly maxUnreliableSize: number;
}

function requireInteger(name: keyof ReliableConfig, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`reliable config ${name} must be an integer in ${min}…${max}, not ${value}`);
  }
}

function requireDelay(name: keyof ReliableConfig, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`reliable config ${name} must be a finite number of milliseconds ≥ 0, not ${value}`);
  }
}

/** Fills in defaults, checks every setting and derives the sizes; a bad setting is a RangeError naming it. */
export function resolveReliableConfig(overrides: Partial<ReliableConfig> = {}): ReliableLimits {
  const config = { ...DEFAULT_RELIABLE_CONFIG, ...overrides };
  requireInteger("maxPayloadSize", config.maxPayloadSize, MIN_PAYLOAD_SIZE, MAX_VARUINT_VALUE);
  requireInteger("maxMessageSize", config.maxMessageSize, 1, Number.MAX_SAFE_INTEGER);
  requireInteger("maxBufferedBytes", config.maxBufferedBytes, config.maxMessageSize, Number.MAX_SAFE_INTEGER);
  requireInteger("maxDatagramsPerUpdate", config.maxDatagramsPerUpdate, 1, Number.MAX_SAFE_INTEGER);
  requireInteger("maxPacketsInFlight", config.maxPacketsInFlight, 1, MAX_PACKETS_IN_FLIGHT);
  requireInteger("maxQueuedUnreliable", config.maxQueuedUnreliable, 1, Number.MAX_SAFE_INTEGER);
  requireDelay("minResendDelayMs", config.minResendDelayMs);
  requireDelay("maxResendDelayMs", config.maxResendDelayMs);
  requireDelay("initialResendDelayMs", config.initialResendDelayMs);
  requireDelay("lossDecisionDelayMs", config.lossDecisionDelayMs);
  requireDelay("ackDelayMs", config.ackDelayMs);
  if (typeof config.copyMessages !== "boolean") {
    throw new RangeError(`reliable config copyMessages must be true or false, not ${config.copyMessages}`);
  }
  if (typeof config.copyReceived !== "boolean") {
    throw new RangeError(`reliable config copyReceived must be true or false, not ${config.copyReceived}`);
  }
  if (config.maxResendDelayMs < config.minResendDelayMs) {
    throw new RangeError(
      `reliable config maxResendDelayMs (${config.maxResendDelayMs}) is below minResendDelayMs (${config.minResendDelayMs})`,
    );
  }
  const room = config.maxPayloadSize - MAX_PACKET_HEADER_BYTES;
  const fragmentSize = room - maxFragmentRecordHeader(config.maxPayloadSize);
  const maxFragments = Math.ceil(config.maxMessageSize / fragmentSize);
  if (maxFragments > MAX_FRAGMENT_COUNT) {
    throw new RangeError(
      `reliable config maxMessageSize ${config.maxMessageSize} needs ${maxFragments} fragments of ${fragmentSize} bytes; at most ${MAX_FRAGMENT_COUNT} are possible`,
    );
  }
  const maxUnreliableSize = room - maxUnreliableRecordHeader(config.maxPayloadSize);
  return { config, fragmentSize, maxFragments, maxUnreliableSize };
}

/**
 * One end of a reliable connection over an unreliable datagram payload (the netcode.io payload).
 * Pure logic over bytes and time: the caller feeds received payloads to `receivePacket`, calls
 * `update` regularly (every tick) and sends the payloads it returns. Times are milliseconds on any
 * monotonic clock.
 *
 * Two channels:
 * - reliable-ordered (`sendReliable`): every message is delivered once, in order, resent until
 *   acknowledged; messages up to maxMessageSize, split into fragments when larger than a datagram.
 * - unreliable (`sendUnreliable`): sent at most once; a message queued under a key replaces the
 *   unsent message under that key, so only the newest value leaves. A message sent with a tag is
 *   accounted for: if it is dropped unsent or its packet is counted lost, `takeLostTags` hands the tag
 *   back, so the caller can send what it still needs (the newest value, not the lost one).
 *
 * Received packets are hostile until proven otherwise: every read is bounds-checked and a bad packet
 * is dropped with a reason (see DROP_REASONS); `receivePacket` never throws on any input bytes.
 */

import { ByteSlab } from "../../bytes.ts";
import { DatagramReader } from "../../pack/reader.ts";
import {
  LOSS_SAMPLE_WINDOW,
  PACKET_WINDOW,
  RATE_WINDOW_MS,
  type ReliableConfig,
  type ReliableLimits,
  resolveReliableConfig,
} from "./config.ts";
import { DatagramBuilder, DatagramPacker } from "./datagram-builder.ts";
import { type DropReason, emptyDropCounts } from "./drop-reason.ts";
import { LossEstimator, RateMeter, RttEstimator } from "./estimators.ts";
import { Fifo } from "./fifo.ts";
import { type MessageRecord, readMessageRecords, unreliableRecordSize } from "./message-records.ts";
import { type AckField, type PacketHeader, readPacketHeader } from "./packet-header.ts";
import { ACK_BITS, ReceivedPackets } from "./received-packets.ts";
import { ReliableReceiver } from "./reliable-receiver.ts";
import { type ReliablePart, ReliableSender } from "./reliable-sender.ts";
import { addToSequence, isSequenceNewer, sequenceDistance } from "./sequence.ts";
import { SequenceBuffer } from "./sequence-buffer.ts";
import { type UnreliableKey, UnreliableQueue, type UnreliableTag } from "./unreliable-queue.ts";

export type DeliveredMessage =
  | { readonly channel: "reliable"; readonly id: number; readonly bytes: Uint8Array }
  /** `packetSequence` orders unreliable messages (compare with `isSequenceNewer`, it wraps at 2^16). */
  | { readonly channel: "unreliable"; readonly packetSequence: number; readonly bytes: Uint8Array };

export type ReceiveResult =
  | { readonly accepted: true; readonly messages: DeliveredMessage[] }
  | { readonly accepted: false; readonly reason: DropReason };

export interface ReliableStats {
  readonly packetsSent: number;
  readonly packetsReceived: number;
  /** Packets of ours the far end acknowledged. */
  readonly packetsAcked: number;
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly reliableQueued: number;
  readonly reliableDelivered: number;
  readonly unreliableQueued: number;
  readonly unreliableDelivered: number;
  /** Whole messages or fragments sent again because no ack came in time. */
  readonly partsResent: number;
  /** Unsent unreliable messages replaced by a newer one under the same key. */
  readonly unreliableReplaced: number;
  /** Unreliable messages dropped because maxQueuedUnreliable were already waiting. */
  readonly unreliableDropped: number;
  /** Reliable messages (and their bytes) not yet fully acknowledged. */
  readonly reliablePendingMessages: number;
  readonly reliablePendingBytes: number;
  /** Message-carrying packets neither acknowledged nor yet counted as lost. */
  readonly packetsInFlight: number;
  /** Bytes of received reliable messages held back waiting for an earlier one. */
  readonly receiveBufferedBytes: number;
  readonly sentBytesPerSecond: number;
  readonly receivedBytesPerSecond: number;
  readonly ackedBytesPerSecond: number;
  readonly dropped: Readonly<Record<DropReason, number>>;
}

interface SentPacket {
  readonly sentAt: number;
  readonly size: number;
  readonly ackEliciting: boolean;
  readonly parts: readonly ReliablePart[];
  /** The tags of its unreliable messages, handed back if it is counted lost. */
  readonly tags: readonly UnreliableTag[] | undefined;
  acked: boolean;
  /** Carries messages and is neither acknowledged nor yet counted as lost. */
  inFlight: boolean;
}

const NO_TAGS: UnreliableTag[] = [];

/** A message-carrying packet unacknowledged for this many resend delays (or lossDecisionDelayMs) is lost. */
const LOSS_DECISION_RESEND_FACTOR = 2;
/** The resend delay allows this many RTT deviations above the smoothed RTT. */
const RTT_DEVIATIONS_IN_RESEND_DELAY = 4;

export class ReliableEndpoint {
  private readonly limits: ReliableLimits;
  private readonly config: ReliableConfig;
  private readonly sender: ReliableSender;
  private readonly receiver: ReliableReceiver;
  private readonly unreliable: UnreliableQueue;
  /** When the last datagram left (for ackDelayMs). */
  private lastSentAt = Number.NEGATIVE_INFINITY;
  /** Tags of unreliable messages dropped or lost since `takeLostTags` last took them. */
  private lostTags: UnreliableTag[] = [];
  private readonly received = new ReceivedPackets();
  private readonly sent = new SequenceBuffer<SentPacket>(PACKET_WINDOW);
  private readonly awaitingLossDecision = new Fifo<SentPacket>();
  private readonly rttEstimator = new RttEstimator();
  private readonly lossEstimator = new LossEstimator(LOSS_SAMPLE_WINDOW);
  private readonly sentRate = new RateMeter(RATE_WINDOW_MS);
  private readonly receivedRate = new RateMeter(RATE_WINDOW_MS);
  private readonly ackedRate = new RateMeter(RATE_WINDOW_MS);
  private readonly dropped = emptyDropCounts();
  private nextSequence = 0;
  private packetsInFlight = 0;
  /** The newest ack taken from the far end, with every bit known for its anchor. */
  private knownAck: AckField | undefined;
  /** Where datagrams are built during an update (one per datagram, reused), and where they are copied out. */
  private readonly scratch: Uint8Array[] = [];
  private readonly slab = new ByteSlab();
  /** Reads every received packet in turn (records are views into the packet, never into the reader). */
  private readonly reader = new DatagramReader(new Uint8Array(0));
  private openedThisUpdate = 0;
  private latestTime = 0;
  private readonly counters = {
    packetsSent: 0,
    packetsReceived: 0,
    packetsAcked: 0,
    bytesSent: 0,
    bytesReceived: 0,
    reliableQueued: 0,
    reliableDelivered: 0,
    unreliableQueued: 0,
    unreliableDelivered: 0,
  };

  constructor(config: Partial<ReliableConfig> = {}) {
    this.limits = resolveReliableConfig(config);
    this.config = this.limits.config;
    this.sender = new ReliableSender(this.limits);
    this.receiver = new ReliableReceiver(this.limits);
    this.unreliable = new UnreliableQueue(
      this.config.maxQueuedUnreliable,
      (tag) => this.lostTags.push(tag),
      this.config.copyMessages,
    );
  }

  /** Smoothed round-trip time in milliseconds; 0 until the first acknowledgement. */
  get rtt(): number {
    return this.rttEstimator.smoothed;
  }

  /** Mean deviation of the round-trip samples from `rtt`, in milliseconds. */
  get rttVariation(): number {
    return this.rttEstimator.variation;
  }

  /** Share of recent message-carrying packets that were not acknowledged in time, 0 … 1. */
  get packetLoss(): number {
    return this.lossEstimator.ratio;
  }

  /** The largest message `sendUnreliable` takes. */
  get maxUnreliableSize(): number {
    return this.limits.maxUnreliableSize;
  }

  /** The largest message `sendReliable` takes. */
  get maxReliableSize(): number {
    return this.config.maxMessageSize;
  }

  /** Delay after which an unacknowledged reliable part is sent again. */
  get resendDelay(): number {
    if (!this.rttEstimator.hasSample) return this.config.initialResendDelayMs;
    const estimate =
      this.rttEstimator.smoothed + RTT_DEVIATIONS_IN_RESEND_DELAY * this.rttEstimator.variation;
    return Math.min(this.config.maxResendDelayMs, Math.max(this.config.minResendDelayMs, estimate));
  }

  /**
   * Queues a reliable message (copied, unless `copyMessages` is false); returns its message id. Throws if
   * larger than maxMessageSize.
   */
  sendReliable(bytes: Uint8Array): number {
    requireBytes(bytes, "sendReliable");
    if (bytes.length > this.config.maxMessageSize) {
      throw new RangeError(
        `sendReliable: a message of ${bytes.length} bytes is larger than maxMessageSize (${this.config.maxMessageSize})`,
      );
    }
    this.counters.reliableQueued += 1;
    return this.sender.enqueue(bytes);
  }

  /**
   * Queues an unreliable message (copied, unless `copyMessages` is false) for the next `update`. With a
   * key, an unsent message queued earlier under the same key is replaced. With a tag, `takeLostTags`
   * returns it if the message is dropped unsent or its packet is counted lost. Throws if larger than
   * `maxUnreliableSize`.
   */
  sendUnreliable(bytes: Uint8Array, key?: UnreliableKey, tag?: UnreliableTag): void {
    requireBytes(bytes, "sendUnreliable");
    if (bytes.length > this.limits.maxUnreliableSize) {
      throw new RangeError(
        `sendUnreliable: a message of ${bytes.length} bytes is larger than one datagram carries (${this.limits.maxUnreliableSize})`,
      );
    }
    this.counters.unreliableQueued += 1;
    this.unreliable.push(bytes, key, tag);
  }

  /**
   * The tags of unreliable messages dropped unsent or whose packets were counted lost (by `update`)
   * since the last call, oldest first. A packet counted lost may still arrive late: a tag is a
   * reason to send the newest value again, not proof the far end lacks it.
   */
  takeLostTags(): readonly UnreliableTag[] {
    if (this.lostTags.length === 0) return NO_TAGS;
    const lost = this.lostTags;
    this.lostTags = [];
    return lost;
  }

  /** Takes one received payload; returns the messages it made deliverable, or why it was dropped. */
  receivePacket(bytes: Uint8Array, now: number): ReceiveResult {
    this.latestTime = now;
    if (bytes.length > this.config.maxPayloadSize) return this.drop("too_large");
    const reader = this.reader;
    reader.reset(bytes);
    const headerRead = readPacketHeader(reader);
    if (!headerRead.ok) return this.drop(headerRead.reason);
    const header = headerRead.header;
    const arrival = this.received.classify(header.sequence);
    if (arrival !== "new") return this.drop(arrival);
    const recordsRead = readMessageRecords(reader);
    if (!recordsRead.ok) return this.drop(recordsRead.reason);
    const records = recordsRead.records;
    const refusal = this.receiver.check(records);
    if (refusal === "receive_buffer_full") this.processAck(header.ack, now);
    if (refusal !== undefined) return this.drop(refusal);
    return { accepted: true, messages: this.accept(header, records, bytes.length, now) };
  }

  /** Applies a packet that passed every check. */
  private accept(
    header: PacketHeader,
    records: MessageRecord[],
    size: number,
    now: number,
  ): DeliveredMessage[] {
    this.received.record(header.sequence, records.length > 0);
    this.counters.packetsReceived += 1;
    this.counters.bytesReceived += size;
    this.receivedRate.record(size, now);
    this.processAck(header.ack, now);
    const messages = this.unreliableMessages(header.sequence, records);
    this.counters.unreliableDelivered += messages.length;
    this.receiver.store(records);
    this.receiver.drainInOrder((id, bytes) => {
      messages.push({ channel: "reliable", id, bytes });
      this.counters.reliableDelivered += 1;
    });
    return messages;
  }

  private unreliableMessages(packetSequence: number, records: readonly MessageRecord[]): DeliveredMessage[] {
    const messages: DeliveredMessage[] = [];
    for (const record of records) {
      if (record.kind === "unreliable") {
        const bytes = this.config.copyReceived ? record.bytes.slice() : record.bytes;
        messages.push({ channel: "unreliable", packetSequence, bytes });
      }
    }
    return messages;
  }

  private drop(reason: DropReason): ReceiveResult {
    this.dropped[reason] += 1;
    return { accepted: false, reason };
  }

  /**
   * Acknowledges what an ack newly covers. Consecutive packets from the far end mostly repeat or slide
   * the same ack, so only the bits not already known from the newest ack taken are looked at: O(1) per
   * packet in the steady state, instead of 33 lookups.
   */
  private processAck(ack: AckField | null, now: number): void {
    if (ack === null) return;
    let fresh = ack.bits;
    const known = this.knownAck;
    if (known !== undefined) {
      const shift = sequenceDistance(known.latest, ack.latest);
      if (shift === 0) {
        fresh &= ~known.bits;
      } else if (shift <= ACK_BITS) {
        // the previous anchor is bit shift-1 now, and its bits moved up by shift
        const previous = (shift < ACK_BITS ? known.bits << shift : 0) | (1 << (shift - 1));
        fresh &= ~previous;
      }
      // an anchor older than the newest seen (a reordered packet), or far ahead: every bit looked at
    }
    if (known === undefined || isSequenceNewer(ack.latest, known.latest)) {
      this.knownAck = { latest: ack.latest, bits: ack.bits };
    } else if (ack.latest === known.latest) {
      this.knownAck = { latest: known.latest, bits: (known.bits | ack.bits) >>> 0 };
    }
    this.acknowledgePacket(ack.latest, now);
    for (fresh >>>= 0; fresh !== 0; fresh &= fresh - 1) {
      const bit = 31 - Math.clz32(fresh & -fresh);
      this.acknowledgePacket(addToSequence(ack.latest, -1 - bit), now);
    }
  }

  private acknowledgePacket(sequence: number, now: number): void {
    const packet = this.sent.find(sequence);
    if (packet === undefined || packet.acked) return;
    packet.acked = true;
    this.landPacket(packet);
    this.counters.packetsAcked += 1;
    this.ackedRate.record(packet.size, now);
    // Only packets with messages are acknowledged promptly, so only they measure the round trip.
    if (packet.ackEliciting) this.rttEstimator.addSample(now - packet.sentAt);
    for (const part of packet.parts) this.sender.acknowledge(part);
  }

  /** Takes a packet out of the in-flight count (acknowledged, or counted as lost). */
  private landPacket(packet: SentPacket): void {
    if (!packet.inFlight) return;
    packet.inFlight = false;
    this.packetsInFlight -= 1;
  }

  /**
   * Builds the datagrams to send now: due reliable parts, queued unreliable messages, owed acks (alone,
   * only once ackDelayMs has passed since the last datagram).
   */
  update(now: number): Uint8Array[] {
    return this.updateViews(now).map((view) => this.slab.copy(view));
  }

  /**
   * As `update`, but each payload is a view of the endpoint's own scratch space, valid only until its next
   * `update` or `updateViews`: for a caller that sends (or copies) them at once, which spares a copy each.
   */
  updateViews(now: number): Uint8Array[] {
    this.latestTime = now;
    this.openedThisUpdate = 0;
    this.decideLosses(now);
    const due = this.sender.dueParts(now, this.resendDelay);
    if (due.length === 0 && this.unreliable.length === 0 && now - this.lastSentAt < this.config.ackDelayMs) {
      return [];
    }
    const anchors = this.received.takeAckAnchors();
    let anchorIndex = 0;
    const room = Math.min(
      this.config.maxDatagramsPerUpdate,
      this.config.maxPacketsInFlight - this.packetsInFlight,
    );
    const packer = new DatagramPacker(Math.max(0, room), () => this.openDatagram(anchors[anchorIndex++]));
    this.packReliable(packer, due, now);
    this.unreliable.drain((entry) =>
      packer.place(unreliableRecordSize(entry.bytes.length), (datagram) =>
        datagram.appendUnreliable(entry.bytes, entry.tag),
      ),
    );
    while (anchorIndex < anchors.length) packer.open();
    return packer.datagrams.map((datagram) => this.finishDatagram(datagram, now));
  }

  private packReliable(packer: DatagramPacker, due: readonly ReliablePart[], now: number): void {
    for (const part of due) {
      const bytes = this.sender.partBytes(part);
      const minSize = DatagramBuilder.minReliableSize(part, bytes);
      if (packer.place(minSize, (datagram) => datagram.appendReliable(part, bytes)))
        this.sender.markSent(part, now);
    }
  }

  /** A new datagram with the next sequence, acking from `anchor` (default: the newest packet received). */
  private openDatagram(anchor: number | undefined): DatagramBuilder {
    const sequence = this.nextSequence;
    this.nextSequence = addToSequence(sequence, 1);
    const latest = anchor ?? this.received.newest;
    const ack = latest === undefined ? null : this.received.ackFor(latest);
    return new DatagramBuilder({ sequence, ack }, this.scratchFor(this.openedThisUpdate++));
  }

  private scratchFor(index: number): Uint8Array {
    let space = this.scratch[index];
    if (space === undefined) {
      space = new Uint8Array(this.config.maxPayloadSize);
      this.scratch[index] = space;
    }
    return space;
  }

  private finishDatagram(datagram: DatagramBuilder, now: number): Uint8Array {
    const bytes = datagram.bytes;
    const ackEliciting = datagram.messageCount > 0;
    const packet: SentPacket = {
      sentAt: now,
      size: bytes.length,
      ackEliciting,
      parts: datagram.parts,
      tags: datagram.tags,
      acked: false,
      inFlight: ackEliciting,
    };
    this.sent.insert(datagram.header.sequence, packet);
    if (ackEliciting) {
      this.awaitingLossDecision.push(packet);
      this.packetsInFlight += 1;
    }
    this.counters.packetsSent += 1;
    this.counters.bytesSent += bytes.length;
    this.lastSentAt = now;
    this.sentRate.record(bytes.length, now);
    return bytes;
  }

  /** Counts each message-carrying packet as delivered or lost once it is old enough to tell. */
  private decideLosses(now: number): void {
    const decisionDelay = Math.max(
      this.config.lossDecisionDelayMs,
      LOSS_DECISION_RESEND_FACTOR * this.resendDelay,
    );
    for (;;) {
      const packet = this.awaitingLossDecision.peek();
      if (packet === undefined || now - packet.sentAt < decisionDelay) return;
      this.awaitingLossDecision.shift();
      this.lossEstimator.record(!packet.acked);
      if (!packet.acked && packet.tags !== undefined) this.lostTags.push(...packet.tags);
      this.landPacket(packet);
    }
  }

  get stats(): ReliableStats {
    const now = this.latestTime;
    return {
      ...this.counters,
      partsResent: this.sender.resentParts,
      unreliableReplaced: this.unreliable.replaced,
      unreliableDropped: this.unreliable.dropped,
      reliablePendingMessages: this.sender.queuedMessages,
      reliablePendingBytes: this.sender.queuedBytes,
      packetsInFlight: this.packetsInFlight,
      receiveBufferedBytes: this.receiver.bufferedBytes,
      sentBytesPerSecond: this.sentRate.bytesPerSecond(now),
      receivedBytesPerSecond: this.receivedRate.bytesPerSecond(now),
      ackedBytesPerSecond: this.ackedRate.bytesPerSecond(now),
      dropped: { ...this.dropped },
    };
  }
}

function requireBytes(bytes: unknown, operation: string): asserts bytes is Uint8Array {
  if (!(bytes instanceof Uint8Array)) {
    throw new TypeError(`${operation}: expected a Uint8Array, got ${bytes === null ? "null" : typeof bytes}`);
  }
}

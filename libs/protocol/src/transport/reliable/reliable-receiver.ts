/**
 * The receiving half of the reliable-ordered channel: holds messages (and fragments of messages)
 * that arrived ahead of the next expected id, and hands messages out strictly in id order, each once.
 *
 * A packet's records are first checked as a whole (`check`, no side effects) and only then stored
 * (`store`), so a packet is either taken completely (and may be acknowledged) or not at all.
 */

import { MESSAGE_WINDOW, type ReliableLimits } from "./config.ts";
import { checkFragment, FragmentAssembly, type FragmentDropReason } from "./fragment-assembly.ts";
import type { MessageRecord } from "./message-records.ts";
import { addToSequence, sequenceDistance } from "./sequence.ts";

export type ReliableDropReason =
  | FragmentDropReason
  | "message_id_out_of_window"
  | "fragment_mismatch"
  | "receive_buffer_full";

type IdPlace = "delivered" | "pending" | "outside";

/** A message id held in a slot: complete bytes, or fragments being put together. */
type Slot = { readonly complete: Uint8Array } | { readonly assembly: FragmentAssembly };

type IdRecord = Exclude<MessageRecord, { kind: "unreliable" }>;

/** What the records of one packet say about an id: sent whole, or in `count` fragments. */
const SENT_WHOLE = 0;

export class ReliableReceiver {
  private nextId = 0;
  private readonly slots: (Slot | undefined)[] = new Array<Slot | undefined>(MESSAGE_WINDOW).fill(undefined);
  /** Bytes held in slots: complete messages waiting for an earlier one and fragments. */
  bufferedBytes = 0;

  constructor(private readonly limits: ReliableLimits) {}

  /** The id of the next message to be delivered. */
  get nextExpectedId(): number {
    return this.nextId;
  }

  /** Where an id stands: already delivered, awaited (within the window), or neither. */
  private place(id: number): IdPlace {
    if (sequenceDistance(this.nextId, id) < MESSAGE_WINDOW) return "pending";
    const behind = sequenceDistance(id, this.nextId);
    return behind >= 1 && behind <= MESSAGE_WINDOW ? "delivered" : "outside";
  }

  private slotOf(id: number): Slot | undefined {
    return this.slots[id % MESSAGE_WINDOW];
  }

  /** Checks every reliable record of a packet against the others and the held state. */
  check(records: readonly MessageRecord[]): ReliableDropReason | undefined {
    const shapes = new Map<number, number>();
    let newBytes = 0;
    for (const record of records) {
      if (record.kind === "unreliable") continue;
      const reason = this.checkRecord(record, shapes);
      if (reason !== undefined) return reason;
      newBytes += this.bytesToHold(record);
    }
    if (newBytes > 0 && this.bufferedBytes + newBytes > this.limits.config.maxBufferedBytes) {
      return "receive_buffer_full";
    }
    return undefined;
  }

  private checkRecord(record: IdRecord, shapes: Map<number, number>): ReliableDropReason | undefined {
    const reason =
      record.kind === "fragment" ? checkFragment(record, this.limits) : this.checkWhole(record.bytes);
    if (reason !== undefined) return reason;
    const place = this.place(record.id);
    if (place === "outside") return "message_id_out_of_window";
    if (place === "delivered") return undefined;
    const shape = record.kind === "fragment" ? record.count : SENT_WHOLE;
    const expected = shapes.get(record.id) ?? this.heldShape(record.id);
    if (expected !== undefined && expected !== shape) return "fragment_mismatch";
    shapes.set(record.id, shape);
    return undefined;
  }

  private checkWhole(bytes: Uint8Array): ReliableDropReason | undefined {
    return bytes.length > this.limits.config.maxMessageSize ? "message_too_large" : undefined;
  }

  /** The shape a held slot commits an id to; undefined when nothing (or a complete message) is held. */
  private heldShape(id: number): number | undefined {
    const slot = this.slotOf(id);
    return slot !== undefined && "assembly" in slot ? slot.assembly.count : undefined;
  }

  /** Bytes a checked record would add to the held bytes, not counting the next expected message. */
  private bytesToHold(record: IdRecord): number {
    if (record.id === this.nextId || this.place(record.id) !== "pending") return 0;
    const slot = this.slotOf(record.id);
    if (slot === undefined) return record.bytes.length;
    if ("complete" in slot || record.kind !== "fragment" || slot.assembly.has(record.index)) return 0;
    return record.bytes.length;
  }

  /** Stores the reliable records of a packet that passed `check`. */
  store(records: readonly MessageRecord[]): void {
    for (const record of records) {
      if (record.kind === "unreliable" || this.place(record.id) !== "pending") continue;
      if (record.kind === "reliable") this.storeWhole(record.id, record.bytes);
      else this.storeFragment(record.id, record.count, record.index, record.bytes);
    }
  }

  private storeWhole(id: number, bytes: Uint8Array): void {
    if (this.slotOf(id) !== undefined) return;
    this.slots[id % MESSAGE_WINDOW] = {
      complete: this.limits.config.copyReceived ? bytes.slice() : bytes,
    };
    this.bufferedBytes += bytes.length;
  }

  private storeFragment(id: number, count: number, index: number, bytes: Uint8Array): void {
    const slot = this.slotOf(id) ?? { assembly: new FragmentAssembly(count) };
    if (!("assembly" in slot) || slot.assembly.has(index)) return;
    slot.assembly.add(index, bytes);
    this.bufferedBytes += bytes.length;
    this.slots[id % MESSAGE_WINDOW] = slot.assembly.complete ? { complete: slot.assembly.join() } : slot;
  }

  /** Hands out, in order, every message that is complete from the next expected id on. */
  drainInOrder(deliver: (id: number, bytes: Uint8Array) => void): void {
    for (;;) {
      const slot = this.slotOf(this.nextId);
      if (slot === undefined || !("complete" in slot)) return;
      this.slots[this.nextId % MESSAGE_WINDOW] = undefined;
      this.bufferedBytes -= slot.complete.length;
      deliver(this.nextId, slot.complete);
      this.nextId = addToSequence(this.nextId, 1);
    }
  }
}

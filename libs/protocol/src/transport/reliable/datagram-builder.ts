/**
 * Datagrams under construction during one `update`, and the first-fit packing of records into them:
 * each record goes into the earliest datagram with room for it, and a new datagram is opened only
 * when none has. So no two datagrams of one update could have been sent as one: whatever a later
 * datagram holds did not fit in any earlier one.
 */

import { DatagramWriter } from "../../pack/writer.ts";
import {
  fragmentRecordSize,
  NO_PREVIOUS_ID,
  reliableRecordSize,
  unreliableRecordSize,
  writeFragmentRecord,
  writeReliableRecord,
  writeUnreliableRecord,
} from "./message-records.ts";
import { type PacketHeader, writePacketHeader } from "./packet-header.ts";
import { type ReliablePart, WHOLE_MESSAGE } from "./reliable-sender.ts";
import { addToSequence } from "./sequence.ts";

/** A datagram with less room than this left is no longer offered records. */
const FULL_BELOW_ROOM = 2;

export class DatagramBuilder {
  private readonly writer: DatagramWriter;
  private previousId = NO_PREVIOUS_ID;
  readonly parts: ReliablePart[] = [];
  /** The tags of the unreliable messages it carries (see UnreliableQueue). */
  tags: object[] | undefined;
  messageCount = 0;

  /** `space`: the bytes to build in (a scratch buffer of the endpoint's, reused once the datagram is finished). */
  constructor(
    readonly header: PacketHeader,
    space: Uint8Array,
  ) {
    this.writer = new DatagramWriter(space);
    writePacketHeader(this.writer, header);
  }

  get room(): number {
    return this.writer.room;
  }

  get bytes(): Uint8Array {
    return this.writer.subarray();
  }

  /** The fewest bytes a record for `part` can take (a whole message written as "previous id + 1"). */
  static minReliableSize(part: ReliablePart, bytes: Uint8Array): number {
    const message = part.message;
    return message.fragmentCount === WHOLE_MESSAGE
      ? reliableRecordSize(message.id, addToSequence(message.id, -1), bytes.length)
      : fragmentRecordSize(bytes.length);
  }

  appendUnreliable(bytes: Uint8Array, tag: object | undefined): boolean {
    if (unreliableRecordSize(bytes.length) > this.room) return false;
    writeUnreliableRecord(this.writer, bytes);
    this.messageCount += 1;
    if (tag !== undefined) (this.tags ??= []).push(tag);
    return true;
  }

  appendReliable(part: ReliablePart, bytes: Uint8Array): boolean {
    const message = part.message;
    const whole = message.fragmentCount === WHOLE_MESSAGE;
    const size = whole
      ? reliableRecordSize(message.id, this.previousId, bytes.length)
      : fragmentRecordSize(bytes.length);
    if (size > this.room) return false;
    if (whole) writeReliableRecord(this.writer, message.id, this.previousId, bytes);
    else writeFragmentRecord(this.writer, message.id, message.fragmentCount, part.index, bytes);
    this.previousId = message.id;
    this.parts.push(part);
    this.messageCount += 1;
    return true;
  }
}

export class DatagramPacker {
  readonly datagrams: DatagramBuilder[] = [];
  private firstWithRoom = 0;

  constructor(
    private readonly maxDatagrams: number,
    private readonly openDatagram: () => DatagramBuilder,
  ) {}

  /**
   * Offers a record to each datagram with at least `minSize` bytes of room in turn, then to a new
   * one; false if none took it. `minSize` is the smallest the record can be in any datagram.
   */
  place(minSize: number, append: (datagram: DatagramBuilder) => boolean): boolean {
    for (let index = this.firstWithRoom; index < this.datagrams.length; index++) {
      const datagram = this.datagrams[index]!;
      if (datagram.room >= minSize && append(datagram)) {
        this.skipFullDatagrams();
        return true;
      }
    }
    if (this.datagrams.length >= this.maxDatagrams) return false;
    return append(this.open());
  }

  /** Opens a datagram that need not carry any record (one only sent for its ack). */
  open(): DatagramBuilder {
    const datagram = this.openDatagram();
    this.datagrams.push(datagram);
    return datagram;
  }

  private skipFullDatagrams(): void {
    while (
      this.datagrams[this.firstWithRoom] !== undefined &&
      this.datagrams[this.firstWithRoom]!.room < FULL_BELOW_ROOM
    ) {
      this.firstWithRoom += 1;
    }
  }
}

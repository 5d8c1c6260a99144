import { encodeEnvelope, encodeUpdateFrame, type FrameUpdate, type messages } from "@overworld/protocol";
import type { NatsConnection } from "@overworld/service";

/**
 * One applied update as deliveries carry it: [doId, fieldId, value], and to an AI or owner the channel it
 * came from, and the nested change that made the value when there was one.
 */
export type UpdateEntry =
  | [doId: number, fieldId: number, value: Uint8Array]
  | [doId: number, fieldId: number, value: Uint8Array, from: number]
  | [doId: number, fieldId: number, value: Uint8Array, from: number, delta: Uint8Array];

/**
 * Collects what one operation publishes: notices in the order they were added, and field updates
 * grouped by subject, so a whole batch costs one "update" message per location, AI or owner channel: to
 * a location a binary update frame (every agent and zone AI around reads it: see update-frame.ts), to an
 * AI or owner an envelope naming where each update came from.
 */
export class Outbox {
  private readonly notices: [subject: string, delivery: messages.Delivery][] = [];
  private readonly updates = new Map<string, UpdateEntry[]>();
  private readonly frames = new Map<string, FrameUpdate[]>();

  constructor(readonly sender: number) {}

  notice(subject: string, delivery: messages.Delivery): void {
    this.notices.push([subject, delivery]);
  }

  update(subject: string, entry: UpdateEntry): void {
    const list = this.updates.get(subject);
    if (list) list.push(entry);
    else this.updates.set(subject, [entry]);
  }

  /** An update for a location subject (it goes out in the location's frame). */
  locationUpdate(subject: string, entry: FrameUpdate): void {
    const list = this.frames.get(subject);
    if (list) list.push(entry);
    else this.frames.set(subject, [entry]);
  }

  get size(): number {
    return this.notices.length + this.updates.size + this.frames.size;
  }

  /** Publishes the notices, then one update message per subject; returns how many messages went out. */
  publish(nc: NatsConnection): number {
    for (const [subject, delivery] of this.notices) nc.publish(subject, encodeEnvelope(delivery));
    for (const [subject, updates] of this.frames)
      nc.publish(subject, encodeUpdateFrame(this.sender, updates));
    for (const [subject, updates] of this.updates) {
      const delivery: messages.Delivery = { kind: "update", sender: this.sender, updates };
      nc.publish(subject, encodeEnvelope(delivery));
    }
    return this.size;
  }
}

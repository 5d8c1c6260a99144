/**
 * The server's encryption mapping: which keys decrypt packets from an address and encrypt packets to it.
 * A connection request that passes every check adds a mapping; it lapses after `timeoutSeconds` without
 * traffic, or `timeoutSeconds` after it was added if the client never completes the handshake (connecting
 * lifts that second deadline). Capacity is bounded; when full, lapsed mappings not bound to a client slot
 * make room, and if none has lapsed the new one is refused.
 */

import type { NetcodeAddress } from "./address.ts";

export interface EncryptionMapping {
  readonly address: NetcodeAddress;
  sendKey: Uint8Array;
  receiveKey: Uint8Array;
  timeoutSeconds: number;
  /** Deadline to finish the handshake, in ms; null once the client is connected or timeouts are disabled. */
  handshakeDeadline: number | null;
  lastAccessAt: number;
  /** The client slot using this mapping, once connected. */
  clientIndex: number | null;
  /** Identifies the connect token that made this mapping (hex of its private part's tag). */
  tokenId: string;
}

export interface NewMapping {
  readonly sendKey: Uint8Array;
  readonly receiveKey: Uint8Array;
  readonly timeoutSeconds: number;
  readonly tokenId: string;
}

const MS_PER_SECOND = 1000;

export class EncryptionMappings {
  private readonly byAddress = new Map<string, EncryptionMapping>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`encryption mapping capacity must be a positive integer, got ${capacity}`);
    }
  }

  get size(): number {
    return this.byAddress.size;
  }

  /** Adds or refreshes the mapping for an address; null when the table is full of live mappings. */
  add(address: NetcodeAddress, mapping: NewMapping, now: number): EncryptionMapping | null {
    const existing = this.byAddress.get(address.key);
    if (existing !== undefined && existing.clientIndex !== null) return null; // a connected client owns it
    if (existing === undefined && this.byAddress.size >= this.capacity) this.removeLapsed(now);
    if (existing === undefined && this.byAddress.size >= this.capacity) return null;
    const entry: EncryptionMapping = {
      address,
      sendKey: mapping.sendKey,
      receiveKey: mapping.receiveKey,
      timeoutSeconds: mapping.timeoutSeconds,
      handshakeDeadline: mapping.timeoutSeconds >= 0 ? now + mapping.timeoutSeconds * MS_PER_SECOND : null,
      lastAccessAt: now,
      clientIndex: null,
      tokenId: mapping.tokenId,
    };
    this.byAddress.set(address.key, entry);
    return entry;
  }

  /** The live mapping for an address, marking it used now; null when there is none or it lapsed. */
  find(address: NetcodeAddress, now: number): EncryptionMapping | null {
    const entry = this.byAddress.get(address.key);
    if (entry === undefined || this.isExpired(entry, now)) return null;
    entry.lastAccessAt = now;
    return entry;
  }

  /** Binds a mapping to a connected client slot: from now on only traffic keeps it alive. */
  bind(entry: EncryptionMapping, clientIndex: number): void {
    entry.clientIndex = clientIndex;
    entry.handshakeDeadline = null;
  }

  touch(entry: EncryptionMapping, now: number): void {
    entry.lastAccessAt = now;
  }

  remove(address: NetcodeAddress): void {
    this.byAddress.delete(address.key);
  }

  isExpired(entry: EncryptionMapping, now: number): boolean {
    const idle = entry.timeoutSeconds > 0 && entry.lastAccessAt + entry.timeoutSeconds * MS_PER_SECOND < now;
    const handshakeOver = entry.handshakeDeadline !== null && entry.handshakeDeadline < now;
    return idle || handshakeOver;
  }

  /** Drops lapsed mappings that no client slot uses. */
  removeLapsed(now: number): void {
    for (const [key, entry] of this.byAddress) {
      if (entry.clientIndex === null && this.isExpired(entry, now)) this.byAddress.delete(key);
    }
  }

  clear(): void {
    this.byAddress.clear();
  }
}

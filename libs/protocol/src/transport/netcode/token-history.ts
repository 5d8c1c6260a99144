/**
 * Connect token reuse tracking. A token is known by the tag of its sealed private part; the first address
 * that presents it owns it, and the same token from any other address is refused. The history keeps a bounded
 * number of tokens and forgets the oldest first (as the reference implementation does).
 *
 * Each entry also remembers the next sequence number the server would send with this token's keys, so that a
 * client reconnecting with the same token never makes the server reuse a (key, nonce) pair.
 */

import { toHex } from "../../bytes.ts";
import type { NetcodeAddress } from "./address.ts";

/** The address key of a spent token: no address has it (keys are `host:port`). */
const SPENT = "";

interface TokenUse {
  readonly addressKey: string;
  nextSendSequence: bigint;
}

export class ConnectTokenHistory {
  private readonly uses = new Map<string, TokenUse>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`connect token history capacity must be a positive integer, got ${capacity}`);
    }
  }

  /** The id of a token: hex of its private part's tag. */
  static tokenId(mac: Uint8Array): string {
    return toHex(mac);
  }

  /**
   * True when the token may be used from this address: it is new (and is now recorded as this address's) or
   * was first seen from this same address. False when another address already used it.
   */
  admit(tokenId: string, address: NetcodeAddress): boolean {
    const use = this.uses.get(tokenId);
    if (use !== undefined) return use.addressKey === address.key;
    if (this.uses.size >= this.capacity) this.forgetOldest();
    this.uses.set(tokenId, { addressKey: address.key, nextSendSequence: 0n });
    return true;
  }

  /**
   * True when the token was never seen: it is now spent, refused from every address (`admit`) and here.
   * For requests over a stream the caller secured (a WebSocket), where a token is used once, not resent.
   */
  spend(tokenId: string): boolean {
    if (this.uses.has(tokenId)) return false;
    if (this.uses.size >= this.capacity) this.forgetOldest();
    this.uses.set(tokenId, { addressKey: SPENT, nextSendSequence: 0n });
    return true;
  }

  nextSendSequence(tokenId: string): bigint {
    return this.uses.get(tokenId)?.nextSendSequence ?? 0n;
  }

  rememberSendSequence(tokenId: string, sequence: bigint): void {
    const use = this.uses.get(tokenId);
    if (use !== undefined && sequence > use.nextSendSequence) use.nextSendSequence = sequence;
  }

  get size(): number {
    return this.uses.size;
  }

  clear(): void {
    this.uses.clear();
  }

  private forgetOldest(): void {
    const oldest = this.uses.keys().next();
    if (!oldest.done) this.uses.delete(oldest.value);
  }
}

/**
 * Grants: what the cluster mints so that two players (or a player and the cluster's seed) may talk about
 * one asset. A pair gets a fresh random id and a fresh key; each side gets its own grant naming the other
 * side, its side (0 or 1), the asset, an expiry and, unless the other side keeps its address to itself,
 * where to reach it. The grant is handed over the player's authenticated, encrypted session with the
 * cluster: no one else ever sees the key. A datagram sealed with it opens only at the other side of that
 * pair, only for that asset (wire.ts); nothing else is answered, so a swarm port is no open port.
 */
import sodium from "sodium-native";
import { ASSET_ID_BYTES, KEY_BYTES, PAIR_BYTES } from "./wire.ts";

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface Grant {
  readonly pair: Uint8Array;
  /** The asset's id: the SHA-256 of its manifest (32 bytes). */
  readonly asset: Uint8Array;
  /** The other side's session id. */
  readonly peer: string;
  /** This side of the pair. */
  readonly side: 0 | 1;
  readonly key: Uint8Array;
  /** Unix ms after which the pair's datagrams are dropped. */
  readonly expiresAt: number;
  /** Where to reach the other side directly; absent: only through the relay. */
  readonly address?: PeerAddress;
  /** The other side is the cluster's seed. */
  readonly server?: boolean;
}

export function randomPair(): Uint8Array {
  const pair = Buffer.alloc(PAIR_BYTES);
  sodium.randombytes_buf(pair);
  return pair;
}

/** Two grants, one for each side: `a` gets side 0, `b` side 1. */
export function mintGrants(options: {
  readonly asset: Uint8Array;
  readonly a: string;
  readonly b: string;
  readonly ttlMs: number;
  readonly now?: number;
  /** Where `a` reaches `b`, and `b` reaches `a` (absent: relay only). */
  readonly addressOfA?: PeerAddress;
  readonly addressOfB?: PeerAddress;
  readonly aIsServer?: boolean;
  readonly bIsServer?: boolean;
}): [Grant, Grant] {
  if (options.asset.length !== ASSET_ID_BYTES) {
    throw new Error(
      `an asset id is ${ASSET_ID_BYTES} bytes (its manifest's SHA-256), not ${options.asset.length}`,
    );
  }
  const pair = randomPair();
  const key = Buffer.alloc(KEY_BYTES);
  sodium.randombytes_buf(key);
  const expiresAt = (options.now ?? Date.now()) + options.ttlMs;
  const common = { pair, asset: options.asset, key, expiresAt };
  return [
    {
      ...common,
      peer: options.b,
      side: 0,
      ...(options.addressOfB !== undefined ? { address: options.addressOfB } : {}),
      ...(options.bIsServer === true ? { server: true } : {}),
    },
    {
      ...common,
      peer: options.a,
      side: 1,
      ...(options.addressOfA !== undefined ? { address: options.addressOfA } : {}),
      ...(options.aIsServer === true ? { server: true } : {}),
    },
  ];
}

export function pairKey(pair: Uint8Array): string {
  return Buffer.from(pair.buffer, pair.byteOffset, pair.byteLength).toString("hex");
}

export function assetIdBytes(hex: string): Uint8Array {
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`an asset id is 64 lower-case hex digits, not "${hex}"`);
  return new Uint8Array(Buffer.from(hex, "hex"));
}

/**
 * Link tokens: netcode.io 1.02 connect tokens that main mints for one link, from a dialing cluster to an
 * accepting one. Their private part is sealed with the accepting cluster's `token` key (which only it and
 * main can derive, see keys.ts), so only that cluster's link end opens them; their user data names the
 * dialer (name and public key) and carries a fresh token id, so the acceptor knows who dials and can refuse
 * a token seen before. The whole token is then sealed again for the dialer (its `seal` key) before it
 * leaves main: the session keys in its public part are the dialer's alone.
 *
 * A token names one server address: the accepting cluster's *virtual* address, an IPv6 unique-local
 * address made from its name (`clusterAddress`). The link end maps that address to the path the packets
 * really take (the peer's observed address, or the relay), so one token works on either path and the
 * netcode server's check "this token is for me" still holds.
 */
import { DatagramReader, DatagramWriter, DcPackError, netcode } from "@overworld/protocol";
import sodium from "sodium-native";
import { PUBLIC_KEY_BYTES, randomBytes } from "./keys.ts";

/** netcode protocol id of federation links ("OWLINK" and a version), distinct from the players'. */
export const LINK_PROTOCOL_ID = 0x4f57_4c49_4e4b_0001n;
export const TOKEN_ID_BYTES = 16;
export const PAIR_ID_BYTES = 8;
/** Cluster names: one DNS-label-like token, so they fit tokens, subjects and logs alike. */
export const CLUSTER_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;
const USER_DATA_VERSION = 1;

export function isClusterName(name: unknown): name is string {
  return typeof name === "string" && CLUSTER_NAME.test(name);
}

function hash(bytes: number, ...parts: string[]): Buffer {
  const out = Buffer.alloc(bytes);
  sodium.crypto_generichash_batch(
    out,
    parts.map((part) => Buffer.from(part)),
  );
  return out;
}

/** The virtual address a cluster's link end is known by in link tokens: fd6f:77:<hash of its name>, port 1. */
export function clusterAddress(name: string): netcode.NetcodeAddress {
  const digest = hash(12, "overworld cluster address", name);
  const groups = [0xfd6f, 0x0077];
  for (let i = 0; i < 6; i++) groups.push(digest.readUInt16BE(2 * i));
  return netcode.ipv6Address(groups, 1);
}

/** The id of the link between two clusters, the same whichever side computes it (8 bytes). */
export function pairId(a: string, b: string): Uint8Array {
  const [low, high] = a < b ? [a, b] : [b, a];
  return new Uint8Array(hash(PAIR_ID_BYTES, "overworld link pair", low, "\n", high));
}

export function pairKey(pair: Uint8Array): string {
  return Buffer.from(pair).toString("hex");
}

/** Which side of a pair dials: the cluster whose name sorts first. */
export function dials(self: string, peer: string): boolean {
  return self < peer;
}

/**
 * Where a link relayed under `pair` appears to come from, on the accepting side's netcode server: an
 * address of its own per pair (fd6f:78:<pair>), since every relayed packet really comes from the relay.
 */
export function relayedPeerAddress(pair: Uint8Array): netcode.NetcodeAddress {
  const groups = [0xfd6f, 0x0078];
  for (let i = 0; i < 4; i++) groups.push((pair[2 * i]! << 8) | pair[2 * i + 1]!);
  groups.push(0, 0);
  return netcode.ipv6Address(groups, 1);
}

/** What a link token's user data says. */
export interface LinkUserData {
  readonly tokenId: Uint8Array;
  readonly dialer: string;
  readonly dialerKey: Uint8Array;
  readonly acceptor: string;
}

export function writeLinkUserData(data: LinkUserData): Uint8Array {
  const dialer = Buffer.from(data.dialer);
  const acceptor = Buffer.from(data.acceptor);
  const out = new Uint8Array(netcode.USER_DATA_BYTES);
  const writer = new DatagramWriter(out);
  writer.writeUint8(USER_DATA_VERSION);
  writer.writeBytes(data.tokenId);
  writer.writeUint8(dialer.length);
  writer.writeBytes(dialer);
  writer.writeBytes(data.dialerKey);
  writer.writeUint8(acceptor.length);
  writer.writeBytes(acceptor);
  return out;
}

/** Reads the user data of a token that opened; null when it is not a link token's. */
export function readLinkUserData(bytes: Uint8Array): LinkUserData | null {
  if (bytes.length !== netcode.USER_DATA_BYTES || bytes[0] !== USER_DATA_VERSION) return null;
  const reader = new DatagramReader(bytes, 1);
  try {
    const tokenId = reader.readBytes(TOKEN_ID_BYTES);
    const dialer = reader.readUtf8(reader.readUint8());
    const dialerKey = reader.readBytes(PUBLIC_KEY_BYTES);
    const acceptor = reader.readUtf8(reader.readUint8());
    if (!isClusterName(dialer) || !isClusterName(acceptor)) return null;
    return { tokenId, dialer, dialerKey, acceptor };
  } catch (error) {
    if (error instanceof DcPackError) return null;
    throw error;
  }
}

export interface MintLinkTokenOptions {
  readonly dialer: string;
  readonly dialerKey: Uint8Array;
  readonly acceptor: string;
  /** The accepting cluster's `token` key (keys.ts `pairKeys(main, acceptor).token`). */
  readonly acceptorTokenKey: Uint8Array;
  /** How long the token may be used to connect. */
  readonly expireSeconds: number;
  /** Seconds of silence after which the link counts as lost. */
  readonly timeoutSeconds: number;
  readonly nowSeconds?: number;
  readonly protocolId?: bigint;
}

export interface MintedLinkToken {
  readonly token: Uint8Array;
  readonly tokenId: Uint8Array;
  readonly expiresAt: number;
}

/** Mints a 2048-byte link token (a netcode connect token) for `dialer` to link to `acceptor`. */
export function mintLinkToken(options: MintLinkTokenOptions): MintedLinkToken {
  const tokenId = randomBytes(TOKEN_ID_BYTES);
  const nowSeconds = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const clientId = Buffer.from(randomBytes(8)).readBigUInt64LE() || 1n;
  const token = netcode.generateConnectToken({
    protocolId: options.protocolId ?? LINK_PROTOCOL_ID,
    privateKey: options.acceptorTokenKey,
    clientId,
    serverAddresses: [clusterAddress(options.acceptor)],
    expireSeconds: options.expireSeconds,
    timeoutSeconds: options.timeoutSeconds,
    userData: writeLinkUserData({
      tokenId,
      dialer: options.dialer,
      dialerKey: options.dialerKey,
      acceptor: options.acceptor,
    }),
    nowSeconds,
  });
  return { token, tokenId, expiresAt: (nowSeconds + options.expireSeconds) * 1000 };
}

/** What a sealed token is bound to: it opens only as the token for this dialer and acceptor. */
export function tokenSealContext(dialer: string, acceptor: string): Uint8Array {
  return new TextEncoder().encode(`overworld link token\n${dialer}\n${acceptor}`);
}

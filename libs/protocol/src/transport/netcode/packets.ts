/**
 * netcode packets.
 *
 * The connection request is the only plaintext packet, exactly 1078 bytes:
 *   0 | version info (13) | protocol id u64 | token expire timestamp u64 | token nonce (24) | sealed private (1024)
 *
 * Every other packet is
 *   prefix byte (type | sequence byte count << 4) | sequence (1-8 bytes, least significant first, high zero
 *   bytes omitted) | per-type data sealed with ChaCha20-Poly1305 | 16-byte tag
 * with nonce = the sequence in the standard's 12-byte form and additional data = version info | protocol id |
 * prefix byte. Per-type data: denied and disconnect none; challenge and response a u64 challenge sequence and
 * the 300-byte sealed challenge token; keep-alive client index u32 and max clients u32; payload 1-1200 bytes.
 */

import { bytesEqual } from "../../bytes.ts";
import { DatagramReader } from "../../pack/reader.ts";
import { DatagramWriter } from "../../pack/writer.ts";
import {
  CHALLENGE_PACKET_DATA_BYTES,
  CHALLENGE_TOKEN_BYTES,
  CONNECT_TOKEN_NONCE_BYTES,
  CONNECT_TOKEN_PRIVATE_BYTES,
  CONNECTION_REQUEST_BYTES,
  IETF_NONCE_BYTES,
  KEEP_ALIVE_PACKET_DATA_BYTES,
  MAC_BYTES,
  MAX_PAYLOAD_BYTES,
  MAX_SEQUENCE_BYTES,
  MIN_ENCRYPTED_PACKET_BYTES,
  MIN_PAYLOAD_BYTES,
  PACKET_TYPE_COUNT,
  PacketType,
  RESPONSE_PACKET_DATA_BYTES,
  UINT64_MAX,
  VERSION_INFO,
  VERSION_INFO_BYTES,
} from "./constants.ts";
import { openChaCha20Poly1305, sealChaCha20Poly1305Into, sequenceNonce } from "./crypto.ts";
import type { ReplayProtection } from "./replay-protection.ts";
import { accept, drop, type ReadResult } from "./results.ts";

export interface ConnectionRequestPacket {
  readonly type: typeof PacketType.ConnectionRequest;
  readonly protocolId: bigint;
  readonly expireTimestamp: bigint;
  readonly nonce: Uint8Array;
  readonly sealedPrivate: Uint8Array;
}

export interface DeniedPacket {
  readonly type: typeof PacketType.ConnectionDenied;
}

export interface ChallengePacket {
  readonly type: typeof PacketType.ConnectionChallenge;
  readonly challengeSequence: bigint;
  readonly challengeToken: Uint8Array;
}

export interface ResponsePacket {
  readonly type: typeof PacketType.ConnectionResponse;
  readonly challengeSequence: bigint;
  readonly challengeToken: Uint8Array;
}

export interface KeepAlivePacket {
  readonly type: typeof PacketType.KeepAlive;
  readonly clientIndex: number;
  readonly maxClients: number;
}

export interface PayloadPacket {
  readonly type: typeof PacketType.Payload;
  readonly payload: Uint8Array;
}

export interface DisconnectPacket {
  readonly type: typeof PacketType.Disconnect;
}

export type EncryptedPacket =
  | DeniedPacket
  | ChallengePacket
  | ResponsePacket
  | KeepAlivePacket
  | PayloadPacket
  | DisconnectPacket;

/** A set of packet types, one bit per type. */
export type PacketTypeMask = number;

export function packetTypeMask(...types: PacketType[]): PacketTypeMask {
  return types.reduce<number>((mask, type) => mask | (1 << type), 0);
}

/** What a server reads: requests, responses and the traffic of connected clients (never challenges). */
export const SERVER_ACCEPTED_PACKETS = packetTypeMask(
  PacketType.ConnectionRequest,
  PacketType.ConnectionResponse,
  PacketType.KeepAlive,
  PacketType.Payload,
  PacketType.Disconnect,
);

/** What a client reads (never requests or responses). */
export const CLIENT_ACCEPTED_PACKETS = packetTypeMask(
  PacketType.ConnectionDenied,
  PacketType.ConnectionChallenge,
  PacketType.KeepAlive,
  PacketType.Payload,
  PacketType.Disconnect,
);

// ---------------------------------------------------------------------------------------------------------
// Connection request

export function writeConnectionRequest(request: Omit<ConnectionRequestPacket, "type">): Uint8Array {
  if (request.nonce.length !== CONNECT_TOKEN_NONCE_BYTES) {
    throw new RangeError(
      `connect token nonce must be ${CONNECT_TOKEN_NONCE_BYTES} bytes, got ${request.nonce.length}`,
    );
  }
  if (request.sealedPrivate.length !== CONNECT_TOKEN_PRIVATE_BYTES) {
    throw new RangeError(
      `sealed private token must be ${CONNECT_TOKEN_PRIVATE_BYTES} bytes, got ${request.sealedPrivate.length}`,
    );
  }
  const bytes = new Uint8Array(CONNECTION_REQUEST_BYTES);
  const writer = new DatagramWriter(bytes);
  writer.writeUint8(PacketType.ConnectionRequest);
  writer.writeBytes(VERSION_INFO);
  writer.writeBigUint64(request.protocolId);
  writer.writeBigUint64(request.expireTimestamp);
  writer.writeBytes(request.nonce);
  writer.writeBytes(request.sealedPrivate);
  return bytes;
}

export interface ConnectionRequestChecks {
  readonly protocolId: bigint;
  /** Unix time in seconds; a token whose expire timestamp is at or before it is refused. */
  readonly nowSeconds: bigint;
}

/**
 * The framing checks of a connection request in the standard's order: size, version, protocol id, expiry.
 * Opening the private part is the next step (openPrivateToken).
 */
export function readConnectionRequest(
  bytes: Uint8Array,
  checks: ConnectionRequestChecks,
): ReadResult<ConnectionRequestPacket> {
  if (bytes.length !== CONNECTION_REQUEST_BYTES) return drop("connection_request_wrong_size");
  if (bytes[0] !== PacketType.ConnectionRequest) return drop("invalid_packet_type");
  const reader = new DatagramReader(bytes, 1);
  if (!bytesEqual(reader.readView(VERSION_INFO_BYTES), VERSION_INFO)) return drop("wrong_version");
  const protocolId = reader.readBigUint64();
  if (protocolId !== checks.protocolId) return drop("wrong_protocol_id");
  const expireTimestamp = reader.readBigUint64();
  if (expireTimestamp <= checks.nowSeconds) return drop("token_expired");
  return accept({
    type: PacketType.ConnectionRequest,
    protocolId,
    expireTimestamp,
    nonce: reader.readBytes(CONNECT_TOKEN_NONCE_BYTES),
    sealedPrivate: reader.readBytes(CONNECT_TOKEN_PRIVATE_BYTES),
  });
}

// ---------------------------------------------------------------------------------------------------------
// Encrypted packets

/** Bytes needed for a sequence number with its high zero bytes left out (at least one). */
export function sequenceByteCount(sequence: bigint): number {
  if (sequence <= MAX_SAFE_SEQUENCE) {
    // the common case, in plain numbers (BigInt arithmetic costs a packet more than its AEAD)
    let count = 1;
    for (let rest = Math.floor(Number(sequence) / 256); rest > 0; rest = Math.floor(rest / 256)) count++;
    return count;
  }
  let count = 1;
  for (let rest = sequence >> 8n; rest > 0n; rest >>= 8n) count++;
  return count;
}

const MAX_SAFE_SEQUENCE = BigInt(Number.MAX_SAFE_INTEGER);

export function prefixByte(type: PacketType, sequenceBytes: number): number {
  return type | (sequenceBytes << 4);
}

/** version info | protocol id | prefix byte: what the tag of an encrypted packet also covers. */
export function packetAdditionalData(protocolId: bigint, prefix: number): Uint8Array {
  const additionalData = new Uint8Array(VERSION_INFO_BYTES + 8 + 1);
  const writer = new DatagramWriter(additionalData);
  writer.writeBytes(VERSION_INFO);
  writer.writeBigUint64(protocolId);
  writer.writeUint8(prefix);
  return additionalData;
}

/**
 * The same, shared per prefix byte for the protocol id used last (a process talks one protocol): one of 256
 * small arrays instead of an allocation per packet. Never handed out, only read by the AEAD.
 */
const additionalDataCache = { protocolId: -1n, byPrefix: new Array<Uint8Array | undefined>(256) };

function cachedAdditionalData(protocolId: bigint, prefix: number): Uint8Array {
  if (additionalDataCache.protocolId !== protocolId) {
    additionalDataCache.protocolId = protocolId;
    additionalDataCache.byPrefix.fill(undefined);
  }
  let data = additionalDataCache.byPrefix[prefix];
  if (data === undefined) {
    data = packetAdditionalData(protocolId, prefix);
    additionalDataCache.byPrefix[prefix] = data;
  }
  return data;
}

/** Size on the wire of an encrypted packet with `dataBytes` of per-type data. */
export function encryptedPacketSize(sequence: bigint, dataBytes: number): number {
  return 1 + sequenceByteCount(sequence) + dataBytes + MAC_BYTES;
}

export function writeEncryptedPacket(
  packet: EncryptedPacket,
  sequence: bigint,
  key: Uint8Array,
  protocolId: bigint,
  /** Where the packet is written: fresh bytes of the given size (a ByteSlab's `alloc` spares an ArrayBuffer each). */
  allocate: (size: number) => Uint8Array = newBytes,
): Uint8Array {
  if (sequence < 0n || sequence > UINT64_MAX) throw new RangeError(`sequence ${sequence} is not a uint64`);
  const data = packetData(packet);
  const sequenceBytes = sequenceByteCount(sequence);
  const prefix = prefixByte(packet.type, sequenceBytes);
  const bytes = allocate(1 + sequenceBytes + data.length + MAC_BYTES);
  bytes[0] = prefix;
  writeSequenceBytes(bytes, sequence, sequenceBytes);
  const additionalData = cachedAdditionalData(protocolId, prefix);
  const nonce = sequenceNonce(sequence, scratchNonce);
  sealChaCha20Poly1305Into(bytes, 1 + sequenceBytes, key, nonce, data, additionalData);
  return bytes;
}

/** The nonce of the packet being sealed or opened: both are synchronous, so one serves every packet. */
const scratchNonce = new Uint8Array(IETF_NONCE_BYTES);

function newBytes(size: number): Uint8Array {
  return new Uint8Array(size);
}

/** The sequence's low `count` bytes, little-endian, after the prefix byte. */
function writeSequenceBytes(bytes: Uint8Array, sequence: bigint, count: number): void {
  if (sequence <= MAX_SAFE_SEQUENCE) {
    let rest = Number(sequence);
    for (let i = 0; i < count; i++) {
      bytes[1 + i] = rest % 256;
      rest = Math.floor(rest / 256);
    }
    return;
  }
  let rest = sequence;
  for (let i = 0; i < count; i++) {
    bytes[1 + i] = Number(rest & 0xffn);
    rest >>= 8n;
  }
}

/** The plaintext per-type data of a packet. */
function packetData(packet: EncryptedPacket): Uint8Array {
  switch (packet.type) {
    case PacketType.ConnectionDenied:
    case PacketType.Disconnect:
      return new Uint8Array(0);
    case PacketType.ConnectionChallenge:
    case PacketType.ConnectionResponse:
      if (packet.challengeToken.length !== CHALLENGE_TOKEN_BYTES) {
        throw new RangeError(
          `a sealed challenge token is ${CHALLENGE_TOKEN_BYTES} bytes, got ${packet.challengeToken.length}`,
        );
      }
      return challengePacketData(packet.challengeSequence, packet.challengeToken);
    case PacketType.KeepAlive:
      return keepAlivePacketData(packet.clientIndex, packet.maxClients);
    case PacketType.Payload:
      checkPayloadSize(packet.payload.length);
      return packet.payload;
  }
}

function challengePacketData(challengeSequence: bigint, challengeToken: Uint8Array): Uint8Array {
  const data = new Uint8Array(CHALLENGE_PACKET_DATA_BYTES);
  const writer = new DatagramWriter(data);
  writer.writeBigUint64(challengeSequence);
  writer.writeBytes(challengeToken);
  return data;
}

function keepAlivePacketData(clientIndex: number, maxClients: number): Uint8Array {
  const data = new Uint8Array(KEEP_ALIVE_PACKET_DATA_BYTES);
  const writer = new DatagramWriter(data);
  writer.writeUint32(clientIndex);
  writer.writeUint32(maxClients);
  return data;
}

export function checkPayloadSize(size: number): void {
  if (size < MIN_PAYLOAD_BYTES || size > MAX_PAYLOAD_BYTES) {
    throw new RangeError(`a payload is ${MIN_PAYLOAD_BYTES} to ${MAX_PAYLOAD_BYTES} bytes, got ${size}`);
  }
}

export interface EncryptedPacketReading {
  /** Key for packets from this peer; null when there is none (the packet is then dropped). */
  readonly key: Uint8Array | null;
  readonly protocolId: bigint;
  readonly allowed: PacketTypeMask;
  /** Applied to keep-alive, payload and disconnect packets when given. */
  readonly replay?: ReplayProtection | undefined;
}

export interface ReadPacket {
  readonly packet: EncryptedPacket;
  readonly sequence: bigint;
}

/** Reads an encrypted packet, checking in the standard's order; anything wrong gives a drop reason. */
export function readEncryptedPacket(
  bytes: Uint8Array,
  reading: EncryptedPacketReading,
): ReadResult<ReadPacket> {
  if (bytes.length < MIN_ENCRYPTED_PACKET_BYTES) return drop("too_small");
  const prefix = bytes[0]!;
  const type = (prefix & 0x0f) as PacketType;
  if (type >= PACKET_TYPE_COUNT || type === PacketType.ConnectionRequest) return drop("invalid_packet_type");
  if ((reading.allowed & (1 << type)) === 0) return drop("packet_type_not_allowed");
  const sequenceBytes = prefix >> 4;
  if (sequenceBytes < 1 || sequenceBytes > MAX_SEQUENCE_BYTES) return drop("invalid_sequence_bytes");
  if (bytes.length < 1 + sequenceBytes + MAC_BYTES) return drop("too_small");
  if (reading.key === null) return drop("no_encryption_mapping");
  const sequence = readSequence(bytes, sequenceBytes);
  const replay = isReplayProtected(type) ? reading.replay : undefined;
  if (replay?.alreadyReceived(sequence)) return drop("replayed");
  const data = openChaCha20Poly1305(
    reading.key,
    sequenceNonce(sequence, scratchNonce),
    bytes.subarray(1 + sequenceBytes),
    cachedAdditionalData(reading.protocolId, prefix),
  );
  if (data === null) return drop("decrypt_failed");
  replay?.advance(sequence);
  const packet = parsePacketData(type, data);
  return packet === null ? drop("wrong_data_size") : accept({ packet, sequence });
}

function readSequence(bytes: Uint8Array, sequenceBytes: number): bigint {
  let sequence = 0n;
  for (let i = sequenceBytes - 1; i >= 0; i--) sequence = (sequence << 8n) | BigInt(bytes[1 + i]!);
  return sequence;
}

function isReplayProtected(type: PacketType): boolean {
  return type === PacketType.KeepAlive || type === PacketType.Payload || type === PacketType.Disconnect;
}

/** The decrypted per-type data as a packet; null when its size is wrong for the type. */
function parsePacketData(type: PacketType, data: Uint8Array): EncryptedPacket | null {
  switch (type) {
    case PacketType.ConnectionDenied:
    case PacketType.Disconnect:
      return data.length === 0 ? { type } : null;
    case PacketType.ConnectionChallenge: {
      if (data.length !== CHALLENGE_PACKET_DATA_BYTES) return null;
      const reader = new DatagramReader(data);
      return {
        type,
        challengeSequence: reader.readBigUint64(),
        challengeToken: reader.readBytes(CHALLENGE_TOKEN_BYTES),
      };
    }
    case PacketType.ConnectionResponse: {
      if (data.length !== RESPONSE_PACKET_DATA_BYTES) return null;
      const reader = new DatagramReader(data);
      return {
        type,
        challengeSequence: reader.readBigUint64(),
        challengeToken: reader.readBytes(CHALLENGE_TOKEN_BYTES),
      };
    }
    case PacketType.KeepAlive: {
      if (data.length !== KEEP_ALIVE_PACKET_DATA_BYTES) return null;
      const reader = new DatagramReader(data);
      return { type, clientIndex: reader.readUint32(), maxClients: reader.readUint32() };
    }
    case PacketType.Payload:
      return data.length >= MIN_PAYLOAD_BYTES && data.length <= MAX_PAYLOAD_BYTES
        ? { type, payload: data }
        : null;
    default:
      return null;
  }
}

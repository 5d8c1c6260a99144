/**
 * The server side of a netcode connection as a pure state machine: bytes and time in, events out. It owns no
 * socket; the caller sends every `send` event's bytes and acts on the others.
 *
 * Connection request (plaintext, 1078 bytes) -> challenge (encrypted, at most 333 bytes) -> response ->
 * keep-alive and a client slot. Until a client holds a slot, nothing it sends is answered with more bytes than
 * it carried, and nothing that fails a check is answered at all.
 *
 * Times (`now`) are Unix milliseconds: token expiry is compared with their seconds, timeouts with the
 * milliseconds themselves.
 *
 * Sequence numbers: packets to a connected client use that slot's sequence, which continues where an earlier
 * session with the same token stopped; packets to addresses without a slot (challenge, denied) use a separate
 * counter starting at 2^63. Both sides of a token share its keys, so the two ranges keep every (key, nonce)
 * pair unique; clients do not replay-check challenge or denied packets, so any sequence is valid there.
 */

import { ByteSlab } from "../../bytes.ts";
import type { NetcodeAddress } from "./address.ts";
import { openChallengeToken, sealChallengeToken, writeChallengeToken } from "./challenge-token.ts";
import { openPrivateToken, type PrivateConnectToken, privateTokenMac } from "./connect-token.ts";
import {
  DEFAULT_DISCONNECT_PACKET_COUNT,
  DEFAULT_PACKET_SEND_INTERVAL_MS,
  KEY_BYTES,
  PacketType,
  UINT64_MAX,
} from "./constants.ts";
import { type RandomBytes, secureRandomBytes } from "./crypto.ts";
import { type EncryptionMapping, EncryptionMappings } from "./encryption-mappings.ts";
import {
  type ConnectionRequestPacket,
  checkPayloadSize,
  type EncryptedPacket,
  type ResponsePacket,
  readConnectionRequest,
  readEncryptedPacket,
  SERVER_ACCEPTED_PACKETS,
  writeEncryptedPacket,
} from "./packets.ts";
import { ReplayProtection } from "./replay-protection.ts";
import { accept, type DropReason, drop, type ReadResult } from "./results.ts";
import { ConnectTokenHistory } from "./token-history.ts";

export interface NetcodeServerConfig {
  readonly protocolId: bigint;
  /** 32 bytes shared with the backend that issues connect tokens. */
  readonly privateKey: Uint8Array;
  /** The addresses clients reach this server at; a token must list one of them. */
  readonly publicAddresses: readonly NetcodeAddress[];
  /** Client slots, 1 to 65536. */
  readonly maxClients: number;
  /** Key for challenge tokens; random by default (as the standard asks: new each time a server starts). */
  readonly challengeKey?: Uint8Array;
  readonly random?: RandomBytes;
  /** Idle time after which a keep-alive goes to a client; 100 ms (10 Hz) by default. */
  readonly keepAliveIntervalMs?: number;
  /** Redundant disconnect packets sent when the server drops a client; 10 by default. */
  readonly disconnectPacketCount?: number;
  /** Encryption mappings kept at most; 4 per client slot by default. */
  readonly encryptionMappingCapacity?: number;
  /** Connect tokens remembered for reuse checks; 8 per client slot by default. */
  readonly tokenHistoryCapacity?: number;
}

export type ServerDisconnectReason = "timed_out" | "client_disconnected" | "server_disconnected";

export type ServerEvent =
  | { readonly type: "send"; readonly to: NetcodeAddress; readonly bytes: Uint8Array }
  | {
      readonly type: "connected";
      readonly clientIndex: number;
      readonly clientId: bigint;
      readonly address: NetcodeAddress;
      readonly userData: Uint8Array;
    }
  | {
      readonly type: "disconnected";
      readonly clientIndex: number;
      readonly clientId: bigint;
      readonly address: NetcodeAddress;
      readonly reason: ServerDisconnectReason;
    }
  | {
      readonly type: "payload";
      readonly clientIndex: number;
      readonly payload: Uint8Array;
      readonly sequence: bigint;
    }
  | { readonly type: "denied"; readonly to: NetcodeAddress; readonly clientId: bigint }
  | { readonly type: "dropped"; readonly from: NetcodeAddress; readonly reason: DropReason };

/** What the server application may know about a connected client. */
export interface ServerClientInfo {
  readonly clientIndex: number;
  readonly clientId: bigint;
  readonly address: NetcodeAddress;
  readonly userData: Uint8Array;
  /** True once the client has sent a keep-alive or payload, proving it knows its slot. */
  readonly confirmed: boolean;
}

interface ClientSlot {
  readonly index: number;
  readonly clientId: bigint;
  readonly address: NetcodeAddress;
  readonly userData: Uint8Array;
  readonly mapping: EncryptionMapping;
  readonly timeoutSeconds: number;
  readonly replay: ReplayProtection;
  sendSequence: bigint;
  lastSendAt: number;
  lastReceiveAt: number;
  confirmed: boolean;
}

export const MAX_CLIENTS_LIMIT = 65_536;
export const HANDSHAKE_SEQUENCE_BASE = 1n << 63n;
const MAPPINGS_PER_SLOT = 4;
const TOKENS_PER_SLOT = 8;
const MS_PER_SECOND = 1000;
/** How often lapsed encryption mappings are swept out during update. */
const MAPPING_SWEEP_INTERVAL_MS = 1000;

export class NetcodeServer {
  readonly protocolId: bigint;
  readonly maxClients: number;
  private readonly privateKey: Uint8Array;
  private readonly challengeKey: Uint8Array;
  private readonly publicAddressKeys: ReadonlySet<string>;
  private readonly keepAliveIntervalMs: number;
  private readonly disconnectPacketCount: number;
  private readonly slots: (ClientSlot | undefined)[];
  private readonly slotByAddress = new Map<string, ClientSlot>();
  private readonly slotByClientId = new Map<bigint, ClientSlot>();
  private readonly mappings: EncryptionMappings;
  private readonly tokenHistory: ConnectTokenHistory;
  private challengeSequence = 0n;
  private handshakeSequence = HANDSHAKE_SEQUENCE_BASE;
  private lastMappingSweepAt = Number.NEGATIVE_INFINITY;
  /** Clients' packets are sealed into shared slabs: one allocation for a hundred packets, not one each. */
  private readonly packetSlab = new ByteSlab();
  private readonly allocatePacket = (size: number): Uint8Array => this.packetSlab.alloc(size);

  constructor(config: NetcodeServerConfig) {
    checkServerConfig(config);
    this.protocolId = config.protocolId;
    this.maxClients = config.maxClients;
    this.privateKey = config.privateKey;
    this.challengeKey = config.challengeKey ?? (config.random ?? secureRandomBytes)(KEY_BYTES);
    this.publicAddressKeys = new Set(config.publicAddresses.map((address) => address.key));
    this.keepAliveIntervalMs = config.keepAliveIntervalMs ?? DEFAULT_PACKET_SEND_INTERVAL_MS;
    this.disconnectPacketCount = config.disconnectPacketCount ?? DEFAULT_DISCONNECT_PACKET_COUNT;
    this.slots = new Array<ClientSlot | undefined>(config.maxClients).fill(undefined);
    this.mappings = new EncryptionMappings(
      config.encryptionMappingCapacity ?? config.maxClients * MAPPINGS_PER_SLOT,
    );
    this.tokenHistory = new ConnectTokenHistory(
      config.tokenHistoryCapacity ?? config.maxClients * TOKENS_PER_SLOT,
    );
  }

  get connectedClients(): number {
    return this.slotByAddress.size;
  }

  client(clientIndex: number): ServerClientInfo | undefined {
    const slot = this.slots[clientIndex];
    if (slot === undefined) return undefined;
    const { index, clientId, address, userData, confirmed } = slot;
    return { clientIndex: index, clientId, address, userData, confirmed };
  }

  /** Handles one datagram. Never throws on its content; a datagram that fails a check yields `dropped`. */
  receive(bytes: Uint8Array, from: NetcodeAddress, now: number): ServerEvent[] {
    const events: ServerEvent[] = [];
    const reason =
      bytes.length === 0
        ? "too_small"
        : bytes[0] === PacketType.ConnectionRequest
          ? this.receiveConnectionRequest(bytes, from, now, events)
          : this.receiveEncryptedPacket(bytes, from, now, events);
    if (reason !== null) events.push({ type: "dropped", from, reason });
    return events;
  }

  /** Times out silent clients, sends keep-alives to idle ones, forgets lapsed encryption mappings. */
  update(now: number): ServerEvent[] {
    const events: ServerEvent[] = [];
    for (const slot of this.slotByAddress.values()) {
      if (this.hasTimedOut(slot, now)) {
        this.releaseSlot(slot, "timed_out", false, now, events);
      } else if (slot.lastSendAt + this.keepAliveIntervalMs <= now) {
        this.sendToClient(slot, this.keepAlivePacket(slot), now, events);
      }
    }
    this.sweepMappings(now);
    return events;
  }

  /**
   * Sends a payload (1 to 1200 bytes) to a connected client; nothing when the slot is empty (it may have just
   * timed out). Until the client confirms its slot, a keep-alive goes first so it learns its index.
   */
  send(clientIndex: number, payload: Uint8Array, now: number): ServerEvent[] {
    checkPayloadSize(payload.length);
    const slot = this.slotAt(clientIndex);
    const events: ServerEvent[] = [];
    if (slot === undefined) return events;
    if (!slot.confirmed) this.sendToClient(slot, this.keepAlivePacket(slot), now, events);
    this.sendToClient(slot, { type: PacketType.Payload, payload }, now, events);
    return events;
  }

  /** Drops a client, sending it redundant disconnect packets. */
  disconnect(clientIndex: number, now: number): ServerEvent[] {
    const slot = this.slotAt(clientIndex);
    const events: ServerEvent[] = [];
    if (slot !== undefined) this.releaseSlot(slot, "server_disconnected", true, now, events);
    return events;
  }

  disconnectAll(now: number): ServerEvent[] {
    const events: ServerEvent[] = [];
    for (const slot of this.slotByAddress.values())
      this.releaseSlot(slot, "server_disconnected", true, now, events);
    return events;
  }

  /**
   * A connection request that came over a stream the caller has already secured (a WebSocket, under TLS
   * where configured), checked as a datagram's is, in the same order (size, version, protocol id, expiry,
   * the private part opened with the key, this server's address in the token), and answered by the caller
   * instead of with a challenge: it opens no slot. The token is spent: it is refused if it was seen before,
   * as a datagram or here, and every later use of it is refused, either way.
   */
  admitStreamRequest(bytes: Uint8Array, now: number): ReadResult<PrivateConnectToken> {
    const read = this.openConnectionRequest(bytes, now);
    if (!read.ok) return read;
    const { request, token } = read.value;
    if (!token.serverAddresses.some((address) => this.publicAddressKeys.has(address.key))) {
      return drop("server_address_not_in_token");
    }
    if (!this.tokenHistory.spend(tokenIdOf(request))) return drop("token_reused");
    return accept(token);
  }

  // -------------------------------------------------------------------------------------------------------
  // Connection requests

  /** Reads a connection request (size, version, protocol id, expiry) and opens its private token. */
  private openConnectionRequest(
    bytes: Uint8Array,
    now: number,
  ): ReadResult<{ request: ConnectionRequestPacket; token: PrivateConnectToken }> {
    const request = readConnectionRequest(bytes, {
      protocolId: this.protocolId,
      nowSeconds: BigInt(Math.floor(now / MS_PER_SECOND)),
    });
    if (!request.ok) return request;
    const opened = openPrivateToken({
      sealedPrivate: request.value.sealedPrivate,
      nonce: request.value.nonce,
      protocolId: this.protocolId,
      expireTimestamp: request.value.expireTimestamp,
      privateKey: this.privateKey,
    });
    if (!opened.ok) return opened;
    return accept({ request: request.value, token: opened.value });
  }

  private receiveConnectionRequest(
    bytes: Uint8Array,
    from: NetcodeAddress,
    now: number,
    events: ServerEvent[],
  ): DropReason | null {
    const read = this.openConnectionRequest(bytes, now);
    if (!read.ok) return read.reason;
    const { request, token } = read.value;
    return (
      this.refuseConnectionRequest(request, token, from) ?? this.challenge(request, token, from, now, events)
    );
  }

  /** The standard's checks after the token opened, in its order; the last one records the token's use. */
  private refuseConnectionRequest(
    request: ConnectionRequestPacket,
    token: PrivateConnectToken,
    from: NetcodeAddress,
  ): DropReason | null {
    if (!token.serverAddresses.some((address) => this.publicAddressKeys.has(address.key))) {
      return "server_address_not_in_token";
    }
    if (this.slotByAddress.has(from.key)) return "address_already_connected";
    if (this.slotByClientId.has(token.clientId)) return "client_id_already_connected";
    if (!this.tokenHistory.admit(tokenIdOf(request), from)) return "token_reused";
    return null;
  }

  /** Denies when full; otherwise maps the address to the token's keys and sends a challenge. */
  private challenge(
    request: ConnectionRequestPacket,
    token: PrivateConnectToken,
    from: NetcodeAddress,
    now: number,
    events: ServerEvent[],
  ): DropReason | null {
    if (this.isFull()) {
      this.deny(from, token.clientId, token.serverToClientKey, events);
      return null;
    }
    const mapping = this.mappings.add(
      from,
      {
        sendKey: token.serverToClientKey,
        receiveKey: token.clientToServerKey,
        timeoutSeconds: token.timeoutSeconds,
        tokenId: tokenIdOf(request),
      },
      now,
    );
    if (mapping === null) return "encryption_mapping_full";
    const sequence = this.challengeSequence++;
    const challengeToken = sealChallengeToken(
      writeChallengeToken({ clientId: token.clientId, userData: token.userData }),
      sequence,
      this.challengeKey,
    );
    this.sendHandshake(
      { type: PacketType.ConnectionChallenge, challengeSequence: sequence, challengeToken },
      from,
      mapping.sendKey,
      events,
    );
    return null;
  }

  // -------------------------------------------------------------------------------------------------------
  // Encrypted packets

  private receiveEncryptedPacket(
    bytes: Uint8Array,
    from: NetcodeAddress,
    now: number,
    events: ServerEvent[],
  ): DropReason | null {
    const slot = this.slotByAddress.get(from.key);
    const mapping = slot !== undefined ? slot.mapping : this.mappings.find(from, now);
    const read = readEncryptedPacket(bytes, {
      key: mapping?.receiveKey ?? null,
      protocolId: this.protocolId,
      allowed: SERVER_ACCEPTED_PACKETS,
      replay: slot?.replay,
    });
    if (!read.ok) return read.reason;
    const { packet, sequence } = read.value;
    if (packet.type === PacketType.ConnectionResponse)
      return this.receiveResponse(packet, from, mapping!, now, events);
    if (slot === undefined) return "not_connected";
    return this.receiveFromClient(slot, packet, sequence, now, events);
  }

  private receiveResponse(
    packet: ResponsePacket,
    from: NetcodeAddress,
    mapping: EncryptionMapping,
    now: number,
    events: ServerEvent[],
  ): DropReason | null {
    const challenge = openChallengeToken(packet.challengeToken, packet.challengeSequence, this.challengeKey);
    if (!challenge.ok) return challenge.reason;
    const { clientId, userData } = challenge.value;
    if (this.slotByAddress.has(from.key)) return "address_already_connected";
    if (this.slotByClientId.has(clientId)) return "client_id_already_connected";
    if (this.isFull()) {
      this.deny(from, clientId, mapping.sendKey, events);
      return null;
    }
    this.connectClient(this.firstFreeSlotIndex(), clientId, userData, from, mapping, now, events);
    return null;
  }

  private receiveFromClient(
    slot: ClientSlot,
    packet: EncryptedPacket,
    sequence: bigint,
    now: number,
    events: ServerEvent[],
  ): DropReason | null {
    switch (packet.type) {
      case PacketType.KeepAlive:
        slot.lastReceiveAt = now;
        slot.confirmed = true;
        return null;
      case PacketType.Payload:
        slot.lastReceiveAt = now;
        slot.confirmed = true;
        events.push({ type: "payload", clientIndex: slot.index, payload: packet.payload, sequence });
        return null;
      case PacketType.Disconnect:
        this.releaseSlot(slot, "client_disconnected", false, now, events);
        return null;
      default:
        return "packet_type_not_allowed";
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Slots

  private connectClient(
    index: number,
    clientId: bigint,
    userData: Uint8Array,
    address: NetcodeAddress,
    mapping: EncryptionMapping,
    now: number,
    events: ServerEvent[],
  ): void {
    const slot: ClientSlot = {
      index,
      clientId,
      address,
      userData,
      mapping,
      timeoutSeconds: mapping.timeoutSeconds,
      replay: new ReplayProtection(),
      sendSequence: this.tokenHistory.nextSendSequence(mapping.tokenId),
      lastSendAt: now,
      lastReceiveAt: now,
      confirmed: false,
    };
    this.mappings.bind(mapping, index);
    this.slots[index] = slot;
    this.slotByAddress.set(address.key, slot);
    this.slotByClientId.set(clientId, slot);
    this.sendToClient(slot, this.keepAlivePacket(slot), now, events);
    events.push({ type: "connected", clientIndex: index, clientId, address, userData });
  }

  private releaseSlot(
    slot: ClientSlot,
    reason: ServerDisconnectReason,
    sendDisconnectPackets: boolean,
    now: number,
    events: ServerEvent[],
  ): void {
    if (sendDisconnectPackets) {
      for (let i = 0; i < this.disconnectPacketCount; i++) {
        this.sendToClient(slot, { type: PacketType.Disconnect }, now, events);
      }
    }
    this.tokenHistory.rememberSendSequence(slot.mapping.tokenId, slot.sendSequence);
    this.mappings.remove(slot.address);
    this.slots[slot.index] = undefined;
    this.slotByAddress.delete(slot.address.key);
    this.slotByClientId.delete(slot.clientId);
    events.push({
      type: "disconnected",
      clientIndex: slot.index,
      clientId: slot.clientId,
      address: slot.address,
      reason,
    });
  }

  private hasTimedOut(slot: ClientSlot, now: number): boolean {
    return slot.timeoutSeconds > 0 && slot.lastReceiveAt + slot.timeoutSeconds * MS_PER_SECOND <= now;
  }

  private isFull(): boolean {
    return this.slotByAddress.size >= this.maxClients;
  }

  private firstFreeSlotIndex(): number {
    const index = this.slots.indexOf(undefined);
    if (index < 0)
      throw new Error("no free client slot although the server is not full (slot table out of step)");
    return index;
  }

  private slotAt(clientIndex: number): ClientSlot | undefined {
    if (!Number.isInteger(clientIndex) || clientIndex < 0 || clientIndex >= this.maxClients) {
      throw new RangeError(`client index must be an integer in [0, ${this.maxClients}), got ${clientIndex}`);
    }
    return this.slots[clientIndex];
  }

  private keepAlivePacket(slot: ClientSlot): EncryptedPacket {
    return { type: PacketType.KeepAlive, clientIndex: slot.index, maxClients: this.maxClients };
  }

  // -------------------------------------------------------------------------------------------------------
  // Sending

  private sendToClient(slot: ClientSlot, packet: EncryptedPacket, now: number, events: ServerEvent[]): void {
    const bytes = writeEncryptedPacket(
      packet,
      slot.sendSequence,
      slot.mapping.sendKey,
      this.protocolId,
      this.allocatePacket,
    );
    slot.sendSequence++;
    slot.lastSendAt = now;
    this.mappings.touch(slot.mapping, now);
    events.push({ type: "send", to: slot.address, bytes });
  }

  /** Challenge and denied packets, to addresses without a slot, numbered from the handshake range. */
  private sendHandshake(
    packet: EncryptedPacket,
    to: NetcodeAddress,
    key: Uint8Array,
    events: ServerEvent[],
  ): void {
    const bytes = writeEncryptedPacket(packet, this.handshakeSequence, key, this.protocolId);
    this.handshakeSequence =
      this.handshakeSequence === UINT64_MAX ? HANDSHAKE_SEQUENCE_BASE : this.handshakeSequence + 1n;
    events.push({ type: "send", to, bytes });
  }

  private deny(to: NetcodeAddress, clientId: bigint, key: Uint8Array, events: ServerEvent[]): void {
    this.sendHandshake({ type: PacketType.ConnectionDenied }, to, key, events);
    events.push({ type: "denied", to, clientId });
  }

  private sweepMappings(now: number): void {
    if (now - this.lastMappingSweepAt < MAPPING_SWEEP_INTERVAL_MS) return;
    this.lastMappingSweepAt = now;
    this.mappings.removeLapsed(now);
  }
}

function tokenIdOf(request: ConnectionRequestPacket): string {
  return ConnectTokenHistory.tokenId(privateTokenMac(request.sealedPrivate));
}

function checkServerConfig(config: NetcodeServerConfig): void {
  if (typeof config.protocolId !== "bigint" || config.protocolId < 0n || config.protocolId > UINT64_MAX) {
    throw new RangeError(`protocolId must be a bigint in [0, 2^64), got ${String(config.protocolId)}`);
  }
  if (!(config.privateKey instanceof Uint8Array) || config.privateKey.length !== KEY_BYTES) {
    throw new RangeError(`privateKey must be ${KEY_BYTES} bytes, got ${config.privateKey?.length}`);
  }
  if (config.challengeKey !== undefined && config.challengeKey.length !== KEY_BYTES) {
    throw new RangeError(`challengeKey must be ${KEY_BYTES} bytes, got ${config.challengeKey.length}`);
  }
  if (config.publicAddresses.length === 0) {
    throw new RangeError("publicAddresses must list at least one address clients reach this server at");
  }
  if (
    !Number.isInteger(config.maxClients) ||
    config.maxClients < 1 ||
    config.maxClients > MAX_CLIENTS_LIMIT
  ) {
    throw new RangeError(
      `maxClients must be an integer in [1, ${MAX_CLIENTS_LIMIT}], got ${config.maxClients}`,
    );
  }
  const interval = config.keepAliveIntervalMs;
  if (interval !== undefined && (!Number.isFinite(interval) || interval <= 0)) {
    throw new RangeError(`keepAliveIntervalMs must be a positive number, got ${interval}`);
  }
  const count = config.disconnectPacketCount;
  if (count !== undefined && (!Number.isInteger(count) || count < 0)) {
    throw new RangeError(`disconnectPacketCount must be a non-negative integer, got ${count}`);
  }
}

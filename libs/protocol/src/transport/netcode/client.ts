/**
 * The client side of a netcode connection as a pure state machine: bytes and time in, events out.
 *
 * disconnected -> sending connection request -> sending connection response -> connected, trying each server
 * address of the token in turn when one denies or stays silent; the error states (negative) say why it
 * stopped. Times (`now`) are milliseconds on any steady clock; the token's lifetime is measured from
 * `connect`, as the standard asks (expire minus create timestamp), so the client's wall clock never matters.
 */

import { bytesEqual } from "../../bytes.ts";
import { addressesEqual, type NetcodeAddress } from "./address.ts";
import { type ConnectToken, readConnectToken } from "./connect-token.ts";
import {
  ClientState,
  DEFAULT_DISCONNECT_PACKET_COUNT,
  DEFAULT_PACKET_SEND_INTERVAL_MS,
  PacketType,
} from "./constants.ts";
import {
  CLIENT_ACCEPTED_PACKETS,
  checkPayloadSize,
  type EncryptedPacket,
  readEncryptedPacket,
  writeConnectionRequest,
  writeEncryptedPacket,
} from "./packets.ts";
import { ReplayProtection } from "./replay-protection.ts";
import type { DropReason } from "./results.ts";

export interface NetcodeClientConfig {
  /** Pace of connection requests, responses and keep-alives; 100 ms (10 Hz) by default. */
  readonly sendIntervalMs?: number;
  /** Redundant disconnect packets sent when the client leaves; 10 by default. */
  readonly disconnectPacketCount?: number;
}

export type ClientEvent =
  | { readonly type: "send"; readonly to: NetcodeAddress; readonly bytes: Uint8Array }
  | { readonly type: "state"; readonly from: ClientState; readonly to: ClientState }
  | { readonly type: "payload"; readonly payload: Uint8Array; readonly sequence: bigint }
  | { readonly type: "dropped"; readonly from: NetcodeAddress; readonly reason: DropReason };

interface Challenge {
  readonly sequence: bigint;
  readonly token: Uint8Array;
}

const MS_PER_SECOND = 1000;

export class NetcodeClient {
  private currentState: ClientState = ClientState.Disconnected;
  private token: ConnectToken | null = null;
  private requestPacket: Uint8Array | null = null;
  private serverIndex = 0;
  private connectStartAt = 0;
  private lastSendAt = Number.NEGATIVE_INFINITY;
  private lastReceiveAt = 0;
  private challenge: Challenge | null = null;
  private readonly replay = new ReplayProtection();
  private assignedIndex = 0;
  private assignedMaxClients = 0;
  /** Next sequence to send, and the nonce of the token it belongs to (kept across reconnects with it). */
  private sequence = 0n;
  private sequenceTokenNonce: Uint8Array | null = null;
  private readonly sendIntervalMs: number;
  private readonly disconnectPacketCount: number;

  constructor(config: NetcodeClientConfig = {}) {
    const interval = config.sendIntervalMs ?? DEFAULT_PACKET_SEND_INTERVAL_MS;
    if (!Number.isFinite(interval) || interval <= 0) {
      throw new RangeError(`sendIntervalMs must be a positive number, got ${interval}`);
    }
    const count = config.disconnectPacketCount ?? DEFAULT_DISCONNECT_PACKET_COUNT;
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`disconnectPacketCount must be a non-negative integer, got ${count}`);
    }
    this.sendIntervalMs = interval;
    this.disconnectPacketCount = count;
  }

  get state(): ClientState {
    return this.currentState;
  }

  /** The server being connected to or connected with; null when there is none. */
  get serverAddress(): NetcodeAddress | null {
    return this.token?.serverAddresses[this.serverIndex] ?? null;
  }

  /** The slot the server gave this client (meaningful once connected). */
  get clientIndex(): number {
    return this.assignedIndex;
  }

  get maxClients(): number {
    return this.assignedMaxClients;
  }

  /** Starts connecting with a 2048-byte connect token, leaving any current connection first. */
  connect(tokenBytes: Uint8Array, now: number): ClientEvent[] {
    const events: ClientEvent[] = [];
    this.leave(ClientState.Disconnected, true, now, events);
    const read = readConnectToken(tokenBytes);
    if (!read.ok) {
      this.setState(ClientState.InvalidConnectToken, events);
      return events;
    }
    this.adoptToken(read.value);
    this.connectStartAt = now;
    this.resetForServer(now);
    this.setState(ClientState.SendingConnectionRequest, events);
    return events;
  }

  /** Handles one datagram. Never throws on its content; a datagram that fails a check yields `dropped`. */
  receive(bytes: Uint8Array, from: NetcodeAddress, now: number): ClientEvent[] {
    const events: ClientEvent[] = [];
    const token = this.token;
    const server = this.serverAddress;
    if (token === null || server === null) return [{ type: "dropped", from, reason: "not_connecting" }];
    if (!addressesEqual(from, server)) return [{ type: "dropped", from, reason: "unknown_sender" }];
    const read = readEncryptedPacket(bytes, {
      key: token.serverToClientKey,
      protocolId: token.protocolId,
      allowed: CLIENT_ACCEPTED_PACKETS,
      replay: this.replay,
    });
    if (!read.ok) return [{ type: "dropped", from, reason: read.reason }];
    if (!this.handlePacket(read.value.packet, read.value.sequence, now, events)) {
      events.push({ type: "dropped", from, reason: "unexpected_in_state" });
    }
    return events;
  }

  /** Checks expiry and timeouts, then sends whatever the state calls for when it is due. */
  update(now: number): ClientEvent[] {
    const events: ClientEvent[] = [];
    if (this.token === null) return events;
    if (this.connectingTooLong(now)) {
      this.leave(ClientState.ConnectTokenExpired, false, now, events);
    } else if (this.timedOut(now)) {
      this.failAfterTimeout(now, events);
    } else if (this.lastSendAt + this.sendIntervalMs <= now) {
      this.sendForState(now, events);
    }
    return events;
  }

  /** Sends a payload (1 to 1200 bytes) to the server; nothing unless connected. */
  send(payload: Uint8Array, now: number): ClientEvent[] {
    checkPayloadSize(payload.length);
    const events: ClientEvent[] = [];
    if (this.currentState === ClientState.Connected) {
      this.sendEncrypted({ type: PacketType.Payload, payload }, now, events);
    }
    return events;
  }

  /** Leaves on purpose: redundant disconnect packets, then disconnected. */
  disconnect(now: number): ClientEvent[] {
    const events: ClientEvent[] = [];
    this.leave(ClientState.Disconnected, true, now, events);
    return events;
  }

  // -------------------------------------------------------------------------------------------------------
  // Receiving

  /** Applies a packet that authenticated; false when the current state has no use for it. */
  private handlePacket(
    packet: EncryptedPacket,
    sequence: bigint,
    now: number,
    events: ClientEvent[],
  ): boolean {
    const state = this.currentState;
    const connecting =
      state === ClientState.SendingConnectionRequest || state === ClientState.SendingConnectionResponse;
    switch (packet.type) {
      case PacketType.ConnectionDenied:
        if (!connecting) return false;
        this.lastReceiveAt = now;
        this.failAndTryNextServer(ClientState.ConnectionDenied, now, events);
        return true;
      case PacketType.ConnectionChallenge:
        if (state !== ClientState.SendingConnectionRequest) return false;
        this.lastReceiveAt = now;
        this.challenge = { sequence: packet.challengeSequence, token: packet.challengeToken };
        this.lastSendAt = Number.NEGATIVE_INFINITY; // answer on the next update
        this.setState(ClientState.SendingConnectionResponse, events);
        return true;
      case PacketType.KeepAlive:
        if (state === ClientState.SendingConnectionResponse) {
          this.assignedIndex = packet.clientIndex;
          this.assignedMaxClients = packet.maxClients;
          this.lastReceiveAt = now;
          this.setState(ClientState.Connected, events);
          return true;
        }
        if (state !== ClientState.Connected) return false;
        this.lastReceiveAt = now;
        return true;
      case PacketType.Payload:
        if (state !== ClientState.Connected) return false; // payloads before connected are discarded
        this.lastReceiveAt = now;
        events.push({ type: "payload", payload: packet.payload, sequence });
        return true;
      case PacketType.Disconnect:
        if (state !== ClientState.Connected) return false;
        this.lastReceiveAt = now;
        this.leave(ClientState.Disconnected, false, now, events);
        return true;
      default:
        return false;
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Time

  private connectingTooLong(now: number): boolean {
    const token = this.token!;
    const connecting =
      this.currentState === ClientState.SendingConnectionRequest ||
      this.currentState === ClientState.SendingConnectionResponse;
    const lifetimeMs = Number(token.expireTimestamp - token.createTimestamp) * MS_PER_SECOND;
    return connecting && now - this.connectStartAt >= lifetimeMs;
  }

  private timedOut(now: number): boolean {
    const timeoutSeconds = this.token!.timeoutSeconds;
    return timeoutSeconds > 0 && this.lastReceiveAt + timeoutSeconds * MS_PER_SECOND < now;
  }

  private failAfterTimeout(now: number, events: ClientEvent[]): void {
    const state = this.currentState;
    if (state === ClientState.SendingConnectionRequest) {
      this.failAndTryNextServer(ClientState.ConnectionRequestTimedOut, now, events);
    } else if (state === ClientState.SendingConnectionResponse) {
      this.failAndTryNextServer(ClientState.ConnectionResponseTimedOut, now, events);
    } else if (state === ClientState.Connected) {
      this.leave(ClientState.ConnectionTimedOut, false, now, events);
    }
  }

  // -------------------------------------------------------------------------------------------------------
  // Sending

  private sendForState(now: number, events: ClientEvent[]): void {
    const state = this.currentState;
    if (state === ClientState.SendingConnectionRequest) {
      this.sendRequest(now, events);
    } else if (state === ClientState.SendingConnectionResponse) {
      this.sendResponse(now, events);
    } else if (state === ClientState.Connected) {
      this.sendEncrypted({ type: PacketType.KeepAlive, clientIndex: 0, maxClients: 0 }, now, events);
    }
  }

  private sendRequest(now: number, events: ClientEvent[]): void {
    this.lastSendAt = now;
    events.push({ type: "send", to: this.serverAddress!, bytes: this.requestPacket! });
  }

  /** Echoes the challenge token back, under the client-to-server key. */
  private sendResponse(now: number, events: ClientEvent[]): void {
    const challenge = this.challenge!;
    const response: EncryptedPacket = {
      type: PacketType.ConnectionResponse,
      challengeSequence: challenge.sequence,
      challengeToken: challenge.token,
    };
    this.sendEncrypted(response, now, events);
  }

  private sendEncrypted(packet: EncryptedPacket, now: number, events: ClientEvent[]): void {
    const token = this.token!;
    const bytes = writeEncryptedPacket(packet, this.sequence, token.clientToServerKey, token.protocolId);
    this.sequence++;
    this.lastSendAt = now;
    events.push({ type: "send", to: this.serverAddress!, bytes });
  }

  // -------------------------------------------------------------------------------------------------------
  // Transitions

  /** A new token restarts the sequence; the same token again continues it, so no nonce is used twice. */
  private adoptToken(token: ConnectToken): void {
    const sameToken = this.sequenceTokenNonce !== null && bytesEqual(this.sequenceTokenNonce, token.nonce);
    if (!sameToken) this.sequence = 0n;
    this.sequenceTokenNonce = token.nonce;
    this.token = token;
    this.serverIndex = 0;
    this.requestPacket = writeConnectionRequest({
      protocolId: token.protocolId,
      expireTimestamp: token.expireTimestamp,
      nonce: token.nonce,
      sealedPrivate: token.sealedPrivate,
    });
  }

  private resetForServer(now: number): void {
    this.lastSendAt = Number.NEGATIVE_INFINITY;
    this.lastReceiveAt = now;
    this.challenge = null;
    this.replay.reset();
  }

  /** Moves on to the token's next server address, or stops in `errorState` when there is none. */
  private failAndTryNextServer(errorState: ClientState, now: number, events: ClientEvent[]): void {
    const token = this.token!;
    if (this.serverIndex + 1 < token.serverAddresses.length) {
      this.serverIndex++;
      this.resetForServer(now);
      this.setState(ClientState.SendingConnectionRequest, events);
      return;
    }
    this.leave(errorState, false, now, events);
  }

  /** Ends any connection or attempt, optionally telling the server, and settles in `destination`. */
  private leave(
    destination: ClientState,
    sendDisconnectPackets: boolean,
    now: number,
    events: ClientEvent[],
  ): void {
    if (this.currentState <= ClientState.Disconnected || this.currentState === destination) return;
    if (sendDisconnectPackets) {
      for (let i = 0; i < this.disconnectPacketCount; i++) {
        this.sendEncrypted({ type: PacketType.Disconnect }, now, events);
      }
    }
    this.token = null;
    this.requestPacket = null;
    this.challenge = null;
    this.serverIndex = 0;
    this.assignedIndex = 0;
    this.assignedMaxClients = 0;
    this.setState(destination, events);
  }

  private setState(state: ClientState, events: ClientEvent[]): void {
    if (state === this.currentState) return;
    events.push({ type: "state", from: this.currentState, to: state });
    this.currentState = state;
  }
}

/**
 * The datagrams of the federation besides netcode's own, each opening with a byte of 0xF0 or more: a
 * netcode packet never does (its high four bits count sequence bytes, 1 to 8), so one socket carries both
 * and the first byte tells them apart.
 *
 *   0xF0 heartbeat     link end -> main:  0xF0 | name length u8 | name | box(heartbeat key, msgpack body)
 *   0xF1 instructions  main -> link end:  0xF1 | box(heartbeat key, msgpack body)
 *   0xF2 punch         link end -> peer:  0xF2 | pair id (8)       opens the way through the sender's NAT
 *   0xF3 relay bind    link end -> relay: 0xF3 | ticket (29)        "send this pair's packets for my side here"
 *   0xF4 relay data    both ways:         0xF4 | pair id (8) | netcode packet
 *   0xF5 relay bound   relay -> link end: 0xF5 | pair id (8) | side u8
 *
 * A box is XChaCha20-Poly1305 under the key main and the cluster share (keys.ts), bound to the packet's
 * type and the cluster's name: nobody but the cluster speaks for it, nobody but main answers it, and
 * neither can be read on the way. Heartbeats carry a sequence that must grow, so a replayed one is
 * refused. Relay tickets are minted by main and checked by the relay with a key they share, without state.
 */
import { DatagramReader, DatagramWriter } from "@overworld/protocol";
import { Packr } from "msgpackr";
import { mac16, openBox, sameBytes, sealBox } from "./keys.ts";
import { isClusterName, PAIR_ID_BYTES } from "./link-token.ts";

export const PacketKind = {
  Heartbeat: 0xf0,
  Instructions: 0xf1,
  Punch: 0xf2,
  RelayBind: 0xf3,
  RelayData: 0xf4,
  RelayBound: 0xf5,
} as const;

/** True for the first byte of a federation control datagram (never a netcode packet's). */
export function isControlPacket(bytes: Uint8Array): boolean {
  return bytes.length > 0 && bytes[0]! >= 0xf0;
}

/** The largest control datagram anyone sends; bigger ones are dropped unread. */
export const MAX_CONTROL_BYTES = 1200;

const packr = new Packr({ useRecords: false, moreTypes: false });

// ---- heartbeats and instructions -----------------------------------------------------------------

/** What a link end reports about one of its links. */
export interface LinkReport {
  readonly peer: string;
  readonly up: boolean;
  readonly via: "direct" | "relay" | "none";
  readonly rttMs: number;
  readonly loss: number;
}

export interface Heartbeat {
  readonly instance: string;
  /** Grows with every heartbeat of this instance (its clock in ms will do). */
  readonly seq: number;
  /** The cluster's load, 0 … 1 (the operator's view and main's choices read it). */
  readonly load: number;
  readonly links: readonly LinkReport[];
}

/** One link main wants this instance to keep. */
export interface Assignment {
  readonly peer: string;
  /** The peer's public key (base64). */
  readonly key: string;
  readonly role: "dial" | "accept";
  /** The peer's link end as main sees it (observed address, `ip:port`), or "" while it has none. */
  readonly address: string;
  /** A relay ticket for this side of the pair (hex), for when punching fails. */
  readonly ticket: string;
  /**
   * The relay of this link (`ip:port`) when it is not the instructions' own: a link across mains goes
   * through their parent main's relay, the one both sides can bind with.
   */
  readonly relay?: string;
}

export interface Instructions {
  /** The heartbeat answered. */
  readonly seq: number;
  /** This link end's address as main saw the heartbeat come (`ip:port`). */
  readonly observed: string;
  /** Where the relay listens (`ip:port`), "" when main runs none. */
  readonly relay: string;
  readonly links: readonly Assignment[];
  /** Set when the cluster's key is revoked: every link must come down. */
  readonly revoked?: boolean;
  /** Why main refuses this instance's heartbeats, if it does (e.g. "not registered"). */
  readonly refused?: string;
}

const heartbeatContext = (kind: number, name: string) => new TextEncoder().encode(`${kind}\n${name}`);

export function writeHeartbeat(key: Uint8Array, cluster: string, body: Heartbeat): Uint8Array {
  const name = Buffer.from(cluster);
  const box = sealBox(key, packr.pack(body), heartbeatContext(PacketKind.Heartbeat, cluster));
  return new Uint8Array(Buffer.concat([Buffer.from([PacketKind.Heartbeat, name.length]), name, box]));
}

/** The cluster a heartbeat claims to be from (to find its key); null if the datagram is not one. */
export function heartbeatCluster(bytes: Uint8Array): string | null {
  if (bytes.length < 3 || bytes.length > MAX_CONTROL_BYTES || bytes[0] !== PacketKind.Heartbeat) return null;
  const length = bytes[1]!;
  if (2 + length > bytes.length) return null;
  const name = Buffer.from(bytes.subarray(2, 2 + length)).toString("utf8");
  return isClusterName(name) ? name : null;
}

export function openHeartbeat(key: Uint8Array, cluster: string, bytes: Uint8Array): Heartbeat | null {
  const box = bytes.subarray(2 + bytes[1]!);
  const plain = openBox(key, box, heartbeatContext(PacketKind.Heartbeat, cluster));
  if (plain === null) return null;
  const body = unpack(plain) as Partial<Heartbeat> | null;
  if (
    body === null ||
    typeof body.instance !== "string" ||
    body.instance.length === 0 ||
    body.instance.length > 128 ||
    typeof body.seq !== "number" ||
    !Number.isSafeInteger(body.seq) ||
    typeof body.load !== "number" ||
    !Array.isArray(body.links)
  ) {
    return null;
  }
  return body as Heartbeat;
}

export function writeInstructions(key: Uint8Array, cluster: string, body: Instructions): Uint8Array {
  const box = sealBox(key, packr.pack(body), heartbeatContext(PacketKind.Instructions, cluster));
  return new Uint8Array(Buffer.concat([Buffer.from([PacketKind.Instructions]), box]));
}

export function openInstructions(key: Uint8Array, cluster: string, bytes: Uint8Array): Instructions | null {
  if (bytes.length < 2 || bytes[0] !== PacketKind.Instructions) return null;
  const plain = openBox(key, bytes.subarray(1), heartbeatContext(PacketKind.Instructions, cluster));
  if (plain === null) return null;
  const body = unpack(plain) as Partial<Instructions> | null;
  if (body === null || typeof body.seq !== "number" || !Array.isArray(body.links)) return null;
  return body as Instructions;
}

function unpack(bytes: Uint8Array): unknown {
  try {
    return packr.unpack(bytes);
  } catch {
    return null;
  }
}

// ---- punching ------------------------------------------------------------------------------------

export function writePunch(pair: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + PAIR_ID_BYTES);
  out[0] = PacketKind.Punch;
  out.set(pair, 1);
  return out;
}

// ---- relay ---------------------------------------------------------------------------------------

/** Ticket: pair id (8) | side u8 (0 dialer, 1 acceptor) | expires u32 (Unix s) | MAC (16). */
export const TICKET_BYTES = PAIR_ID_BYTES + 1 + 4 + 16;

export type RelaySide = 0 | 1;

export interface RelayTicket {
  readonly pair: Uint8Array;
  readonly side: RelaySide;
  readonly expiresAt: number;
}

export function mintTicket(relayKey: Uint8Array, ticket: RelayTicket): Uint8Array {
  const out = new Uint8Array(TICKET_BYTES);
  const writer = new DatagramWriter(out);
  writer.writeBytes(ticket.pair);
  writer.writeUint8(ticket.side);
  writer.writeUint32(Math.floor(ticket.expiresAt / 1000));
  writer.writeBytes(mac16(relayKey, writer.subarray()));
  return out;
}

export type TicketCheck =
  | { readonly ok: true; readonly ticket: RelayTicket }
  | { readonly ok: false; readonly reason: "malformed" | "forged" | "expired" };

export function checkTicket(relayKey: Uint8Array, bytes: Uint8Array, now: number): TicketCheck {
  if (bytes.length !== TICKET_BYTES) return { ok: false, reason: "malformed" };
  const reader = new DatagramReader(bytes, PAIR_ID_BYTES);
  const side = reader.readUint8();
  if (side !== 0 && side !== 1) return { ok: false, reason: "malformed" };
  const expiresAt = reader.readUint32() * 1000;
  const expected = mac16(relayKey, bytes.subarray(0, reader.position));
  if (!sameBytes(expected, reader.readView(reader.remaining))) return { ok: false, reason: "forged" };
  if (expiresAt <= now) return { ok: false, reason: "expired" };
  return { ok: true, ticket: { pair: bytes.slice(0, PAIR_ID_BYTES), side, expiresAt } };
}

export function writeRelayBind(ticket: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + ticket.length);
  out[0] = PacketKind.RelayBind;
  out.set(ticket, 1);
  return out;
}

export function writeRelayBound(pair: Uint8Array, side: RelaySide): Uint8Array {
  const out = new Uint8Array(2 + PAIR_ID_BYTES);
  out[0] = PacketKind.RelayBound;
  out.set(pair, 1);
  out[1 + PAIR_ID_BYTES] = side;
  return out;
}

/** Frames a netcode packet for the relay. */
export function writeRelayData(pair: Uint8Array, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + PAIR_ID_BYTES + packet.length);
  out[0] = PacketKind.RelayData;
  out.set(pair, 1);
  out.set(packet, 1 + PAIR_ID_BYTES);
  return out;
}

/** The pair id of relay data or a relay-bound notice; null if too short. */
export function relayPair(bytes: Uint8Array): Uint8Array | null {
  return bytes.length >= 1 + PAIR_ID_BYTES ? bytes.subarray(1, 1 + PAIR_ID_BYTES) : null;
}

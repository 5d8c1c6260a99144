/**
 * Server and client addresses: IPv4 or IPv6 with a port, as tokens carry them and as the server keys its
 * tables. Two addresses are the same when their `key` strings are equal.
 *
 * Inside tokens an address is a type byte (1 = IPv4, 2 = IPv6), then IPv4's four bytes in order or IPv6's
 * eight 16-bit groups each written little-endian, then the port as a little-endian uint16.
 */

import type { DatagramReader } from "../../pack/reader.ts";
import type { DatagramWriter } from "../../pack/writer.ts";
import { ADDRESS_TYPE_IPV4, ADDRESS_TYPE_IPV6 } from "./constants.ts";

export type AddressFamily = "ipv4" | "ipv6";

export interface NetcodeAddress {
  readonly family: AddressFamily;
  /** 4 bytes (IPv4) or 16 bytes (IPv6), in network order. */
  readonly host: Uint8Array;
  readonly port: number;
  /** Canonical text: "a.b.c.d:port" or "[compressed v6]:port". */
  readonly key: string;
}

const IPV4_BYTES = 4;
const IPV6_BYTES = 16;
const IPV6_GROUPS = 8;
const MAX_PORT = 0xffff;
const MAX_GROUP = 0xffff;

/** Bytes an address takes inside a token: type byte, host, port. */
export function addressWireBytes(address: NetcodeAddress): number {
  return 1 + address.host.length + 2;
}

export function ipv4Address(octets: ArrayLike<number>, port: number): NetcodeAddress {
  if (octets.length !== IPV4_BYTES)
    throw new RangeError(`an IPv4 address has 4 octets, got ${octets.length}`);
  const host = new Uint8Array(IPV4_BYTES);
  for (let i = 0; i < IPV4_BYTES; i++) host[i] = checkedInteger(octets[i]!, 0xff, "IPv4 octet");
  return makeAddress("ipv4", host, port);
}

export function ipv6Address(groups: ArrayLike<number>, port: number): NetcodeAddress {
  if (groups.length !== IPV6_GROUPS)
    throw new RangeError(`an IPv6 address has 8 groups, got ${groups.length}`);
  const host = new Uint8Array(IPV6_BYTES);
  for (let i = 0; i < IPV6_GROUPS; i++) {
    const group = checkedInteger(groups[i]!, MAX_GROUP, "IPv6 group");
    host[2 * i] = group >> 8;
    host[2 * i + 1] = group & 0xff;
  }
  return makeAddress("ipv6", host, port);
}

/** Parses "a.b.c.d:port" or "[v6]:port". Throws a RangeError naming what is wrong. */
export function parseAddress(text: string): NetcodeAddress {
  if (text.startsWith("[")) {
    const close = text.indexOf("]");
    if (close < 0 || text[close + 1] !== ":") {
      throw new RangeError(`address "${text}" must look like [ipv6]:port`);
    }
    return addressFromHostPort(text.slice(1, close), parsePort(text.slice(close + 2), text));
  }
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw new RangeError(`address "${text}" has no port`);
  return addressFromHostPort(text.slice(0, colon), parsePort(text.slice(colon + 1), text));
}

/** An address from a host string (IPv4 dotted or IPv6 text, as node:dgram reports it) and a port. */
export function addressFromHostPort(host: string, port: number): NetcodeAddress {
  if (host.includes(":")) return ipv6Address(parseIpv6Groups(host), port);
  return ipv4Address(parseIpv4Octets(host), port);
}

/** The host part alone, as node:dgram wants it for sending. */
export function formatHost(address: NetcodeAddress): string {
  return address.family === "ipv4" ? address.host.join(".") : formatIpv6(address.host);
}

export function addressesEqual(a: NetcodeAddress, b: NetcodeAddress): boolean {
  return a.key === b.key;
}

export function writeAddress(writer: DatagramWriter, address: NetcodeAddress): void {
  if (address.family === "ipv4") {
    writer.writeUint8(ADDRESS_TYPE_IPV4);
    writer.writeBytes(address.host);
  } else {
    writer.writeUint8(ADDRESS_TYPE_IPV6);
    for (let i = 0; i < IPV6_GROUPS; i++) {
      writer.writeUint16((address.host[2 * i]! << 8) | address.host[2 * i + 1]!);
    }
  }
  writer.writeUint16(address.port);
}

/** Reads one address; null when the type byte is neither IPv4 nor IPv6. */
export function readAddress(reader: DatagramReader): NetcodeAddress | null {
  const type = reader.readUint8();
  if (type === ADDRESS_TYPE_IPV4) {
    const host = reader.readBytes(IPV4_BYTES);
    return makeAddress("ipv4", host, reader.readUint16());
  }
  if (type === ADDRESS_TYPE_IPV6) {
    const groups: number[] = [];
    for (let i = 0; i < IPV6_GROUPS; i++) groups.push(reader.readUint16());
    return ipv6Address(groups, reader.readUint16());
  }
  return null;
}

function makeAddress(family: AddressFamily, host: Uint8Array, port: number): NetcodeAddress {
  checkedInteger(port, MAX_PORT, "port");
  const hostText = family === "ipv4" ? host.join(".") : `[${formatIpv6(host)}]`;
  return Object.freeze({ family, host, port, key: `${hostText}:${port}` });
}

function checkedInteger(value: number, max: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > max) {
    throw new RangeError(`${what} must be an integer in [0, ${max}], got ${value}`);
  }
  return value;
}

function parsePort(text: string, whole: string): number {
  if (!/^\d{1,5}$/.test(text)) throw new RangeError(`address "${whole}" has a bad port "${text}"`);
  return Number(text);
}

function parseIpv4Octets(text: string): number[] {
  const parts = text.split(".");
  if (parts.length !== IPV4_BYTES || parts.some((part) => !/^\d{1,3}$/.test(part))) {
    throw new RangeError(`"${text}" is not an IPv4 address`);
  }
  return parts.map(Number);
}

function parseIpv6Groups(text: string): number[] {
  if (text.includes("%"))
    throw new RangeError(`IPv6 address "${text}" has a zone index, which tokens cannot carry`);
  const halves = text.split("::");
  if (halves.length > 2) throw new RangeError(`IPv6 address "${text}" has more than one "::"`);
  const head = parseIpv6Half(halves[0]!, text);
  const tail = halves.length === 2 ? parseIpv6Half(halves[1]!, text) : [];
  const missing = IPV6_GROUPS - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) {
    throw new RangeError(`IPv6 address "${text}" does not have 8 groups`);
  }
  return [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...tail];
}

/** Groups of one side of "::"; a dotted IPv4 tail (as in ::ffff:1.2.3.4) counts as two groups. */
function parseIpv6Half(text: string, whole: string): number[] {
  if (text === "") return [];
  const groups: number[] = [];
  const parts = text.split(":");
  parts.forEach((part, index) => {
    if (part.includes(".") && index === parts.length - 1) {
      const [a, b, c, d] = parseIpv4Octets(part) as [number, number, number, number];
      groups.push((a << 8) | b, (c << 8) | d);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(part)) {
      groups.push(Number.parseInt(part, 16));
    } else {
      throw new RangeError(`IPv6 address "${whole}" has a bad group "${part}"`);
    }
  });
  return groups;
}

/** RFC 5952 text: lowercase, no leading zeros, the longest run of two or more zero groups as "::". */
function formatIpv6(host: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < IPV6_GROUPS; i++) groups.push((host[2 * i]! << 8) | host[2 * i + 1]!);
  const run = longestZeroRun(groups);
  const text = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((group) => group.toString(16))
      .join(":");
  if (run.length < 2) return text(0, IPV6_GROUPS);
  return `${text(0, run.start)}::${text(run.start + run.length, IPV6_GROUPS)}`;
}

function longestZeroRun(groups: number[]): { start: number; length: number } {
  let best = { start: 0, length: 0 };
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === 0) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      if (i - start > best.length) best = { start, length: i - start };
      start = -1;
    }
  }
  return best;
}

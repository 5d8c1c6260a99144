/**
 * The datagram fuzzer's randomness and mutations: one seeded generator (pure-rand's xoroshiro128+), so that
 * a run is replayed from its seed, and the ways bytes are bent: bit flips, interesting byte values,
 * truncation, extension, insertion, deletion, overwritten and duplicated ranges. Generators make packets
 * of every netcode type from nothing and client messages with bad types, lengths, field ids and sizes.
 */
import { type ClientMessage, ClientMessageType, encodeClientMessage } from "@overworld/protocol/client";
import { uniformInt } from "pure-rand/distribution/uniformInt";
import { xoroshiro128plus } from "pure-rand/generator/xoroshiro128plus";

const CONNECTION_REQUEST_BYTES = 1078;
const VERSION_INFO = new TextEncoder().encode("NETCODE 1.02\0");
const MAC_BYTES = 16;
/** Largest datagram the fuzzer makes: beyond netcode's largest packet, below loopback's MTU. */
const MAX_FUZZ_DATAGRAM = 1400;
/** Values at the edges of the byte, the field sizes and the length prefixes. */
const INTERESTING_BYTES = [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, 0x10, 0x40];

export class Random {
  private readonly rng;

  constructor(readonly seed: number) {
    this.rng = xoroshiro128plus(seed);
  }

  /** An integer in [from, to]. */
  int(from: number, to: number): number {
    return uniformInt(this.rng, from, to);
  }

  /** True with probability `p`. */
  chance(p: number): boolean {
    return this.int(0, 999_999) < p * 1_000_000;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(0, items.length - 1)]!;
  }

  bytes(length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i += 4) {
      const word = this.rng.next();
      out[i] = word;
      if (i + 1 < length) out[i + 1] = word >>> 8;
      if (i + 2 < length) out[i + 2] = word >>> 16;
      if (i + 3 < length) out[i + 3] = word >>> 24;
    }
    return out;
  }

  /** A size from 0 to `max`, small ones more often (as a parser's edge cases are near the start). */
  size(max: number): number {
    const bound = this.pick([2, 8, 32, 128, 512, max]);
    return this.int(0, Math.min(bound, max));
  }
}

type Mutator = (random: Random, bytes: Uint8Array) => Uint8Array;

const MUTATORS: readonly Mutator[] = [
  function flipBits(random, bytes) {
    if (bytes.length === 0) return random.bytes(1);
    const out = bytes.slice();
    for (let n = random.int(1, 4); n > 0; n--) out[random.int(0, out.length - 1)]! ^= 1 << random.int(0, 7);
    return out;
  },
  function interestingByte(random, bytes) {
    if (bytes.length === 0) return random.bytes(1);
    const out = bytes.slice();
    out[random.int(0, out.length - 1)] = random.pick(INTERESTING_BYTES);
    return out;
  },
  function truncate(random, bytes) {
    return bytes.slice(0, random.int(0, Math.max(0, bytes.length - 1)));
  },
  function extend(random, bytes) {
    const extra = random.bytes(random.int(1, 64));
    const out = new Uint8Array(Math.min(MAX_FUZZ_DATAGRAM, bytes.length + extra.length));
    out.set(bytes.subarray(0, out.length));
    out.set(
      extra.subarray(0, out.length - Math.min(bytes.length, out.length)),
      Math.min(bytes.length, out.length),
    );
    return out;
  },
  function insertByte(random, bytes) {
    const at = random.int(0, bytes.length);
    const out = new Uint8Array(bytes.length + 1);
    out.set(bytes.subarray(0, at));
    out[at] = random.int(0, 255);
    out.set(bytes.subarray(at), at + 1);
    return out.length > MAX_FUZZ_DATAGRAM ? out.subarray(0, MAX_FUZZ_DATAGRAM) : out;
  },
  function deleteByte(random, bytes) {
    if (bytes.length === 0) return bytes;
    const at = random.int(0, bytes.length - 1);
    const out = new Uint8Array(bytes.length - 1);
    out.set(bytes.subarray(0, at));
    out.set(bytes.subarray(at + 1), at);
    return out;
  },
  function overwriteRange(random, bytes) {
    if (bytes.length === 0) return random.bytes(random.int(1, 16));
    const out = bytes.slice();
    const at = random.int(0, out.length - 1);
    out.set(random.bytes(random.int(1, Math.min(32, out.length - at))), at);
    return out;
  },
  function duplicateRange(random, bytes) {
    if (bytes.length < 2) return bytes;
    const from = random.int(0, bytes.length - 2);
    const chunk = bytes.subarray(from, random.int(from + 1, Math.min(bytes.length, from + 64)));
    const at = random.int(0, bytes.length);
    const out = new Uint8Array(Math.min(MAX_FUZZ_DATAGRAM, bytes.length + chunk.length));
    out.set(bytes.subarray(0, at));
    out.set(chunk.subarray(0, out.length - at), at);
    if (at + chunk.length < out.length)
      out.set(bytes.subarray(at, out.length - chunk.length), at + chunk.length);
    return out;
  },
];

/** One to three mutations of `bytes` (a copy: `bytes` is left as it was); never the same bytes back. */
export function mutate(random: Random, bytes: Uint8Array): Uint8Array {
  let out = bytes;
  for (let n = random.int(1, 3); n > 0; n--) out = random.pick(MUTATORS)(random, out);
  if (sameBytes(out, bytes)) out = MUTATORS[0]!(random, bytes);
  return out;
}

/** Same size, one to four bits flipped: the mutation that reaches past every length check. */
export function flipBits(random: Random, bytes: Uint8Array): Uint8Array {
  return MUTATORS[0]!(random, bytes);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * A datagram made from nothing: random bytes; or a packet shaped as each netcode type is (prefix byte of
 * type 0 to 15 with 0 to 15 sequence bytes, then a body of that type's size and a tag); or a connection
 * request of the right size and version with a random sealed token and an expiry in the future.
 */
export function rawPacket(random: Random, protocolId: bigint, nowSeconds: number): Uint8Array {
  switch (random.int(0, 3)) {
    case 0:
      return random.bytes(random.size(MAX_FUZZ_DATAGRAM));
    case 1:
      return connectionRequestShaped(random, protocolId, nowSeconds);
    default: {
      const type = random.chance(0.9) ? random.int(1, 6) : random.int(0, 15);
      const sequenceBytes = random.chance(0.9) ? random.int(1, 8) : random.int(0, 15);
      const body = bodySize(random, type);
      const out = random.bytes(1 + Math.min(sequenceBytes, 8) + body + MAC_BYTES);
      out[0] = (sequenceBytes << 4) | type;
      return out;
    }
  }
}

function bodySize(random: Random, type: number): number {
  switch (type) {
    case 2:
    case 3:
      return random.chance(0.8) ? 308 : random.size(400);
    case 4:
      return random.chance(0.8) ? 8 : random.size(16);
    case 5:
      return random.int(0, 1250);
    case 6:
    case 1:
      return random.chance(0.8) ? 0 : random.size(8);
    default:
      return random.size(400);
  }
}

function connectionRequestShaped(random: Random, protocolId: bigint, nowSeconds: number): Uint8Array {
  const out = random.bytes(CONNECTION_REQUEST_BYTES);
  const view = new DataView(out.buffer);
  out[0] = 0;
  out.set(VERSION_INFO, 1);
  view.setBigUint64(14, random.chance(0.8) ? protocolId : BigInt(random.int(0, 0xffffffff)), true);
  view.setBigUint64(22, BigInt(nowSeconds + random.int(-10, 60)), true);
  return out;
}

/**
 * A client message as an attacker would write one: a type out of range with any body, a second hello, an
 * interest in too many zones or with a huge radius, a field update of an object or field that does not
 * exist or a value over the message limit, and half the time its bytes mutated on top.
 */
export function clientMessage(random: Random, version: string, schemaHash: number): Uint8Array {
  const bytes = random.chance(0.15)
    ? Uint8Array.of(random.int(0, 255), ...random.bytes(random.size(64)))
    : encodeClientMessage(structuredMessage(random, version, schemaHash));
  return random.chance(0.5) ? mutate(random, bytes) : bytes;
}

function structuredMessage(random: Random, version: string, schemaHash: number): ClientMessage {
  const u32 = () => (random.chance(0.5) ? random.int(0, 0xffffffff) : random.int(0, 64));
  const u16 = () => (random.chance(0.5) ? random.int(0, 0xffff) : random.int(0, 64));
  switch (random.int(0, 6)) {
    case 0:
      return {
        type: ClientMessageType.Hello,
        version: random.chance(0.5) ? version : String.fromCharCode(...random.bytes(random.size(40))),
        schemaHash: random.chance(0.5) ? schemaHash : u32(),
      };
    case 1:
      return { type: ClientMessageType.Heartbeat };
    case 2:
      return {
        type: ClientMessageType.AddInterest,
        interestId: u16(),
        context: u32(),
        parent: u32(),
        zones: Array.from({ length: random.size(600) }, u32),
      };
    case 3:
      return { type: ClientMessageType.RemoveInterest, interestId: u16(), context: u32() };
    case 4:
      return {
        type: ClientMessageType.SetField,
        doId: u32(),
        fieldId: random.int(0, 0xffff),
        value: random.bytes(random.chance(0.1) ? random.int(4000, 6000) : random.size(64)),
      };
    case 5:
      return {
        type: ClientMessageType.FollowInterest,
        interestId: u16(),
        context: u32(),
        doId: u32(),
        width: random.int(0, 0xffff),
        height: random.int(0, 0xffff),
        radius: random.int(0, 0xff),
      };
    default:
      return { type: ClientMessageType.Disconnect };
  }
}

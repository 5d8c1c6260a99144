/** Connect tokens and addresses against the byte layouts of netcode.io 1.02 (STANDARD.md). */
import { describe, expect, it } from "vitest";
import {
  addressFromHostPort,
  formatHost,
  ipv4Address,
  ipv6Address,
  parseAddress,
} from "../../libs/protocol/src/transport/netcode/address.ts";
import {
  type GenerateConnectTokenOptions,
  generateConnectToken,
  openPrivateToken,
  privateTokenMac,
  readConnectToken,
  readPrivateToken,
  writePrivateToken,
} from "../../libs/protocol/src/transport/netcode/connect-token.ts";
import { CONNECT_TOKEN_BYTES } from "../../libs/protocol/src/transport/netcode/constants.ts";
import {
  CLIENT_ADDRESS,
  counting,
  countingRandom,
  NOW_SECONDS,
  PRIVATE_KEY,
  PROTOCOL_ID,
  SERVER_ADDRESS,
  SERVER_ADDRESS_V6,
  sha256,
  toHex,
} from "./netcode-support.ts";

const CLIENT_ID = 0x0102030405060708n;
const USER_DATA = counting(0x10, 256);

function options(overrides: Partial<GenerateConnectTokenOptions> = {}): GenerateConnectTokenOptions {
  return {
    protocolId: PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    clientId: CLIENT_ID,
    serverAddresses: [SERVER_ADDRESS, SERVER_ADDRESS_V6],
    expireSeconds: 30,
    timeoutSeconds: 5,
    userData: USER_DATA,
    nowSeconds: NOW_SECONDS,
    random: countingRandom(),
    ...overrides,
  };
}

const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const ascii = (bytes: Uint8Array) => Buffer.from(bytes).toString("latin1");

/** Offsets of the public token, from the standard's field list. */
const AT = {
  version: 0,
  protocolId: 13,
  create: 21,
  expire: 29,
  nonce: 37,
  sealedPrivate: 61,
  timeout: 1085,
  addressCount: 1089,
  addresses: 1093,
} as const;

describe("the public connect token (2048 bytes)", () => {
  const token = generateConnectToken(options());

  it("opens with the version info, protocol id and the two timestamps, little-endian", () => {
    expect(token.length).toBe(CONNECT_TOKEN_BYTES);
    expect(ascii(token.subarray(AT.version, 13))).toBe("NETCODE 1.02\0");
    expect(view(token).getBigUint64(AT.protocolId, true)).toBe(PROTOCOL_ID);
    expect(view(token).getBigUint64(AT.create, true)).toBe(BigInt(NOW_SECONDS));
    expect(view(token).getBigUint64(AT.expire, true)).toBe(BigInt(NOW_SECONDS + 30));
  });

  it("carries the 24-byte nonce, then the 1024-byte sealed private part", () => {
    // the counting random source gave the two session keys (0..63) first, then the nonce (64..87)
    expect(token.subarray(AT.nonce, AT.sealedPrivate)).toEqual(counting(64, 24));
    expect(AT.timeout - AT.sealedPrivate).toBe(1024);
  });

  it("then timeout, address count, each address (type, host, port) and the two keys, zero-padded", () => {
    expect(view(token).getUint32(AT.timeout, true)).toBe(5);
    expect(view(token).getUint32(AT.addressCount, true)).toBe(2);
    // IPv4: type 1, the four octets in order, port little-endian
    expect(toHex(token.subarray(AT.addresses, AT.addresses + 7))).toBe("01" + "7f000001" + "409c");
    // IPv6: type 2, eight groups each little-endian (::1 -> seven zero groups then 0x0001), port
    const v6 = AT.addresses + 7;
    expect(toHex(token.subarray(v6, v6 + 19))).toBe("02" + "0000".repeat(7) + "0100" + "419c");
    const keys = v6 + 19;
    expect(token.subarray(keys, keys + 32)).toEqual(counting(0, 32));
    expect(token.subarray(keys + 32, keys + 64)).toEqual(counting(32, 32));
    expect(token.subarray(keys + 64).every((byte) => byte === 0)).toBe(true);
  });

  it("reads back field for field", () => {
    const read = readConnectToken(token);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.protocolId).toBe(PROTOCOL_ID);
    expect(read.value.createTimestamp).toBe(BigInt(NOW_SECONDS));
    expect(read.value.expireTimestamp).toBe(BigInt(NOW_SECONDS + 30));
    expect(read.value.timeoutSeconds).toBe(5);
    expect(read.value.serverAddresses.map((address) => address.key)).toEqual([
      "127.0.0.1:40000",
      "[::1]:40001",
    ]);
    expect(read.value.clientToServerKey).toEqual(counting(0, 32));
    expect(read.value.serverToClientKey).toEqual(counting(32, 32));
    expect(read.value.sealedPrivate).toEqual(token.subarray(AT.sealedPrivate, AT.timeout));
  });

  it("matches the pinned vector (also read and decrypted by the reference netcode.c when pinned)", () => {
    expect(sha256(token)).toBe("8d7bce79290ca8ce6a0b5248f21cc2b4f09a8c338af707fa41f4e7b4d652c7d1");
    expect(toHex(privateTokenMac(token.subarray(AT.sealedPrivate, AT.timeout)))).toBe(
      "8856ed711783cfb242101eff4b72b090",
    );
  });

  it("writes a negative timeout (timeouts disabled) as its two's complement and reads it back", () => {
    const noTimeout = generateConnectToken(options({ timeoutSeconds: -1 }));
    expect(view(noTimeout).getUint32(AT.timeout, true)).toBe(0xffffffff);
    const read = readConnectToken(noTimeout);
    expect(read.ok && read.value.timeoutSeconds).toBe(-1);
  });
});

describe("readConnectToken refuses", () => {
  const token = generateConnectToken(options());
  const altered = (change: (bytes: Uint8Array, data: DataView) => void) => {
    const copy = token.slice();
    change(copy, view(copy));
    return readConnectToken(copy);
  };

  it("a token of any other size", () => {
    expect(readConnectToken(token.subarray(0, 2047))).toEqual({ ok: false, reason: "token_malformed" });
    expect(readConnectToken(new Uint8Array(2049))).toEqual({ ok: false, reason: "token_malformed" });
  });

  it("another version", () => {
    expect(altered((bytes) => void (bytes[11] = 0x31))).toEqual({ ok: false, reason: "wrong_version" });
    expect(altered((bytes) => void (bytes[12] = 0x20))).toEqual({ ok: false, reason: "wrong_version" });
  });

  it("a create timestamp after the expire timestamp", () => {
    const read = altered((_, data) => data.setBigUint64(AT.create, BigInt(NOW_SECONDS + 31), true));
    expect(read).toEqual({ ok: false, reason: "token_malformed" });
  });

  it("zero or more than 32 server addresses", () => {
    expect(altered((_, data) => data.setUint32(AT.addressCount, 0, true))).toEqual({
      ok: false,
      reason: "token_malformed",
    });
    expect(altered((_, data) => data.setUint32(AT.addressCount, 33, true))).toEqual({
      ok: false,
      reason: "token_malformed",
    });
  });

  it("an address type other than 1 (IPv4) or 2 (IPv6)", () => {
    for (const type of [0, 3, 255]) {
      expect(altered((bytes) => void (bytes[AT.addresses] = type))).toEqual({
        ok: false,
        reason: "token_malformed",
      });
    }
  });
});

describe("the private connect token (1024 bytes)", () => {
  const plaintext = writePrivateToken({
    clientId: CLIENT_ID,
    timeoutSeconds: 5,
    serverAddresses: [SERVER_ADDRESS, SERVER_ADDRESS_V6],
    clientToServerKey: counting(0, 32),
    serverToClientKey: counting(32, 32),
    userData: USER_DATA,
  });

  it("lays out client id, timeout, address count, addresses, keys and user data, zero-padded", () => {
    expect(plaintext.length).toBe(1024);
    expect(view(plaintext).getBigUint64(0, true)).toBe(CLIENT_ID);
    expect(view(plaintext).getUint32(8, true)).toBe(5);
    expect(view(plaintext).getUint32(12, true)).toBe(2);
    expect(plaintext[16]).toBe(1);
    expect(plaintext[16 + 7]).toBe(2);
    const keys = 16 + 7 + 19;
    expect(plaintext.subarray(keys, keys + 32)).toEqual(counting(0, 32));
    expect(plaintext.subarray(keys + 32, keys + 64)).toEqual(counting(32, 32));
    expect(plaintext.subarray(keys + 64, keys + 64 + 256)).toEqual(USER_DATA);
    expect(plaintext.subarray(keys + 64 + 256).every((byte) => byte === 0)).toBe(true);
  });

  it("round-trips through readPrivateToken", () => {
    const read = readPrivateToken(plaintext);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.clientId).toBe(CLIENT_ID);
    expect(read.value.serverAddresses.map((address) => address.key)).toEqual([
      "127.0.0.1:40000",
      "[::1]:40001",
    ]);
    expect(read.value.userData).toEqual(USER_DATA);
  });

  it("opens from a generated token with the private key, protocol id and expire timestamp", () => {
    const token = readConnectToken(generateConnectToken(options()));
    if (!token.ok) throw new Error("token did not read");
    const opening = {
      sealedPrivate: token.value.sealedPrivate,
      nonce: token.value.nonce,
      protocolId: PROTOCOL_ID,
      expireTimestamp: token.value.expireTimestamp,
      privateKey: PRIVATE_KEY,
    };
    const opened = openPrivateToken(opening);
    expect(opened.ok).toBe(true);
    if (!opened.ok) return;
    expect(opened.value.clientId).toBe(CLIENT_ID);
    expect(opened.value.timeoutSeconds).toBe(5);
    expect(opened.value.clientToServerKey).toEqual(token.value.clientToServerKey);
    expect(opened.value.serverToClientKey).toEqual(token.value.serverToClientKey);
    expect(opened.value.userData).toEqual(USER_DATA);

    // the additional data binds protocol id and expiry: changing either fails authentication
    const refused = { ok: false, reason: "token_decrypt_failed" };
    expect(openPrivateToken({ ...opening, privateKey: counting(1, 32) })).toEqual(refused);
    expect(openPrivateToken({ ...opening, protocolId: PROTOCOL_ID + 1n })).toEqual(refused);
    expect(openPrivateToken({ ...opening, expireTimestamp: opening.expireTimestamp + 1n })).toEqual(refused);
    const tampered = opening.sealedPrivate.slice();
    tampered[100]! ^= 0x80;
    expect(openPrivateToken({ ...opening, sealedPrivate: tampered })).toEqual(refused);
  });

  it("pads short user data with zeros", () => {
    const token = readConnectToken(generateConnectToken(options({ userData: new Uint8Array([7, 8, 9]) })));
    if (!token.ok) throw new Error("token did not read");
    const opened = openPrivateToken({ ...token.value, protocolId: PROTOCOL_ID, privateKey: PRIVATE_KEY });
    expect(opened.ok && Array.from(opened.value.userData.subarray(0, 4))).toEqual([7, 8, 9, 0]);
  });
});

describe("generateConnectToken refuses bad options, naming them", () => {
  it.each([
    [{ serverAddresses: [] }, /1 to 32 server addresses, got 0/],
    [{ serverAddresses: new Array(33).fill(SERVER_ADDRESS) }, /got 33/],
    [{ privateKey: new Uint8Array(16) }, /privateKey must be 32 bytes/],
    [{ timeoutSeconds: 0 }, /timeoutSeconds/],
    [{ expireSeconds: 0 }, /expireSeconds/],
    [{ userData: new Uint8Array(257) }, /userData holds at most 256 bytes/],
    [{ protocolId: 1n << 64n }, /protocolId/],
    [{ clientId: -1n }, /clientId/],
  ] as const)("%o", (bad, message) => {
    expect(() => generateConnectToken(options(bad as Partial<GenerateConnectTokenOptions>))).toThrow(message);
  });

  it("draws fresh keys and a fresh nonce from the secure source by default", () => {
    const { random: _, ...rest } = options();
    const a = readConnectToken(generateConnectToken(rest));
    const b = readConnectToken(generateConnectToken(rest));
    if (!a.ok || !b.ok) throw new Error("tokens did not read");
    expect(a.value.nonce).not.toEqual(b.value.nonce);
    expect(a.value.clientToServerKey).not.toEqual(b.value.clientToServerKey);
  });
});

describe("addresses", () => {
  it("parse IPv4 and IPv6 text with ports, and key them canonically", () => {
    expect(parseAddress("127.0.0.1:40000").key).toBe("127.0.0.1:40000");
    expect(parseAddress("[::1]:9").key).toBe("[::1]:9");
    expect(parseAddress("[2001:DB8:0:0:1:0:0:1]:80").key).toBe("[2001:db8::1:0:0:1]:80");
    expect(parseAddress("[::ffff:1.2.3.4]:80").key).toBe("[::ffff:102:304]:80");
    expect(parseAddress("[1:2:3:4:5:6:7:8]:1").key).toBe("[1:2:3:4:5:6:7:8]:1");
    expect(ipv6Address([0, 0, 0, 0, 0, 0, 0, 1], 9).key).toBe(parseAddress("[0:0:0:0:0:0:0:1]:9").key);
    expect(addressFromHostPort("::1", 9).key).toBe("[::1]:9");
    expect(formatHost(parseAddress("[fe80::1]:1"))).toBe("fe80::1");
    expect(formatHost(ipv4Address([10, 0, 0, 2], 1))).toBe("10.0.0.2");
    expect(CLIENT_ADDRESS.family).toBe("ipv4");
  });

  it("refuse malformed text with a message naming it", () => {
    expect(() => parseAddress("127.0.0.1")).toThrow(/no port/);
    expect(() => parseAddress("127.0.0:1")).toThrow(/not an IPv4 address/);
    expect(() => parseAddress("256.0.0.1:1")).toThrow(/IPv4 octet/);
    expect(() => parseAddress("1.2.3.4:70000")).toThrow(/port/);
    expect(() => parseAddress("[1::2::3]:1")).toThrow(/more than one "::"/);
    expect(() => parseAddress("[1:2:3]:1")).toThrow(/8 groups/);
    expect(() => parseAddress("[fe80::1%eth0]:1")).toThrow(/zone/);
    expect(() => parseAddress("[::1]9")).toThrow(/\[ipv6\]:port/);
  });
});

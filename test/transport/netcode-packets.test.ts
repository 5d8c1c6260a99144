/** netcode packets against the standard's layouts, and every read check in its order. */
import { describe, expect, it } from "vitest";
import {
  openChallengeToken,
  sealChallengeToken,
  writeChallengeToken,
} from "../../libs/protocol/src/transport/netcode/challenge-token.ts";
import { PacketType, UINT64_MAX } from "../../libs/protocol/src/transport/netcode/constants.ts";
import {
  openChaCha20Poly1305,
  sealChaCha20Poly1305,
  sequenceNonce,
} from "../../libs/protocol/src/transport/netcode/crypto.ts";
import {
  CLIENT_ACCEPTED_PACKETS,
  type EncryptedPacket,
  encryptedPacketSize,
  packetAdditionalData,
  prefixByte,
  readConnectionRequest,
  readEncryptedPacket,
  SERVER_ACCEPTED_PACKETS,
  sequenceByteCount,
  writeConnectionRequest,
  writeEncryptedPacket,
} from "../../libs/protocol/src/transport/netcode/packets.ts";
import { ReplayProtection } from "../../libs/protocol/src/transport/netcode/replay-protection.ts";
import { counting, NOW_SECONDS, PROTOCOL_ID, sha256, toHex } from "./netcode-support.ts";

const KEY = counting(0x40, 32);
const view = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const EXPIRE = BigInt(NOW_SECONDS + 30);

describe("the connection request (plaintext, 1078 bytes)", () => {
  const request = writeConnectionRequest({
    protocolId: PROTOCOL_ID,
    expireTimestamp: EXPIRE,
    nonce: counting(1, 24),
    sealedPrivate: counting(100, 1024),
  });
  const checks = { protocolId: PROTOCOL_ID, nowSeconds: BigInt(NOW_SECONDS) };

  it("is prefix 0, version info, protocol id, expire timestamp, nonce and the sealed private part", () => {
    expect(request.length).toBe(1078);
    expect(request[0]).toBe(0);
    expect(Buffer.from(request.subarray(1, 14)).toString("latin1")).toBe("NETCODE 1.02\0");
    expect(view(request).getBigUint64(14, true)).toBe(PROTOCOL_ID);
    expect(view(request).getBigUint64(22, true)).toBe(EXPIRE);
    expect(request.subarray(30, 54)).toEqual(counting(1, 24));
    expect(request.subarray(54)).toEqual(counting(100, 1024));
  });

  it("reads back", () => {
    const read = readConnectionRequest(request, checks);
    expect(read.ok).toBe(true);
    if (!read.ok) return;
    expect(read.value.expireTimestamp).toBe(EXPIRE);
    expect(read.value.nonce).toEqual(counting(1, 24));
    expect(read.value.sealedPrivate).toEqual(counting(100, 1024));
  });

  it("is refused at any other size, version, protocol id, or once its token expired", () => {
    const refused = (reason: string) => ({ ok: false, reason });
    expect(readConnectionRequest(request.subarray(0, 1077), checks)).toEqual(
      refused("connection_request_wrong_size"),
    );
    const longer = new Uint8Array(1079);
    longer.set(request);
    expect(readConnectionRequest(longer, checks)).toEqual(refused("connection_request_wrong_size"));
    const otherVersion = request.slice();
    otherVersion[12] = 0x31; // "NETCODE 1.01"
    expect(readConnectionRequest(otherVersion, checks)).toEqual(refused("wrong_version"));
    expect(readConnectionRequest(request, { ...checks, protocolId: PROTOCOL_ID + 1n })).toEqual(
      refused("wrong_protocol_id"),
    );
    expect(readConnectionRequest(request, { ...checks, nowSeconds: EXPIRE })).toEqual(
      refused("token_expired"),
    );
    expect(readConnectionRequest(request, { ...checks, nowSeconds: EXPIRE - 1n }).ok).toBe(true);
  });
});

describe("sequence numbers and the prefix byte", () => {
  it("use as few bytes as the value needs, at least one", () => {
    const cases: [bigint, number][] = [
      [0n, 1],
      [255n, 1],
      [256n, 2],
      [1000n, 2],
      [0xffffffn, 3],
      [0x1000000n, 4],
      [0xffffffffffn, 5],
      [1n << 63n, 8],
      [UINT64_MAX, 8],
    ];
    for (const [sequence, bytes] of cases) expect(sequenceByteCount(sequence)).toBe(bytes);
  });

  it("put the type in the low four bits and the sequence byte count in the high four", () => {
    expect(prefixByte(PacketType.KeepAlive, 2)).toBe(0x24);
    expect(prefixByte(PacketType.Payload, 8)).toBe(0x85);
  });

  it("write the sequence least significant byte first (1000 -> e8 03)", () => {
    const packet = writeEncryptedPacket({ type: PacketType.Disconnect }, 1000n, KEY, PROTOCOL_ID);
    expect(toHex(packet.subarray(0, 3))).toBe("26e803");
    const big = writeEncryptedPacket({ type: PacketType.Disconnect }, 0x0102030405060708n, KEY, PROTOCOL_ID);
    expect(toHex(big.subarray(0, 9))).toBe("86" + "0807060504030201");
  });
});

describe("encrypted packets", () => {
  it("seal the per-type data with the sequence nonce and version | protocol id | prefix as additional data", () => {
    const packet = writeEncryptedPacket(
      { type: PacketType.KeepAlive, clientIndex: 3, maxClients: 64 },
      1000n,
      KEY,
      PROTOCOL_ID,
    );
    expect(packet.length).toBe(1 + 2 + 8 + 16);
    const additional = packetAdditionalData(PROTOCOL_ID, 0x24);
    expect(additional.length).toBe(22);
    expect(toHex(additional)).toBe(Buffer.from("NETCODE 1.02\0").toString("hex") + "8877665544332211" + "24");
    const data = openChaCha20Poly1305(KEY, sequenceNonce(1000n), packet.subarray(3), additional);
    expect(data && toHex(data)).toBe("03000000" + "40000000");
  });

  it("match the pinned vector (netcode.c writes the same bytes)", () => {
    const packet = writeEncryptedPacket(
      { type: PacketType.KeepAlive, clientIndex: 3, maxClients: 64 },
      1000n,
      KEY,
      PROTOCOL_ID,
    );
    expect(toHex(packet)).toBe(PINNED_KEEP_ALIVE);
  });

  it("have the sizes of the standard", () => {
    const token = counting(0, 300);
    const sizes: [EncryptedPacket, number][] = [
      [{ type: PacketType.ConnectionDenied }, 0],
      [{ type: PacketType.ConnectionChallenge, challengeSequence: 9n, challengeToken: token }, 308],
      [{ type: PacketType.ConnectionResponse, challengeSequence: 9n, challengeToken: token }, 308],
      [{ type: PacketType.KeepAlive, clientIndex: 1, maxClients: 2 }, 8],
      [{ type: PacketType.Payload, payload: counting(0, 1200) }, 1200],
      [{ type: PacketType.Disconnect }, 0],
    ];
    for (const [packet, dataBytes] of sizes) {
      expect(writeEncryptedPacket(packet, 5n, KEY, PROTOCOL_ID).length).toBe(1 + 1 + dataBytes + 16);
      expect(encryptedPacketSize(5n, dataBytes)).toBe(1 + 1 + dataBytes + 16);
    }
  });

  it("round-trip, every type", () => {
    const packets: EncryptedPacket[] = [
      { type: PacketType.ConnectionDenied },
      {
        type: PacketType.ConnectionChallenge,
        challengeSequence: 1n << 40n,
        challengeToken: counting(7, 300),
      },
      { type: PacketType.KeepAlive, clientIndex: 0xfffffffe, maxClients: 256 },
      { type: PacketType.Payload, payload: new Uint8Array([42]) },
      { type: PacketType.Disconnect },
    ];
    for (const [i, packet] of packets.entries()) {
      const sequence = BigInt(i) * 77777n;
      const read = readEncryptedPacket(writeEncryptedPacket(packet, sequence, KEY, PROTOCOL_ID), {
        key: KEY,
        protocolId: PROTOCOL_ID,
        allowed: CLIENT_ACCEPTED_PACKETS,
      });
      expect(read).toEqual({ ok: true, value: { packet, sequence } });
    }
    const response: EncryptedPacket = {
      type: PacketType.ConnectionResponse,
      challengeSequence: 3n,
      challengeToken: counting(9, 300),
    };
    const read = readEncryptedPacket(writeEncryptedPacket(response, 0n, KEY, PROTOCOL_ID), {
      key: KEY,
      protocolId: PROTOCOL_ID,
      allowed: SERVER_ACCEPTED_PACKETS,
    });
    expect(read).toEqual({ ok: true, value: { packet: response, sequence: 0n } });
  });

  it("refuse to write a payload outside 1..1200 bytes", () => {
    expect(() =>
      writeEncryptedPacket({ type: PacketType.Payload, payload: new Uint8Array(0) }, 0n, KEY, PROTOCOL_ID),
    ).toThrow(/1 to 1200 bytes, got 0/);
    expect(() =>
      writeEncryptedPacket({ type: PacketType.Payload, payload: new Uint8Array(1201) }, 0n, KEY, PROTOCOL_ID),
    ).toThrow(/got 1201/);
  });
});

describe("reading encrypted packets drops, in the standard's order", () => {
  const reading = { key: KEY, protocolId: PROTOCOL_ID, allowed: SERVER_ACCEPTED_PACKETS };
  const keepAlive = writeEncryptedPacket(
    { type: PacketType.KeepAlive, clientIndex: 0, maxClients: 0 },
    300n,
    KEY,
    PROTOCOL_ID,
  );
  const refused = (reason: string) => ({ ok: false, reason });

  /** A packet whose per-type data is whatever we like, correctly sealed. */
  function craft(type: PacketType, data: Uint8Array, sequence = 1n): Uint8Array {
    const prefix = prefixByte(type, 1);
    const sealed = sealChaCha20Poly1305(
      KEY,
      sequenceNonce(sequence),
      data,
      packetAdditionalData(PROTOCOL_ID, prefix),
    );
    return new Uint8Array([prefix, Number(sequence), ...sealed]);
  }

  it("anything under 18 bytes", () => {
    expect(readEncryptedPacket(keepAlive.subarray(0, 17), reading)).toEqual(refused("too_small"));
  });

  it("types 7 to 15, and type 0 behind a non-zero prefix", () => {
    for (const type of [7, 8, 15, 0]) {
      const bytes = keepAlive.slice();
      bytes[0] = (2 << 4) | type;
      expect(readEncryptedPacket(bytes, reading)).toEqual(refused("invalid_packet_type"));
    }
  });

  it("types the reader does not accept (a server never reads challenges, a client never responses)", () => {
    const challenge = craft(PacketType.ConnectionChallenge, new Uint8Array(308));
    expect(readEncryptedPacket(challenge, reading)).toEqual(refused("packet_type_not_allowed"));
    const response = craft(PacketType.ConnectionResponse, new Uint8Array(308));
    expect(readEncryptedPacket(response, { ...reading, allowed: CLIENT_ACCEPTED_PACKETS })).toEqual(
      refused("packet_type_not_allowed"),
    );
  });

  it("sequence byte counts outside 1..8, and packets too short for theirs", () => {
    for (const count of [0, 9, 15]) {
      const bytes = keepAlive.slice();
      bytes[0] = (count << 4) | PacketType.KeepAlive;
      expect(readEncryptedPacket(bytes, reading)).toEqual(refused("invalid_sequence_bytes"));
    }
    const short = new Uint8Array(1 + 8 + 15);
    short[0] = (8 << 4) | PacketType.KeepAlive;
    expect(readEncryptedPacket(short, reading)).toEqual(refused("too_small"));
  });

  it("packets from a peer without keys", () => {
    expect(readEncryptedPacket(keepAlive, { ...reading, key: null })).toEqual(
      refused("no_encryption_mapping"),
    );
  });

  it("replays, before spending anything on decryption, and only after a packet decrypted", () => {
    const replay = new ReplayProtection();
    expect(readEncryptedPacket(keepAlive, { ...reading, replay }).ok).toBe(true);
    expect(readEncryptedPacket(keepAlive, { ...reading, replay })).toEqual(refused("replayed"));
    // a forged packet with a fresh sequence does not advance the window
    const fresh = new ReplayProtection();
    const forged = keepAlive.slice();
    forged[forged.length - 1]! ^= 1;
    expect(readEncryptedPacket(forged, { ...reading, replay: fresh })).toEqual(refused("decrypt_failed"));
    expect(fresh.alreadyReceived(300n)).toBe(false);
  });

  it("anything that fails to authenticate: another key, a changed prefix (type), a changed protocol id", () => {
    expect(readEncryptedPacket(keepAlive, { ...reading, key: counting(1, 32) })).toEqual(
      refused("decrypt_failed"),
    );
    const asPayload = keepAlive.slice();
    asPayload[0] = (2 << 4) | PacketType.Payload;
    expect(readEncryptedPacket(asPayload, reading)).toEqual(refused("decrypt_failed"));
    expect(readEncryptedPacket(keepAlive, { ...reading, protocolId: 1n })).toEqual(refused("decrypt_failed"));
  });

  it("decrypted data of the wrong size for its type", () => {
    expect(readEncryptedPacket(craft(PacketType.KeepAlive, new Uint8Array(7)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    expect(readEncryptedPacket(craft(PacketType.KeepAlive, new Uint8Array(9)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    expect(readEncryptedPacket(craft(PacketType.Disconnect, new Uint8Array(1)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    expect(readEncryptedPacket(craft(PacketType.Payload, new Uint8Array(0)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    expect(readEncryptedPacket(craft(PacketType.Payload, new Uint8Array(1201)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    expect(readEncryptedPacket(craft(PacketType.ConnectionResponse, new Uint8Array(307)), reading)).toEqual(
      refused("wrong_data_size"),
    );
    const denied = craft(PacketType.ConnectionDenied, new Uint8Array(1));
    expect(readEncryptedPacket(denied, { ...reading, allowed: CLIENT_ACCEPTED_PACKETS })).toEqual(
      refused("wrong_data_size"),
    );
  });
});

describe("challenge tokens (300 bytes)", () => {
  const challengeKey = counting(0x77, 32);
  const userData = counting(3, 256);

  it("are client id, user data and zero padding, sealed into 284 bytes plus a tag", () => {
    const plaintext = writeChallengeToken({ clientId: 0x0a0b0c0dn, userData });
    expect(plaintext.length).toBe(300);
    expect(view(plaintext).getBigUint64(0, true)).toBe(0x0a0b0c0dn);
    expect(plaintext.subarray(8, 264)).toEqual(userData);
    expect(plaintext.subarray(264).every((byte) => byte === 0)).toBe(true);
    const sealed = sealChallengeToken(plaintext, 12n, challengeKey);
    expect(sealed.length).toBe(300);
    const opened = openChallengeToken(sealed, 12n, challengeKey);
    expect(opened).toEqual({ ok: true, value: { clientId: 0x0a0b0c0dn, userData } });
  });

  it("match the pinned vector (netcode.c seals the same bytes)", () => {
    const sealed = sealChallengeToken(
      writeChallengeToken({ clientId: 0x0a0b0c0dn, userData }),
      12n,
      challengeKey,
    );
    expect(sha256(sealed)).toBe("41f7211b1207def6b5651ee96bb372ac4fe46ad61fdd37e1ef186f2837c4e229");
  });

  it("do not open under another sequence or key", () => {
    const sealed = sealChallengeToken(writeChallengeToken({ clientId: 1n, userData }), 12n, challengeKey);
    expect(openChallengeToken(sealed, 13n, challengeKey)).toEqual({
      ok: false,
      reason: "challenge_decrypt_failed",
    });
    expect(openChallengeToken(sealed, 12n, KEY)).toEqual({ ok: false, reason: "challenge_decrypt_failed" });
  });
});

/** Keep-alive (index 3, max 64), sequence 1000, key 0x40..0x5f; byte-identical to netcode.c's output. */
const PINNED_KEEP_ALIVE = "24e80346206c2cd4aae7626097efc964cbf4a1fdc6e662ad34d73c";

/**
 * Connect tokens: what the login service (uberdog) hands a client so it may connect to a server.
 *
 * The private part, readable only by the backend and the servers (they share `privateKey`), is 1024 bytes:
 *   client id u64 | timeout seconds u32 | address count u32 (1..32) | addresses | client-to-server key (32) |
 *   server-to-client key (32) | user data (256) | zero padding
 * The first 1008 bytes are sealed with XChaCha20-Poly1305 under a random 24-byte nonce, with the additional
 * data "NETCODE 1.02\0" | protocol id u64 | expire timestamp u64, and the last 16 bytes hold the tag.
 *
 * The whole token is 2048 bytes:
 *   version info (13) | protocol id u64 | create timestamp u64 | expire timestamp u64 | nonce (24) |
 *   sealed private part (1024) | timeout seconds u32 | address count u32 | addresses |
 *   client-to-server key (32) | server-to-client key (32) | zero padding
 */

import { bytesEqual } from "../../bytes.ts";
import { DatagramReader } from "../../pack/reader.ts";
import { DatagramWriter } from "../../pack/writer.ts";
import { type NetcodeAddress, readAddress, writeAddress } from "./address.ts";
import {
  CONNECT_TOKEN_BYTES,
  CONNECT_TOKEN_NONCE_BYTES,
  CONNECT_TOKEN_PRIVATE_BYTES,
  KEY_BYTES,
  MAC_BYTES,
  MAX_SERVERS_PER_CONNECT,
  UINT64_MAX,
  USER_DATA_BYTES,
  VERSION_INFO,
  VERSION_INFO_BYTES,
} from "./constants.ts";
import {
  openXChaCha20Poly1305,
  type RandomBytes,
  sealXChaCha20Poly1305,
  secureRandomBytes,
} from "./crypto.ts";
import { accept, drop, type ReadResult } from "./results.ts";

/** The private part after opening: what only the backend and the servers can read. */
export interface PrivateConnectToken {
  readonly clientId: bigint;
  /** Seconds without packets before a side gives up; zero or negative disables timeouts (development only). */
  readonly timeoutSeconds: number;
  readonly serverAddresses: readonly NetcodeAddress[];
  readonly clientToServerKey: Uint8Array;
  readonly serverToClientKey: Uint8Array;
  readonly userData: Uint8Array;
}

/** The whole token as the client reads it; `sealedPrivate` travels on, unopened, in connection requests. */
export interface ConnectToken {
  readonly protocolId: bigint;
  readonly createTimestamp: bigint;
  readonly expireTimestamp: bigint;
  readonly nonce: Uint8Array;
  readonly sealedPrivate: Uint8Array;
  readonly timeoutSeconds: number;
  readonly serverAddresses: readonly NetcodeAddress[];
  readonly clientToServerKey: Uint8Array;
  readonly serverToClientKey: Uint8Array;
}

export interface GenerateConnectTokenOptions {
  readonly protocolId: bigint;
  /** 32 bytes shared by the backend and the servers. */
  readonly privateKey: Uint8Array;
  readonly clientId: bigint;
  /** The servers this client may connect to, tried in order (1 to 32). */
  readonly serverAddresses: readonly NetcodeAddress[];
  /** Lifetime of the token in seconds from `nowSeconds`. */
  readonly expireSeconds: number;
  /** Seconds without packets before a connection times out; negative disables timeouts (development only). */
  readonly timeoutSeconds: number;
  /** Up to 256 bytes the server receives with the connection (zero-padded to 256). */
  readonly userData?: Uint8Array;
  /** Unix time in seconds; defaults to now. */
  readonly nowSeconds?: number;
  /** Source of the session keys and the nonce; defaults to the system's secure random. */
  readonly random?: RandomBytes;
}

/** Bytes of the private part that are encrypted; the tag takes the rest. */
const PRIVATE_PLAINTEXT_BYTES = CONNECT_TOKEN_PRIVATE_BYTES - MAC_BYTES;
/** Offset of the sealed private part inside the whole token (after version, three u64 and the nonce). */
export const SEALED_PRIVATE_OFFSET = VERSION_INFO_BYTES + 8 + 8 + 8 + CONNECT_TOKEN_NONCE_BYTES;
const INT32_MIN = -(2 ** 31);
const INT32_MAX = 2 ** 31 - 1;

/** Makes a 2048-byte connect token with fresh session keys. Throws a RangeError on bad options. */
export function generateConnectToken(options: GenerateConnectTokenOptions): Uint8Array {
  checkGenerateOptions(options);
  const random = options.random ?? secureRandomBytes;
  const createTimestamp = BigInt(options.nowSeconds ?? Math.floor(Date.now() / 1000));
  const expireTimestamp = createTimestamp + BigInt(options.expireSeconds);
  const privateToken: PrivateConnectToken = {
    clientId: options.clientId,
    timeoutSeconds: options.timeoutSeconds,
    serverAddresses: options.serverAddresses,
    clientToServerKey: random(KEY_BYTES),
    serverToClientKey: random(KEY_BYTES),
    userData: paddedUserData(options.userData),
  };
  const nonce = random(CONNECT_TOKEN_NONCE_BYTES);
  const sealedPrivate = sealPrivateToken(writePrivateToken(privateToken), {
    protocolId: options.protocolId,
    expireTimestamp,
    nonce,
    privateKey: options.privateKey,
  });
  return writeConnectToken({
    protocolId: options.protocolId,
    createTimestamp,
    expireTimestamp,
    nonce,
    sealedPrivate,
    timeoutSeconds: privateToken.timeoutSeconds,
    serverAddresses: privateToken.serverAddresses,
    clientToServerKey: privateToken.clientToServerKey,
    serverToClientKey: privateToken.serverToClientKey,
  });
}

function checkGenerateOptions(options: GenerateConnectTokenOptions): void {
  checkUint64(options.protocolId, "protocolId");
  checkUint64(options.clientId, "clientId");
  checkKey(options.privateKey, "privateKey");
  checkAddressCount(options.serverAddresses.length);
  if (!Number.isSafeInteger(options.expireSeconds) || options.expireSeconds <= 0) {
    throw new RangeError(`expireSeconds must be a positive integer, got ${options.expireSeconds}`);
  }
  const timeout = options.timeoutSeconds;
  if (!Number.isInteger(timeout) || timeout === 0 || timeout < INT32_MIN || timeout > INT32_MAX) {
    throw new RangeError(
      `timeoutSeconds must be a positive integer, or negative to disable timeouts (development only), got ${timeout}`,
    );
  }
  if (options.userData !== undefined && options.userData.length > USER_DATA_BYTES) {
    throw new RangeError(`userData holds at most ${USER_DATA_BYTES} bytes, got ${options.userData.length}`);
  }
  if (
    options.nowSeconds !== undefined &&
    (!Number.isSafeInteger(options.nowSeconds) || options.nowSeconds < 0)
  ) {
    throw new RangeError(`nowSeconds must be a non-negative integer, got ${options.nowSeconds}`);
  }
}

function paddedUserData(userData: Uint8Array | undefined): Uint8Array {
  const padded = new Uint8Array(USER_DATA_BYTES);
  if (userData) padded.set(userData);
  return padded;
}

/** The 1024-byte plaintext of the private part; its last 16 bytes are zero, left for the tag. */
export function writePrivateToken(token: PrivateConnectToken): Uint8Array {
  checkAddressCount(token.serverAddresses.length);
  checkKey(token.clientToServerKey, "clientToServerKey");
  checkKey(token.serverToClientKey, "serverToClientKey");
  if (token.userData.length !== USER_DATA_BYTES) {
    throw new RangeError(
      `private token user data must be ${USER_DATA_BYTES} bytes, got ${token.userData.length}`,
    );
  }
  const plaintext = new Uint8Array(CONNECT_TOKEN_PRIVATE_BYTES);
  const writer = new DatagramWriter(plaintext);
  writer.writeBigUint64(token.clientId);
  writer.writeUint32(token.timeoutSeconds);
  writer.writeUint32(token.serverAddresses.length);
  for (const address of token.serverAddresses) writeAddress(writer, address);
  writer.writeBytes(token.clientToServerKey);
  writer.writeBytes(token.serverToClientKey);
  writer.writeBytes(token.userData);
  return plaintext;
}

/** Reads the plaintext private part (1008 or 1024 bytes). */
export function readPrivateToken(plaintext: Uint8Array): ReadResult<PrivateConnectToken> {
  if (plaintext.length < PRIVATE_PLAINTEXT_BYTES) return drop("token_malformed");
  const reader = new DatagramReader(plaintext);
  const clientId = reader.readBigUint64();
  const timeoutSeconds = reader.readInt32();
  const serverAddresses = readAddressList(reader);
  if (serverAddresses === null) return drop("token_malformed");
  return accept({
    clientId,
    timeoutSeconds,
    serverAddresses,
    clientToServerKey: reader.readBytes(KEY_BYTES),
    serverToClientKey: reader.readBytes(KEY_BYTES),
    userData: reader.readBytes(USER_DATA_BYTES),
  });
}

/** The additional data that binds the sealed private part to its version, protocol and expiry. */
export function privateTokenAdditionalData(protocolId: bigint, expireTimestamp: bigint): Uint8Array {
  const additionalData = new Uint8Array(VERSION_INFO_BYTES + 8 + 8);
  const writer = new DatagramWriter(additionalData);
  writer.writeBytes(VERSION_INFO);
  writer.writeBigUint64(protocolId);
  writer.writeBigUint64(expireTimestamp);
  return additionalData;
}

export interface PrivateTokenSealing {
  readonly protocolId: bigint;
  readonly expireTimestamp: bigint;
  readonly nonce: Uint8Array;
  readonly privateKey: Uint8Array;
}

/** Seals the first 1008 bytes of a 1024-byte plaintext; the result is 1008 bytes of ciphertext and the tag. */
export function sealPrivateToken(plaintext: Uint8Array, sealing: PrivateTokenSealing): Uint8Array {
  if (plaintext.length !== CONNECT_TOKEN_PRIVATE_BYTES) {
    throw new RangeError(
      `private token plaintext must be ${CONNECT_TOKEN_PRIVATE_BYTES} bytes, got ${plaintext.length}`,
    );
  }
  return sealXChaCha20Poly1305(
    sealing.privateKey,
    sealing.nonce,
    plaintext.subarray(0, PRIVATE_PLAINTEXT_BYTES),
    privateTokenAdditionalData(sealing.protocolId, sealing.expireTimestamp),
  );
}

export interface PrivateTokenOpening extends PrivateTokenSealing {
  readonly sealedPrivate: Uint8Array;
}

/** Server side: decrypts and reads the private part of a token carried by a connection request. */
export function openPrivateToken(opening: PrivateTokenOpening): ReadResult<PrivateConnectToken> {
  if (opening.sealedPrivate.length !== CONNECT_TOKEN_PRIVATE_BYTES) return drop("token_malformed");
  const plaintext = openXChaCha20Poly1305(
    opening.privateKey,
    opening.nonce,
    opening.sealedPrivate,
    privateTokenAdditionalData(opening.protocolId, opening.expireTimestamp),
  );
  if (plaintext === null) return drop("token_decrypt_failed");
  return readPrivateToken(plaintext);
}

/** The tag of a sealed private part: what identifies a token for reuse tracking. */
export function privateTokenMac(sealedPrivate: Uint8Array): Uint8Array {
  return sealedPrivate.subarray(CONNECT_TOKEN_PRIVATE_BYTES - MAC_BYTES, CONNECT_TOKEN_PRIVATE_BYTES);
}

/** Writes the 2048-byte token. */
export function writeConnectToken(token: ConnectToken): Uint8Array {
  checkAddressCount(token.serverAddresses.length);
  if (token.nonce.length !== CONNECT_TOKEN_NONCE_BYTES) {
    throw new RangeError(
      `connect token nonce must be ${CONNECT_TOKEN_NONCE_BYTES} bytes, got ${token.nonce.length}`,
    );
  }
  if (token.sealedPrivate.length !== CONNECT_TOKEN_PRIVATE_BYTES) {
    throw new RangeError(
      `sealed private token must be ${CONNECT_TOKEN_PRIVATE_BYTES} bytes, got ${token.sealedPrivate.length}`,
    );
  }
  checkKey(token.clientToServerKey, "clientToServerKey");
  checkKey(token.serverToClientKey, "serverToClientKey");
  const bytes = new Uint8Array(CONNECT_TOKEN_BYTES);
  const writer = new DatagramWriter(bytes);
  writer.writeBytes(VERSION_INFO);
  writer.writeBigUint64(token.protocolId);
  writer.writeBigUint64(token.createTimestamp);
  writer.writeBigUint64(token.expireTimestamp);
  writer.writeBytes(token.nonce);
  writer.writeBytes(token.sealedPrivate);
  writer.writeUint32(token.timeoutSeconds);
  writer.writeUint32(token.serverAddresses.length);
  for (const address of token.serverAddresses) writeAddress(writer, address);
  writer.writeBytes(token.clientToServerKey);
  writer.writeBytes(token.serverToClientKey);
  return bytes;
}

/** Client side: reads a 2048-byte token, checking what the standard asks a client to check. */
export function readConnectToken(bytes: Uint8Array): ReadResult<ConnectToken> {
  if (!(bytes instanceof Uint8Array) || bytes.length !== CONNECT_TOKEN_BYTES) return drop("token_malformed");
  const reader = new DatagramReader(bytes);
  if (!bytesEqual(reader.readView(VERSION_INFO_BYTES), VERSION_INFO)) return drop("wrong_version");
  const protocolId = reader.readBigUint64();
  const createTimestamp = reader.readBigUint64();
  const expireTimestamp = reader.readBigUint64();
  if (createTimestamp > expireTimestamp) return drop("token_malformed");
  const nonce = reader.readBytes(CONNECT_TOKEN_NONCE_BYTES);
  const sealedPrivate = reader.readBytes(CONNECT_TOKEN_PRIVATE_BYTES);
  const timeoutSeconds = reader.readInt32();
  const serverAddresses = readAddressList(reader);
  if (serverAddresses === null) return drop("token_malformed");
  return accept({
    protocolId,
    createTimestamp,
    expireTimestamp,
    nonce,
    sealedPrivate,
    timeoutSeconds,
    serverAddresses,
    clientToServerKey: reader.readBytes(KEY_BYTES),
    serverToClientKey: reader.readBytes(KEY_BYTES),
  });
}

/** A count in [1, 32], then that many addresses; null when the count or a type byte is out of range. */
function readAddressList(reader: DatagramReader): NetcodeAddress[] | null {
  const count = reader.readUint32();
  if (count < 1 || count > MAX_SERVERS_PER_CONNECT) return null;
  const addresses: NetcodeAddress[] = [];
  for (let i = 0; i < count; i++) {
    const address = readAddress(reader);
    if (address === null) return null;
    addresses.push(address);
  }
  return addresses;
}

function checkAddressCount(count: number): void {
  if (count < 1 || count > MAX_SERVERS_PER_CONNECT) {
    throw new RangeError(
      `a connect token lists 1 to ${MAX_SERVERS_PER_CONNECT} server addresses, got ${count}`,
    );
  }
}

function checkKey(key: Uint8Array, what: string): void {
  if (!(key instanceof Uint8Array) || key.length !== KEY_BYTES) {
    throw new RangeError(`${what} must be ${KEY_BYTES} bytes, got ${key?.length}`);
  }
}

function checkUint64(value: bigint, what: string): void {
  if (typeof value !== "bigint" || value < 0n || value > UINT64_MAX) {
    throw new RangeError(`${what} must be a bigint in [0, 2^64), got ${String(value)}`);
  }
}

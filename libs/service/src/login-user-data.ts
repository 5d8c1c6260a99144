/**
 * What a login tells the client agent about the player, inside the 256 bytes of user data a netcode.io
 * connect token carries in its sealed private part. Uberdog writes it when it issues a token; the client
 * agent reads it once the token has been opened with the shared private key, so it is authenticated.
 *
 * Layout (256 bytes, little-endian like the rest of netcode.io; unused bytes are zero):
 *
 *   offset  size  what
 *   0       1     layout version (1)
 *   1       8     account id, uint64
 *   9       1     username length n (3..32)
 *   10      n     username, ASCII letters, digits, '_' and '-'
 *
 * A later layout takes a new version number; a reader refuses versions it does not know.
 */
import { DatagramReader, DatagramWriter } from "@overworld/protocol";

/** The size netcode.io gives user data in a connect token. */
export const LOGIN_USER_DATA_BYTES = 256;
export const LOGIN_USER_DATA_VERSION = 1;

export const USERNAME_MIN_LENGTH = 3;
export const USERNAME_MAX_LENGTH = 32;
/** Letters, digits, '_' and '-': what a username may hold (its length is checked apart). */
export const USERNAME_PATTERN = /^[A-Za-z0-9_-]+$/;

/**
 * The netcode.io protocol id uberdog and the client agents use unless NETCODE_PROTOCOL_ID says otherwise:
 * the ASCII bytes of "OVERWLD1" read as a little-endian uint64. Clients, tokens and servers must agree.
 */
export const DEFAULT_NETCODE_PROTOCOL_ID = 0x31444c575245564fn;

export interface LoginUserData {
  /** The account's id (a positive safe integer: Postgres hands them out from 1). */
  readonly accountId: number;
  readonly username: string;
}

/** True when `name` follows the username rules (3 to 32 letters, digits, '_' or '-'). */
export function isValidUsername(name: string): boolean {
  return (
    name.length >= USERNAME_MIN_LENGTH && name.length <= USERNAME_MAX_LENGTH && USERNAME_PATTERN.test(name)
  );
}

/** Writes the 256-byte user data. Throws a RangeError naming the member that is out of its rules. */
export function encodeLoginUserData(data: LoginUserData): Uint8Array {
  checkAccountId(data.accountId);
  if (!isValidUsername(data.username)) {
    throw new RangeError(
      `username must be ${USERNAME_MIN_LENGTH} to ${USERNAME_MAX_LENGTH} letters, digits, '_' or '-', got ${JSON.stringify(data.username)}`,
    );
  }
  const bytes = new Uint8Array(LOGIN_USER_DATA_BYTES);
  const writer = new DatagramWriter(bytes);
  writer.writeUint8(LOGIN_USER_DATA_VERSION);
  writer.writeBigUint64(BigInt(data.accountId));
  writer.writeUint8(data.username.length);
  writer.writeUtf8(data.username);
  return bytes;
}

/**
 * Reads the user data of an opened connect token. Throws a RangeError naming what is wrong (wrong size,
 * unknown version, account id out of range, bad username): the token was sealed by someone holding the
 * private key, so a bad layout means a misconfigured or newer uberdog, never a forged packet.
 */
export function decodeLoginUserData(bytes: Uint8Array): LoginUserData {
  if (bytes.length !== LOGIN_USER_DATA_BYTES) {
    throw new RangeError(`login user data must be ${LOGIN_USER_DATA_BYTES} bytes, got ${bytes.length}`);
  }
  const reader = new DatagramReader(bytes);
  const version = reader.readUint8();
  if (version !== LOGIN_USER_DATA_VERSION) {
    throw new RangeError(
      `login user data layout version ${version} is not known (this build reads version ${LOGIN_USER_DATA_VERSION})`,
    );
  }
  const accountId = reader.readBigUint64();
  if (accountId < 1n || accountId > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new RangeError(`login user data account id ${accountId} is out of range`);
  }
  const length = reader.readUint8();
  if (length > USERNAME_MAX_LENGTH) {
    throw new RangeError(`login user data username length ${length} is over ${USERNAME_MAX_LENGTH}`);
  }
  const username = reader.readUtf8(length);
  if (!isValidUsername(username)) {
    throw new RangeError(`login user data username ${JSON.stringify(username)} breaks the username rules`);
  }
  return { accountId: Number(accountId), username };
}

function checkAccountId(accountId: number): void {
  if (!Number.isSafeInteger(accountId) || accountId < 1) {
    throw new RangeError(`accountId must be a positive safe integer, got ${accountId}`);
  }
}

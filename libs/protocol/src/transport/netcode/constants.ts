/**
 * The fixed numbers of the netcode.io 1.02 standard (STANDARD.md in the netcode repository), named once.
 * Sizes are in bytes; every integer on the wire is little-endian.
 */

/** "NETCODE 1.02" in ASCII followed by a NUL: 13 bytes that open tokens and connection requests. */
export const VERSION_INFO: Uint8Array = new Uint8Array([
  0x4e, 0x45, 0x54, 0x43, 0x4f, 0x44, 0x45, 0x20, 0x31, 0x2e, 0x30, 0x32, 0x00,
]);
export const VERSION_INFO_BYTES = 13;

export const KEY_BYTES = 32;
export const MAC_BYTES = 16;
export const USER_DATA_BYTES = 256;
export const CONNECT_TOKEN_NONCE_BYTES = 24;
export const CONNECT_TOKEN_BYTES = 2048;
export const CONNECT_TOKEN_PRIVATE_BYTES = 1024;
export const CHALLENGE_TOKEN_BYTES = 300;
export const MAX_SERVERS_PER_CONNECT = 32;
export const MAX_PAYLOAD_BYTES = 1200;

/** The 12-byte ChaCha20-Poly1305 (IETF) nonce: four zero bytes, then a 64-bit sequence number. */
export const IETF_NONCE_BYTES = 12;

/** Address type bytes inside tokens. */
export const ADDRESS_TYPE_IPV4 = 1;
export const ADDRESS_TYPE_IPV6 = 2;

/** Packet types: the low four bits of an encrypted packet's prefix byte; 0 is the whole prefix of a request. */
export const PacketType = {
  ConnectionRequest: 0,
  ConnectionDenied: 1,
  ConnectionChallenge: 2,
  ConnectionResponse: 3,
  KeepAlive: 4,
  Payload: 5,
  Disconnect: 6,
} as const;
export type PacketType = (typeof PacketType)[keyof typeof PacketType];
export const PACKET_TYPE_COUNT = 7;

/**
 * Connection request: prefix 0, version info, protocol id, expire timestamp, token nonce, sealed private token.
 * 1 + 13 + 8 + 8 + 24 + 1024 = 1078 bytes, and a request of any other size is ignored.
 */
export const CONNECTION_REQUEST_BYTES =
  1 + VERSION_INFO_BYTES + 8 + 8 + CONNECT_TOKEN_NONCE_BYTES + CONNECT_TOKEN_PRIVATE_BYTES;

/** Sizes of the decrypted per-packet data of each encrypted packet type. */
export const CHALLENGE_PACKET_DATA_BYTES = 8 + CHALLENGE_TOKEN_BYTES;
export const RESPONSE_PACKET_DATA_BYTES = 8 + CHALLENGE_TOKEN_BYTES;
export const KEEP_ALIVE_PACKET_DATA_BYTES = 8;
export const MIN_PAYLOAD_BYTES = 1;

/** Smallest possible encrypted packet: prefix byte, one sequence byte, the 16-byte tag. */
export const MIN_ENCRYPTED_PACKET_BYTES = 1 + 1 + MAC_BYTES;
/** Largest sequence number field. */
export const MAX_SEQUENCE_BYTES = 8;
/** What an encrypted packet adds around its data at most: prefix byte, 8 sequence bytes, tag. */
export const MAX_ENCRYPTED_PACKET_OVERHEAD = 1 + MAX_SEQUENCE_BYTES + MAC_BYTES;

/**
 * Replay protection remembers this many recent sequence numbers per connection; the standard suggests 256
 * ("a few seconds of packets at 20-60 Hz").
 */
export const REPLAY_BUFFER_SIZE = 256;

/** Client states with the standard's numeric values; negative values are errors, 3 is the goal. */
export const ClientState = {
  ConnectTokenExpired: -6,
  InvalidConnectToken: -5,
  ConnectionTimedOut: -4,
  ConnectionResponseTimedOut: -3,
  ConnectionRequestTimedOut: -2,
  ConnectionDenied: -1,
  Disconnected: 0,
  SendingConnectionRequest: 1,
  SendingConnectionResponse: 2,
  Connected: 3,
} as const;
export type ClientState = (typeof ClientState)[keyof typeof ClientState];

/** The reference implementation's pacing: handshake and keep-alive packets at 10 Hz. */
export const DEFAULT_PACKET_SEND_INTERVAL_MS = 100;
/** Redundant disconnect packets sent when a side leaves on purpose. */
export const DEFAULT_DISCONNECT_PACKET_COUNT = 10;

/** Unsigned 64-bit limit, for checking bigint inputs. */
export const UINT64_MAX = (1n << 64n) - 1n;

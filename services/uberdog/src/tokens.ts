/**
 * Connect tokens for logged-in players: netcode.io 1.02 tokens naming the client agents' addresses, with
 * the account in their user data (login-user-data.ts in @overworld/service), sealed with the private key
 * uberdog shares with the client agents.
 */
import { randomBytes } from "node:crypto";
import { netcode } from "@overworld/protocol";
import { encodeLoginUserData, type LoginUserData } from "@overworld/service";

export interface TokenSettings {
  readonly protocolId: bigint;
  /** The 32 bytes shared with the client agents. */
  readonly privateKey: Uint8Array;
  /** Where the client may connect, tried in order. */
  readonly serverAddresses: readonly netcode.NetcodeAddress[];
  /** The order of `serverAddresses` for the next token (agent-picker.ts: the least loaded agent first). */
  readonly order?: () => readonly netcode.NetcodeAddress[];
  /** How long the token may be used to connect. */
  readonly expireSeconds: number;
  /** Seconds of silence before the connection times out (-1: never, for debugging). */
  readonly timeoutSeconds: number;
}

export interface IssuedToken {
  /** The 2048-byte connect token. */
  readonly connectToken: Uint8Array;
  /** The netcode client id in the token: fresh for every login. */
  readonly clientId: bigint;
  readonly expiresAt: Date;
  /** The addresses in the token, as `IP:port` text. */
  readonly servers: readonly string[];
}

const MS_PER_SECOND = 1000;
const CLIENT_ID_BYTES = 8;

export class TokenIssuer {
  constructor(
    private readonly settings: TokenSettings,
    private readonly nowMs: () => number = Date.now,
  ) {}

  /** A token for one connection of this account. */
  issue(account: LoginUserData): IssuedToken {
    const nowSeconds = Math.floor(this.nowMs() / MS_PER_SECOND);
    const clientId = freshClientId();
    const serverAddresses = this.settings.order?.() ?? this.settings.serverAddresses;
    const connectToken = netcode.generateConnectToken({
      protocolId: this.settings.protocolId,
      privateKey: this.settings.privateKey,
      clientId,
      serverAddresses,
      expireSeconds: this.settings.expireSeconds,
      timeoutSeconds: this.settings.timeoutSeconds,
      userData: encodeLoginUserData(account),
      nowSeconds,
    });
    return {
      connectToken,
      clientId,
      expiresAt: new Date((nowSeconds + this.settings.expireSeconds) * MS_PER_SECOND),
      servers: serverAddresses.map((address) => address.key),
    };
  }
}

/** A random, non-zero 64-bit client id: no coordination between uberdog replicas needed. */
function freshClientId(): bigint {
  for (;;) {
    const id = randomBytes(CLIENT_ID_BYTES).readBigUInt64LE();
    if (id !== 0n) return id;
  }
}

/** Uberdog's parts on their own: password hashing, token issuing, the login user data. */
import { netcode } from "@overworld/protocol";
import {
  DEFAULT_NETCODE_PROTOCOL_ID,
  decodeLoginUserData,
  encodeLoginUserData,
  LOGIN_USER_DATA_BYTES,
} from "@overworld/service";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_SCRYPT,
  PasswordHasher,
  TokenIssuer,
  UnreadableHash,
} from "../../services/uberdog/src/main.ts";

const CHEAP = { logN: 10, r: 8, p: 1 };

describe("password hashing", () => {
  it("hashes with the default scrypt parameters (N = 2^15, r = 8, p = 1) and verifies", async () => {
    expect(DEFAULT_SCRYPT).toEqual({ logN: 15, r: 8, p: 1 });
    const hasher = new PasswordHasher();
    const stored = await hasher.hash("a good password");
    expect(stored).toMatch(/^\$scrypt\$ln=15,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    expect(await hasher.verify("a good password", stored)).toBe(true);
    expect(await hasher.verify("a good passworD", stored)).toBe(false);
    expect(hasher.needsRehash(stored)).toBe(false);
  });

  it("salts every hash and verifies hashes made with other parameters", async () => {
    const cheap = new PasswordHasher(CHEAP);
    const first = await cheap.hash("same password");
    const second = await cheap.hash("same password");
    expect(first).not.toBe(second);
    const other = new PasswordHasher({ logN: 11, r: 4, p: 2 });
    expect(await other.verify("same password", first)).toBe(true);
    expect(other.needsRehash(first)).toBe(true);
    expect(cheap.needsRehash(first)).toBe(false);
    expect(await other.verifyNothing("anything")).toBe(false);
  });

  it("refuses stored hashes it cannot read, and parameters that would take too much", async () => {
    const hasher = new PasswordHasher(CHEAP);
    const good = await hasher.hash("password");
    const bad = [
      "plaintext",
      good.replace("$scrypt$", "$argon2id$"),
      good.replace("ln=10", "ln=30"),
      good.replace("p=1", "p=0"),
      `${good.slice(0, good.lastIndexOf("$"))}$AAAA`,
    ];
    for (const stored of bad) await expect(hasher.verify("password", stored)).rejects.toThrow(UnreadableHash);
    expect(() => new PasswordHasher({ logN: 9, r: 8, p: 1 })).toThrow(/log2 N must be 10 to 20/);
    expect(() => new PasswordHasher({ logN: 20, r: 16, p: 1 })).toThrow(/over the 1 GiB/);
  });
});

describe("login user data", () => {
  it("round-trips the account id and username in 256 bytes, version first", () => {
    const bytes = encodeLoginUserData({ accountId: 2 ** 40 + 7, username: "Zed_the-3rd" });
    expect(bytes.length).toBe(LOGIN_USER_DATA_BYTES);
    expect(bytes[0]).toBe(1);
    expect(new DataView(bytes.buffer).getBigUint64(1, true)).toBe(2n ** 40n + 7n);
    expect(bytes[9]).toBe(11);
    expect(Buffer.from(bytes.subarray(10, 21)).toString("ascii")).toBe("Zed_the-3rd");
    expect(bytes.subarray(21).every((byte) => byte === 0)).toBe(true);
    expect(decodeLoginUserData(bytes)).toEqual({ accountId: 2 ** 40 + 7, username: "Zed_the-3rd" });
  });

  it("refuses what breaks the layout, naming it", () => {
    const good = encodeLoginUserData({ accountId: 1, username: "abc" });
    const changed = (at: number, value: number) => {
      const copy = good.slice();
      copy[at] = value;
      return copy;
    };
    expect(() => decodeLoginUserData(good.subarray(0, 255))).toThrow(/must be 256 bytes, got 255/);
    expect(() => decodeLoginUserData(changed(0, 2))).toThrow(/layout version 2 is not known/);
    expect(() => decodeLoginUserData(changed(1, 0))).toThrow(/account id 0 is out of range/);
    expect(() => decodeLoginUserData(changed(9, 2))).toThrow(/username "ab" breaks the username rules/);
    expect(() => decodeLoginUserData(changed(9, 33))).toThrow(/length 33 is over 32/);
    expect(() => decodeLoginUserData(changed(10, 0x20))).toThrow(/username rules/);
    expect(() => encodeLoginUserData({ accountId: 0, username: "abc" })).toThrow(/accountId/);
    expect(() => encodeLoginUserData({ accountId: 1.5, username: "abc" })).toThrow(/accountId/);
    expect(() => encodeLoginUserData({ accountId: 1, username: "é-acute" })).toThrow(/username/);
  });

  it("has a default protocol id spelling OVERWLD1", () => {
    const bytes = new Uint8Array(8);
    new DataView(bytes.buffer).setBigUint64(0, DEFAULT_NETCODE_PROTOCOL_ID, true);
    expect(Buffer.from(bytes).toString("ascii")).toBe("OVERWLD1");
  });
});

describe("token issuer", () => {
  it("issues tokens that expire when it says, on the clock it is given", () => {
    const privateKey = new Uint8Array(32).fill(7);
    const issuer = new TokenIssuer(
      {
        protocolId: 99n,
        privateKey,
        serverAddresses: [netcode.parseAddress("192.168.1.2:5000")],
        expireSeconds: 45,
        timeoutSeconds: 5,
      },
      () => 1_700_000_000_999,
    );
    const issued = issuer.issue({ accountId: 12, username: "tokens" });
    expect(issued.expiresAt.toISOString()).toBe(new Date((1_700_000_000 + 45) * 1000).toISOString());
    expect(issued.servers).toEqual(["192.168.1.2:5000"]);
    const read = netcode.readConnectToken(issued.connectToken);
    if (!read.ok) throw new Error(read.reason);
    expect(read.value.createTimestamp).toBe(1_700_000_000n);
    const opened = netcode.openPrivateToken({ ...read.value, privateKey });
    if (!opened.ok) throw new Error(opened.reason);
    expect(opened.value.clientId).toBe(issued.clientId);
    expect(opened.value.timeoutSeconds).toBe(5);
    expect(decodeLoginUserData(opened.value.userData)).toEqual({ accountId: 12, username: "tokens" });
  });
});

/** Replay protection, the encryption mapping and connect token reuse tracking. */
import { describe, expect, it } from "vitest";
import { parseAddress } from "../../libs/protocol/src/transport/netcode/address.ts";
import { UINT64_MAX } from "../../libs/protocol/src/transport/netcode/constants.ts";
import {
  EncryptionMappings,
  type NewMapping,
} from "../../libs/protocol/src/transport/netcode/encryption-mappings.ts";
import { ReplayProtection } from "../../libs/protocol/src/transport/netcode/replay-protection.ts";
import { ConnectTokenHistory } from "../../libs/protocol/src/transport/netcode/token-history.ts";
import { counting } from "./netcode-support.ts";

describe("ReplayProtection (256 entries)", () => {
  it("accepts each sequence once", () => {
    const replay = new ReplayProtection();
    for (const sequence of [0n, 1n, 5n, 3n]) {
      expect(replay.alreadyReceived(sequence)).toBe(false);
      replay.advance(sequence);
      expect(replay.alreadyReceived(sequence)).toBe(true);
    }
    expect(replay.alreadyReceived(2n)).toBe(false);
    expect(replay.alreadyReceived(4n)).toBe(false);
  });

  it("refuses anything 256 or more below the most recent sequence, accepts unseen ones above that", () => {
    const replay = new ReplayProtection();
    replay.advance(1000n);
    expect(replay.mostRecentSequence).toBe(1000n);
    expect(replay.alreadyReceived(744n)).toBe(true);
    expect(replay.alreadyReceived(0n)).toBe(true);
    expect(replay.alreadyReceived(745n)).toBe(false);
    expect(replay.alreadyReceived(999n)).toBe(false);
    expect(replay.alreadyReceived(1001n)).toBe(false);
  });

  it("refuses an older sequence whose slot holds a newer one", () => {
    const replay = new ReplayProtection();
    replay.advance(10n);
    replay.advance(266n); // same slot as 10, and now the most recent
    expect(replay.alreadyReceived(10n)).toBe(true);
    expect(replay.alreadyReceived(11n)).toBe(false);
  });

  it("does not move the most recent sequence backwards", () => {
    const replay = new ReplayProtection();
    replay.advance(500n);
    replay.advance(400n);
    expect(replay.mostRecentSequence).toBe(500n);
  });

  it("handles sequences near 2^64 without wrapping", () => {
    const replay = new ReplayProtection();
    const high = UINT64_MAX - 10n;
    expect(replay.alreadyReceived(high)).toBe(false);
    replay.advance(high);
    expect(replay.alreadyReceived(high)).toBe(true);
    expect(replay.alreadyReceived(high + 1n)).toBe(false);
    expect(replay.alreadyReceived(high - 300n)).toBe(true);
  });

  it("forgets everything on reset", () => {
    const replay = new ReplayProtection();
    replay.advance(7n);
    replay.reset();
    expect(replay.alreadyReceived(7n)).toBe(false);
    expect(replay.mostRecentSequence).toBe(0n);
  });
});

describe("EncryptionMappings", () => {
  const alice = parseAddress("10.0.0.1:1000");
  const bob = parseAddress("10.0.0.2:1000");
  const carol = parseAddress("10.0.0.3:1000");
  const keys = (timeoutSeconds: number): NewMapping => ({
    sendKey: counting(1, 32),
    receiveKey: counting(2, 32),
    timeoutSeconds,
    tokenId: "t",
  });

  it("finds a mapping by address until its handshake deadline passes", () => {
    const mappings = new EncryptionMappings(4);
    mappings.add(alice, keys(5), 0);
    expect(mappings.find(alice, 5000)?.receiveKey).toEqual(counting(2, 32));
    expect(mappings.find(alice, 5001)).toBeNull();
    expect(mappings.find(bob, 0)).toBeNull();
  });

  it("once bound to a client, lapses only after the timeout without traffic", () => {
    const mappings = new EncryptionMappings(4);
    const entry = mappings.add(alice, keys(5), 0)!;
    mappings.bind(entry, 0);
    mappings.touch(entry, 9000);
    expect(mappings.find(alice, 14_000)).not.toBeNull();
    expect(mappings.find(alice, 19_001)).toBeNull();
  });

  it("never lapses with timeouts disabled (negative timeout)", () => {
    const mappings = new EncryptionMappings(4);
    mappings.add(alice, keys(-1), 0);
    expect(mappings.find(alice, 1e12)).not.toBeNull();
  });

  it("refreshes an existing mapping's keys for the same address", () => {
    const mappings = new EncryptionMappings(1);
    mappings.add(alice, keys(5), 0);
    expect(mappings.add(alice, { ...keys(5), sendKey: counting(9, 32) }, 100)?.sendKey).toEqual(
      counting(9, 32),
    );
    expect(mappings.size).toBe(1);
  });

  it("refuses to replace a mapping a connected client uses", () => {
    const mappings = new EncryptionMappings(4);
    mappings.bind(mappings.add(alice, keys(5), 0)!, 2);
    expect(mappings.add(alice, keys(5), 10)).toBeNull();
  });

  it("when full, makes room from lapsed unbound mappings, and refuses when none lapsed", () => {
    const mappings = new EncryptionMappings(2);
    mappings.add(alice, keys(1), 0);
    mappings.bind(mappings.add(bob, keys(1), 0)!, 0);
    expect(mappings.add(carol, keys(1), 500)).toBeNull();
    expect(mappings.add(carol, keys(1), 2000)).not.toBeNull();
    expect(mappings.find(alice, 2000)).toBeNull();
    expect(mappings.size).toBe(2);
  });

  it("removes by address", () => {
    const mappings = new EncryptionMappings(2);
    mappings.add(alice, keys(5), 0);
    mappings.remove(alice);
    expect(mappings.find(alice, 0)).toBeNull();
  });
});

describe("ConnectTokenHistory", () => {
  const alice = parseAddress("10.0.0.1:1000");
  const mallory = parseAddress("10.6.6.6:1000");

  it("lets a token in again from its first address and refuses it from any other", () => {
    const history = new ConnectTokenHistory(8);
    expect(history.admit("token-a", alice)).toBe(true);
    expect(history.admit("token-a", alice)).toBe(true);
    expect(history.admit("token-a", mallory)).toBe(false);
    expect(history.admit("token-b", mallory)).toBe(true);
  });

  it("forgets the oldest token when full", () => {
    const history = new ConnectTokenHistory(2);
    history.admit("one", alice);
    history.admit("two", alice);
    history.admit("three", alice);
    expect(history.size).toBe(2);
    expect(history.admit("one", mallory)).toBe(true); // forgotten, so new again
    expect(history.admit("three", mallory)).toBe(false);
  });

  it("remembers where a token's server sequence stopped, never moving it back", () => {
    const history = new ConnectTokenHistory(2);
    history.admit("one", alice);
    expect(history.nextSendSequence("one")).toBe(0n);
    history.rememberSendSequence("one", 40n);
    history.rememberSendSequence("one", 30n);
    expect(history.nextSendSequence("one")).toBe(40n);
    expect(history.nextSendSequence("unknown")).toBe(0n);
  });

  it("names a token by the hex of its tag", () => {
    expect(ConnectTokenHistory.tokenId(new Uint8Array([0, 255, 16]))).toBe("00ff10");
  });
});

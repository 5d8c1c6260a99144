/**
 * Package files between linked peers (services/link peer-files.ts), two or three ends wired to each other
 * in memory (the link itself is tested in link.test.ts and plugins/push.test.ts): a file comes whole, in
 * parts, from the first peer that holds it; a peer that sends other bytes than the SHA-256 asked for is
 * passed over; an answer nobody asked for, or from another peer than the one asked, is dropped.
 */
import { randomBytes } from "node:crypto";
import { sha256 } from "@overworld/manifest";
import { decodeEnvelope, encodeEnvelope } from "@overworld/protocol";
import { createLogger } from "@overworld/service";
import { describe, expect, it } from "vitest";
import { PART_BYTES, PeerFiles } from "../../services/link/src/peer-files.ts";

const log = createLogger("link", "test", "silent");

/** Ends by name, each holding some files, delivering to each other at once (as the link's reliable channel). */
function ends(holdings: Record<string, Map<string, Uint8Array>>): Map<string, PeerFiles> {
  const all = new Map<string, PeerFiles>();
  for (const [name, held] of Object.entries(holdings)) {
    all.set(
      name,
      new PeerFiles({
        sendTo: (peer, bytes) => {
          queueMicrotask(() => all.get(peer)?.receive(name, bytes));
          return all.has(peer);
        },
        upPeers: () => Object.keys(holdings).filter((other) => other !== name),
        held: (hash) => held.get(hash),
        log,
      }),
    );
  }
  return all;
}

describe("package files between linked peers", () => {
  it("come whole, in parts, from a peer that holds them, and a lying peer is passed over", async () => {
    const file = new Uint8Array(randomBytes(PART_BYTES * 2 + 100));
    const hash = sha256(file);
    const lie = new Uint8Array(file.length); // same size, other bytes, under the same hash
    const peers = ends({
      a: new Map(),
      b: new Map([[hash, lie]]),
      c: new Map([[hash, file]]),
    });
    const a = peers.get("a")!;
    const got = await a.fetch(hash, file.length);
    expect(got && Buffer.from(got).equals(Buffer.from(file))).toBe(true);
    expect(a.fetched).toBe(1);
    expect(peers.get("b")!.served).toBe(3); // asked first, its bytes refused
    expect(peers.get("c")!.served).toBe(3);
    expect(await a.fetch(sha256(new Uint8Array([1])), 1)).toBeUndefined(); // nobody holds it
  });

  it("drops answers nobody asked for, or from another peer than the one asked", async () => {
    const peers = ends({ a: new Map(), b: new Map() });
    const a = peers.get("a")!;
    const forged = encodeEnvelope({ t: "file-part", id: 1, size: 1, bytes: new Uint8Array([7]) });
    expect(a.receive("b", forged)).toBe(true); // one of its messages, dropped: nothing was asked
    const file = new Uint8Array([1, 2, 3]);
    const pending = a.fetch(sha256(file), file.length);
    a.receive("mallory", encodeEnvelope({ t: "file-part", id: 1, size: 3, bytes: file })); // asked of b, not mallory
    expect(await pending).toBeUndefined(); // b holds nothing
    expect(a.receive("b", encodeEnvelope({ t: "slot", key: "x" }))).toBe(false); // shared objects' message
    // a request with a malformed hash is answered with none
    let answer: unknown;
    const b = new PeerFiles({
      sendTo: (_peer, bytes) => {
        answer = decodeEnvelope(bytes);
        return true;
      },
      upPeers: () => [],
      held: () => new Uint8Array([1]),
      log,
    });
    b.receive("a", encodeEnvelope({ t: "file-get", id: 9, sha256: "../etc/passwd", offset: 0 }));
    expect(answer).toEqual({ t: "file-none", id: 9 });
  });
});

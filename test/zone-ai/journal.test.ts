/**
 * The zone input journal against the real NATS JetStream: acknowledged appends survive the connection
 * that made them, a replay after a snapshot returns exactly the inputs after it in order, a zone never
 * sees another zone's inputs, and snapshots are fenced.
 */
import { ZONE_CHANNEL_BASE } from "@overworld/protocol";
import type { NatsConnection } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  type JournalEntry,
  openJournal,
  type ZoneJournal,
  type ZoneRef,
} from "../../services/zone-ai/src/journal.ts";
import { connectAs } from "../support/nats.ts";
import { dropNamespaceAndJournal, namespace } from "./support.ts";

const ns = namespace("journal");
const connections: NatsConnection[] = [];
let journal: ZoneJournal;

/** A journal on a NATS connection of its own. */
async function open(): Promise<{ journal: ZoneJournal; nc: NatsConnection }> {
  const nc = await connectAs({ role: "zone-ai", channel: 1_000_000 }, ns.root);
  connections.push(nc);
  return { journal: await openJournal(nc, { root: ns.root }), nc };
}

async function all(entries: AsyncIterable<JournalEntry>): Promise<{ seq: number; text: string }[]> {
  const read: { seq: number; text: string }[] = [];
  for await (const { seq, input } of entries) read.push({ seq, text: new TextDecoder().decode(input) });
  return read;
}

const bytes = (text: string) => new TextEncoder().encode(text);

beforeAll(async () => {
  ({ journal } = await open());
});

afterAll(async () => {
  for (const nc of connections) await nc.close().catch(() => {});
  await dropNamespaceAndJournal(ns);
});

/** A zone channel per test zone (the journal's subjects are zone channels'). */
const ch = (zone: ZoneRef) => ZONE_CHANNEL_BASE + zone.parentId * 1000 + zone.zoneId;

describe("zone journal", () => {
  it("keeps acknowledged appends: a new connection replays them all, in order", async () => {
    const zone: ZoneRef = { parentId: 4000, zoneId: 1 };
    const writer = await open();
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push(await writer.journal.append(ch(zone), bytes(`move ${i}`)));
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
    await writer.nc.close();

    const reader = await open();
    expect(await all(reader.journal.replay(ch(zone)))).toEqual(
      seqs.map((seq, i) => ({ seq, text: `move ${i}` })),
    );
    expect(await reader.journal.lastSeq(ch(zone))).toBe(seqs.at(-1));
  });

  it("replays exactly the inputs after a snapshot, in order, and only the zone's own", async () => {
    const boss: ZoneRef = { parentId: 4000, zoneId: 12 };
    // Zones whose subjects share prefixes with the boss zone's, interleaved with it.
    const others: ZoneRef[] = [
      { parentId: 4000, zoneId: 1 },
      { parentId: 4000, zoneId: 120 },
      { parentId: 40001, zoneId: 2 },
    ];
    const appended: { seq: number; text: string }[] = [];
    for (let i = 0; i < 12; i++) {
      const text = `hit ${i}`;
      appended.push({ seq: await journal.append(ch(boss), bytes(text)), text });
      await journal.append(ch(others[i % others.length]!), bytes(`elsewhere ${i}`));
    }
    const snapshotSeq = appended[4]!.seq;
    expect(await journal.saveSnapshot(boss, { seq: snapshotSeq, state: bytes("hp=95"), token: 1 })).toBe(
      true,
    );

    // As a replica taking the zone over would: a new connection, the snapshot, then the inputs after it.
    const { journal: successor } = await open();
    const snapshot = await successor.loadSnapshot(boss);
    expect(snapshot).toEqual({ seq: snapshotSeq, token: 1, state: bytes("hp=95") });
    expect(await all(successor.replay(ch(boss), snapshot!.seq))).toEqual(appended.slice(5));
    expect(await all(successor.replay(ch(boss)))).toEqual(appended);
    for (const other of others) {
      const theirs = await all(successor.replay(ch(other)));
      expect(theirs.length).toBeGreaterThan(0);
      expect(theirs.filter(({ text }) => text.startsWith("hit"))).toEqual([]);
    }
  });

  it("replays nothing, at once, for a zone without inputs or with none after the sequence", async () => {
    const empty: ZoneRef = { parentId: 4000, zoneId: 999 };
    expect(await all(journal.replay(ch(empty)))).toEqual([]);
    const zone: ZoneRef = { parentId: 4000, zoneId: 998 };
    const seq = await journal.append(ch(zone), bytes("only"));
    expect(await all(journal.replay(ch(zone), seq))).toEqual([]);
    expect(await all(journal.replay(ch(zone), seq - 1))).toEqual([{ seq, text: "only" }]);
  });

  it("stores a retried append once, when it carries the same message id", async () => {
    const zone: ZoneRef = { parentId: 4001, zoneId: 0 };
    const first = await journal.append(ch(zone), bytes("attack"), { msgId: "client-7-input-31" });
    const retry = await journal.append(ch(zone), bytes("attack"), { msgId: "client-7-input-31" });
    expect(retry).toBe(first);
    expect(await all(journal.replay(ch(zone)))).toEqual([{ seq: first, text: "attack" }]);
  });

  it("refuses a snapshot older than the stored one: an earlier lease, or an earlier sequence", async () => {
    const zone: ZoneRef = { parentId: 4002, zoneId: 3 };
    expect(await journal.loadSnapshot(zone)).toBeUndefined();
    expect(await journal.saveSnapshot(zone, { seq: 50, token: 2, state: bytes("by the owner") })).toBe(true);
    // A former owner (token 1) waking up with a state further along cannot overwrite it...
    expect(await journal.saveSnapshot(zone, { seq: 90, token: 1, state: bytes("stale owner") })).toBe(false);
    // ...nor can the same owner go backwards.
    expect(await journal.saveSnapshot(zone, { seq: 40, token: 2, state: bytes("older") })).toBe(false);
    expect(await journal.saveSnapshot(zone, { seq: 45, token: 3, state: bytes("next owner") })).toBe(true);
    expect(await journal.loadSnapshot(zone)).toEqual({ seq: 45, token: 3, state: bytes("next owner") });
  });

  it("drops a zone's inputs up to a snapshot when compacted, leaving the rest and other zones alone", async () => {
    const zone: ZoneRef = { parentId: 4003, zoneId: 1 };
    const neighbour: ZoneRef = { parentId: 4003, zoneId: 2 };
    const seqs: number[] = [];
    for (let i = 0; i < 6; i++) {
      seqs.push(await journal.append(ch(zone), bytes(`in ${i}`)));
      await journal.append(ch(neighbour), bytes(`next door ${i}`));
    }
    expect(await journal.compact(ch(zone), seqs[2]!)).toBe(3);
    expect((await all(journal.replay(ch(zone)))).map(({ seq }) => seq)).toEqual(seqs.slice(3));
    expect(await all(journal.replay(ch(neighbour)))).toHaveLength(6);
  });

  it("refuses a channel that is not a zone channel, and a zone that is not two unsigned 32-bit integers", async () => {
    await expect(journal.append(4000, bytes("x"))).rejects.toThrow(/4000 is not a zone channel/);
    await expect(journal.loadSnapshot({ parentId: 1, zoneId: -1 })).rejects.toThrow(/zone zoneId/);
  });
});

/**
 * The zone input journal: every player input a zone accepts is appended to JetStream before it counts
 * as accepted, and the zone's state is saved now and then as a snapshot. A replica that takes a zone
 * over (its owner died) loads the last snapshot and replays the inputs after it, so no accepted input is
 * lost: an input is accepted exactly when its append was acknowledged, i.e. stored by JetStream.
 *
 * Layout (one cluster, subject root `<root>`):
 * - stream `OW_ZONES_<ROOT>` (the root upper-cased), subjects `<root>.zc.>`, on disk: the subjects of the
 *   zone channels (see ZONE_CHANNEL_BASE), one per zone, so a zone's replay reads its own inputs and
 *   nobody else's. Whatever anyone publishes to a zone channel (the state server's deliveries to the
 *   zone's AI, zone events) is stored by JetStream as it is published, before any replica sees it: an
 *   input is accepted once it is in the stream, whichever replica runs the zone, or none.
 *   Sequence numbers are the stream's: they grow across all zones, so a zone's are not consecutive.
 * - KV bucket `OW_ZONES_<ROOT>_SNAPSHOTS`, key `<parentId>.<zoneId>`: the zone's last snapshot.
 *
 * Why snapshots in a JetStream KV bucket rather than in Redis: a snapshot and the journal it cuts short
 * must be as durable as each other. The journal before a snapshot may be purged (`compact`); a snapshot
 * kept in Redis (in memory, saved to disk now and then) could be lost in a Redis restart after the
 * inputs before it were purged from JetStream (on disk), and the zone would restart from nothing. In the
 * same JetStream both live and die together, and a snapshot costs Redis no memory. The price is
 * NATS's largest message (1 MiB by default, `max_payload`) as the largest snapshot.
 *
 * Snapshots are fenced: each carries the fencing token of the zone lease under which it was taken
 * (zone-leases.ts), and one older than the stored one (smaller token, or same token and smaller
 * sequence) is refused, so a former owner waking from a freeze cannot overwrite its successor's.
 */

import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { decodeEnvelope, encodeEnvelope, isZoneChannel, SUBJECT_ROOT, subjects } from "@overworld/protocol";
import { ensureStream, type NatsConnection, streamReplicas } from "@overworld/service";

/** Inputs older than this are dropped by JetStream: a zone must be snapshotted more often than this. */
export const DEFAULT_JOURNAL_MAX_AGE_MS = 24 * 60 * 60 * 1000;
const NANOS_PER_MS = 1_000_000;
/** Messages a replay asks for at a time: 100 (the client's default) replays ~15k inputs/s, this ~120k. */
const REPLAY_BATCH = 1024;
/** Attempts of a snapshot's compare-and-set before giving up (only concurrent writers need more than one). */
const SNAPSHOT_ATTEMPTS = 3;

/** A zone: the location `(parentId, zoneId)` of the zone graph. */
export interface ZoneRef {
  parentId: number;
  zoneId: number;
}

export interface JournalEntry {
  /** The input's sequence number in the journal's stream. */
  seq: number;
  input: Uint8Array;
}

export interface FollowedEntry {
  readonly seq: number;
  /** When JetStream stored it, in ms. */
  readonly time: number;
  readonly data: Uint8Array;
}

export interface Snapshot {
  /** The journal sequence of the last input the state includes: replay resumes after it. */
  seq: number;
  state: Uint8Array;
  /** The fencing token of the zone lease under which the state was computed (default 0). */
  token?: number;
}

export interface JournalOptions {
  /** Subject root of the cluster (default `ow`). */
  root?: string;
  /** How long JetStream keeps an input (default a day); applies when this call creates the stream. */
  maxAgeMs?: number;
  /** Replicas of the stream and the snapshot bucket when this call makes them (default: streams.ts). */
  replicas?: number;
}

/** The journal stream of a cluster root. */
export function journalStream(root: string = SUBJECT_ROOT): string {
  return `OW_ZONES_${subjects(root).root.toUpperCase()}`;
}

/** The KV bucket of a cluster root's snapshots (its stream is `KV_<bucket>`). */
export function snapshotBucket(root: string = SUBJECT_ROOT): string {
  return `${journalStream(root)}_SNAPSHOTS`;
}

/** Opens the journal of a cluster, creating its stream and snapshot bucket if they are missing. */
export async function openJournal(nc: NatsConnection, options: JournalOptions = {}): Promise<ZoneJournal> {
  const root = options.root ?? SUBJECT_ROOT;
  const stream = journalStream(root);
  const replicas = streamReplicas(nc, options.replicas);
  await ensureStream(nc, {
    name: stream,
    subjects: [subjects(root).zoneChannels],
    maxAgeMs: options.maxAgeMs ?? DEFAULT_JOURNAL_MAX_AGE_MS,
    replicas,
  });
  const kv = await new Kvm(nc).create(snapshotBucket(root), { history: 1, storage: "file", replicas });
  const jsm = await jetstreamManager(nc);
  return new ZoneJournal(root, stream, jetstream(nc), jsm, kv);
}

export class ZoneJournal {
  constructor(
    readonly root: string,
    readonly stream: string,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
  ) {}

  /** The subject of a zone's inputs: its zone channel's. */
  subject(channel: number): string {
    if (!isZoneChannel(channel)) throw new RangeError(`${channel} is not a zone channel`);
    return subjects(this.root).participant(channel);
  }

  /**
   * Appends an input and resolves with its sequence number once JetStream has stored it: only then is
   * the input accepted. `msgId` makes a retried append harmless: JetStream keeps the first within its
   * duplicate window (2 minutes) and answers a repeat with the first one's sequence number.
   */
  async append(channel: number, input: Uint8Array, options: { msgId?: string } = {}): Promise<number> {
    const ack = await this.js.publish(this.subject(channel), input, {
      expect: { streamName: this.stream },
      ...(options.msgId ? { msgID: options.msgId } : {}),
    });
    return ack.seq;
  }

  /** The sequence number of a zone's last input, 0 when it has none. */
  async lastSeq(channel: number): Promise<number> {
    const last = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(channel) });
    return last?.seq ?? 0;
  }

  /**
   * A zone's inputs after `afterSeq`, in order, up to its last input when the replay starts (inputs
   * appended meanwhile are not waited for: read them from a live consumer starting after the last
   * sequence replayed).
   */
  async *replay(channel: number, afterSeq = 0): AsyncGenerator<JournalEntry> {
    const last = await this.lastSeq(channel);
    if (last <= afterSeq) return;
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subject(channel),
      opt_start_seq: afterSeq + 1,
    });
    if ((await consumer.info()).num_pending === 0) return; // what was there was purged meanwhile
    const messages = await consumer.consume({ max_messages: REPLAY_BATCH });
    try {
      for await (const message of messages) {
        yield { seq: message.seq, input: message.data };
        if (message.seq >= last || message.info.pending === 0) break;
      }
    } finally {
      messages.stop();
    }
  }

  /**
   * Follows a zone's inputs after `afterSeq`: those stored already, then each new one as it is stored,
   * in order, until the returned stop is called. (An ordered consumer: it recreates itself after a gap.)
   */
  async follow(
    channel: number,
    afterSeq: number,
    onEntry: (entry: FollowedEntry) => void,
  ): Promise<() => void> {
    const consumer = await this.js.consumers.get(this.stream, {
      filter_subjects: this.subject(channel),
      opt_start_seq: afterSeq + 1,
    });
    const messages = await consumer.consume({ max_messages: REPLAY_BATCH });
    void (async () => {
      for await (const message of messages) {
        onEntry({
          seq: message.seq,
          time: Math.floor(message.info.timestampNanos / NANOS_PER_MS),
          data: message.data,
        });
      }
    })().catch(() => undefined); // ends when stopped or when the connection closes
    return () => void messages.stop();
  }

  /**
   * Stores a zone's snapshot unless a newer one is stored (see the module's doc); true when stored,
   * false when refused as older than the stored one.
   */
  async saveSnapshot(zone: ZoneRef, snapshot: Snapshot): Promise<boolean> {
    const key = zoneToken(zone);
    const incoming = { seq: snapshot.seq, token: snapshot.token ?? 0, state: snapshot.state };
    const bytes = encodeEnvelope(incoming);
    let lastError: unknown;
    for (let attempt = 0; attempt < SNAPSHOT_ATTEMPTS; attempt++) {
      const entry = await this.kv.get(key);
      const stored = entry?.operation === "PUT" ? decodeSnapshot(entry.value) : undefined;
      if (stored && isOlder(incoming, stored)) return false;
      try {
        if (entry) await this.kv.update(key, bytes, entry.revision);
        else await this.kv.create(key, bytes);
        return true;
      } catch (error) {
        lastError = error; // another writer came in between (or the answer was lost): look again
      }
    }
    throw new Error(
      `cannot store the snapshot of zone ${key} at seq ${snapshot.seq} in ${snapshotBucket(this.root)} after ${SNAPSHOT_ATTEMPTS} attempts: ${(lastError as Error).message}`,
    );
  }

  /** A zone's last snapshot, if it has one. */
  async loadSnapshot(zone: ZoneRef): Promise<Required<Snapshot> | undefined> {
    const entry = await this.kv.get(zoneToken(zone));
    return entry?.operation === "PUT" ? decodeSnapshot(entry.value) : undefined;
  }

  /**
   * Drops everything a zone left in JetStream, for a zone that is gone for good (a closed instance's):
   * its inputs and its snapshot (the KV bucket's messages for its key, markers included).
   */
  async forget(zone: ZoneRef, channel: number): Promise<void> {
    await this.jsm.streams.purge(this.stream, { filter: this.subject(channel) });
    await this.jsm.streams.purge(`KV_${snapshotBucket(this.root)}`, {
      filter: `$KV.${snapshotBucket(this.root)}.${zoneToken(zone)}`,
    });
  }

  /**
   * Drops a zone's inputs up to and including `throughSeq` (those a stored snapshot already includes);
   * returns how many were dropped. Other zones' inputs are untouched.
   */
  async compact(channel: number, throughSeq: number): Promise<number> {
    const purged = await this.jsm.streams.purge(this.stream, {
      filter: this.subject(channel),
      seq: throughSeq + 1,
    });
    return purged.purged;
  }
}

/** `<parentId>.<zoneId>`, both unsigned 32-bit integers (a zone id may be 0). */
function zoneToken({ parentId, zoneId }: ZoneRef): string {
  for (const [name, value] of [
    ["parentId", parentId],
    ["zoneId", zoneId],
  ] as const) {
    if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
      throw new RangeError(`zone ${name} must be an unsigned 32-bit integer, got ${value}`);
    }
  }
  return `${parentId}.${zoneId}`;
}

function decodeSnapshot(value: Uint8Array): Required<Snapshot> {
  const decoded = decodeEnvelope(value) as { seq: number; token: number; state: Uint8Array };
  return { seq: decoded.seq, token: decoded.token, state: new Uint8Array(decoded.state) };
}

/** Older: taken under an earlier lease, or under the same lease at an earlier sequence. */
function isOlder(incoming: { seq: number; token: number }, stored: { seq: number; token: number }): boolean {
  return incoming.token < stored.token || (incoming.token === stored.token && incoming.seq < stored.seq);
}

/**
 * Channels and their NATS subjects. A channel is an address messages are published to, as in Astron:
 * every object has one (its doId), every location (parent, zone) has one, and every participant
 * (an AI replica, a client session, a service instance) gets a numbered channel of its own.
 *
 * Subjects are short because every message carries one: `<root>.o.<doId>`, `<root>.l.<parent>.<zone>`,
 * `<root>.c.<channel>`, `<root>.a.<accountId>`. Services listen on `<root>.<service>.<operation>` with a queue group per
 * service, so any number of replicas share the work. The root is `ow` unless a cluster (or a test)
 * picks its own: `subjects(root)` gives every subject under it; the free functions below use `ow`.
 */

/** The default prefix of every Overworld subject; one NATS server can host several clusters with different prefixes. */
export const SUBJECT_ROOT = "ow";

/** doIds and participant channels are unsigned 32-bit numbers; 0 means "none". */
export const NO_CHANNEL = 0;
export const MAX_ID = 0xffff_ffff;

/**
 * Channels from here up are *zone channels*: the AI channel of one zone of the zone graph, the same
 * whichever zone-AI replica runs the zone. Their subjects are `<root>.zc.<channel>`, which the zone
 * journal (a JetStream stream over `<root>.zc.>`) stores as they are published, so that nothing sent to a
 * zone is lost when the replica running it dies. The director's id counters stay below this.
 */
export const ZONE_CHANNEL_BASE = 0xf000_0000;

export function isZoneChannel(channel: number): boolean {
  return channel >= ZONE_CHANNEL_BASE && channel <= MAX_ID;
}

/** JetStream stream of the cluster event log (its default name). */
export const EVENT_STREAM = "OW_EVENTS";

/** A root is one subject token: no dots, spaces or wildcards. */
const ROOT_TOKEN = /^[A-Za-z0-9_-]+$/;

/** md: message director, ss: state server, db: db fields, game: game logic (zone AI) that serves clients. */
export type ServiceName = "md" | "ss" | "db" | "game";

export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= MAX_ID;
}

/** Every subject of one cluster, under its root. Get one with `subjects(root)`. */
export interface Subjects {
  /** The first token of every subject of this cluster. */
  readonly root: string;
  /** Messages to an object (its AI and owner listen for what concerns it). */
  object(doId: number): string;
  /** Everything visible that happens in one zone of one parent: entries, exits, broadcast updates. */
  location(parentId: number, zoneId: number): string;
  /** All zones of one parent (for subscribers that want a whole parent). */
  parent(parentId: number): string;
  /** A participant's own channel: an AI replica, a client session, a service instance, a zone. */
  participant(channel: number): string;
  /**
   * An account's sessions: every client agent holding a session of the account listens here, so that a
   * newer session elsewhere can end the older ones (`messages.endSessions`).
   */
  account(accountId: number): string;
  /** Every zone channel's subject (the zone journal's stream covers it). */
  readonly zoneChannels: string;
  /** The subject a service's replicas share (as a queue group) for one operation. */
  service(service: ServiceName, operation: string): string;
  /** The queue group replicas of a service join, so each request is handled by exactly one of them. */
  queue(service: ServiceName): string;
  /** The event-log subject of one kind of event; `event(">")` covers them all. */
  event(kind: string): string;
}

/** The subjects of the cluster whose subjects start with `root` (default `ow`). */
export function subjects(root: string = SUBJECT_ROOT): Subjects {
  if (!ROOT_TOKEN.test(root)) {
    throw new RangeError(
      `subject root ${JSON.stringify(root)} must be one subject token: letters, digits, '_' and '-' only`,
    );
  }
  return Object.freeze({
    root,
    object: (doId: number) => `${root}.o.${doId}`,
    location: (parentId: number, zoneId: number) => `${root}.l.${parentId}.${zoneId}`,
    parent: (parentId: number) => `${root}.l.${parentId}.*`,
    participant: (channel: number) =>
      isZoneChannel(channel) ? `${root}.zc.${channel}` : `${root}.c.${channel}`,
    account: (accountId: number) => `${root}.a.${accountId}`,
    zoneChannels: `${root}.zc.>`,
    service: (service: ServiceName, operation: string) => `${root}.${service}.${operation}`,
    queue: (service: ServiceName) => `${root}-${service}`,
    event: (kind: string) => `${root}.events.${kind}`,
  });
}

/** The subjects under the default root `ow`. */
export const DEFAULT_SUBJECTS: Subjects = subjects(SUBJECT_ROOT);

// The subjects under the default root, as free functions for callers that do not pick a root.

export function objectSubject(doId: number): string {
  return DEFAULT_SUBJECTS.object(doId);
}

export function locationSubject(parentId: number, zoneId: number): string {
  return DEFAULT_SUBJECTS.location(parentId, zoneId);
}

export function parentWildcard(parentId: number): string {
  return DEFAULT_SUBJECTS.parent(parentId);
}

export function participantSubject(channel: number): string {
  return DEFAULT_SUBJECTS.participant(channel);
}

export function serviceSubject(service: ServiceName, operation: string): string {
  return DEFAULT_SUBJECTS.service(service, operation);
}

export function serviceQueue(service: ServiceName): string {
  return DEFAULT_SUBJECTS.queue(service);
}

export function eventSubject(kind: string): string {
  return DEFAULT_SUBJECTS.event(kind);
}

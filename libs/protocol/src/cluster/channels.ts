/**
 * Channels and their NATS subjects. A channel is an address messages are published to, as in Astron:
 * every location (parent, zone) has one, and every participant (an AI replica, a client session, a
 * service instance, a zone) gets a numbered channel of its own.
 *
 * Subjects are short because every message carries one: `<root>.l.<parent>.<zone>`, `<root>.c.<channel>`,
 * `<root>.zc.<channel>`. A request to a service says who sends it *in its subject*:
 * `<root>.<service>.<operation>.<role>.<channel>`; the service's replicas share
 * `<root>.<service>.<operation>.*.*` as a queue group. NATS does not tell a subscriber who published, but
 * it does enforce who may publish on which subject: each instance's credentials allow it only subjects
 * that end in its own role and channel (see catalogue.ts), so the identity a receiver reads from the
 * subject cannot be forged. The root is `ow` unless a cluster (or a test) picks its own.
 */
import { ROLES, type Role } from "./roles.ts";

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

/**
 * md: message director, ss: state server, db: db fields, game: game logic (zone AI) that serves clients,
 * ca: the client agents, asked all at once (each answers for its own clients), zai: the zone-AI replicas,
 * asked all at once by operators (a plugin version swap), lk: the cluster's link ends (plugin messages out
 * of the cluster: to linked clusters and to main).
 */
export type ServiceName = "md" | "ss" | "db" | "game" | "ca" | "zai" | "lk";

export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= MAX_ID;
}

/** Who sent a message: the sender's role and participant channel, as its subject says. */
export interface Identity {
  readonly role: Role;
  readonly channel: number;
}

/** Every subject of one cluster, under its root. Get one with `subjects(root)`. */
export interface Subjects {
  /** The first token of every subject of this cluster. */
  readonly root: string;
  /** Everything visible that happens in one zone of one parent: entries, exits, broadcast updates. */
  location(parentId: number, zoneId: number): string;
  /** A participant's own channel: an AI replica, a client session, a service instance, a zone. */
  participant(channel: number): string;
  /** Every zone channel's subject (the zone journal's stream covers it). */
  readonly zoneChannels: string;
  /**
   * An account's sessions: every client agent holding a session of the account listens here, so that a
   * newer session elsewhere can end the older ones (`messages.endSessions`).
   */
  account(accountId: number): string;
  /** A request to a service's operation, from `from` (the only subject its credentials let it send on). */
  service(service: ServiceName, operation: string, from: Identity): string;
  /** What the service's replicas subscribe to for one operation: every sender's subject of it. */
  served(service: ServiceName, operation: string): string;
  /** Every instance of one role's subject of one operation. */
  sentBy(service: ServiceName, operation: string, role: Role): string;
  /** The queue group replicas of a service join, so each request is handled by exactly one of them. */
  queue(service: ServiceName): string;
  /** A join request of a role: the only director operation a participant sends before it has a channel. */
  join(role: Role | "*"): string;
  /** The event-log subject of one kind of event appended by `from`. */
  event(from: Identity, kind: string): string;
  /** The event-log subjects of one kind (`>` for all, or ending in `>`), whoever appended them. */
  events(kind: string): string;
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
    location: (parentId: number, zoneId: number) => `${root}.l.${parentId}.${zoneId}`,
    participant: (channel: number) =>
      isZoneChannel(channel) ? `${root}.zc.${channel}` : `${root}.c.${channel}`,
    zoneChannels: `${root}.zc.>`,
    account: (accountId: number) => `${root}.a.${accountId}`,
    service: (service: ServiceName, operation: string, from: Identity) =>
      `${root}.${service}.${operation}.${from.role}.${from.channel}`,
    served: (service: ServiceName, operation: string) => `${root}.${service}.${operation}.*.*`,
    sentBy: (service: ServiceName, operation: string, role: Role) =>
      `${root}.${service}.${operation}.${role}.*`,
    queue: (service: ServiceName) => `${root}-${service}`,
    join: (role: Role | "*") => `${root}.md.join.${role}`,
    event: (from: Identity, kind: string) => `${root}.events.${from.role}.${from.channel}.${kind}`,
    events: (kind: string) => `${root}.events.*.*.${kind}`,
  });
}

const ROLE_SET: ReadonlySet<string> = new Set(ROLES);

/**
 * The sender a subject names in its last two tokens (`...<role>.<channel>`), or undefined when they are
 * not a role and a channel. Only meaningful on subjects whose publishers are bound to their identity by
 * their credentials: the service requests and the event log.
 */
export function senderOf(subject: string): Identity | undefined {
  const tokens = subject.split(".");
  const role = tokens[tokens.length - 2];
  const channel = Number(tokens[tokens.length - 1]);
  if (role === undefined || !ROLE_SET.has(role) || !isId(channel)) return undefined;
  return { role: role as Role, channel };
}

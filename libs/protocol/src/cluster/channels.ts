/**
 * Channels and their NATS subjects. A channel is an address messages are published to, as in Astron:
 * every object has one (its doId), every location (parent, zone) has one, and every participant
 * (an AI replica, a client session, a service instance) gets a numbered channel of its own.
 *
 * Subjects are short because every message carries one: `ow.o.<doId>`, `ow.l.<parent>.<zone>`,
 * `ow.c.<channel>`. Services listen on `ow.<service>.<operation>` with a queue group per service, so
 * any number of replicas share the work.
 */

/** The prefix of every Overworld subject; one NATS server can host several clusters with different prefixes. */
export const SUBJECT_ROOT = "ow";

/** doIds and participant channels are unsigned 32-bit numbers; 0 means "none". */
export const NO_CHANNEL = 0;
export const MAX_ID = 0xffff_ffff;

export function isId(value: unknown): value is number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 && value <= MAX_ID;
}

/** Messages to an object (its AI and owner listen for what concerns it). */
export function objectSubject(doId: number): string {
  return `${SUBJECT_ROOT}.o.${doId}`;
}

/** Everything visible that happens in one zone of one parent: entries, exits, broadcast updates. */
export function locationSubject(parentId: number, zoneId: number): string {
  return `${SUBJECT_ROOT}.l.${parentId}.${zoneId}`;
}

/** All zones of one parent (for subscribers that want a whole parent). */
export function parentWildcard(parentId: number): string {
  return `${SUBJECT_ROOT}.l.${parentId}.*`;
}

/** A participant's own channel: an AI replica, a client session, a service instance. */
export function participantSubject(channel: number): string {
  return `${SUBJECT_ROOT}.c.${channel}`;
}

/** The subject a service's replicas share (as a queue group) for one operation. */
export function serviceSubject(service: ServiceName, operation: string): string {
  return `${SUBJECT_ROOT}.${service}.${operation}`;
}

export type ServiceName = "md" | "ss" | "db";

/** The queue group replicas of a service join, so each request is handled by exactly one of them. */
export function serviceQueue(service: ServiceName): string {
  return `${SUBJECT_ROOT}-${service}`;
}

/** JetStream subjects of the cluster event log. */
export const EVENT_STREAM = "OW_EVENTS";
export function eventSubject(kind: string): string {
  return `${SUBJECT_ROOT}.events.${kind}`;
}

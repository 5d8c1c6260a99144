import {
  locationSubject,
  participantSubject,
  type ServiceName,
  SUBJECT_ROOT,
  serviceQueue,
  serviceSubject,
} from "@overworld/protocol";

/**
 * The subjects the state server uses, under a configurable root. The formats are those of the
 * protocol's channel functions; only their first token changes, so a test (or a second cluster on the
 * same NATS) can run under a root of its own.
 */
export class Subjects {
  constructor(readonly root: string = SUBJECT_ROOT) {}

  location(parentId: number, zoneId: number): string {
    return this.reroot(locationSubject(parentId, zoneId));
  }

  participant(channel: number): string {
    return this.reroot(participantSubject(channel));
  }

  service(service: ServiceName, operation: string): string {
    return this.reroot(serviceSubject(service, operation));
  }

  queue(service: ServiceName): string {
    return this.reroot(serviceQueue(service));
  }

  private reroot(subject: string): string {
    if (this.root === SUBJECT_ROOT) return subject;
    return this.root + subject.slice(SUBJECT_ROOT.length);
  }
}

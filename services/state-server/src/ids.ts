/**
 * Where new doIds come from. The state server takes them from the message director's allocator
 * (`Participant.nextDoId`), which hands out ranges that never repeat across replicas and
 * restarts; tests may stand something else behind this interface.
 */
export interface IdSource {
  /** A doId never handed out before (by any replica sharing the source). */
  next(): Promise<number>;
}

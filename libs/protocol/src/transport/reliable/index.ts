export { DEFAULT_RELIABLE_CONFIG, type ReliableConfig, resolveReliableConfig } from "./config.ts";
export { DROP_REASONS, type DropReason, emptyDropCounts } from "./drop-reason.ts";
export {
  type DeliveredMessage,
  type ReceiveResult,
  ReliableEndpoint,
  type ReliableStats,
} from "./endpoint.ts";
export { isSequenceNewer, sequenceDistance } from "./sequence.ts";
export type { UnreliableKey, UnreliableTag } from "./unreliable-queue.ts";

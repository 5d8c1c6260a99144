/** The bots' transport counters (their reliable layer's), summed over bots and over threads. */
import type { reliable } from "@overworld/protocol";

/** Sums of the bots' connection counters (bot to agent direction unless said). */
export interface TransportSum {
  packetsSent: number;
  packetsAcked: number;
  packetsReceived: number;
  bytesSent: number;
  bytesReceived: number;
  /** Reliable message parts sent again for want of an ack in time. */
  partsResent: number;
  /** Sent packets never acknowledged (still in flight excluded): an upper bound on lost ones. */
  unacknowledged: number;
  /** Received packets the bots' endpoints dropped (bad, duplicate, stale), all reasons. */
  receivedDropped: number;
}

export function emptyTransport(): TransportSum {
  return {
    packetsSent: 0,
    packetsAcked: 0,
    packetsReceived: 0,
    bytesSent: 0,
    bytesReceived: 0,
    partsResent: 0,
    unacknowledged: 0,
    receivedDropped: 0,
  };
}

/** Adds one connection's counters to a running sum. */
export function addTransport(sum: TransportSum, stats: reliable.ReliableStats): void {
  sum.packetsSent += stats.packetsSent;
  sum.packetsAcked += stats.packetsAcked;
  sum.packetsReceived += stats.packetsReceived;
  sum.bytesSent += stats.bytesSent;
  sum.bytesReceived += stats.bytesReceived;
  sum.partsResent += stats.partsResent;
  sum.unacknowledged += Math.max(0, stats.packetsSent - stats.packetsAcked - stats.packetsInFlight);
  for (const count of Object.values(stats.dropped)) sum.receivedDropped += count;
}

/** Several sums (of several threads' bots) as one. */
export function mergeTransport(all: readonly TransportSum[]): TransportSum {
  const merged = emptyTransport();
  for (const sum of all) {
    for (const key of Object.keys(merged) as (keyof TransportSum)[]) merged[key] += sum[key];
  }
  return merged;
}

/**
 * What the zone-AI tests share: an isolated namespace per test file (subject root, Redis prefix), its
 * clean-up, and small waiting helpers.
 */
import { journalStream, snapshotBucket } from "../../services/zone-ai/src/journal.ts";
import { deleteStreams, dropRedisKeys } from "../support/cleanup.ts";
import { NATS_URL, REDIS_URL } from "../support/services.ts";

export interface Namespace {
  /** Subject root: the journal's stream is `OW_ZONES_<ROOT>`, its subjects `<root>.zj.>`. */
  root: string;
  /** Redis key prefix. */
  prefix: string;
}

export function namespace(name: string): Namespace {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  return { root: `owt${tag}`, prefix: `owt:${tag}:` };
}

/** Deletes the namespace's Redis keys and the JetStream streams whose names are given. */
export async function dropNamespace(ns: Namespace, streams: readonly string[] = []): Promise<void> {
  await dropRedisKeys(ns.prefix);
  await deleteStreams(streams);
}

/** Drops the namespace with the zone journal's streams under its root: the journal and its snapshots. */
export function dropNamespaceAndJournal(ns: Namespace): Promise<void> {
  return dropNamespace(ns, [journalStream(ns.root), `KV_${snapshotBucket(ns.root)}`]);
}

/** Waits until `check` holds, polling; throws naming `what` after `timeoutMs`. */
export async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(5);
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export { NATS_URL, REDIS_URL };

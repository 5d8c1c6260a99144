/**
 * What the zone-AI tests share: an isolated namespace per test file (subject root, Redis prefix), its
 * clean-up, and small waiting helpers.
 */
import { connectBus, connectRedis } from "@overworld/service";
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
  const redis = await connectRedis(REDIS_URL, "zone-ai-test-cleanup");
  try {
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${ns.prefix}*`, "COUNT", 500);
      if (keys.length > 0) await redis.del(...keys);
      cursor = next;
    } while (cursor !== "0");
  } finally {
    redis.disconnect();
  }
  if (streams.length === 0) return;
  const nc = await connectBus(NATS_URL, "zone-ai-test-cleanup");
  try {
    for (const stream of streams) {
      await nc.request(`$JS.API.STREAM.DELETE.${stream}`, undefined, { timeout: 2000 }).catch(() => {});
    }
  } finally {
    await nc.close();
  }
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

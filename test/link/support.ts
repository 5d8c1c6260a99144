/**
 * Link ends started for real in the test process (UDP on 127.0.0.1), against a main from
 * ../signaling/support.ts; their log lines are kept so tests can read what they said.
 */
import { Writable } from "node:stream";
import { encodeKey, newSeed } from "@overworld/federation";
import { type LinkEndHandle, loadLinkConfig, startLinkEnd } from "../../services/link/src/main.ts";
import type { TestMain } from "../signaling/support.ts";
import { waitFor } from "../support/wait.ts";

export interface TestLinkEnd {
  readonly name: string;
  readonly seed: Uint8Array;
  readonly handle: LinkEndHandle;
  /** Every log line so far, parsed. */
  readonly logs: Record<string, unknown>[];
  /** Messages received: peer, text. */
  readonly received: { peer: string; text: string; channel: string }[];
  stop(): Promise<void>;
}

export async function startTestLinkEnd(
  main: TestMain,
  name: string,
  options: { seed?: Uint8Array; env?: Record<string, string> } = {},
): Promise<TestLinkEnd> {
  const seed = options.seed ?? newSeed();
  const logs: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split("\n")) if (line.trim()) logs.push(JSON.parse(line));
      done();
    },
  });
  const { writeFileSync, mkdtempSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), `ow-link-${name}-`));
  writeFileSync(join(dir, "cluster.seed"), Buffer.from(seed).toString("hex"));
  const config = loadLinkConfig({
    CLUSTER_NAME: name,
    CLUSTER_KEY_FILE: join(dir, "cluster.seed"),
    SIGNALING_URL: main.url,
    SIGNALING_KEY: encodeKey(main.key.publicKey),
    LINK_UDP_HOST: "127.0.0.1",
    LINK_UDP_PORT: "0",
    HEARTBEAT_MS: "100",
    LOG_LEVEL: "info",
    ...options.env,
  });
  const handle = await startLinkEnd(config, { logDestination: destination });
  const received: TestLinkEnd["received"] = [];
  handle.onMessage((peer, bytes, channel) =>
    received.push({ peer, text: Buffer.from(bytes).toString(), channel }),
  );
  return { name, seed, handle, logs, received, stop: () => handle.stop() };
}

export function linkUp(end: TestLinkEnd, peer: string): boolean {
  return end.handle.node.status().some((link) => link.peer === peer && link.up);
}

export async function waitForLink(a: TestLinkEnd, b: TestLinkEnd, timeoutMs = 10_000): Promise<void> {
  await waitFor(() => linkUp(a, b.name) && linkUp(b, a.name), `the link ${a.name} <-> ${b.name}`, timeoutMs);
}

export async function metricsOf(end: TestLinkEnd): Promise<string> {
  return end.handle.metrics.metrics();
}

/** Log lines whose message is `msg`. */
export function logged(end: TestLinkEnd, msg: string): Record<string, unknown>[] {
  return end.logs.filter((line) => line.msg === msg);
}

/**
 * What the signaling tests share: main started for real (Postgres schema of its own per test file, UDP on
 * 127.0.0.1, free ports), clusters with fresh keys, and an operator's requests.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { encodeKey, MainClient, newSeed, type SigningKey, signingKeyFromSeed } from "@overworld/federation";
import {
  loadSignalingConfig,
  type MainPlugins,
  type SignalingHandle,
  startSignaling,
} from "../../services/signaling/src/main.ts";
import { dropSchema } from "../support/cleanup.ts";
import { DATABASE_URL } from "../support/services.ts";

export const ADMIN_TOKEN = "operator-token-0123456789";

export interface TestMain {
  readonly handle: SignalingHandle;
  readonly url: string;
  readonly key: SigningKey;
  readonly schema: string;
  readonly env: Record<string, string>;
  /** A request as the operator. */
  // biome-ignore lint/suspicious/noExplicitAny: the tests read whatever JSON main answered
  operator(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

/** A schema name for one test file: lower-case, unique per process. */
export function schemaFor(name: string): string {
  return `test_signaling_${name}_${process.pid}`;
}

export async function startMain(
  schema: string,
  extra: Record<string, string> = {},
  options: { dropFirst?: boolean; seed?: Uint8Array; mainPlugins?: MainPlugins } = {},
): Promise<TestMain> {
  if (options.dropFirst !== false) await dropSchema(schema);
  const dir = mkdtempSync(join(tmpdir(), "ow-main-"));
  const seed = options.seed ?? newSeed();
  writeFileSync(join(dir, "main.seed"), Buffer.from(seed).toString("hex"));
  writeFileSync(join(dir, "admin.token"), ADMIN_TOKEN);
  const env = {
    DATABASE_URL,
    DB_SCHEMA: schema,
    MAIN_KEY_FILE: join(dir, "main.seed"),
    ADMIN_TOKEN_FILE: join(dir, "admin.token"),
    HTTP_PORT: "0",
    HTTP_HOST: "127.0.0.1",
    UDP_PORT: "0",
    RELAY_PORT: "0",
    LOG_LEVEL: "silent",
    LIVE_MS: "3000",
    ...extra,
  };
  const handle = await startSignaling(
    loadSignalingConfig(env),
    options.mainPlugins === undefined ? {} : { mainPlugins: options.mainPlugins },
  );
  const url = `http://${env.HTTP_HOST}:${handle.port}`;
  return {
    handle,
    url,
    key: signingKeyFromSeed(seed),
    schema,
    env,
    operator: async (method, path, body) => {
      const response = await fetch(new URL(path, url), {
        method,
        headers: {
          authorization: `Bearer ${ADMIN_TOKEN}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
      const text = await response.text();
      return { status: response.status, body: text ? JSON.parse(text) : undefined };
    },
    stop: async () => {
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestCluster {
  readonly name: string;
  readonly key: SigningKey;
  readonly seed: Uint8Array;
  readonly publicKey: string;
  readonly client: MainClient;
}

export function clusterOf(main: TestMain, name: string, seed = newSeed()): TestCluster {
  const key = signingKeyFromSeed(seed);
  return {
    name,
    key,
    seed,
    publicKey: encodeKey(key.publicKey),
    client: new MainClient(main.url, name, key, main.key.publicKey),
  };
}

export async function dropMain(main: TestMain | undefined): Promise<void> {
  if (!main) return;
  await main.stop();
  await dropSchema(main.schema);
}

/**
 * Vitest's global setup: the suite runs against a NATS of its own with credentials, as a cluster runs
 * (operator mode; every participant a JWT signed by the account's signing key), on a free port with
 * JetStream in a temporary directory. The workers find it through NATS_URL and OW_TEST_NATS_TRUST (the
 * trust directory: join credentials per role, the signing key the test directors hold).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensureNatsTrust, type RunningNats, startNatsServer } from "@overworld/service";

let server: RunningNats | undefined;
let dir: string | undefined;

export async function setup(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "ow-test-nats-"));
  const port = await freePort();
  await ensureNatsTrust(dir, { host: "127.0.0.1", port });
  server = await startNatsServer(dir, { host: "127.0.0.1", port });
  process.env.NATS_URL = server.url;
  process.env.OW_TEST_NATS_TRUST = dir;
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

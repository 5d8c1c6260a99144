/**
 * The federation from the command line:
 *
 *   pnpm overworld signaling [--allow a:b,...]     main (services/signaling) as a local process
 *   pnpm overworld start --federation-demo [--bots N] [--fighters N]
 *                                                  main, two clusters (east, west) linked through it, bots
 *                                                  and boss fighters on both, the shared boss's state on both
 *
 * `pnpm overworld start --cluster NAME --signaling URL` (start.ts) runs one cluster that registers with a
 * main and links: see `clusterLayout` for what each cluster gets of its own.
 */
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { encodeKey, newSeed, signingKeyFromSeed } from "@overworld/federation";
import { CLI_ENTRY, ClusterProcesses, serviceEntry } from "../cluster-processes.ts";
import { REPO } from "../repo.ts";

/** Where the clusters' trust and keys are kept (.overworld/): the repository, or the game's project. */
const HOME = REPO ?? process.cwd();
const SIGNALING_ENTRY = serviceEntry("signaling");
const SIGNALING_DIR = resolve(HOME, ".overworld/signaling");
export const SIGNALING_HTTP_PORT = 9000;
const SIGNALING_UDP_PORT = 9001;
const SIGNALING_RELAY_PORT = 9002;
const DEMO_CLUSTERS = ["east", "west"] as const;

/** What one cluster of several on one machine gets of its own: ports, NATS, Redis keys, Postgres schemas. */
export interface ClusterLayout {
  readonly name: string | undefined;
  readonly natsPort: number;
  readonly natsTrustDir: string;
  readonly uberdogPort: number;
  readonly clientAgentUdpPort: number;
  readonly linkUdpPort: number;
  readonly firstHttpPort: number;
  /** Variables that keep this cluster's data apart (Redis prefixes, Postgres schemas), per service. */
  readonly env: (service: string) => Record<string, string>;
}

/**
 * The layout of a cluster: the one cluster of `pnpm overworld start` (no name: the defaults), or cluster
 * NAME with port offset N: NATS 4223+N (trust in .overworld/clusters/NAME/nats), uberdog 8000+N, players'
 * UDP 40000+N, the link end's UDP 41000+N, operations ports from 7100+20N, Redis keys under `ow:NAME:`,
 * Postgres schemas `ow_NAME_<service>`.
 */
export function clusterLayout(name: string | undefined, offset: number, natsPort: number): ClusterLayout {
  if (name === undefined) {
    return {
      name,
      natsPort,
      natsTrustDir: resolve(HOME, ".overworld/nats"),
      uberdogPort: 8000,
      clientAgentUdpPort: 40000,
      linkUdpPort: 41000,
      firstHttpPort: 7100,
      env: () => ({}),
    };
  }
  const sql = name.replaceAll("-", "_");
  return {
    name,
    natsPort: natsPort + offset,
    natsTrustDir: resolve(HOME, ".overworld/clusters", name, "nats"),
    uberdogPort: 8000 + offset,
    clientAgentUdpPort: 40000 + offset,
    linkUdpPort: 41000 + offset,
    firstHttpPort: 7100 + 20 * offset,
    env: (service) => ({
      CLUSTER_NAME: name,
      REDIS_PREFIX: service === "message-director" ? `ow:${name}:md:` : `ow:${name}:`,
      DB_SCHEMA: `ow_${sql}_${service.replaceAll("-", "_")}`,
      EVENT_STREAM: `OW_EVENTS_${sql.toUpperCase()}`,
    }),
  };
}

/** A cluster's key seed file (made once): every link end of the cluster holds it. */
export function clusterKeyFile(name: string): string {
  return ensureSecret(resolve(HOME, ".overworld/clusters", name, "cluster.seed"), () =>
    Buffer.from(newSeed()).toString("hex"),
  );
}

function ensureSecret(path: string, make: () => string): string {
  if (!existsSync(path)) {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, `${make()}\n`, { mode: 0o600 });
  }
  return path;
}

/** Main's key seed and the operator's token, made once in .overworld/signaling. */
function signalingSecrets(): { keyFile: string; tokenFile: string; publicKey: string; token: string } {
  const keyFile = ensureSecret(resolve(SIGNALING_DIR, "main.seed"), () =>
    Buffer.from(newSeed()).toString("hex"),
  );
  const tokenFile = ensureSecret(resolve(SIGNALING_DIR, "admin.token"), () =>
    randomBytes(24).toString("hex"),
  );
  const seed = new Uint8Array(Buffer.from(readFileSync(keyFile, "utf8").trim(), "hex"));
  return {
    keyFile,
    tokenFile,
    publicKey: encodeKey(signingKeyFromSeed(seed).publicKey),
    token: readFileSync(tokenFile, "utf8").trim(),
  };
}

/** Lets two clusters link, as the operator. */
export async function allowLink(url: string, token: string, a: string, b: string): Promise<void> {
  const response = await fetch(new URL(`/v1/policy/${a}/${b}`, url), {
    method: "PUT",
    headers: { authorization: `Bearer ${token}` },
  });
  if (response.status !== 204)
    throw new Error(`main refused to let ${a} and ${b} link: ${await response.text()}`);
}

/** Starts main under `processes`; resolves with its URL once it is healthy. */
async function launchMain(processes: ClusterProcesses): Promise<{ url: string; token: string; key: string }> {
  const secrets = signalingSecrets();
  const main = processes.launch({
    label: "signaling",
    entry: SIGNALING_ENTRY,
    env: {
      ...process.env,
      MAIN_KEY_FILE: secrets.keyFile,
      ADMIN_TOKEN_FILE: secrets.tokenFile,
      HTTP_PORT: String(SIGNALING_HTTP_PORT),
      UDP_PORT: String(SIGNALING_UDP_PORT),
      RELAY_PORT: String(SIGNALING_RELAY_PORT),
    },
    healthPort: SIGNALING_HTTP_PORT,
  });
  if (!(await processes.waitHealthy(main))) throw new Error("main (signaling) was not healthy within 30 s");
  return { url: `http://127.0.0.1:${SIGNALING_HTTP_PORT}`, token: secrets.token, key: secrets.publicKey };
}

const SIGNALING_USAGE = `usage: pnpm overworld signaling [--allow a:b,...]

Runs main (services/signaling): the directory of clusters, the link policy, link tokens, the rendezvous
for hole punching (UDP ${SIGNALING_UDP_PORT}) and the relay (UDP ${SIGNALING_RELAY_PORT}), with its REST API on
http://127.0.0.1:${SIGNALING_HTTP_PORT} (OpenAPI: /openapi.json). Its key and the operator's token are made
once in .overworld/signaling. Clusters join with: pnpm overworld start --cluster NAME --signaling URL
  --allow a:b,...    let these pairs of clusters link (the operator can change it: PUT/DELETE /v1/policy/a/b)
`;

export async function runSignalingCommand(argv: readonly string[]): Promise<number> {
  let values: { allow?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: { allow: { type: "string" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${SIGNALING_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(SIGNALING_USAGE);
    return 0;
  }
  const processes = new ClusterProcesses({
    onLine: (label, line) => process.stdout.write(`[${label}] ${line}\n`),
    onUnaskedExit: "restart",
  });
  const main = await launchMain(processes).catch(async (error: unknown) => {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    await processes.stop();
    return undefined;
  });
  if (!main) return 1;
  for (const pair of (values.allow ?? "").split(",").filter(Boolean)) {
    const [a, b] = pair.split(":");
    if (!a || !b) {
      process.stderr.write(`error: --allow takes a:b pairs, not '${pair}'\n`);
      continue;
    }
    await allowLink(main.url, main.token, a, b);
    console.log(`clusters ${a} and ${b} may link`);
  }
  console.log(`\nmain is up at ${main.url} (key ${main.key})`);
  console.log(
    `operator: curl -H "authorization: Bearer $(cat .overworld/signaling/admin.token)" ${main.url}/v1/clusters`,
  );
  console.log("press Ctrl-C to stop\n");
  await untilSignal(() => processes.stop());
  return 0;
}

const DEMO_USAGE = `usage: pnpm overworld start --federation-demo [--bots N] [--fighters N]

Runs main, two clusters (east and west, each with its own NATS, Redis keys, Postgres schemas and ports),
links them, and puts bots on both (they walk) and boss fighters on both (they hit the shared boss and print
what each cluster's boss shows: its hp and target, the same on both sides while the link is up).
  --bots N        bots walking in each cluster (default 5)
  --fighters N    players hitting the boss in each cluster (default 2)
`;

export async function runFederationDemo(argv: readonly string[]): Promise<number> {
  let values: { bots?: string; fighters?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        "federation-demo": { type: "boolean" },
        bots: { type: "string" },
        fighters: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${DEMO_USAGE}`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(DEMO_USAGE);
    return 0;
  }
  const bots = Number(values.bots ?? 5);
  const fighters = Number(values.fighters ?? 2);
  const processes = new ClusterProcesses({
    onLine: (label, line) => process.stdout.write(`[${label}] ${line}\n`),
    onUnaskedExit: "restart",
  });
  try {
    const main = await launchMain(processes);
    await allowLink(main.url, main.token, DEMO_CLUSTERS[0], DEMO_CLUSTERS[1]);
    for (const [offset, name] of DEMO_CLUSTERS.entries()) {
      const layout = clusterLayout(name, offset, 4223);
      const cluster = processes.launch({
        label: name,
        entry: CLI_ENTRY,
        args: [
          "start",
          "--cluster",
          name,
          "--signaling",
          main.url,
          "--port-offset",
          String(offset),
          "--bots",
          String(bots),
        ],
        env: { ...process.env },
      });
      // the link end starts last (director, state server, client agent and zone AI take 7100+20N .. +3)
      const ready = await waitFor(`http://127.0.0.1:${layout.firstHttpPort + 4}/healthz`, 180_000);
      if (!ready) throw new Error(`cluster ${name} did not come up; see its lines`);
      void cluster;
    }
    for (const [offset, name] of DEMO_CLUSTERS.entries()) {
      const layout = clusterLayout(name, offset, 4223);
      processes.launch({
        label: `${name}-fighters`,
        entry: CLI_ENTRY,
        args: [
          "fighters",
          "--uberdog",
          `http://127.0.0.1:${layout.uberdogPort}`,
          "--count",
          String(fighters),
          "--name",
          name,
        ],
        env: { ...process.env, CLUSTER_VERSION: process.env.CLUSTER_VERSION ?? "dev" },
      });
    }
    console.log(
      `\nfederation demo: main ${main.url}, clusters ${DEMO_CLUSTERS.join(" and ")} linked; press Ctrl-C to stop\n`,
    );
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    await processes.stop();
    return 1;
  }
  await untilSignal(() => processes.stop());
  return 0;
}

async function waitFor(url: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      await response.arrayBuffer();
      if (response.ok) return true;
    } catch {}
    await new Promise((wake) => setTimeout(wake, 500));
  }
  return false;
}

function untilSignal(stop: () => Promise<void>): Promise<void> {
  return new Promise<void>((done) => {
    let stopping = false;
    const onSignal = async () => {
      if (stopping) return;
      stopping = true;
      console.log("\nstopping");
      await stop();
      done();
    };
    process.on("SIGINT", () => void onSignal());
    process.on("SIGTERM", () => void onSignal());
  });
}

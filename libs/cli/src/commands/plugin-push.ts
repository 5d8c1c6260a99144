/**
 * Selective push from the command line, through main's operator API (services/signaling plugin-sets.ts):
 *
 *   pnpm overworld plugin push --main URL --token FILE [--servers a@1.0.0,...] [--clients b@2.0.0,...]
 *                              --to CLUSTER,... | --tag TAG | --all
 *   pnpm overworld plugin sets --main URL --token FILE     per cluster: assigned, running, refused
 */
import { readFileSync } from "node:fs";

export interface PushOptions {
  readonly main: string;
  readonly tokenFile: string;
  readonly servers: readonly string[];
  readonly clients: readonly string[];
  readonly target: { readonly to: readonly string[] } | { readonly tag: string } | { readonly all: true };
}

interface Pin {
  readonly name: string;
  readonly version: string;
}
interface SetView {
  readonly push: number;
  readonly servers: readonly Pin[];
  readonly clients: readonly Pin[];
}
interface ClusterSets {
  readonly name: string;
  readonly tags: readonly string[];
  readonly assigned: SetView | null;
  readonly running: (SetView & { readonly reportedAt: string }) | null;
  readonly refusals: readonly { package: string; refusal: string; detail: string }[];
}

/** A comma-separated list of an option, without empty entries. */
export function listOf(text: string | undefined): string[] {
  return (text ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
}

function readToken(file: string): string {
  try {
    return readFileSync(file, "utf8").trim();
  } catch {
    throw new Error(`cannot read the operator's token file ${file}`);
  }
}

async function call<T>(main: string, tokenFile: string, method: string, path: string, body?: unknown) {
  const response = await fetch(new URL(path, main), {
    method,
    headers: {
      authorization: `Bearer ${readToken(tokenFile)}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  }).catch((error: unknown) => {
    throw new Error(`main at ${main} did not answer: ${(error as Error).message}`);
  });
  const answer = (await response.json().catch(() => ({}))) as T & { reason?: string };
  if (!response.ok)
    throw new Error(`main refused it (${response.status}): ${answer.reason ?? "no reason given"}`);
  return answer;
}

const labels = (pins: readonly Pin[]) =>
  pins.length === 0 ? "none" : pins.map((pin) => `${pin.name}@${pin.version}`).join(", ");
const describeSet = (set: SetView) => `servers: ${labels(set.servers)}; clients: ${labels(set.clients)}`;

export async function pushSet(options: PushOptions): Promise<number> {
  const answer = await call<SetView & { clusters: string[] }>(
    options.main,
    options.tokenFile,
    "POST",
    "/v1/plugin-sets",
    {
      servers: options.servers,
      clients: options.clients,
      ...("all" in options.target ? {} : options.target),
    },
  );
  const whom =
    "to" in options.target
      ? options.target.to.join(", ")
      : "tag" in options.target
        ? `tag ${options.target.tag}`
        : "every cluster";
  const now = answer.clusters.length === 0 ? "no cluster yet" : answer.clusters.join(", ");
  process.stdout.write(`pushed set ${answer.push} (${describeSet(answer)}) to ${whom}: ${now}\n`);
  return 0;
}

export async function showSets(main: string, tokenFile: string): Promise<number> {
  const { clusters } = await call<{ clusters: ClusterSets[] }>(main, tokenFile, "GET", "/v1/plugin-sets");
  for (const cluster of clusters) {
    const tags = cluster.tags.length > 0 ? ` [${cluster.tags.join(", ")}]` : "";
    const assigned = cluster.assigned ? `set ${cluster.assigned.push}` : "no set";
    const running = cluster.running
      ? `runs set ${cluster.running.push} (${describeSet(cluster.running)})`
      : "has not reported";
    process.stdout.write(`${cluster.name}${tags}: assigned ${assigned}, ${running}\n`);
    for (const refusal of cluster.refusals) {
      process.stdout.write(`  refused ${refusal.package} (${refusal.refusal}): ${refusal.detail}\n`);
    }
  }
  return 0;
}

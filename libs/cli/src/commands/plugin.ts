/**
 * Plugin packages for a main operator (libs/manifest):
 *
 *   pnpm overworld plugin pack DIR [--chunk-size BYTES]        DIR/plugin.json and DIR's files -> DIR/manifest.json
 *   pnpm overworld plugin sign DIR --key FILE                  sign DIR/manifest.json with main's key (a seed file)
 *   pnpm overworld plugin verify DIR --trust FILE              check it as a cluster would
 *   pnpm overworld plugin publish DIR --main URL --token FILE  publish it through main's REST API
 *   pnpm overworld plugin key FILE                             print the public key of a seed file (made if missing)
 *   pnpm overworld plugin trust add|retire|revoke FILE KEY     keep a cluster's trust list of main keys
 *   pnpm overworld plugin push ... --to A,B | --tag T | --all  push a plugin set to clusters (plugin-push.ts)
 *   pnpm overworld plugin sets --main URL --token FILE         per cluster: assigned, running, refused
 *   pnpm overworld plugin swap --module PATH | --package DIR   swap a plugin's version on every zone-AI replica, live
 */
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { encodeKey, newSeed } from "@overworld/federation";
import {
  addKey,
  describeKey,
  readTrustList,
  retireKey,
  revokeKey,
  writeTrustList,
} from "@overworld/manifest";
import { parseCommand } from "../command-args.ts";
import {
  none,
  one,
  pack,
  publish,
  readKey,
  required,
  signPackage,
  UsageError,
  verifyDirectory,
} from "./package-verbs.ts";
import { listOf, pushSet, showSets } from "./plugin-push.ts";
import { swapOnReplicas } from "./plugin-swap.ts";

const USAGE = `usage: pnpm overworld plugin <verb> ...

  pack DIR [--chunk-size BYTES]     make DIR/manifest.json from DIR/plugin.json ({name, version, edge, entry,
                                    dependencies?, channels?, description?}) and every file under DIR
                                    (names starting with '.' left out), each with its SHA-256 and its chunks'
  sign DIR --key FILE               sign DIR/manifest.json with the key in FILE (main's: 64 hex digits, as
                                    .overworld/signaling/main.seed), after checking DIR's files against it
  verify DIR --trust FILE           check DIR as a cluster would: signature, signer in the trust list FILE,
                                    every file's hashes; exit 1 with the reason if it is refused
  publish DIR --main URL --token FILE
                                    publish DIR, signed, through main's REST API (the operator's token in FILE, as
                                    .overworld/signaling/admin.token); clusters fetch it from GET /v1/packages/NAME/VERSION
  key FILE                          print the public key of the seed in FILE (a new seed is made if FILE is missing)
  trust add FILE KEY --label TEXT [--from ISO-TIME]
                                    trust main's public KEY (base64) in the trust list FILE, for whatever it signs
                                    (or what it signs from the time on)
  trust retire FILE KEY [--at ISO-TIME]
                                    refuse what KEY signs from now (or the time) on; what it signed before holds
  trust revoke FILE KEY             refuse everything KEY ever signed (a key that may be in other hands)
  push --main URL --token FILE [--servers NAME@VERSION,...] [--clients NAME@VERSION,...]
       --to CLUSTER,... | --tag TAG | --all
                                    assign a plugin set (published packages) to the clusters named, to those
                                    of a tag, or to all; each fetches and verifies it, runs it, and tells its
                                    connected clients their client plugins
  sets --main URL --token FILE      per cluster: the set assigned, the set it runs, and what it refused
  swap --module PATH | --package DIR
                                    swap a running plugin's version on every zone-AI replica of the cluster,
                                    live (a package is verified against each replica's PLUGIN_TRUST); joins
                                    as an operator with the cluster's environment: NATS_URL, NATS_CREDS (the
                                    admin role's), DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT
`;

const OPTIONS = {
  key: { type: "string" },
  trust: { type: "string" },
  main: { type: "string" },
  token: { type: "string" },
  label: { type: "string" },
  from: { type: "string" },
  at: { type: "string" },
  "chunk-size": { type: "string" },
  servers: { type: "string" },
  clients: { type: "string" },
  to: { type: "string" },
  tag: { type: "string" },
  all: { type: "boolean" },
  module: { type: "string" },
  package: { type: "string" },
} as const;

export async function runPluginCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  try {
    const [verb, ...rest] = positionals;
    switch (verb) {
      case "pack":
        await pack("plugin", one(rest, "DIR"), values["chunk-size"]);
        return 0;
      case "sign":
        return await signPackage(one(rest, "DIR"), required(values.key, "--key FILE"));
      case "verify":
        return await verifyDirectory(one(rest, "DIR"), required(values.trust, "--trust FILE"));
      case "publish":
        return await publish(
          one(rest, "DIR"),
          required(values.main, "--main URL"),
          required(values.token, "--token FILE"),
        );
      case "key":
        return printKey(one(rest, "FILE"));
      case "trust":
        return await trust(rest, values);
      case "push": {
        none(rest, "plugin push");
        const targets = [values.to, values.tag, values.all].filter((given) => given !== undefined);
        if (targets.length !== 1)
          throw new UsageError("plugin push takes one of --to CLUSTER,..., --tag TAG, --all");
        const to = listOf(values.to);
        return await pushSet({
          main: required(values.main, "--main URL"),
          tokenFile: required(values.token, "--token FILE"),
          servers: listOf(values.servers),
          clients: listOf(values.clients),
          target:
            values.to !== undefined ? { to } : values.tag !== undefined ? { tag: values.tag } : { all: true },
        });
      }
      case "sets":
        none(rest, "plugin sets");
        return await showSets(required(values.main, "--main URL"), required(values.token, "--token FILE"));
      case "swap":
        if (rest.length > 0 || (values.module === undefined) === (values.package === undefined))
          throw new UsageError("swap takes exactly one of --module PATH and --package DIR");
        return await swapOnReplicas({ module: values.module, package: values.package });
      default:
        throw new UsageError(verb === undefined ? "a verb is needed" : `unknown verb '${verb}'`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`error: ${error.message}\n\n${USAGE}`);
      return 2;
    }
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
}

function time(value: string | undefined, option: string, otherwise = Date.now()): number {
  if (value === undefined) return otherwise;
  const at = Date.parse(value);
  if (Number.isNaN(at))
    throw new UsageError(`${option} takes an ISO time (2026-12-31T00:00:00Z), not '${value}'`);
  return at;
}

function printKey(file: string): number {
  if (!existsSync(file)) {
    mkdirSync(dirname(resolve(file)), { recursive: true });
    writeFileSync(file, `${Buffer.from(newSeed()).toString("hex")}\n`, { mode: 0o600 });
    process.stderr.write(`made a new key in ${file} (keep it secret)\n`);
  }
  process.stdout.write(`${encodeKey(readKey(file).publicKey)}\n`);
  return 0;
}

async function trust(
  rest: readonly string[],
  values: { readonly label?: string; readonly from?: string; readonly at?: string },
): Promise<number> {
  const [verb, file, key, ...extra] = rest;
  if (file === undefined || key === undefined || extra.length > 0) {
    throw new UsageError("plugin trust add|retire|revoke FILE KEY");
  }
  const list = await readTrustList(file);
  let next: typeof list;
  switch (verb) {
    case "add":
      next = addKey(list, key, required(values.label, "--label TEXT"), time(values.from, "--from", 0));
      break;
    case "retire":
      next = retireKey(list, key, time(values.at, "--at"));
      break;
    case "revoke":
      next = revokeKey(list, key);
      break;
    default:
      throw new UsageError(`plugin trust takes add, retire or revoke, not '${verb}'`);
  }
  await writeTrustList(file, next);
  const entry = next.keys.find((candidate) => candidate.key === key)!;
  const state =
    entry.revokedAt !== undefined
      ? "revoked: everything it signed is refused"
      : entry.retiredAt !== undefined
        ? `retired: what it signs from ${new Date(entry.retiredAt).toISOString()} on is refused`
        : entry.validFrom > 0
          ? `trusted for what it signs from ${new Date(entry.validFrom).toISOString()} on`
          : "trusted";
  process.stdout.write(`${describeKey(key, next)} ${state} (${file})\n`);
  return 0;
}

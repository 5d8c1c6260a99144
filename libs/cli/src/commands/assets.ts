/**
 * Asset packages (content only: textures, maps, sounds) for a main operator, the same signed, chunked
 * manifests as plugins (libs/manifest) so that clients can swarm them chunk by chunk (libs/swarm):
 *
 *   pnpm overworld assets pack DIR [--chunk-size BYTES]     DIR/asset.json and DIR's files -> DIR/manifest.json
 *   pnpm overworld assets sign DIR --key FILE               sign DIR/manifest.json with main's key
 *   pnpm overworld assets verify DIR --trust FILE           check it as a client or a cluster would
 *   pnpm overworld assets publish DIR --main URL --token FILE [--key FILE [--chunk-size BYTES]]
 *                                                           publish it through main's REST API (with --key:
 *                                                           packed and signed first, in one step)
 */
import { parseCommand } from "../command-args.ts";
import { one, pack, publish, required, signPackage, UsageError, verifyDirectory } from "./package-verbs.ts";

const USAGE = `usage: pnpm overworld assets <verb> ...

  pack DIR [--chunk-size BYTES]     make DIR/manifest.json from DIR/asset.json ({name, version, description?})
                                    and every file under DIR (names starting with '.' left out), each with its
                                    SHA-256 and its chunks' (--chunk-size, default 1 MiB: what peers swap)
  sign DIR --key FILE               sign DIR/manifest.json with the key in FILE (main's: 64 hex digits, as
                                    .overworld/signaling/main.seed), after checking DIR's files against it
  verify DIR --trust FILE           check DIR as a client would: signature, signer in the trust list FILE,
                                    every chunk's hash; exit 1 with the reason if it is refused
  publish DIR --main URL --token FILE [--key FILE [--chunk-size BYTES]]
                                    publish DIR through main's REST API (the operator's token in FILE, as
                                    .overworld/signaling/admin.token); with --key it is packed and signed
                                    first, otherwise DIR/manifest.json must be signed already
`;

const OPTIONS = {
  key: { type: "string" },
  trust: { type: "string" },
  main: { type: "string" },
  token: { type: "string" },
  "chunk-size": { type: "string" },
} as const;

export async function runAssetsCommand(argv: readonly string[]): Promise<number> {
  const parsed = parseCommand(argv, OPTIONS, USAGE);
  if (typeof parsed === "number") return parsed;
  const { values, positionals } = parsed;
  try {
    const [verb, ...rest] = positionals;
    switch (verb) {
      case "pack":
        await pack("asset", one(rest, "DIR"), values["chunk-size"]);
        return 0;
      case "sign":
        return await signPackage(one(rest, "DIR"), required(values.key, "--key FILE"));
      case "verify":
        return await verifyDirectory(one(rest, "DIR"), required(values.trust, "--trust FILE"));
      case "publish": {
        const dir = one(rest, "DIR");
        const main = required(values.main, "--main URL");
        const token = required(values.token, "--token FILE");
        if (values.key !== undefined) {
          await pack("asset", dir, values["chunk-size"]);
          await signPackage(dir, values.key);
        } else if (values["chunk-size"] !== undefined) {
          throw new UsageError("--chunk-size goes with --key (pack and sign before publishing)");
        }
        return await publish(dir, main, token);
      }
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

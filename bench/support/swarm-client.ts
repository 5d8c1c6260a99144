/**
 * One player of `pnpm bench:swarm`, a process of its own: registers, logs in and connects from its own
 * loopback address, says "ready", waits for "go" on stdin (so that every player starts within a moment of
 * the others), downloads the asset into DIR through the swarm (`downloadAsset`), then prints one JSON line
 * (ms, bytes from peers and from the server) and keeps serving the others until stdin closes.
 *
 *   node --import tsx bench/support/swarm-client.ts UBERDOG_URL NAME LOCAL_ADDRESS VERSION ASSET_DIR OUT_DIR
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { downloadAsset, login, OverworldClient, register } from "@overworld/client";
import { manifestId, parseSignedManifest } from "@overworld/manifest";
import { demo } from "../../examples/demo/schema.ts";

const [uberdog, name, localAddress, version, assetDir, outDir] = process.argv.slice(2);
if (outDir === undefined) {
  process.stderr.write("usage: swarm-client.ts UBERDOG_URL NAME LOCAL_ADDRESS VERSION ASSET_DIR OUT_DIR\n");
  process.exit(2);
}
const PASSWORD = "swarm bench password";
const signed = parseSignedManifest(
  JSON.parse(readFileSync(join(assetDir!, "manifest.json"), "utf8")),
  assetDir!,
);
await register(uberdog!, name!, PASSWORD, { localAddress: localAddress! });
const { connectToken } = await login(uberdog!, name!, PASSWORD, { localAddress: localAddress! });
const client = await OverworldClient.connect({
  token: connectToken,
  file: demo.file,
  version: version!,
  host: localAddress!,
});
const lines: string[] = [];
let wake: (() => void) | undefined;
process.stdin.setEncoding("utf8");
process.stdin.on("data", (text: string) => {
  lines.push(...text.split("\n").filter(Boolean));
  wake?.();
});
const closed = new Promise<void>((resolve) => process.stdin.on("end", resolve));
process.stdout.write("ready\n");
while (!lines.includes("go")) await new Promise<void>((resolve) => (wake = resolve));
const started = performance.now();
const download = await downloadAsset(
  client,
  { manifest: signed.manifest, id: manifestId(signed.manifest) },
  { dir: outDir, host: localAddress! },
);
await download.done;
const progress = download.progress()!;
process.stdout.write(
  `${JSON.stringify({ ms: performance.now() - started, fromPeers: progress.fromPeers, fromServer: progress.fromServer, wasted: progress.wasted })}\n`,
);
await closed;
await download.close();
await client.close();
process.exit(0);

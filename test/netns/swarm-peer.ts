/**
 * One player of the NAT swarm test, run inside a host namespace behind a NAT: a `SwarmNode` on 0.0.0.0
 * that takes the grants the test hands it (JSON lines on stdin, as ASSET_PEER would), fetches the asset into
 * OUT_DIR (or holds it all from the start) and prints JSON lines: "ready" with nothing, then, once done, its
 * connections (how each peer is reached) and where its bytes came from.
 *
 *   node --import tsx test/netns/swarm-peer.ts ID ASSET_FILE CHUNK_SIZE ASSET_ID all|none OUT_DIR
 */
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { describeBytes, type Manifest } from "@overworld/manifest";
import { ChunkSet, chunkTable, FileChunkStore, verifiedChunks } from "@overworld/swarm";
import { assetIdBytes, SwarmNode } from "@overworld/swarm/net";

const [id, file, chunkSize, assetId, holds, outDir] = process.argv.slice(2) as string[] as [
  string,
  string,
  string,
  string,
  string,
  string,
];
const bytes = new Uint8Array(readFileSync(file));
const manifest: Manifest = {
  format: 1,
  kind: "asset",
  name: "nat-asset",
  version: "1.0.0",
  chunkSize: Number(chunkSize),
  files: [describeBytes("asset.bin", bytes, Number(chunkSize))],
};
const table = chunkTable(manifest);
const store = new FileChunkStore(outDir, table);
if (holds === "all")
  for (const chunk of table.chunks)
    await store.write(chunk, bytes.subarray(chunk.offset, chunk.offset + chunk.size));
const have = holds === "all" ? ChunkSet.full(table.chunks.length) : await verifiedChunks(table, store);
const node = await SwarmNode.start({
  id,
  table,
  asset: assetIdBytes(assetId),
  store,
  have,
  host: "0.0.0.0",
  punchTimeoutMs: 1500,
});
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
createInterface({ input: process.stdin }).on("line", (line) => {
  const grant = JSON.parse(line) as Record<string, unknown>;
  node.addGrant({
    ...(grant as object),
    pair: Buffer.from(grant.pair as string, "base64"),
    asset: Buffer.from(grant.asset as string, "base64"),
    key: Buffer.from(grant.key as string, "base64"),
  } as unknown as Parameters<SwarmNode["addGrant"]>[0]);
});
print({ ready: true });
await node.done;
// stay a moment so that the last acknowledgements reach the sender, then report
await new Promise((resolve) => setTimeout(resolve, 300));
print({
  done: true,
  connections: node.connections(),
  sources: Object.fromEntries(node.download?.sources() ?? []),
});
process.stdin.on("end", () => void node.close().then(() => process.exit(0)));

/**
 * `pnpm build:web`: the browser bundles, with esbuild (ESM, for current browsers):
 * - libs/client/dist/overworld-client.js: the client library (login, OverworldClient over WebSocket, and
 *   parseDcText / defineSchema for the model: src/browser.ts), for a game's own page;
 * - examples/demo/web/dist/: the demo world's canvas client (index.html, play.js), which uberdog serves
 *   at /play/ (PLAY_DIR);
 * - services/uberdog/web/dist/: the operators' dashboard (index.html, dashboard.js), which uberdog serves
 *   at /dashboard/ (DASHBOARD_DIR).
 * `#platform` resolves to the browser's side (package.json `imports`, the `browser` condition). The build
 * fails if anything of Node (node:*, sodium-native) is left in a bundle: tree-shaking must drop it, since
 * the browser code never reaches it (@overworld/protocol is side-effect free).
 */
import { copyFileSync, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { type BuildOptions, build } from "esbuild";

const REPO = resolve(import.meta.dirname, "..");
const DEMO_WEB = resolve(REPO, "examples/demo/web");
const DASHBOARD_WEB = resolve(REPO, "services/uberdog/web");

const common: BuildOptions = {
  bundle: true,
  platform: "browser",
  format: "esm",
  target: "es2022",
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: "warning",
  // reachable only from Node's side of the client: tree-shaking must leave none of it (checked below)
  external: ["node:*", "sodium-native", "ws"],
};

const bundles: BuildOptions[] = [
  {
    ...common,
    entryPoints: [resolve(REPO, "libs/client/src/browser.ts")],
    outfile: resolve(REPO, "libs/client/dist/overworld-client.js"),
  },
  { ...common, entryPoints: [resolve(DEMO_WEB, "play.ts")], outfile: resolve(DEMO_WEB, "dist/play.js") },
  {
    ...common,
    entryPoints: [resolve(DASHBOARD_WEB, "dashboard.ts")],
    outfile: resolve(DASHBOARD_WEB, "dist/dashboard.js"),
  },
];

for (const options of bundles) {
  const result = await build(options);
  for (const [file, output] of Object.entries(result.metafile?.outputs ?? {})) {
    if (file.endsWith(".map")) continue;
    const leaked = output.imports.filter((each) => each.external).map((each) => each.path);
    if (leaked.length > 0) {
      throw new Error(`${file} imports ${leaked.join(", ")}: Node-only code reached the browser bundle`);
    }
    console.log(`built ${file} (${Math.round(output.bytes / 1024)} KiB)`);
  }
}
for (const web of [DEMO_WEB, DASHBOARD_WEB]) {
  mkdirSync(resolve(web, "dist"), { recursive: true });
  copyFileSync(resolve(web, "index.html"), resolve(web, "dist/index.html"));
}

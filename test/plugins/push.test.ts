/**
 * Selective push, end to end: a real main (signaling on Postgres) and three real clusters (message
 * director, client agent, link end with its trust list), each registered with main (pa and pb tagged `eu`,
 * pc tagged `us`), with players connected through @overworld/client.
 *
 * - A push to every cluster reaches all three: each runs the set, reports it, and its connected clients
 *   are told their client plugins (main's, plus pa's own required `emotes`).
 * - A push to the selection pa,pb, then one to the tag `eu`, changes exactly pa and pb (their running set
 *   and their clients' plugins); pc runs on, and its client hears nothing.
 * - A tampered package (a file changed in main's storage) pushed to pc, and a package pb no longer trusts
 *   (main's key revoked in pb's trust list), are refused with their named reasons: main's REST shows, per
 *   cluster, the set assigned, the set running (the previous one) and the refusal.
 * - A client that did not ask for PLUGINS in its hello (wire revision 0) gets none; a forged cluster
 *   request and an operator request without the token are refused.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { OverworldClient, type PluginsEvent } from "@overworld/client";
import { MainClient, newSeed, signBody, signingKeyFromSeed } from "@overworld/federation";
import {
  addKey,
  EMPTY_TRUST_LIST,
  fetchPackage,
  publishPackage,
  revokeKey,
  sha256,
  type TrustList,
  verifyPlugins,
} from "@overworld/manifest";
import { AgentMessageType } from "@overworld/protocol/client";
import { connectPostgres } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CLUSTER_VERSION,
  type Cluster,
  connectToken,
  dc,
  startCluster,
  TestClient,
} from "../client-agent/support.ts";
import { startTestLinkEnd, type TestLinkEnd, waitForLink } from "../link/support.ts";
import { ADMIN_TOKEN, dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { natsEnv } from "../support/nats.ts";
import { runToEnd } from "../support/run.ts";
import { DATABASE_URL } from "../support/services.ts";
import { eventually, sleep, waitFor } from "../support/wait.ts";
import { publicKeyOf, signedPlugin } from "./support.ts";

const SCHEMA = schemaFor("push");
const WAIT_MS = 15_000;

interface Site {
  readonly name: string;
  readonly cluster: Cluster;
  readonly link: TestLinkEnd;
  readonly trustFile: string;
  readonly client: OverworldClient;
  /** Every plugins event its client heard. */
  readonly heard: PluginsEvent[];
}

let main: TestMain;
const sites: Site[] = [];
const old: TestClient[] = [];
const dir = mkdtempSync(join(tmpdir(), "overworld-push-"));

const SERVER = "server-client" as const;
const CLIENT = "client-server" as const;

async function publish(
  name: string,
  version: string,
  edge: typeof SERVER | typeof CLIENT,
  body = name,
  dependencies: Record<string, string> = {},
) {
  const files = { "index.js": `export const plugin = ${JSON.stringify(`${body}@${version}`)};\n` };
  const { content, signed } = signedPlugin({ name, version, edge, files, dependencies }, main.key);
  expect((await publishPackage(main.url, ADMIN_TOKEN, content)).status).toBe(201);
  return { signed, files };
}

function writeTrust(file: string, list: TrustList): void {
  writeFileSync(file, `${JSON.stringify(list, null, 2)}\n`);
}

async function startSite(name: string, tag: string, clientPlugins = ""): Promise<Site> {
  const cluster = await startCluster(`push${name}`, {});
  const trustFile = join(dir, `${name}.trust.json`);
  writeTrust(trustFile, addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main"));
  const link = await startTestLinkEnd(main, name, {
    env: {
      ...natsEnv("link"),
      DC_FILES: cluster.env.DC_FILES!,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      CLUSTER_TAGS: tag,
      PLUGIN_TRUST_FILE: trustFile,
      PLUGIN_DIR: join(dir, `${name}-plugins`),
      PLUGIN_POLL_MS: "200",
      CLIENT_PLUGINS: clientPlugins,
    },
  });
  const client = await OverworldClient.connect({
    token: connectToken(cluster.agent),
    file: dc,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
  });
  const heard: PluginsEvent[] = [client.requiredPlugins];
  client.on("plugins", (event) => heard.push(event));
  return { name, cluster, link, trustFile, client, heard };
}

const labels = (pins: readonly { name: string; version: string }[]) =>
  pins.map((pin) => `${pin.name}@${pin.version}`);
const lastHeard = (site: Site) => labels(site.heard.at(-1)!.plugins);
const running = (site: Site) => site.link.handle.plugins!.running;

interface Pinned {
  readonly name: string;
  readonly version: string;
  readonly id: string;
}
interface SetView {
  readonly push: number;
  readonly servers: Pinned[];
  readonly clients: Pinned[];
}
/** One cluster in main's GET /v1/plugin-sets. */
interface ClusterSets {
  readonly name: string;
  readonly tags: string[];
  readonly assigned: SetView;
  readonly running: SetView & { readonly reportedAt: string };
  readonly refusals: { package: string; refusal: string; detail: string }[];
}

async function view(): Promise<{ pa: ClusterSets; pb: ClusterSets; pc: ClusterSets }> {
  const answer = await main.operator("GET", "/v1/plugin-sets");
  expect(answer.status).toBe(200);
  const byName = new Map((answer.body.clusters as ClusterSets[]).map((cluster) => [cluster.name, cluster]));
  return { pa: byName.get("pa")!, pb: byName.get("pb")!, pc: byName.get("pc")! };
}

/** A cluster's view at main once it reported a refusal. */
function refused(name: "pa" | "pb" | "pc"): Promise<ClusterSets> {
  return waitFor(
    async () => {
      const cluster = (await view())[name];
      return cluster.refusals.length > 0 ? cluster : undefined;
    },
    `${name} to report a refusal`,
    WAIT_MS,
  );
}

async function push(body: Record<string, unknown>): Promise<number> {
  const answer = await main.operator("POST", "/v1/plugin-sets", body);
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body.push as number;
}

beforeAll(async () => {
  main = await startMain(SCHEMA);
  await publish("boss-taunts", "1.0.0", SERVER);
  await publish("boss-taunts", "1.1.0", SERVER);
  await publish("hud", "1.0.0", CLIENT);
  await publish("hud", "2.0.0", CLIENT);
  await publish("hud", "2.1.0", CLIENT);
  await publish("emotes", "1.0.0", CLIENT);
  sites.push(await startSite("pa", "eu", "emotes@1.0.0"));
  sites.push(await startSite("pb", "eu"));
  sites.push(await startSite("pc", "us"));
}, 90_000);

afterAll(async () => {
  for (const client of old) await client.close().catch(() => undefined);
  for (const site of sites) {
    await site.client.close().catch(() => undefined);
    await site.link.stop().catch(() => undefined);
    await site.cluster.stop().catch(() => undefined);
  }
  await dropMain(main);
  rmSync(dir, { recursive: true, force: true });
});

describe("a plugin set pushed by main", () => {
  it("reaches exactly the clusters chosen, and their connected clients", async () => {
    const [pa, pb, pc] = sites as [Site, Site, Site];
    // before any push: a cluster's own required client plugins are in the hello already
    await eventually(() => lastHeard(pa).join() === "emotes@1.0.0", "pa's own plugins told", WAIT_MS);
    expect(labels(pb.client.requiredPlugins.plugins)).toEqual([]);

    // to every cluster
    const first = await push({ servers: ["boss-taunts@1.0.0"], clients: ["hud@1.0.0"] });
    for (const site of sites) {
      await eventually(() => running(site).push === first, `${site.name} running push ${first}`, WAIT_MS);
      await eventually(() => site.heard.at(-1)!.push === first, `${site.name}'s client told`, WAIT_MS);
      expect(labels(running(site).servers)).toEqual(["boss-taunts@1.0.0"]);
    }
    expect(lastHeard(pa)).toEqual(["emotes@1.0.0", "hud@1.0.0"]);
    expect(lastHeard(pb)).toEqual(["hud@1.0.0"]);
    expect(lastHeard(pc)).toEqual(["hud@1.0.0"]);
    const pcHeard = pc.heard.length;

    // a client without the PLUGINS feature in its hello (wire revision 0) is told nothing
    const legacy = await TestClient.helloed(pa.cluster.agent);
    old.push(legacy);

    // to a selection of two
    const second = await main.operator("POST", "/v1/plugin-sets", {
      servers: ["boss-taunts@1.1.0"],
      clients: ["hud@2.0.0"],
      to: ["pa", "pb"],
    });
    expect(second.status).toBe(201);
    expect(second.body.clusters).toEqual(["pa", "pb"]);
    for (const site of [pa, pb]) {
      await eventually(() => running(site).push === second.body.push, `${site.name} on push 2`, WAIT_MS);
      await eventually(
        () => lastHeard(site).includes("hud@2.0.0"),
        `${site.name}'s client told hud 2`,
        WAIT_MS,
      );
      expect(labels(running(site).servers)).toEqual(["boss-taunts@1.1.0"]);
    }
    expect(lastHeard(pa)).toEqual(["emotes@1.0.0", "hud@2.0.0"]);

    // to a tag: eu is pa and pb
    const third = await main.operator("POST", "/v1/plugin-sets", {
      servers: ["boss-taunts@1.1.0"],
      clients: ["hud@2.1.0"],
      tag: "eu",
    });
    expect(third.body.clusters).toEqual(["pa", "pb"]);
    for (const site of [pa, pb]) {
      await eventually(
        () => lastHeard(site).includes("hud@2.1.0"),
        `${site.name}'s client told hud 2.1`,
        WAIT_MS,
      );
      expect(running(site).push).toBe(third.body.push);
    }

    // the third cluster did not change, and its client heard nothing more
    await sleep(600); // three polls of pc
    expect(running(pc).push).toBe(first);
    expect(labels(running(pc).clients)).toEqual(["hud@1.0.0"]);
    expect(pc.heard.length).toBe(pcHeard);
    expect(lastHeard(pc)).toEqual(["hud@1.0.0"]);

    // main's REST: per cluster, what is assigned and what runs
    const sets = await view();
    expect(sets.pa.tags).toEqual(["eu"]);
    expect(labels(sets.pa.assigned.clients)).toEqual(["hud@2.1.0"]);
    expect(labels(sets.pa.running.clients)).toEqual(["emotes@1.0.0", "hud@2.1.0"]);
    expect(sets.pb.running.push).toBe(third.body.push);
    expect(sets.pc.assigned.push).toBe(first);
    expect(labels(sets.pc.running.servers)).toEqual(["boss-taunts@1.0.0"]);
    for (const cluster of [sets.pa, sets.pb, sets.pc]) expect(cluster.refusals).toEqual([]);

    // the client fetches and verifies what it was told, from main
    const trust = addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main");
    const told = pa.heard.at(-1)!.plugins;
    const fetched = await Promise.all(told.map((pin) => fetchPackage(main.url, pin.name, pin.version)));
    const verified = await verifyPlugins(fetched, { trust, side: "client" });
    expect(verified.map((plugin) => plugin.id)).toEqual(told.map((pin) => pin.id));

    // a client connecting now is told the current set in its hello
    const late = await OverworldClient.connect({
      token: connectToken(pb.cluster.agent),
      file: dc,
      version: CLUSTER_VERSION,
    });
    expect(labels(late.requiredPlugins.plugins)).toEqual(["hud@2.1.0"]);
    await late.close();

    expect(legacy.received.some((message) => message.type === AgentMessageType.Plugins)).toBe(false);
  }, 90_000);

  it("is refused whole, with a named reason reported to main, when a package is tampered or untrusted", async () => {
    const [, pb, pc] = sites as [Site, Site, Site];
    const before = (await view()).pc.running.push;
    const pcHeard = pc.heard.length;

    // a file changed in main's storage after publishing
    const { files } = await publish("hud", "3.0.0", CLIENT);
    const pool = await connectPostgres(DATABASE_URL, "test-push", 1);
    try {
      await pool.query(`UPDATE "${SCHEMA}".package_files SET bytes = $1 WHERE sha256 = $2`, [
        Buffer.from("export const plugin = process.exit(1);\n"),
        sha256(new TextEncoder().encode(files["index.js"])),
      ]);
    } finally {
      await pool.end();
    }
    const tampered = await push({ servers: ["boss-taunts@1.1.0"], clients: ["hud@3.0.0"], to: ["pc"] });
    const pcView = await refused("pc");
    expect(pcView.assigned.push).toBe(tampered);
    expect(pcView.running.push).toBe(before);
    expect(pcView.refusals).toEqual([
      {
        package: "plugin hud@3.0.0",
        refusal: "tampered",
        detail: expect.stringMatching(/^file index\.js is \d+ bytes, the manifest says \d+$/),
      },
    ]);
    expect(running(pc).push).toBe(before);
    expect(pc.heard.length).toBe(pcHeard);

    // pb's operator revokes main's key: what main pushes next is untrusted there
    writeTrust(
      pb.trustFile,
      revokeKey(addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main"), publicKeyOf(main.key)),
    );
    const pbBefore = running(pb).push;
    const untrusted = await push({ clients: ["hud@2.0.0"], to: ["pb"] });
    const pbView = await refused("pb");
    expect(pbView.assigned.push).toBe(untrusted);
    expect(pbView.running.push).toBe(pbBefore);
    expect(pbView.refusals).toEqual([
      {
        package: "plugin hud@2.0.0",
        refusal: "untrusted",
        detail: expect.stringMatching(/^signed by main \(key .+\), revoked on /),
      },
    ]);
    expect(lastHeard(pb)).toEqual(["hud@2.1.0"]);

    // a set whose dependencies cannot be met: pa refuses it whole
    const [pa] = sites as [Site];
    const paBefore = running(pa).push;
    await publish("hud-skins", "1.0.0", CLIENT, "skins", { hud: "^9.0.0" });
    const unsatisfiable = await push({ clients: ["hud@2.1.0", "hud-skins@1.0.0"], to: ["pa"] });
    const paView = await refused("pa");
    expect(paView.assigned.push).toBe(unsatisfiable);
    expect(paView.running.push).toBe(paBefore);
    expect(paView.refusals).toEqual([
      {
        package: `the plugin set of push ${unsatisfiable}`,
        refusal: "unsatisfiable",
        detail: expect.stringMatching(
          /^no version of hud satisfies every rule on it: .*\^9\.0\.0 \(hud-skins@1\.0\.0\)/,
        ),
      },
    ]);
    expect(lastHeard(pa)).toEqual(["emotes@1.0.0", "hud@2.1.0"]);
  }, 60_000);

  it("is refused to whoever is not the operator, or not the cluster", async () => {
    const answer = await fetch(new URL("/v1/plugin-sets", main.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ clients: ["hud@1.0.0"] }),
    });
    expect(answer.status).toBe(401);
    // an unpublished package, a plugin of the wrong side, an unknown cluster: named
    expect(await main.operator("POST", "/v1/plugin-sets", { clients: ["nope@1.0.0"] })).toMatchObject({
      status: 400,
      body: { reason: "nope@1.0.0 is not published on main; publish it first: overworld plugin publish DIR" },
    });
    expect(await main.operator("POST", "/v1/plugin-sets", { clients: ["boss-taunts@1.0.0"] })).toMatchObject({
      status: 400,
      body: {
        reason:
          "boss-taunts@1.0.0 is a server-client plugin, run by a server; it cannot go in the clients' set",
      },
    });
    expect(await main.operator("POST", "/v1/plugin-sets", { to: ["nowhere"] })).toMatchObject({
      status: 404,
    });
    // another key speaking for pa: its set is not told, its report not taken
    const forger = new MainClient(main.url, "pa", signingKeyFromSeed(newSeed()), main.key.publicKey);
    await expect(forger.assignedPlugins()).rejects.toMatchObject({ status: 401 });
    await expect(
      forger.reportPlugins({ push: 1, servers: [], clients: [], refusals: [] }),
    ).rejects.toMatchObject({ status: 401 });
    const stale = signBody(signingKeyFromSeed(sites[0]!.link.seed), "plugin-set", { cluster: "pa" }, 0);
    const replayed = await fetch(new URL("/v1/plugins/assigned", main.url), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(stale),
    });
    expect(replayed.status).toBe(401);
  });

  it("is pushed, and shown per cluster, with pnpm overworld plugin push and sets", async () => {
    const [, , pc] = sites as [Site, Site, Site];
    const tokenFile = join(dir, "token");
    writeFileSync(tokenFile, `${ADMIN_TOKEN}\n`);
    const cli = new URL("../../libs/cli/src/main.ts", import.meta.url).pathname;
    const overworld = (...args: string[]) =>
      runToEnd(process.execPath, [
        "--import",
        "tsx",
        cli,
        "plugin",
        ...args,
        "--main",
        main.url,
        "--token",
        tokenFile,
      ]);

    const refused = await overworld("push", "--clients", "hud@2.0.0");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^error: plugin push takes one of --to CLUSTER,\.\.\., --tag TAG, --all\n/,
    );

    const pushed = await overworld(
      "push",
      "--tag",
      "us",
      "--servers",
      "boss-taunts@1.1.0",
      "--clients",
      "hud@2.0.0",
    );
    expect(pushed.stderr).toBe("");
    const number = Number(/^pushed set (\d+) /.exec(pushed.stdout)?.[1]);
    expect(pushed.stdout).toBe(
      `pushed set ${number} (servers: boss-taunts@1.1.0; clients: hud@2.0.0) to tag us: pc\n`,
    );
    await eventually(() => running(pc).push === number, "pc on the set pushed to us", WAIT_MS);
    await eventually(() => lastHeard(pc).join() === "hud@2.0.0", "pc's client told", WAIT_MS);
    const shown = await waitFor(
      async () => {
        const run = await overworld("sets");
        return run.stdout.includes(`pc [us]: assigned set ${number}, runs set ${number}`) ? run : undefined;
      },
      "pc's report at main",
      WAIT_MS,
    );
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(
      `pc [us]: assigned set ${number}, runs set ${number} (servers: boss-taunts@1.1.0; clients: hud@2.0.0)\n`,
    );
    expect(shown.stdout).toMatch(
      /\n {2}refused plugin hud@2\.0\.0 \(untrusted\): signed by main \(key .+\), revoked on /,
    );
  }, 60_000);

  it("takes a file from a linked cluster that holds it, before main, and verifies it all the same", async () => {
    const [pa, , pc] = sites as [Site, Site, Site];
    expect((await main.operator("PUT", "/v1/policy/pa/pc")).status).toBe(204);
    await waitForLink(pa.link, pc.link);
    const { files } = await publish("maps", "1.0.0", CLIENT, "the map of the eastern marches");
    const toPa = await push({ clients: ["maps@1.0.0"], to: ["pa"] });
    await eventually(() => running(pa).push === toPa, "pa running maps", WAIT_MS);
    expect(pa.link.handle.peerFiles!.fetched).toBe(0); // pc did not hold it: from main

    // main's copy is broken now: only pa's verified copy is good
    const pool = await connectPostgres(DATABASE_URL, "test-push", 1);
    try {
      await pool.query(`UPDATE "${SCHEMA}".package_files SET bytes = $1 WHERE sha256 = $2`, [
        Buffer.from("export const plugin = 'not the map';\n"),
        sha256(new TextEncoder().encode(files["index.js"])),
      ]);
    } finally {
      await pool.end();
    }
    const toPc = await push({ clients: ["maps@1.0.0"], to: ["pc"] });
    await eventually(() => running(pc).push === toPc, "pc running maps, from pa", WAIT_MS);
    expect(pc.link.handle.peerFiles!.fetched).toBe(1);
    expect(pa.link.handle.peerFiles!.served).toBeGreaterThan(0);
    await eventually(() => lastHeard(pc).join() === "maps@1.0.0", "pc's client told maps", WAIT_MS);
    expect((await view()).pc.refusals).toEqual([]);
  }, 60_000);
});

/**
 * Hot-loading in zone AI (services/zone-ai/src/plugins/): a replica runs two plugins composed and swaps
 * one's version while players walk, with no disconnect and the zones' state carried over, version 2's
 * chat lines and NPC steps what players see from then on; a version whose start hook or migration throws
 * is refused with v1 running on; a forged switch entry changes nothing; and a zone resumed after a
 * failover from a snapshot taken before a switch replays the old code up to the switch entry and the new
 * after it, reaching the live zone's state.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { encodeKey, newSeed, signingKeyFromSeed } from "@overworld/federation";
import { addKey, EMPTY_TRUST_LIST, packDirectory, signDirectory, writeTrustList } from "@overworld/manifest";
import { decodeEnvelope, encodeEnvelope, type messages, type Role, subjects } from "@overworld/protocol";
import { gather } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import { swapOnReplicas } from "../../libs/cli/src/commands/plugin-swap.ts";
import { openJournal, snapshotBucket } from "../../services/zone-ai/src/journal.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import type { ZonePlugin } from "../../services/zone-ai/src/plugin.ts";
import { PluginSet } from "../../services/zone-ai/src/plugins/compose.ts";
import { SwapRefused } from "../../services/zone-ai/src/plugins/hot-swap.ts";
import { encodeSwitch } from "../../services/zone-ai/src/plugins/switch-entry.ts";
import type { ZoneSnapshot } from "../../services/zone-ai/src/zone-runtime.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectAs, connectOperator, natsEnv } from "../support/nats.ts";
import type { Player, PlayerCluster } from "../support/players.ts";
import { startPlayerCluster } from "../support/players.ts";
import { eventually, sleep } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { HOT_WORLD, type HotState, hotExtras, hotWorld } from "./hot-plugins.ts";
import { dropNamespaceAndJournal } from "./support.ts";

const WAIT_MS = 8000;
const ZONE = `${HOT_WORLD}.1`;
const v1 = hotWorld({ version: "1.0.0", greeting: "v1:", npcStep: 1 });
const v2 = hotWorld({ version: "1.1.0", greeting: "v2:", npcStep: 7, migrate: true });
const extras = hotExtras("^1.0.0");

let services: PlayerCluster;
let cluster: Cluster;
const handles: ZoneAiHandle[] = [];
const players: Player[] = [];
/** Disconnects and ejections any player saw. */
const troubles: string[] = [];
/** The chat lines players heard, in order. */
const heard: string[] = [];
/** The NPC of zone 1's x positions, as the first player saw them. */
const npcXs: number[] = [];

async function replica(
  plugins: ZonePlugin[] | PluginSet,
  snapshotEveryMs = 300,
  env: Record<string, string> = {},
): Promise<ZoneAiHandle> {
  const handle = await startTestZoneAi(cluster, plugins, {
    LEASE_TTL_MS: "1000",
    SNAPSHOT_EVERY_MS: String(snapshotEveryMs),
    ...env,
  });
  handles.push(handle);
  return handle;
}

function stateOf(handle: ZoneAiHandle, zone = ZONE): HotState {
  return structuredClone(handle.replica.snapshotOf(zone)!.state as HotState);
}

/** The first player says `line` and waits to hear it back, as the zone's chat. */
async function say(line: string): Promise<string> {
  const [speaker] = players;
  const before = heard.length;
  speaker!.client.sendField(speaker!.avatar.doId, "say", [line]);
  await eventually(
    () => heard.slice(before).some((text) => text.endsWith(` ${line}`)),
    `the chat of "${line}"`,
    WAIT_MS,
  );
  return heard.slice(before).find((text) => text.endsWith(` ${line}`))!;
}

/** Files the tests write: plugin packages, the replicas' trust list of main keys. */
const work = mkdtempSync(join(tmpdir(), "ow-hot-swap-"));
const mainKey = signingKeyFromSeed(newSeed());
const trustFile = join(work, "trusted-mains.json");

/** A plugin package of hot-world at `version`, signed by `key`, in a directory of its own. */
async function hotPackage(version: string, greeting: string, key = mainKey): Promise<string> {
  const dir = join(work, `hot-world-${version}`);
  mkdirSync(dir, { recursive: true });
  const fixture = pathToFileURL(join(import.meta.dirname, "hot-plugins.ts")).href;
  writeFileSync(
    join(dir, "plugin.json"),
    JSON.stringify({ name: "hot-world", version, edge: "server-server", entry: "index.mjs" }),
  );
  writeFileSync(
    join(dir, "index.mjs"),
    `import { hotWorld } from ${JSON.stringify(fixture)};\nexport const plugin = hotWorld({ version: ${JSON.stringify(version)}, greeting: ${JSON.stringify(greeting)}, npcStep: 2 });\n`,
  );
  await packDirectory(dir);
  await signDirectory(dir, key);
  return dir;
}

/** Asks every zone-AI replica to swap, as an operator (role admin) would over NATS. */
async function askSwap(
  body: messages.PluginSwap,
  role: Role = "admin",
  expected = 1,
): Promise<messages.PluginSwapReply[]> {
  const identity = { role, channel: 4_242_424 };
  const nc = await connectAs(identity, cluster.root);
  try {
    return await gather<messages.PluginSwapReply>(
      nc,
      subjects(cluster.root).service("zai", "plugin-swap", identity),
      body,
      expected,
      WAIT_MS,
    );
  } finally {
    await nc.close();
  }
}

beforeAll(async () => {
  await writeTrustList(trustFile, addKey(EMPTY_TRUST_LIST, encodeKey(mainKey.publicKey), "main"));
  services = await startPlayerCluster("zhot", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
});

afterAll(async () => {
  for (const handle of handles) await handle.stop().catch(() => undefined);
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
  rmSync(work, { recursive: true, force: true });
});

describe("hot-loading zone AI", () => {
  it("runs two plugins composed, each its own zones; refuses a set that cannot run together", async () => {
    await expect(replica([v1, hotExtras("^2.0.0")])).rejects.toThrow(
      "plugin hot-extras@1.0.0 depends on hot-world ^2.0.0, but hot-world@1.0.0 is given: run a version of hot-world in ^2.0.0",
    );
    await expect(replica([hotExtras("^1.0.0")])).rejects.toThrow(
      /depends on hot-world \^1\.0\.0, which is not among/,
    );
    const a = await replica([v1, extras]);
    await eventually(() => a.replica.zones.length === 3, "the three zones", WAIT_MS);
    expect(a.replica.codes()).toEqual({
      [`${HOT_WORLD}.1`]: "hot-world@1.0.0",
      [`${HOT_WORLD}.2`]: "hot-world@1.0.0",
      [`${HOT_WORLD}.3`]: "hot-extras@1.0.0",
    });
    for (const name of ["walker1", "walker2", "walker3"]) {
      const player = await services.join(name, {
        file: demo.file,
        version: CLUSTER_VERSION,
        heartbeatMs: 200,
        timeoutMs: WAIT_MS,
      });
      await player.client.addInterest(HOT_WORLD, [1, 2]);
      player.client.on("disconnect", ({ reason }) => troubles.push(`${name} disconnected: ${reason}`));
      player.client.on("eject", ({ code, reason }) => troubles.push(`${name} ejected ${code}: ${reason}`));
      players.push(player);
    }
    const state = stateOf(a);
    players[0]!.client.on("update", ({ object, field, value }) => {
      if (field === "chat") heard.push((value as [number, string])[1]);
      if (object.doId === state.npc && field === "setXY") npcXs.push((value as [number, number])[0]);
    });
    expect(await say("hello")).toBe("v1: hello");
  });

  it("swaps hot-world 1.0.0 for 1.1.0 while players walk: nobody drops, the state carries over, players see v2", async () => {
    const [a] = handles;
    // the players walk about zone 1 the whole time
    let steps = 0;
    const walking = setInterval(() => {
      for (const player of players) {
        const x = 5 + ((steps * 3 + player.avatar.doId) % 40);
        player.client.sendField(player.avatar.doId, "setSmXYH", [x, 25, 0, steps]);
      }
      steps += 1;
    }, 50);
    try {
      await say("before the swap");
      await eventually(() => npcXs.length >= 3, "the NPC walking", WAIT_MS);
      const stepsBefore = new Set(npcXs.slice(1).map((x, i) => (x - npcXs[i]! + 50) % 50));
      expect(stepsBefore).toEqual(new Set([1]));
      const objectsBefore = await worldObjects();
      const before = stateOf(a!);

      const report = await a!.swap(v2);
      expect(report).toMatchObject({ plugin: "hot-world", from: "hot-world@1.0.0", to: "hot-world@1.1.0" });
      expect([...report.zones].sort()).toEqual([`${HOT_WORLD}.1`, `${HOT_WORLD}.2`]);
      expect(a!.replica.codes()[ZONE]).toBe("hot-world@1.1.0");
      expect(a!.replica.codes()[`${HOT_WORLD}.3`]).toBe("hot-extras@1.0.0"); // the other plugin untouched

      const after = stateOf(a!);
      expect(after.migratedFrom).toBe("hot-world@1.0.0");
      expect(after.npc).toBe(before.npc); // the same NPC: not spawned again
      expect(after.heard).toEqual(before.heard); // what v1 heard is v2's now
      expect(after.ticks).toBeGreaterThanOrEqual(before.ticks);

      expect(await say("after the swap")).toBe("v2: after the swap");
      const seen = npcXs.length;
      await eventually(() => npcXs.length >= seen + 3, "the NPC walking on", WAIT_MS);
      const stepsAfter = npcXs
        .slice(seen)
        .map((x, i, xs) => (i === 0 ? undefined : (x - xs[i - 1]! + 50) % 50));
      expect(new Set(stepsAfter.slice(1))).toEqual(new Set([7]));
      expect(stateOf(a!).heard.at(-1)).toEqual(["hot-world@1.1.0", "after the swap"]);
      // the same objects, nobody dropped
      expect((await worldObjects()).map((object) => object.doId).sort()).toEqual(
        objectsBefore.map((object) => object.doId).sort(),
      );
    } finally {
      clearInterval(walking);
    }
    expect(troubles).toEqual([]);
  });

  it("refuses a version whose start hook throws, or whose migration throws: v1.1.0 runs on", async () => {
    const [a] = handles;
    const broken = hotWorld({ version: "1.2.0", greeting: "broken:", npcStep: 1, startThrows: true });
    const error = await a!.swap(broken).catch((problem: unknown) => problem);
    expect(error).toBeInstanceOf(SwapRefused);
    expect((error as SwapRefused).stage).toBe("start");
    expect((error as Error).message).toBe(
      "hot-world@1.2.0 refused, hot-world@1.1.0 runs on: its start threw: hot-world@1.2.0 cannot read its configuration",
    );
    const unreadable = hotWorld({ version: "1.2.1", greeting: "broken:", npcStep: 1, migrateThrows: true });
    const refused = await a!.swap(unreadable).catch((problem: unknown) => problem);
    expect((refused as SwapRefused).stage).toBe("migrate");
    expect((refused as Error).message).toMatch(
      /^hot-world@1\.2\.1 refused, hot-world@1\.1\.0 runs on: zone 2000\.[12] cannot be handed to hot-world@1\.2\.1: its migrate threw: hot-world@1\.2\.1 cannot read the state of hot-world@1\.1\.0$/,
    );
    // a major version hot-extras does not accept
    const major = hotWorld({ version: "2.0.0", greeting: "v3:", npcStep: 1 });
    await expect(a!.swap(major)).rejects.toThrow(
      "hot-world@2.0.0 refused, hot-world@1.1.0 runs on: plugin hot-extras@1.0.0 depends on hot-world ^1.0.0, but hot-world@2.0.0 is given: run a version of hot-world in ^1.0.0",
    );
    expect(a!.plugins.get("hot-world")).toBe(v2);
    expect(a!.plugins.has("hot-world@1.2.1")).toBe(false);
    expect(Object.values(a!.replica.codes()).filter((code) => code === "hot-world@1.1.0")).toHaveLength(2);
    expect(await say("still there?")).toBe("v2: still there?");
    expect(troubles).toEqual([]);
  });

  it("ignores forged switch entries: another sender's, or one naming a version not loaded", async () => {
    const [a] = handles;
    const { ai } = await cluster.ss<{ ai: number }>("get", { doId: players[0]!.avatar.doId, fieldIds: [] });
    const operator = await connectOperator("hot-swap: forged switches");
    try {
      const subject = subjects(cluster.root).participant(ai);
      const forged = { plugin: "hot-world", from: "hot-world@1.1.0", to: "hot-world@1.0.0", at: Date.now() };
      operator.publish(subject, encodeSwitch({ ...forged, sender: ai + 1 }));
      operator.publish(subject, encodeSwitch({ ...forged, sender: ai, to: "hot-world@9.9.9" }));
      operator.publish(subject, encodeEnvelope({ kind: "plugin-switch", sender: ai, to: "x" }));
      await operator.flush();
    } finally {
      await operator.close();
    }
    expect(await say("forged?")).toBe("v2: forged?");
    expect(a!.replica.codes()[ZONE]).toBe("hot-world@1.1.0");
  });

  it("replays a zone after a failover across its switch entry: 1.1.0 before it, 1.3.0 after, the live state reached", async () => {
    const [a] = handles;
    // hand the zones to a replica that stores no snapshot of its own while it runs: the last stored one
    // is the handover's, taken before the coming switch
    await a!.stop();
    handles.splice(0, 1);
    const a2 = await replica([v2, extras], 600_000);
    await eventually(() => a2.replica.zones.length === 3, "the zones on the second replica", WAIT_MS);
    expect(a2.replica.codes()[ZONE]).toBe("hot-world@1.1.0");
    const operator = await connectOperator("hot-swap: failover");
    try {
      const journal = await openJournal(operator, { root: cluster.root });
      const ref = { parentId: HOT_WORLD, zoneId: 1 };
      const stored = (await journal.loadSnapshot(ref))!;
      const storedZone = decodeEnvelope(stored.state) as ZoneSnapshot;
      expect(storedZone.code).toBe("hot-world@1.1.0");

      expect(await say("heard by 1.1.0")).toBe("v2: heard by 1.1.0");
      const v3 = hotWorld({ version: "1.3.0", greeting: "v3:", npcStep: 3, migrate: true });
      await a2.swap(v3);
      expect(await say("heard by 1.3.0")).toBe("v3: heard by 1.3.0");
      const live = stateOf(a2);
      expect(live.heard.slice(-2)).toEqual([
        ["hot-world@1.1.0", "heard by 1.1.0"],
        ["hot-world@1.3.0", "heard by 1.3.0"],
      ]);

      // the replica dies after the switch, before its next snapshot: the one stored is from before it
      await a2.stop();
      handles.splice(handles.indexOf(a2), 1);
      const bucket = snapshotBucket(cluster.root);
      const purge = { filter: `$KV.${bucket}.${HOT_WORLD}.1` };
      await operator.request(`$JS.API.STREAM.PURGE.KV_${bucket}`, JSON.stringify(purge));
      expect(await journal.saveSnapshot(ref, stored)).toBe(true);

      // the next owner has both versions loaded: 1.3.0 runs, 1.1.0 for replays
      const set = new PluginSet([v3, extras]);
      set.load(v2);
      const b = await replica(set, 300, { PLUGIN_TRUST: trustFile, PLUGIN_CACHE_DIR: join(work, "cache") });
      await eventually(
        () => b.replica.codes()[ZONE] === "hot-world@1.3.0",
        "zone 1 replayed on the next owner",
        WAIT_MS,
      );
      await sleep(200);
      const replayed = stateOf(b);
      // what was said after the stored snapshot was heard again in the replay, each line by its version
      expect((storedZone.state as HotState).heard.map(([, line]) => line)).not.toContain("heard by 1.1.0");
      expect(replayed.heard).toEqual(live.heard);
      expect(replayed.migratedFrom).toBe("hot-world@1.1.0");
      expect(replayed.npc).toBe(live.npc);
      expect(b.replica.counts.resumed).toBeGreaterThanOrEqual(1);
      expect(await say("and on")).toBe("v3: and on");
    } finally {
      await operator.close();
    }
    expect(troubles).toEqual([]);
  });
});

describe("an operator's swap over NATS", () => {
  it("swaps every replica to a signed package's version; refuses unsigned or untrusted packages and non-operators", async () => {
    const b = handles.at(-1)!;
    const good = await hotPackage("1.5.0", "v5:");
    const [reply] = await askSwap({ package: good });
    expect(reply).toMatchObject({
      ok: true,
      replica: b.channel,
      swapped: true,
      plugin: "hot-world",
      from: "hot-world@1.3.0",
      to: "hot-world@1.5.0",
    });
    expect(await say("over NATS")).toBe("v5: over NATS");

    // signed by a key the replicas do not trust
    const stranger = await hotPackage("1.6.0", "v6:", signingKeyFromSeed(newSeed()));
    const [untrusted] = await askSwap({ package: stranger });
    expect(untrusted).toMatchObject({ swapped: false, zones: [] });
    expect(untrusted!.error).toMatch(/hot-world@1\.6\.0.*(not in the trust list|untrusted|not trusted)/i);
    // tampered after signing
    writeFileSync(join(good, "index.mjs"), "export const plugin = 'a Trojan horse';\n");
    const [tampered] = await askSwap({ package: good });
    expect(tampered).toMatchObject({ swapped: false });
    expect(tampered!.error).toMatch(/index\.mjs/);
    // a module path that is no plugin
    const [missing] = await askSwap({ module: join(work, "nowhere.mjs") });
    expect(missing!.error).toMatch(/^PLUGIN: cannot load .*nowhere\.mjs/);
    // a role the catalogue does not let send it: NATS refuses its publish, no replica hears it
    expect(await askSwap({ module: join(work, "nowhere.mjs") }, "client-agent")).toEqual([]);
    expect(b.replica.codes()[ZONE]).toBe("hot-world@1.5.0");
    expect(await say("still v5")).toBe("v5: still v5");
    expect(troubles).toEqual([]);
  });

  it("is what `overworld plugin swap --module PATH` asks, as an operator with the cluster's environment", async () => {
    const b = handles.at(-1)!;
    const module = join(work, "hot-world-1.7.0.mjs");
    const fixture = pathToFileURL(join(import.meta.dirname, "hot-plugins.ts")).href;
    writeFileSync(
      module,
      `import { hotWorld } from ${JSON.stringify(fixture)};\nexport default hotWorld({ version: "1.7.0", greeting: "v7:", npcStep: 2 });\n`,
    );
    const env = { ...natsEnv("admin"), DC_FILES: DEMO_DC, CLUSTER_VERSION, SUBJECT_ROOT: cluster.root };
    const lines: string[] = [];
    expect(await swapOnReplicas({ module }, env, (line) => lines.push(line))).toBe(0);
    expect(lines).toEqual([`replica ${b.channel}: hot-world@1.5.0 -> hot-world@1.7.0 (2 zones handed over)`]);
    expect(await say("from the CLI")).toBe("v7: from the CLI");
    // the same version again: refused, exit 1
    lines.length = 0;
    expect(await swapOnReplicas({ module }, env, (line) => lines.push(line))).toBe(1);
    expect(lines).toEqual([`replica ${b.channel}: refused: hot-world@1.7.0 runs already`]);
  });
});

async function worldObjects(): Promise<{ doId: number }[]> {
  const reply = await cluster.ss<{ objects: { doId: number }[] }>("query-zones", {
    parentId: HOT_WORLD,
    zones: [1, 2],
  });
  return reply.objects;
}

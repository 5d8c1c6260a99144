/**
 * A plugin set main pushes runs in the cluster's zone AI, live: a real main (signaling on Postgres), a
 * cluster with two zone-AI replicas started with hot-world@1.0.0 (PLUGIN) and a player connected, and the
 * cluster's link end with its trust list of main keys (the replicas' PLUGIN_TRUST is the same list).
 *
 * - main pushes hot-world@1.1.0: every replica swaps to it, the player's chat is answered by v1.1's
 *   greeting; then hot-world@1.2.0 with hot-camp@1.0.0 beside it: the player stays connected, hears v1.2,
 *   and sees hot-camp's zone start with its NPCs; then a set without hot-camp: its zone stops and its
 *   NPCs are deleted before the player's eyes.
 * - a version whose start hook throws is refused by the replicas: the link end reports the refusal to
 *   main and the set running stays hot-world@1.2.0, as does a package tampered in main's storage.
 * - a replica started later takes the set from the link end before its zones start.
 * - a set pushed to zone AI over NATS by anyone but the link end is refused by NATS; one sent as the link
 *   end whose package is unsigned, signed by a stranger or tampered is refused by the replicas' own
 *   verification; hot-world@1.2.0 runs on.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import {
  addKey,
  EMPTY_TRUST_LIST,
  manifestId,
  publishPackage,
  sha256,
  writeTrustList,
} from "@overworld/manifest";
import { messages, type Role, subjects } from "@overworld/protocol";
import { connectPostgres, createLogger, gather, serve } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION, type Cluster } from "../client-agent/support.ts";
import { startTestLinkEnd, type TestLinkEnd } from "../link/support.ts";
import { ADMIN_TOKEN, dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { connectAs, natsEnv } from "../support/nats.ts";
import { type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { DATABASE_URL } from "../support/services.ts";
import { eventually, sleep, waitFor } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";
import { HOT_WORLD, hotWorld } from "../zone-ai/hot-plugins.ts";
import { dropNamespaceAndJournal } from "../zone-ai/support.ts";
import { newKey, publicKeyOf, signedPlugin } from "./support.ts";

const SCHEMA = schemaFor("push_zone_ai");
const WAIT_MS = 15_000;
const CAMP_ZONE = 3;
/** The zone hot-camp 1.1.0 names beyond 1.0.0's. */
const NEW_CAMP_ZONE = 4;
const FIXTURE = pathToFileURL(join(import.meta.dirname, "../zone-ai/hot-plugins.ts")).href;

let main: TestMain;
let services: PlayerCluster;
let cluster: Cluster;
let link: TestLinkEnd;
const replicas: ZoneAiHandle[] = [];
let player: Player;
const heard: string[] = [];
const troubles: string[] = [];
const work = mkdtempSync(join(tmpdir(), "ow-push-zone-ai-"));
const trustFile = join(work, "trusted-mains.json");

/** The files of a zone plugin package: an entry that builds the plugin from the test's fixtures. */
function filesOf(build: string): Record<string, string> {
  return {
    "index.mjs": `import { hotWorld, hotCamp } from ${JSON.stringify(FIXTURE)};\nexport const plugin = ${build};\n`,
  };
}

function worldFiles(version: string, greeting: string, extra = ""): Record<string, string> {
  return filesOf(
    `hotWorld({ version: ${JSON.stringify(version)}, greeting: ${JSON.stringify(greeting)}, npcStep: 2${extra} })`,
  );
}

async function publish(name: string, version: string, files: Record<string, string | Uint8Array>) {
  const { content, signed } = signedPlugin(
    { name, version, edge: "server-server", entry: "index.mjs", files },
    main.key,
  );
  expect((await publishPackage(main.url, ADMIN_TOKEN, content)).status).toBe(201);
  return signed;
}

async function push(servers: string[]): Promise<number> {
  const answer = await main.operator("POST", "/v1/plugin-sets", { servers, clients: [] });
  expect(answer.status, JSON.stringify(answer.body)).toBe(201);
  return answer.body.push as number;
}

interface ClusterSets {
  readonly assigned: { push: number };
  readonly running: { push: number; servers: { name: string; version: string }[] } | null;
  readonly refusals: { package: string; refusal: string; detail: string }[];
}

async function atMain(): Promise<ClusterSets> {
  const answer = await main.operator("GET", "/v1/plugin-sets");
  return (answer.body.clusters as (ClusterSets & { name: string })[]).find((each) => each.name === "zai")!;
}

const labels = (pins: readonly { name: string; version: string }[]) =>
  pins.map((pin) => `${pin.name}@${pin.version}`);

/** What every replica runs, as one list per replica. */
const runningOn = () =>
  replicas.map((replica) => replica.plugins.plugins.map((p) => `${p.name}@${p.version}`));

/** The player says `line` and waits to hear it back: the chat line the zone answers. */
async function say(line: string): Promise<string> {
  const before = heard.length;
  player.client.sendField(player.avatar.doId, "say", [line]);
  return waitFor(
    () => heard.slice(before).find((text) => text.endsWith(` ${line}`)),
    `the chat of "${line}"`,
    WAIT_MS,
  );
}

/** The camp's NPCs the player sees (in `zone`, or in both camp zones). */
const campNpcs = (zone?: number) =>
  [...player.client.objects.values()].filter(
    (object) =>
      (zone === undefined
        ? object.zone === CAMP_ZONE || object.zone === NEW_CAMP_ZONE
        : object.zone === zone) && object.dclass.name === "DistributedNpc",
  );

beforeAll(async () => {
  main = await startMain(SCHEMA);
  await writeTrustList(trustFile, addKey(EMPTY_TRUST_LIST, publicKeyOf(main.key), "main"));
  await publish("hot-world", "1.1.0", worldFiles("1.1.0", "v1.1:"));
  await publish("hot-world", "1.2.0", worldFiles("1.2.0", "v1.2:", ", migrate: true"));
  await publish("hot-world", "1.3.0", worldFiles("1.3.0", "broken:", ", startThrows: true"));
  await publish("hot-world", "1.3.1", worldFiles("1.3.1", "broken:", ", migrateThrows: true"));
  await publish("hot-camp", "1.0.0", filesOf(`hotCamp({ version: "1.0.0", npcs: 2 })`));
  await publish("hot-camp", "1.1.0", filesOf(`hotCamp({ version: "1.1.0", npcs: 2, zones: [3, 4] })`));
  services = await startPlayerCluster("pushzai", { agentEnv: { TICK_HZ: "50" }, dcFiles: [DEMO_DC] });
  ({ cluster } = services);
  const base = hotWorld({ version: "1.0.0", greeting: "base:", npcStep: 1 });
  for (let i = 0; i < 2; i++) {
    replicas.push(
      await startTestZoneAi(cluster, [base], {
        LEASE_TTL_MS: "1000",
        PLUGIN_TRUST: trustFile,
        PLUGIN_CACHE_DIR: join(work, `cache-${i}`),
      }),
    );
  }
  await eventually(
    () => replicas.flatMap((replica) => replica.replica.zones).length === 2,
    "hot-world's two zones running",
    WAIT_MS,
  );
  player = await services.join("camper", {
    file: demo.file,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
    timeoutMs: WAIT_MS,
  });
  await player.client.addInterest(HOT_WORLD, [1, 2, CAMP_ZONE, NEW_CAMP_ZONE]);
  player.client.on("update", ({ field, value }) => {
    if (field === "chat") heard.push((value as [number, string])[1]);
  });
  player.client.on("disconnect", ({ reason }) => troubles.push(`disconnected: ${reason}`));
  player.client.on("eject", ({ code, reason }) => troubles.push(`ejected ${code}: ${reason}`));
  expect(await say("hello")).toBe("base: hello");
  link = await startTestLinkEnd(main, "zai", {
    env: {
      ...natsEnv("link"),
      DC_FILES: cluster.env.DC_FILES!,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      PLUGIN_TRUST_FILE: trustFile,
      PLUGIN_DIR: join(work, "link-plugins"),
      PLUGIN_POLL_MS: "200",
    },
  });
}, 90_000);

afterAll(async () => {
  await link?.stop().catch(() => undefined);
  for (const replica of replicas) await replica.stop().catch(() => undefined);
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
  await dropMain(main);
  rmSync(work, { recursive: true, force: true });
});

describe("a server plugin set pushed by main, in zone AI", () => {
  it("runs on every replica: a version swapped in, then a plugin added with its zone and NPCs", async () => {
    const first = await push(["hot-world@1.1.0"]);
    await waitFor(async () => (await atMain()).running?.push === first, "the set reported", WAIT_MS);
    expect(runningOn()).toEqual([["hot-world@1.1.0"], ["hot-world@1.1.0"]]);
    expect(await say("one")).toBe("v1.1: one");

    const second = await push(["hot-world@1.2.0", "hot-camp@1.0.0"]);
    await waitFor(async () => (await atMain()).running?.push === second, "the set reported", WAIT_MS);
    const reported = await atMain();
    expect(labels(reported.running!.servers).sort()).toEqual(["hot-camp@1.0.0", "hot-world@1.2.0"]);
    expect(reported.refusals).toEqual([]);
    for (const running of runningOn()) expect(running.sort()).toEqual(["hot-camp@1.0.0", "hot-world@1.2.0"]);
    expect(await say("two")).toBe("v1.2: two");
    // hot-camp's zone started on one of the replicas, and the player sees its two NPCs
    await eventually(() => campNpcs().length === 2, "the camp's NPCs in view", WAIT_MS);
    const codes = Object.assign({}, ...replicas.map((replica) => replica.replica.codes()));
    expect(codes).toEqual({
      [`${HOT_WORLD}.1`]: "hot-world@1.2.0",
      [`${HOT_WORLD}.2`]: "hot-world@1.2.0",
      [`${HOT_WORLD}.${CAMP_ZONE}`]: "hot-camp@1.0.0",
    });
    expect(troubles).toEqual([]);
  });

  it("starts the zones a new version names beyond the old's, then removes a plugin gone from the set: its zones stop and its NPCs are deleted", async () => {
    expect(campNpcs(NEW_CAMP_ZONE)).toEqual([]);
    const wider = await push(["hot-world@1.2.0", "hot-camp@1.1.0"]);
    await waitFor(async () => (await atMain()).running?.push === wider, "the set reported", WAIT_MS);
    await eventually(() => campNpcs(NEW_CAMP_ZONE).length === 2, "the new camp zone's NPCs in view", WAIT_MS);
    expect(campNpcs(CAMP_ZONE)).toHaveLength(2); // the old zone's, not spawned again
    const codes = Object.assign({}, ...replicas.map((replica) => replica.replica.codes()));
    expect(codes[`${HOT_WORLD}.${CAMP_ZONE}`]).toBe("hot-camp@1.1.0");
    expect(codes[`${HOT_WORLD}.${NEW_CAMP_ZONE}`]).toBe("hot-camp@1.1.0");

    const npcs = campNpcs().map((object) => object.doId);
    expect(npcs).toHaveLength(4);
    const third = await push(["hot-world@1.2.0"]);
    await waitFor(async () => (await atMain()).running?.push === third, "the set reported", WAIT_MS);
    expect(runningOn()).toEqual([["hot-world@1.2.0"], ["hot-world@1.2.0"]]);
    await eventually(() => campNpcs().length === 0, "the camp's NPCs gone from view", WAIT_MS);
    for (const doId of npcs) {
      await expect(cluster.ss("get", { doId, fieldIds: [] })).rejects.toMatchObject({
        code: "unknown_object",
      });
    }
    expect(replicas.flatMap((replica) => replica.replica.zones).sort()).toEqual([
      `${HOT_WORLD}.1`,
      `${HOT_WORLD}.2`,
    ]);
    expect(await say("three")).toBe("v1.2: three");
    expect(troubles).toEqual([]);
  });

  it("refuses a version whose start hook throws, and a tampered package: the refusal reported, v1.2 runs on", async () => {
    const broken = await push(["hot-world@1.3.0"]);
    const view = await waitFor(
      async () => {
        const sets = await atMain();
        return sets.assigned.push === broken && sets.refusals.length > 0 ? sets : undefined;
      },
      "the refusal reported",
      WAIT_MS,
    );
    expect(view.refusals).toEqual([
      {
        package: "plugin hot-world@1.3.0",
        refusal: "start",
        detail: expect.stringMatching(
          /^zone-AI replica \d+ refused it: the plugin set hot-world@1\.3\.0 refused, hot-world@1\.2\.0 runs on: hot-world@1\.3\.0's start threw: hot-world@1\.3\.0 cannot read its configuration$/,
        ),
      },
    ]);
    expect(labels(view.running!.servers)).toEqual(["hot-world@1.2.0"]);
    expect(runningOn()).toEqual([["hot-world@1.2.0"], ["hot-world@1.2.0"]]);
    expect(await say("four")).toBe("v1.2: four");

    // a migration that throws: refused by the replica running hot-world's zones; a replica that took the
    // set meanwhile (one running none of them) goes back to the set running
    const unreadable = await push(["hot-world@1.3.1"]);
    const migrate = await waitFor(
      async () => {
        const sets = await atMain();
        return sets.assigned.push === unreadable && sets.refusals.some((r) => r.package.includes("1.3.1"))
          ? sets
          : undefined;
      },
      "the refusal reported",
      WAIT_MS,
    );
    expect(migrate.refusals[0]).toMatchObject({ refusal: "migrate" });
    expect(migrate.refusals[0]!.detail).toMatch(
      /cannot be handed to hot-world@1\.3\.1: its migrate threw: hot-world@1\.3\.1 cannot read the state of hot-world@1\.2\.0$/,
    );
    expect(labels(migrate.running!.servers)).toEqual(["hot-world@1.2.0"]);
    await eventually(
      () => runningOn().every((running) => running.join() === "hot-world@1.2.0"),
      "every replica back on hot-world@1.2.0",
      WAIT_MS,
    );
    expect(await say("four and a half")).toBe("v1.2: four and a half");

    // a file changed in main's storage after publishing
    const signed = await publish("hot-world", "1.4.0", worldFiles("1.4.0", "v1.4:"));
    const pool = await connectPostgres(DATABASE_URL, "test-push-zone-ai", 1);
    try {
      await pool.query(`UPDATE "${SCHEMA}".package_files SET bytes = $1 WHERE sha256 = $2`, [
        Buffer.from(worldFiles("1.4.0", "evil:")["index.mjs"]!),
        signed.manifest.files[0]!.sha256,
      ]);
    } finally {
      await pool.end();
    }
    const tampered = await push(["hot-world@1.4.0"]);
    expect(tampered).toBeGreaterThan(broken);
    const refused = await waitFor(
      async () => {
        const sets = await atMain();
        return sets.refusals.some((refusal) => refusal.package.includes("1.4.0")) ? sets : undefined;
      },
      "the refusal reported",
      WAIT_MS,
    );
    expect(refused.refusals[0]).toMatchObject({ package: "plugin hot-world@1.4.0", refusal: "tampered" });
    expect(runningOn()).toEqual([["hot-world@1.2.0"], ["hot-world@1.2.0"]]);
    expect(await say("five")).toBe("v1.2: five");

    // a package bigger than one NATS message: refused by name, not retried for ever
    await publish("hot-world", "1.7.0", {
      ...worldFiles("1.7.0", "v1.7:"),
      "big.bin": new Uint8Array(1_200_000).fill(7),
    });
    const big = await push(["hot-world@1.7.0"]);
    const tooBig = await waitFor(
      async () => {
        const sets = await atMain();
        return sets.assigned.push === big && sets.refusals.some((r) => r.package.includes("1.7.0"))
          ? sets
          : undefined;
      },
      "the refusal reported",
      WAIT_MS,
    );
    expect(tooBig.refusals[0]).toMatchObject({ package: "plugin hot-world@1.7.0", refusal: "refused" });
    expect(tooBig.refusals[0]!.detail).toMatch(/more than one NATS message carries here \(max_payload \d+\)/);
    expect(runningOn()).toEqual([["hot-world@1.2.0"], ["hot-world@1.2.0"]]);
  });

  it("starts a replica that joins later under the set's versions, before its first zone", async () => {
    const late = await startTestZoneAi(
      cluster,
      [hotWorld({ version: "1.0.0", greeting: "base:", npcStep: 1 })],
      {
        LEASE_TTL_MS: "1000",
        PLUGIN_TRUST: trustFile,
        PLUGIN_CACHE_DIR: join(work, "cache-late"),
      },
    );
    try {
      // as it comes up, before the link end's next poll could tell it
      expect(late.plugins.plugins.map((p) => `${p.name}@${p.version}`)).toEqual(["hot-world@1.2.0"]);
      // whichever zones the placement gives it run the set's version
      await sleep(1000);
      for (const code of Object.values(late.replica.codes())) expect(code).toBe("hot-world@1.2.0");
      expect(await say("late")).toBe("v1.2: late");
    } finally {
      await late.stop();
    }
    await eventually(
      () => replicas.flatMap((replica) => replica.replica.zones).length === 2,
      "the zones back on the first two",
      WAIT_MS,
    );
    expect(troubles).toEqual([]);
  });

  it("refuses a set sent over NATS by anyone but the link end, or whose packages fail verification", async () => {
    const pin = (signed: { manifest: Parameters<typeof manifestId>[0] }) => ({
      name: signed.manifest.name,
      version: signed.manifest.version,
      id: manifestId(signed.manifest),
    });
    const evil = worldFiles("1.5.0", "evil:");
    const genuine = signedPlugin(
      { name: "hot-world", version: "1.5.0", edge: "server-server", entry: "index.mjs", files: evil },
      main.key,
    ).signed;
    const ask = async (role: Role, body: messages.PluginSetMessage) => {
      const identity = { role, channel: 4_343_434 };
      const nc = await connectAs(identity, cluster.root);
      try {
        return await gather<messages.PluginSetReply>(
          nc,
          subjects(cluster.root).service("zai", "plugin-set", identity),
          body,
          replicas.length,
          3000,
        );
      } finally {
        await nc.close();
      }
    };
    // NATS lets no other role publish it: not an operator's tool, not a client agent
    for (const role of ["tool", "client-agent", "zone-ai"] as const) {
      expect(await ask(role, { push: 99, servers: [pin(genuine)] })).toEqual([]);
    }

    // as the link end, serving packages of its own: the real one stops first
    await link.stop();
    const stranger = newKey();
    const unsigned = { manifest: genuine.manifest };
    const byStranger = signedPlugin(
      { name: "hot-world", version: "1.5.0", edge: "server-server", entry: "index.mjs", files: evil },
      stranger,
    ).signed;
    const honest = worldFiles("1.6.0", "v1.6:");
    const mainSigned = signedPlugin(
      { name: "hot-world", version: "1.6.0", edge: "server-server", entry: "index.mjs", files: honest },
      main.key,
    ).signed;
    const fake = { role: "link" as const, channel: 4_343_435 };
    const nc = await connectAs(fake, cluster.root);
    const names = subjects(cluster.root);
    let current: { signed: unknown; files: Record<string, string> } | undefined;
    const subscription = serve(
      nc,
      names.served("lk", "plugin-package"),
      messages.LINK_OPS["plugin-package"].request,
      async () => ({
        signed: JSON.stringify(current!.signed),
        files: Object.entries(current!.files).map(([path, text]) => ({
          path,
          data: new TextEncoder().encode(text),
        })),
      }),
      { queue: names.queue("lk"), log: createLogger("fake-link", "test", "silent") },
    );
    try {
      const cases = [
        { signed: unsigned, files: evil, refusal: "unsigned", id: pin(genuine) },
        { signed: byStranger, files: evil, refusal: "untrusted", id: pin(byStranger) },
        // main's signature over 1.6.0's files, with other bytes in them
        { signed: mainSigned, files: evil, refusal: "tampered", id: pin(mainSigned) },
      ];
      for (const [index, each] of cases.entries()) {
        current = { signed: each.signed, files: each.files };
        const replies = await ask("link", { push: 100 + index, servers: [each.id] });
        expect(replies.map((reply) => [reply.applied, reply.refusal])).toEqual(
          replicas.map(() => [false, each.refusal]),
        );
      }
    } finally {
      subscription.unsubscribe();
      await nc.close();
    }
    expect(runningOn()).toEqual([["hot-world@1.2.0"], ["hot-world@1.2.0"]]);
    expect(await say("six")).toBe("v1.2: six");
    expect(troubles).toEqual([]);
    expect(sha256(new TextEncoder().encode(evil["index.mjs"]!))).not.toBe(
      mainSigned.manifest.files[0]!.sha256,
    );
  });
});

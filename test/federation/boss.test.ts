/**
 * The seed's boss negotiation, end to end: two clusters (each its own director, state server, client agent,
 * uberdog, zone-AI replica running the demo world, and link end), main, and players connected to each
 * cluster hitting their own instance of the shared boss.
 *
 * - After a decisive hit in one cluster, both instances target the same player within 500 ms.
 * - During a 10 s partition (the link ends' UDP dropped by iptables, main's relay included), each instance
 *   keeps fighting on its own and targets its own cluster's players.
 * - Within 2 s after the partition heals, both hold the same hp (the maximum less every hit dealt on both
 *   sides) and the same target.
 */
import { execFileSync } from "node:child_process";
import type { ObjectMirror } from "@overworld/client";
import { encodeEnvelope, legacyHash, loadDcFiles, packField } from "@overworld/protocol";
import { joinCluster } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { arenaZone, BOSS_HP, demoWorld } from "../../examples/demo/plugin.ts";
import { demo } from "../../examples/demo/schema.ts";
import { loadZoneAiConfig, startZoneAi, type ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { linkUp, startTestLinkEnd, type TestLinkEnd, waitForLink } from "../link/support.ts";
import { dropMain, schemaFor, startMain, type TestMain } from "../signaling/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { joinCredentials, natsEnv } from "../support/nats.ts";
import { type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { NATS_URL } from "../support/services.ts";
import { eventually, sleep, waitFor } from "../support/wait.ts";
import { dropNamespaceAndJournal, REDIS_URL } from "../zone-ai/support.ts";

const grid = { width: 3, height: 3, cellSize: 50 };
const WORLD = 1000;
const ARENA = arenaZone(grid);
const HIT = 10;
const WAIT_MS = 10_000;

interface Side {
  readonly name: string;
  readonly services: PlayerCluster;
  readonly zoneAi: ZoneAiHandle;
  readonly link: TestLinkEnd;
  readonly boss: number;
}

let main: TestMain;
const sides: Side[] = [];
const rules: string[][] = [];

async function startSide(name: string): Promise<Side> {
  const services = await startPlayerCluster(`fed${name}`, {
    agentEnv: { TICK_HZ: "50" },
    dcFiles: [DEMO_DC],
  });
  const { cluster } = services;
  const zoneAi = await startZoneAi(
    loadZoneAiConfig({
      ...natsEnv("zone-ai"),
      REDIS_URL,
      DC_FILES: DEMO_DC,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      REDIS_PREFIX: cluster.prefix,
      LOG_LEVEL: "silent",
      HTTP_PORT: "0",
      LEASE_TTL_MS: "1000",
    }),
    demoWorld({ grid, worldId: WORLD, npcsPerZone: 0, cluster: name }),
  );
  const boss = await waitFor(
    async () => {
      const reply = await cluster.ss<{ objects: { doId: number; classId: number }[] }>("query-zones", {
        parentId: WORLD,
        zones: [ARENA],
      });
      return reply.objects.find((object) => object.classId === demo.DistributedBoss.dclass.id);
    },
    `the boss of ${name}`,
    WAIT_MS,
  );
  const link = await startTestLinkEnd(main, name, {
    env: {
      ...natsEnv("link"),
      SHARED_ZONES: `${WORLD}:${ARENA}`,
      DC_FILES: DEMO_DC,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
    },
  });
  return { name, services, zoneAi, link, boss: boss.doId };
}

beforeAll(async () => {
  main = await startMain(schemaFor("boss"), { LINK_TIMEOUT_SECONDS: "2" });
  sides.push(await startSide("ca"), await startSide("cb"));
}, 60_000);

afterAll(async () => {
  for (const rule of rules.splice(0)) dropRule(rule);
  for (const side of sides) {
    await side.link.stop().catch(() => undefined);
    await side.zoneAi.stop().catch(() => undefined);
    await side.services.stop().catch(() => undefined);
    await dropNamespaceAndJournal(side.services.cluster).catch(() => undefined);
  }
  await dropMain(main);
});

/** A player of a side, standing by the boss and watching it. */
async function fighter(side: Side, name: string): Promise<Player & { boss: ObjectMirror }> {
  const player = await side.services.join(`${side.name}${name}`, {
    file: demo.file,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
    timeoutMs: WAIT_MS,
  });
  await player.client.addInterest(WORLD, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
  player.client.sendField(player.avatar.doId, "setSmXYH", [75, 70, 0, 0]);
  await eventually(() => player.avatar.zone === ARENA, `${name} by the boss`, WAIT_MS);
  await eventually(() => player.client.objects.has(side.boss), `${name} seeing the boss`, WAIT_MS);
  await sleep(200); // the AI saw the step
  return { ...player, boss: player.client.objects.get(side.boss)! };
}

function hit(player: Player, side: Side, times: number): void {
  for (let i = 0; i < times; i++) player.client.sendField(player.avatar.doId, "attack", [side.boss]);
  player.client.flush();
}

const targetOf = (boss: ObjectMirror) => boss.fields.get("setTargetOf") as [string, number] | undefined;
const hpOf = (boss: ObjectMirror) => boss.fields.get("hp") as number | undefined;
const same = (a: [string, number] | undefined, b: [string, number]) => a?.[0] === b[0] && a?.[1] === b[1];

/** Cuts a link end off the network: its UDP socket neither sends nor receives (main's relay included). */
function isolate(link: TestLinkEnd): void {
  const port = String(link.handle.udpAddress.port);
  for (const direction of ["--sport", "--dport"]) {
    const rule = ["OUTPUT", "-o", "lo", "-p", "udp", direction, port, "-j", "DROP"];
    execFileSync("iptables", ["-I", ...rule]);
    rules.push(rule);
  }
}

function dropRule(rule: string[]): void {
  try {
    execFileSync("iptables", ["-D", ...rule]);
  } catch {}
}

describe("the shared boss of two linked clusters", () => {
  it("is fought from both clusters: one target for both, alone during a partition, one state after it", async () => {
    const [a, b] = sides as [Side, Side];
    expect((await main.operator("PUT", "/v1/policy/ca/cb")).status).toBe(204);
    await waitForLink(a.link, b.link);
    await eventually(
      () => a.link.handle.shared!.objects.size === 1 && b.link.handle.shared!.objects.size === 1,
      "both link ends to see their boss",
    );
    const a1 = await fighter(a, "a1");
    const b1 = await fighter(b, "b1");

    // a1 hits three times: both instances lose 30 hp and target a1 (cluster ca)
    hit(a1, a, 3);
    const targetA1: [string, number] = ["ca", a1.avatar.doId];
    await eventually(
      () => hpOf(a1.boss) === BOSS_HP - 3 * HIT && hpOf(b1.boss) === BOSS_HP - 3 * HIT,
      "30 damage on both instances",
      WAIT_MS,
    );
    await eventually(
      () => same(targetOf(a1.boss), targetA1) && same(targetOf(b1.boss), targetA1),
      "a1 targeted",
    );

    // b1's decisive hits (40 > 30): both instances turn to b1 within 500 ms of each other
    const targetB1: [string, number] = ["cb", b1.avatar.doId];
    const sentAt = Date.now();
    hit(b1, b, 4);
    let firstAt = 0;
    await eventually(
      () => {
        if (firstAt === 0 && (same(targetOf(a1.boss), targetB1) || same(targetOf(b1.boss), targetB1))) {
          firstAt = Date.now();
        }
        return same(targetOf(a1.boss), targetB1) && same(targetOf(b1.boss), targetB1);
      },
      "both instances to target b1",
      WAIT_MS,
    );
    const bothAt = Date.now();
    expect(bothAt - firstAt).toBeLessThan(500);
    expect(bothAt - sentAt).toBeLessThan(1500);
    expect(hpOf(a1.boss)).toBe(BOSS_HP - 7 * HIT);
    expect(hpOf(b1.boss)).toBe(BOSS_HP - 7 * HIT);

    // a 10 s partition: each instance fights on alone and targets its own players
    const partitionAt = Date.now();
    isolate(a.link);
    isolate(b.link);
    await eventually(() => !linkUp(a.link, "cb") && !linkUp(b.link, "ca"), "the link down", WAIT_MS);
    hit(a1, a, 3); // a1: 60 in all, b1: 40 as a knew it
    hit(b1, b, 1); // b1: 50 in all
    // each counts its own hits and the other's as it last knew them
    await eventually(
      () => hpOf(a1.boss) === BOSS_HP - (6 + 4) * HIT && hpOf(b1.boss) === BOSS_HP - (3 + 5) * HIT,
      "each instance to take its own hits",
      WAIT_MS,
    );
    await eventually(
      () => same(targetOf(a1.boss), targetA1) && same(targetOf(b1.boss), targetB1),
      "each instance targeting its own cluster's player",
      WAIT_MS,
    );
    await sleep(Math.max(0, partitionAt + 10_000 - Date.now()));
    expect(same(targetOf(a1.boss), targetA1) && same(targetOf(b1.boss), targetB1)).toBe(true);

    // healed: within 2 s both hold every hit of both sides, and the same target (a1: 60 > 50)
    for (const rule of rules.splice(0)) dropRule(rule);
    const healedAt = Date.now();
    const expectedHp = BOSS_HP - (6 + 5) * HIT;
    await eventually(
      () =>
        hpOf(a1.boss) === expectedHp &&
        hpOf(b1.boss) === expectedHp &&
        same(targetOf(a1.boss), targetA1) &&
        same(targetOf(b1.boss), targetA1),
      "one state on both instances",
      2000,
    );
    const healMs = Date.now() - healedAt;
    expect(healMs).toBeLessThan(2000);
    console.info(
      `shared boss: decisive hit to both instances ${bothAt - sentAt} ms (between them ${bothAt - firstAt} ms), one state ${healMs} ms after the heal`,
    );
  }, 60_000);

  it("refuses from a peer anything but its own slot of a shared field", async () => {
    const [, b] = sides as [Side, Side];
    const shared = b.link.handle.shared!;
    const key = [...shared.objects.keys()][0]!;
    const damage = demo.DistributedBoss.field("setClusterDamage");
    const refusals = () => b.link.logs.filter((line) => line.msg === "shared update from a peer refused");
    const before = refusals().length;
    // ca speaking for cb's slot, ca setting a field that is not shared, a class that is not shared
    const forged = packField(damage, ["cb", 0, [{ attacker: 1, total: 9999 }]]);
    shared.receive("ca", encodeEnvelope({ t: "slot", key, field: "setClusterDamage", value: forged }));
    const hp = packField(demo.DistributedBoss.field("hp"), 1);
    shared.receive("ca", encodeEnvelope({ t: "slot", key, field: "hp", value: hp }));
    shared.receive(
      "ca",
      encodeEnvelope({ t: "slot", key: `DistributedAvatar@${WORLD}.${ARENA}`, field: "hp", value: hp }),
    );
    await eventually(() => refusals().length === before + 3, "three refusals");
    expect(
      refusals()
        .slice(before)
        .map((line) => line.reason),
    ).toEqual(["not_the_peers_slot", "not_a_shared_field", "not_a_shared_class"]);
  });

  it("lets a link end set only shared fields at the state server, whatever its peer sent", async () => {
    const [, b] = sides as [Side, Side];
    // a second participant with the link role's credentials, as a link end gone wrong would be
    const rogue = await joinCluster({
      natsUrl: NATS_URL,
      credentials: joinCredentials("link"),
      role: "link",
      instanceId: "link-rogue",
      version: CLUSTER_VERSION,
      schemaHash: legacyHash(loadDcFiles([DEMO_DC])),
      root: b.services.cluster.root,
    });
    try {
      const hp = demo.DistributedBoss.field("hp");
      const refused = await rogue.request("ss", "updates", {
        groups: [[0, [[b.boss, hp.id, packField(hp, 1)]]]],
      });
      expect(refused.applied).toBe(0);
      expect(refused.refused).toEqual([
        expect.objectContaining({ code: "forbidden", message: expect.stringMatching(/hp is not shared/) }),
      ]);
      const damage = demo.DistributedBoss.field("setClusterDamage");
      const applied = await rogue.request("ss", "updates", {
        groups: [[0, [[b.boss, damage.id, packField(damage, ["ca", 0, []])]]]],
      });
      expect(applied.refused).toEqual([]);
      // nor may it make or remove objects: NATS does not let the link role ask
      await expect(rogue.request("ss", "delete", { doId: b.boss })).rejects.toMatchObject({
        code: "unavailable",
      });
    } finally {
      await rogue.leave();
    }
  });
});

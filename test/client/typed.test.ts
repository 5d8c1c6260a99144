/**
 * The typed API on both sides against a real cluster (message director, state server, client agent with
 * the demo's TypeScript schema as SCHEMA_MODULE, uberdog, and a zone-AI replica in-process): the client's
 * per-class notifications and per-field listeners, typed sends with the owner check at run time, the
 * schema's validator run by the client agent (eject 127) and by the client before it sends, and the zone's
 * created / updated / disabled / deleted notifications and clean hooks (a value changed, one refused).
 */
import { resolve } from "node:path";
import { EjectCode } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demo } from "../../examples/demo/schema.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import {
  clean,
  definePlugin,
  onCreated,
  onDeleted,
  onDisabled,
  onField,
  onUpdated,
  refuse,
  type ZoneHooks,
} from "../../services/zone-ai/src/plugin.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { type Player, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { eventually, waitFor } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

const WORLD = 41_000;
const { DistributedAvatar } = demo;
/** How far the zone lets an avatar walk: x and y are clamped into [0, LIMIT] by a clean hook. */
const LIMIT = 100;

/** What the zones' notifications reported, in order: zone, kind, doId (and field, sender). */
const heard: { zone: number; kind: string; doId: number; field?: string; sender?: number }[] = [];

const field: ZoneHooks<Record<string, never>> = {
  init: () => ({}),
  fields: [
    onField(DistributedAvatar, "say", (zone, _state, avatar, [text]) =>
      zone.set(avatar, "chat", [avatar.doId, text]),
    ),
    // attacking (no target needed here) sends the avatar to the other zone: its AI goes with it
    onField(DistributedAvatar, "attack", (zone, _state, avatar) =>
      zone.move(avatar, zone.zone === 1 ? 2 : 1),
    ),
  ],
  notifications: [
    onCreated(DistributedAvatar, (zone, _state, avatar) =>
      heard.push({ zone: zone.zone, kind: "created", doId: avatar.doId }),
    ),
    onUpdated(DistributedAvatar, (zone, _state, avatar, update, sender) => {
      if (update.field === "setXY")
        heard.push({ zone: zone.zone, kind: "updated", doId: avatar.doId, field: update.field, sender });
    }),
    onDisabled(DistributedAvatar, (zone, _state, avatar) =>
      heard.push({ zone: zone.zone, kind: "disabled", doId: avatar.doId }),
    ),
    onDeleted(DistributedAvatar, (zone, _state, avatar) =>
      heard.push({ zone: zone.zone, kind: "deleted", doId: avatar.doId }),
    ),
  ],
  clean: [
    clean(DistributedAvatar, "say", (_zone, _state, _avatar, [text]) =>
      text.includes("forbidden") ? refuse("a forbidden word") : [text.trim()],
    ),
    clean(DistributedAvatar, "setXY", (_zone, _state, _avatar, [x, y]) => [
      Math.min(Math.max(x, 0), LIMIT),
      Math.min(Math.max(y, 0), LIMIT),
    ]),
  ],
};

const plugin = definePlugin({
  name: "typed-test",
  schema: demo,
  tickHz: 20,
  zones: async () => [
    { parent: WORLD, zone: 1, kind: "field" },
    { parent: WORLD, zone: 2, kind: "field" },
  ],
  kinds: { field },
  async clientArrived(client, cluster) {
    const doId = await cluster.create(
      DistributedAvatar,
      { setXY: [10, 10], setH: [0], setName: [client.username.slice(0, 32)], hp: 100 },
      { parent: WORLD, zone: 1, owner: client.channel },
    );
    cluster.addSessionObject(client.channel, doId);
  },
});

let services: PlayerCluster;
let zoneAi: ZoneAiHandle;
let alice: Player;
let bob: Player;

beforeAll(async () => {
  services = await startPlayerCluster("typed", {
    dcFiles: [DEMO_DC],
    agentEnv: { TICK_HZ: "20", SCHEMA_MODULE: resolve(import.meta.dirname, "../../examples/demo/schema.ts") },
    uberdogEnv: { CLUSTER_VERSION },
  });
  zoneAi = await startTestZoneAi(services.cluster, plugin);
  const joining = { file: demo.file, version: CLUSTER_VERSION, heartbeatMs: 200 };
  alice = await services.join("alice", joining);
  bob = await services.join("bob", joining);
  await alice.client.addInterest(WORLD, [1, 2]);
  await bob.client.addInterest(WORLD, [1, 2]);
}, 60_000);

afterAll(async () => {
  await zoneAi?.stop();
  await services?.stop();
});

describe("typed distributed objects", () => {
  it("notifies the client per class, per field and per object, with typed values", async () => {
    const created: number[] = [];
    const names: string[] = [];
    alice.client.onCreated(DistributedAvatar, (avatar) => {
      created.push(avatar.doId);
      names.push(avatar.get("setName")?.[0] ?? "");
    });
    // objects already in view are reported at once
    expect(created).toEqual(expect.arrayContaining([alice.avatar.doId, bob.avatar.doId]));
    expect(names).toContain(`bob${process.pid}`);

    const bobSeen = await waitFor(
      () => alice.client.objects.get(bob.avatar.doId),
      "bob's avatar in alice's view",
    );
    if (!bobSeen.is(DistributedAvatar)) throw new Error("bob's avatar is no DistributedAvatar");
    const moves: [number, number][] = [];
    bobSeen.on("setXY", (value) => moves.push(value));
    const chats: [number, string][] = [];
    alice.client.onField(DistributedAvatar, "chat", (_avatar, value) => chats.push(value));
    const updates: string[] = [];
    alice.client.onUpdated(DistributedAvatar, (avatar, { field }) => {
      if (avatar.doId === bob.avatar.doId) updates.push(field);
    });

    if (!bob.avatar.is(DistributedAvatar)) throw new Error("bob's avatar is no DistributedAvatar");
    bob.avatar.send("setXY", [20, 30]);
    bob.avatar.send("say", ["  hello  "]); // the zone's clean hook trims it
    bob.client.flush();
    await eventually(() => moves.some(([x, y]) => x === 20 && y === 30), "alice to see bob's step");
    await eventually(() => chats.length > 0, "alice to hear bob");
    expect(chats[0]).toEqual([bob.avatar.doId, "hello"]);
    expect(updates).toContain("setXY");
    expect(bobSeen.get("setXY")).toEqual([20, 30]);
  });

  it("refuses at run time an ownsend field of an object the client does not own, and a value the validator refuses", () => {
    const aliceSeen = bob.client.objects.get(alice.avatar.doId);
    if (!aliceSeen?.is(DistributedAvatar)) throw new Error("bob does not see alice's avatar");
    expect(() => aliceSeen.send("setXY", [1, 1])).toThrow(/setXY of object \d+ may not be sent: ownsend/);
    if (!bob.avatar.is(DistributedAvatar)) throw new Error("bob's avatar is no DistributedAvatar");
    expect(() => bob.avatar.send("say", ["   "])).toThrow(
      /DistributedAvatar\.say\.text: .* fails "matches \/\\S\/"/,
    );
    expect(bob.client.connected).toBe(true); // nothing was sent
  });

  it("runs the zone's clean hooks: a changed value is written back, a refused one never reaches the handlers", async () => {
    const chats: string[] = [];
    alice.client.onField(DistributedAvatar, "chat", (_avatar, [, text]) => chats.push(text));
    if (!bob.avatar.is(DistributedAvatar)) throw new Error("bob's avatar is no DistributedAvatar");
    bob.avatar.send("say", ["a forbidden word"]);
    bob.avatar.send("say", ["after"]);
    bob.avatar.send("setXY", [500, -3]); // clamped by the zone to [100, 0] and written back
    bob.client.flush();
    await eventually(() => chats.includes("after"), "alice to hear bob's second line");
    expect(chats).not.toContain("a forbidden word");
    const bobSeen = alice.client.objects.get(bob.avatar.doId)!;
    await eventually(
      () => JSON.stringify(bobSeen.fields.get("setXY")) === JSON.stringify([LIMIT, 0]),
      "the clean position to reach alice",
    );
    await eventually(
      () => JSON.stringify(bob.avatar.get("setXY")) === JSON.stringify([LIMIT, 0]),
      "the clean position to reach bob",
    );
    expect(heard).toContainEqual({
      zone: 1,
      kind: "updated",
      doId: bob.avatar.doId,
      field: "setXY",
      sender: expect.any(Number),
    });
  });

  it("notifies the zones: created, updated, disabled when the avatar moves to the other zone, deleted when its player goes", async () => {
    expect(heard).toContainEqual({ zone: 1, kind: "created", doId: alice.avatar.doId });
    expect(heard).toContainEqual({ zone: 1, kind: "created", doId: bob.avatar.doId });
    if (!bob.avatar.is(DistributedAvatar)) throw new Error("bob's avatar is no DistributedAvatar");
    const disabled: number[] = [];
    const deleted: number[] = [];
    alice.client.onDisabled(DistributedAvatar, (avatar) => disabled.push(avatar.doId));
    alice.client.onDeleted(DistributedAvatar, (avatar) => deleted.push(avatar.doId));

    bob.avatar.send("attack", [0]); // the test's zone logic moves the avatar to zone 2
    bob.client.flush();
    await eventually(
      () => heard.some((each) => each.zone === 2 && each.kind === "created" && each.doId === bob.avatar.doId),
      "zone 2 to take bob's avatar",
    );
    expect(heard).toContainEqual({ zone: 1, kind: "disabled", doId: bob.avatar.doId });

    await bob.client.close(); // the session object goes with the session
    await eventually(
      () => heard.some((each) => each.kind === "deleted" && each.doId === bob.avatar.doId),
      "the zone to hear bob's avatar deleted",
    );
    expect(heard.filter((each) => each.kind === "deleted")).toEqual([
      { zone: 2, kind: "deleted", doId: bob.avatar.doId },
    ]);
    await eventually(() => deleted.includes(bob.avatar.doId), "alice to see bob's avatar go");
    // the move between the zones of alice's interest may show as a departure and an entry: each
    // disabled comes with its deleted
    expect(disabled.at(-1)).toBe(bob.avatar.doId);
    expect(deleted).toEqual(disabled);
  });

  it("ejects with 127 a value the schema's validator refuses at the client agent", async () => {
    const ejected = new Promise<{ code: number; reason: string }>((done) => alice.client.once("eject", done));
    alice.client.sendField(alice.avatar.doId, "say", ["   "]); // the untyped sender does not check
    alice.client.flush();
    const { code, reason } = await ejected;
    expect(code).toBe(EjectCode.FieldConstraint);
    expect(reason).toMatch(/DistributedAvatar\.say\.text: " {3}" fails "matches \/\\S\/"/);
  });
});

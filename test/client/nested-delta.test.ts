/**
 * Nested changes end to end through a real cluster (message director, state server, client agent, uberdog
 * and a zone-AI replica in-process, real NATS, Redis and Postgres): a player asks the shop's zone to
 * restock one item; the zone changes that one entry of the shop's stock (a struct array used as a map);
 * the state server stores the whole stock and forwards the change; the client agent sends clients that
 * one entry, and nothing else; the client library applies it and ends with the same stock as the zone and
 * the state server. The same for a run of cells of the shop's uniform board (the flat seed's ByteHandler),
 * and a client that comes later gets the whole values.
 */

import { OverworldClient, type UpdateEvent } from "@overworld/client";
import {
  DClassHandle,
  type FieldValue,
  legacyHash,
  loadDcFiles,
  type TrackedArray,
  unpackField,
} from "@overworld/protocol";
import { type AgentMessage, AgentMessageType, ClientMessageType, fieldKey } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadZoneAiConfig, startZoneAi, type ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { definePlugin, onField } from "../../services/zone-ai/src/plugin.ts";
import { CLUSTER_VERSION, type Cluster, is, TestClient } from "../client-agent/support.ts";
import { natsEnv } from "../support/nats.ts";
import { type PlayerCluster, signUp, startPlayerCluster } from "../support/players.ts";
import { SHOP_DC } from "../support/shop.ts";
import { eventually, waitFor } from "../support/wait.ts";
import { dropNamespaceAndJournal, REDIS_URL } from "../zone-ai/support.ts";

const file = loadDcFiles([SHOP_DC]);
const Shop = new DClassHandle(file.class("DistributedShop")!);
const setStock = Shop.field("setStock");
const board = Shop.field("board");
const WORLD = 6100;
const ZONE = 1;
const WAIT_MS = 8000;
/** The raw clients' accounts: far from those uberdog gives the players (one session per account). */
let watcherAccount = 900_000;

interface Item {
  readonly id: number;
  readonly count: number;
}
const OPENING_STOCK: Item[] = [
  { id: 7, count: 1 },
  { id: 9, count: 4 },
  { id: 12, count: 2 },
];

/** The shop's zone: it opens the shop, restocks one item at a player's ask, paints runs of its board. */
const shopWorld = definePlugin({
  name: "nested-delta-shop",
  schema: { file },
  async zones() {
    return [{ parent: WORLD, zone: ZONE, kind: "shop" }];
  },
  kinds: {
    shop: {
      init: () => ({}),
      start(zone) {
        zone.spawn(Shop, {
          setName: ["corner shop"],
          setStock: [OPENING_STOCK],
          board: new Array<number>(64).fill(0),
        });
      },
      fields: [
        onField(Shop, "restock", (zone, _state, shop, value) => {
          const [id, count] = value as [number, number];
          zone.editMap(shop, "setStock").set(id, { id, count });
        }),
        onField(Shop, "paint", (zone, _state, shop, value) => {
          const [first, count, colour] = value as [number, number, number];
          const cells = zone.edit(shop, "board") as TrackedArray;
          for (let at = first; at < first + count; at++) cells.set(at, colour);
        }),
      ],
    },
  },
});

let services: PlayerCluster;
let cluster: Cluster;
let zoneAi: ZoneAiHandle;
let shopId: number;

/** LEB128 of a number, as the client wire writes varuints. */
function varuint(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value & 0x7f) | 0x80);
  out.push(value);
  return out;
}

/** The raw FIELD_UPDATES messages a client was sent from `from` on (by index in its `raw` list). */
function fieldUpdates(client: TestClient, from: number): Uint8Array[] {
  return client.raw.slice(from).filter((bytes) => bytes[0] === AgentMessageType.FieldUpdates);
}

async function storedValue(fieldId: number): Promise<FieldValue> {
  const reply = await cluster.ss<{ fields: [number, Uint8Array][] }>("get", {
    doId: shopId,
    fieldIds: [fieldId],
  });
  return unpackField(Shop.dclass.fieldById(fieldId)!, reply.fields[0]![1]);
}

async function rawClient(): Promise<TestClient> {
  const client = await TestClient.connect(cluster.agent, { file, accountId: watcherAccount++ });
  client.hello(CLUSTER_VERSION, legacyHash(file));
  await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
  client.send({
    type: ClientMessageType.AddInterest,
    interestId: 1,
    context: 1,
    parent: WORLD,
    zones: [ZONE],
  });
  await client.next(is(AgentMessageType.DoneInterest), "DONE_INTEREST");
  return client;
}

async function libraryClient(name: string): Promise<OverworldClient> {
  const client = await OverworldClient.connect({
    token: await signUp(services.baseUrl, `${name}${process.pid}`),
    file,
    version: CLUSTER_VERSION,
    heartbeatMs: 200,
  });
  services.clients.push(client);
  await client.addInterest(WORLD, [ZONE]);
  return client;
}

beforeAll(async () => {
  services = await startPlayerCluster("nested", { agentEnv: { TICK_HZ: "50" }, dcFiles: [SHOP_DC] });
  ({ cluster } = services);
  zoneAi = await startZoneAi(
    loadZoneAiConfig({
      ...natsEnv("zone-ai"),
      REDIS_URL,
      DC_FILES: SHOP_DC,
      CLUSTER_VERSION,
      SUBJECT_ROOT: cluster.root,
      REDIS_PREFIX: cluster.prefix,
      LOG_LEVEL: process.env.ZAI_LOG ?? "silent",
      INSTANCE_ID: `zone-ai-nested-${process.pid}-${Date.now()}`,
      HTTP_PORT: "0",
      LEASE_TTL_MS: "1000",
    }),
    shopWorld,
  );
  shopId = await waitFor(
    async () => {
      const reply = await cluster.ss<{ objects: { doId: number }[] }>("query-zones", {
        parentId: WORLD,
        zones: [ZONE],
      });
      return reply.objects[0]?.doId;
    },
    "the shop to open",
    WAIT_MS,
  );
}, 30_000);

afterAll(async () => {
  await zoneAi?.stop();
  await services?.stop();
  if (cluster) await dropNamespaceAndJournal(cluster);
});

describe("a nested change through the cluster", () => {
  it("sends a client only the map entry the zone changed, and the client library ends with the zone's value", async () => {
    const watcher = await rawClient();
    const enter = await watcher.next(
      (m: AgentMessage) => m.type === AgentMessageType.EnterObject && m.doId === shopId,
      "the shop's ENTER_OBJECT",
    );
    expect(enter).toBeDefined();
    const player = await libraryClient("stocker");
    const mirror = player.objects.get(shopId)!;
    expect(mirror.fields.get("setStock")).toEqual([OPENING_STOCK]);
    const updates: UpdateEvent[] = [];
    player.on("update", (event) => updates.push(event));
    const errors: Error[] = [];
    player.on("error", (error) => errors.push(error));

    const before = watcher.raw.length;
    player.sendField(shopId, "restock", [9, 5]);
    await eventually(() => fieldUpdates(watcher, before).length > 0, "the restock on the wire", WAIT_MS);

    // exactly one update: the shop (doId as zigzag from 0), setStock's key with the nested bit, and the
    // change: argument 0 nested (6), the array's length unchanged (0), element 1 whole (gap 1: 8), Item 9 x5
    const change = [0x06, 0x00, 0x08, 9, 0, 0, 0, 5, 0];
    expect([...fieldUpdates(watcher, before)[0]!]).toEqual([
      AgentMessageType.FieldUpdates,
      1,
      ...varuint(shopId * 2),
      fieldKey(Shop.dclass, setStock.id, true),
      ...change,
    ]);
    const expected = [
      [
        { id: 7, count: 1 },
        { id: 9, count: 5 },
        { id: 12, count: 2 },
      ],
    ];
    await eventually(() => updates.some((event) => event.field === "setStock"), "the client's update event");
    expect(mirror.fields.get("setStock")).toEqual(expected);
    expect(await storedValue(setStock.id)).toEqual(expected); // the state server stored the whole stock

    // a new item: appended, the new length and that element only
    const again = watcher.raw.length;
    player.sendField(shopId, "restock", [30, 8]);
    await eventually(() => fieldUpdates(watcher, again).length > 0, "the new item on the wire", WAIT_MS);
    // the new length (4: code 5), then element 3 whole (gap 3: key 16)
    expect([...fieldUpdates(watcher, again)[0]!]).toEqual([
      AgentMessageType.FieldUpdates,
      1,
      ...varuint(shopId * 2),
      fieldKey(Shop.dclass, setStock.id, true),
      ...[0x06, 0x05, 0x10, 30, 0, 0, 0, 8, 0],
    ]);
    await eventually(
      () => (mirror.fields.get("setStock") as unknown as Item[][])[0]!.length === 4,
      "the client to hold the new item",
    );
    expect(mirror.fields.get("setStock")).toEqual([[...expected[0]!, { id: 30, count: 8 }]]);
    expect(errors).toEqual([]);
    await watcher.close();
  });

  it("sends a run of a uniform board as one run of bytes, and a later client gets the whole values", async () => {
    const watcher = await rawClient();
    const player = await libraryClient("painter");
    const mirror = player.objects.get(shopId)!;

    const before = watcher.raw.length;
    player.sendField(shopId, "paint", [16, 8, 3]);
    await eventually(() => fieldUpdates(watcher, before).length > 0, "the paint on the wire", WAIT_MS);
    // the board's key, nested; length unchanged; one run from cell 16 ((16 + 1) << 2), 8 cells, the bytes
    expect([...fieldUpdates(watcher, before)[0]!]).toEqual([
      AgentMessageType.FieldUpdates,
      1,
      ...varuint(shopId * 2),
      fieldKey(Shop.dclass, board.id, true),
      0x00,
      17 << 2,
      8,
      ...new Array<number>(8).fill(3),
    ]);
    const painted = new Array<number>(64).fill(0).fill(3, 16, 24);
    await eventually(
      () => (mirror.fields.get("board") as number[])[23] === 3,
      "the client to hold the painted board",
    );
    expect(mirror.fields.get("board")).toEqual(painted);
    expect(await storedValue(board.id)).toEqual(painted);

    const late = await libraryClient("latecomer");
    const seen = late.objects.get(shopId)!;
    expect(seen.fields.get("board")).toEqual(painted);
    expect(seen.fields.get("setStock")).toEqual(mirror.fields.get("setStock"));
    await watcher.close();
  });
});

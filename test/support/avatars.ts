/**
 * A minimal game logic for tests with players: every client that arrives (`game.client-arrived`)
 * gets a DistributedAvatar owned by it under the world object, declared its session object (so it goes
 * when the client goes). Where the avatar stands is the caller's choice; by default a random point of the
 * demo grid, in the zone holding that point.
 */
import { fileURLToPath } from "node:url";
import { encodeEnvelope, loadDcFiles, messages, packField, subjects } from "@overworld/protocol";
import { parseMessage } from "@overworld/service";
import { extent, type Grid, zoneAt } from "../../examples/demo/grid.ts";
import type { Cluster } from "../client-agent/support.ts";

export const DEMO_DC = fileURLToPath(new URL("../../examples/demo/demo.dc", import.meta.url));
const dc = loadDcFiles([DEMO_DC]);
export const avatarClass = dc.class("DistributedAvatar")!;
const field = (name: string) => avatarClass.field(name)!;
const FULL_HP = 100;
/** The channel the spawner sends control messages as. */
const SPAWNER_SENDER = 1;

export interface Placement {
  readonly x: number;
  readonly y: number;
  readonly zone: number;
}

export interface AvatarServer {
  /** Client-arrived notices, in order. */
  readonly arrived: messages.ClientArrived[];
  /** Client-left notices, in order. */
  readonly left: messages.ClientLeft[];
  /** The avatars created, by client channel. */
  readonly avatars: Map<number, number>;
}

/** A random point of the grid and its zone. */
export function randomPlacement(grid: Grid, random: () => number = Math.random): Placement {
  const size = extent(grid);
  const x = random() * size.x;
  const y = random() * size.y;
  return { x, y, zone: zoneAt(grid, x, y) };
}

/**
 * Serves avatars in `world` (a doId; the world object itself need not exist) for the cluster's clients,
 * placed by `place` (given the arrival notice).
 */
export function serveAvatars(
  cluster: Cluster,
  world: number,
  place: (notice: messages.ClientArrived) => Placement,
): AvatarServer {
  const server: AvatarServer = { arrived: [], left: [], avatars: new Map() };
  const names = subjects(cluster.root);
  const giveAvatar = async (notice: messages.ClientArrived) => {
    server.arrived.push(notice);
    const { x, y, zone } = place(notice);
    const { doId } = await cluster.ss<{ doId: number }>("create", {
      classId: avatarClass.id,
      parentId: world,
      zoneId: zone,
      owner: notice.client,
      fields: [
        [field("setXY").id, packField(field("setXY"), [x, y])],
        [field("setH").id, packField(field("setH"), [0])],
        [field("setName").id, packField(field("setName"), [notice.username])],
        [field("hp").id, packField(field("hp"), FULL_HP)],
      ],
    });
    server.avatars.set(notice.client, doId);
    cluster.bus.publish(
      names.participant(notice.client),
      encodeEnvelope({ kind: "add-session-object", sender: SPAWNER_SENDER, doId }),
    );
  };
  cluster.bus.subscribe(names.served("game", "client-arrived"), {
    queue: names.queue("game"),
    callback: (error, msg) => {
      if (!error) void giveAvatar(parseMessage(messages.clientArrived, msg.data));
    },
  });
  cluster.bus.subscribe(names.served("game", "client-left"), {
    callback: (error, msg) => {
      if (!error) server.left.push(parseMessage(messages.clientLeft, msg.data));
    },
  });
  return server;
}

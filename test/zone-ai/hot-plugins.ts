/**
 * Small plugins on the demo world's classes for the hot-loading tests: `hotWorld` (two zones under a
 * world object, an NPC per zone that walks `npcStep` units every 5 ticks, avatars whose `say` is echoed
 * as `chat` prefixed by the version's greeting, every line heard kept in the zone's state with the
 * version that heard it), in versions that differ in what players see; and `hotExtras`, a plugin that
 * depends on it.
 */
import { demo } from "../../examples/demo/schema.ts";
import { definePlugin, onField, type ZonePlugin } from "../../services/zone-ai/src/plugin.ts";

const { DistributedWorld, DistributedAvatar, DistributedNpc } = demo;

export const HOT_WORLD = 2000;
export const HOT_ZONES = [1, 2] as const;
const CELL = 50;
const NPC_EVERY_TICKS = 5;

export interface HotState {
  npc: number;
  npcX: number;
  ticks: number;
  /** Every line heard: [the version that heard it, the line]. */
  heard: [string, string][];
  /** Set by a migration: the version the state came from. */
  migratedFrom?: string;
}

export interface HotOptions {
  readonly version: string;
  /** What chat lines start with. */
  readonly greeting: string;
  /** How far NPCs walk every 5 ticks. */
  readonly npcStep: number;
  /** The version's start hook throws. */
  readonly startThrows?: boolean;
  /** The kind has a migrate (which throws with `migrateThrows`). */
  readonly migrate?: boolean;
  readonly migrateThrows?: boolean;
  readonly dependencies?: Record<string, string>;
  readonly name?: string;
}

export function hotWorld(options: HotOptions): ZonePlugin {
  const { version, greeting, npcStep } = options;
  const label = `${options.name ?? "hot-world"}@${version}`;
  return definePlugin({
    name: options.name ?? "hot-world",
    version,
    ...(options.dependencies ? { dependencies: options.dependencies } : {}),
    schema: demo,
    tickHz: 20,
    async start() {
      if (options.startThrows) throw new Error(`${label} cannot read its configuration`);
    },
    async zones(cluster) {
      if (!(await cluster.exists(HOT_WORLD))) {
        await cluster
          .create(DistributedWorld, { setGrid: [2, 1, CELL] }, { parent: 0, zone: 0, doId: HOT_WORLD })
          .catch(async (error: unknown) => {
            if (!(await cluster.exists(HOT_WORLD))) throw error;
          });
      }
      return HOT_ZONES.map((zone) => ({ parent: HOT_WORLD, zone, kind: "field" }));
    },
    kinds: {
      field: {
        init: (): HotState => ({ npc: 0, npcX: 10, ticks: 0, heard: [] }),
        start(zone, state: HotState) {
          state.npc = zone.spawn(DistributedNpc, {
            setXY: [state.npcX, 10],
            setH: [0],
            setSmXYH: [state.npcX, 10, 0, 0],
            setKind: [1],
          });
        },
        tick(zone, state: HotState) {
          state.ticks += 1;
          if (state.ticks % NPC_EVERY_TICKS !== 0) return;
          const npc = zone.objects.get(state.npc);
          if (npc === undefined || !npc.is(DistributedNpc)) return;
          state.npcX = (state.npcX + npcStep) % CELL;
          zone.set(npc, "setXY", [state.npcX, 10]);
        },
        fields: [
          onField(DistributedAvatar, "say", (zone, state: HotState, avatar, [text]) => {
            state.heard.push([label, text]);
            zone.set(avatar, "chat", [avatar.doId, `${greeting} ${text}`]);
          }),
        ],
        ...(options.migrate || options.migrateThrows
          ? {
              migrate(state: unknown, from: string): HotState {
                if (options.migrateThrows) throw new Error(`${label} cannot read the state of ${from}`);
                return { ...(state as HotState), migratedFrom: from };
              },
            }
          : {}),
      },
    },
    async clientArrived(client, cluster) {
      const x = 5 + Math.random() * 40;
      const doId = await cluster.create(
        DistributedAvatar,
        {
          setXY: [x, 20],
          setH: [0],
          setSmXYH: [x, 20, 0, 0],
          setName: [client.username.slice(0, 32)],
          hp: 100,
        },
        { parent: HOT_WORLD, zone: 1, owner: client.channel },
      );
      cluster.addSessionObject(client.channel, doId);
    },
  });
}

/** A plugin with a kind of its own that depends on hot-world (`range`). */
export function hotExtras(range: string, kind = "extras"): ZonePlugin {
  return definePlugin({
    name: "hot-extras",
    version: "1.0.0",
    dependencies: { "hot-world": range },
    schema: demo,
    tickHz: 20,
    zones: async () => [{ parent: HOT_WORLD, zone: 3, kind }],
    kinds: {
      [kind]: { init: () => ({ ticks: 0 }), tick: (_zone, state: { ticks: number }) => void state.ticks++ },
    },
  });
}

/** A plugin of its own zones under hot-world's (`zones`, kind `camp`), each spawning `npcs` NPCs as it starts. */
export function hotCamp(options: {
  version: string;
  zones?: number[];
  npcs?: number;
  startThrows?: boolean;
}) {
  const { version } = options;
  return definePlugin({
    name: "hot-camp",
    version,
    schema: demo,
    tickHz: 20,
    async start() {
      if (options.startThrows) throw new Error(`hot-camp@${version} cannot find its camp`);
    },
    zones: async () => (options.zones ?? [3]).map((zone) => ({ parent: HOT_WORLD, zone, kind: "camp" })),
    kinds: {
      camp: {
        init: () => ({ npcs: [] as number[] }),
        start(zone, state: { npcs: number[] }) {
          for (let i = 0; i < (options.npcs ?? 2); i++) {
            const x = 10 + i * 5;
            state.npcs.push(
              zone.spawn(DistributedNpc, {
                setXY: [x, 30],
                setH: [0],
                setSmXYH: [x, 30, 0, 0],
                setKind: [2],
              }),
            );
          }
        },
      },
    },
  });
}

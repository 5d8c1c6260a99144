/**
 * The demo world's NPCs wander: a world script, run sandboxed in every zone of the map (the plugin
 * composes it with `withScript`). Every STEP_TICKS ticks each NPC takes a step of `stepUnits` towards its
 * waypoint, and picks another point of its zone once there. Positions are fixed point (`zone.fx`),
 * waypoints come from the zone's seeded random numbers: the same inputs make the same walk on any
 * replica, and a zone resumed from its snapshot walks on as the one that stopped would have.
 *
 * Written to a float32 field (`setXY`), a position is kept on a 1/256 grid, which float32 holds exactly
 * over the whole map: what the cluster stores is what the script computed.
 */
import type { ScriptObject, ScriptZone } from "@overworld/zone-ai/scripts";

/** What the plugin configures: the map (zones across, a zone's size) and the NPCs' pace. */
interface Config {
  readonly width: number;
  readonly cellSize: number;
  readonly stepTicks: number;
  readonly stepUnits: number;
}

interface State {
  ticks: number;
  /** Each NPC's waypoint, fixed point, by doId. */
  waypoints: Record<string, [number, number]>;
}

const GRID = 256;

export function init(): State {
  return { ticks: 0, waypoints: {} };
}

/** A fixed-point number on the 1/256 grid. */
function snap(zone: ScriptZone, value: number): number {
  const { fx } = zone;
  return fx.from(Math.round(fx.toNumber(value) * GRID) / GRID);
}

/** A random point of this zone, fixed point. */
function randomPoint(zone: ScriptZone): [number, number] {
  const { width, cellSize } = zone.config as Config;
  const { fx } = zone;
  const index = zone.zone - 1;
  const x0 = (index % width) * cellSize;
  const y0 = Math.floor(index / width) * cellSize;
  return [
    snap(zone, fx.random(fx.from(x0), fx.from(x0 + cellSize))),
    snap(zone, fx.random(fx.from(y0), fx.from(y0 + cellSize))),
  ];
}

export function tick(zone: ScriptZone, state: State): void {
  const { stepTicks, stepUnits } = zone.config as Config;
  const { fx } = zone;
  state.ticks += 1;
  if (state.ticks % stepTicks !== 0) return;
  const step = fx.from(stepUnits);
  for (const npc of zone.objects("DistributedNpc", ["setXY"])) {
    const at = npc.fields?.setXY as [number, number] | undefined;
    const [x, y] =
      at === undefined ? randomPoint(zone) : [snap(zone, fx.from(at[0])), snap(zone, fx.from(at[1]))];
    let target = state.waypoints[npc.doId];
    if (target === undefined || fx.hypot(target[0] - x, target[1] - y) < step) {
      target = randomPoint(zone);
      state.waypoints[npc.doId] = target;
    }
    const [nx, ny] = fx.toward(x, y, target[0], target[1], step);
    zone.set(npc.doId, "setXY", [fx.toNumber(snap(zone, nx)), fx.toNumber(snap(zone, ny))]);
  }
}

export function leave(_zone: ScriptZone, state: State, object: ScriptObject): void {
  delete state.waypoints[object.doId];
}

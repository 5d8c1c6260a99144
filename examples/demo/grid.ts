/**
 * The demo world's map: a grid of square zones under the world object, numbered row by row from 1
 * (zone 0 is left for the world itself). The zone-AI plugin places objects with it and the bot load
 * tester asks for interest with it, so both agree on which zone holds a point and which zones border it.
 * Its numbering is the protocol's zone grid (`ZoneGrid`), which a client agent follows an avatar on.
 */
import { FIRST_GRID_ZONE, gridNeighbourhood } from "../../libs/protocol/src/client/grid.ts";

export interface Grid {
  /** Zones across and down. */
  readonly width: number;
  readonly height: number;
  /** The side of one zone, in world units. */
  readonly cellSize: number;
}

export const DEFAULT_GRID: Grid = { width: 8, height: 8, cellSize: 50 };

/** The first zone number; zone 0 is not on the map. */
const FIRST_ZONE = FIRST_GRID_ZONE;

/** Parses "WxH" or "WxH@S" (S the cell size), e.g. "8x8@50". */
export function parseGrid(text: string): Grid {
  const match = /^(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?$/.exec(text.trim());
  if (match === null) throw new RangeError(`grid ${JSON.stringify(text)} must look like 8x8 or 8x8@50`);
  const grid = {
    width: Number(match[1]),
    height: Number(match[2]),
    cellSize: match[3] === undefined ? DEFAULT_GRID.cellSize : Number(match[3]),
  };
  if (grid.width < 1 || grid.height < 1 || grid.width * grid.height > 0xffff || !(grid.cellSize > 0)) {
    throw new RangeError(`grid ${JSON.stringify(text)}: 1 to 65535 zones of a positive size`);
  }
  return grid;
}

/** The world's extent in units: [0, widthUnits) x [0, heightUnits). */
export function extent(grid: Grid): { readonly x: number; readonly y: number } {
  return { x: grid.width * grid.cellSize, y: grid.height * grid.cellSize };
}

/** Every zone of the map, in order. */
export function zonesOf(grid: Grid): number[] {
  return Array.from({ length: grid.width * grid.height }, (_, index) => FIRST_ZONE + index);
}

/** The zone holding the point (points off the map belong to the nearest edge zone). */
export function zoneAt(grid: Grid, x: number, y: number): number {
  const column = clamp(Math.floor(x / grid.cellSize), 0, grid.width - 1);
  const row = clamp(Math.floor(y / grid.cellSize), 0, grid.height - 1);
  return FIRST_ZONE + row * grid.width + column;
}

/** The zone and the up to eight bordering it, in zone order (the client agent's follow interest, radius 1). */
export function neighbourhood(grid: Grid, zone: number): number[] {
  return gridNeighbourhood(grid, zone, 1);
}

/** True when the zone is on the map. */
export function onMap(grid: Grid, zone: number): boolean {
  return Number.isInteger(zone) && zone >= FIRST_ZONE && zone < FIRST_ZONE + grid.width * grid.height;
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

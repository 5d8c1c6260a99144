/**
 * A world laid out as a grid of zones under one parent: zones numbered row by row from 1 (zone 0 is left
 * for the parent itself), `width` across and `height` down. A client that follows its avatar on such a
 * grid sees the avatar's zone and the zones within `radius` of it; its client agent works them out.
 */

export interface ZoneGrid {
  /** Zones across and down (1 to 65535 zones in all). */
  readonly width: number;
  readonly height: number;
}

/** The first zone number; zone 0 is not on the grid. */
export const FIRST_GRID_ZONE = 1;

/** The most zones a follow interest may reach across (radius 0 to this). */
export const MAX_FOLLOW_RADIUS = 8;

/** True when the zone is on the grid. */
export function onGrid(grid: ZoneGrid, zone: number): boolean {
  return (
    Number.isInteger(zone) && zone >= FIRST_GRID_ZONE && zone < FIRST_GRID_ZONE + grid.width * grid.height
  );
}

/** The zone and those within `radius` zones of it (a square, clipped to the grid), in zone order. */
export function gridNeighbourhood(grid: ZoneGrid, zone: number, radius = 1): number[] {
  const index = zone - FIRST_GRID_ZONE;
  const column = index % grid.width;
  const row = Math.floor(index / grid.width);
  const zones: number[] = [];
  for (let r = Math.max(0, row - radius); r <= Math.min(grid.height - 1, row + radius); r++) {
    for (let c = Math.max(0, column - radius); c <= Math.min(grid.width - 1, column + radius); c++) {
      zones.push(FIRST_GRID_ZONE + r * grid.width + c);
    }
  }
  return zones;
}

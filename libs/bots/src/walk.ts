/**
 * A bot's random walk over the map: it keeps a heading, turns a little at random every step, and bounces
 * off the map's edges, so it wanders through zones the way a player does rather than jittering in place.
 */
import { extent, type Grid } from "../../../examples/demo/grid.ts";

/** The largest turn (degrees) between two steps, either way. */
const MAX_TURN_DEGREES = 30;
const FULL_TURN = 360;
const HALF_TURN = 180;
/** setSmXYH's heading is `int16 % 360 / 10`: tenths of a degree. */
const HEADING_STEPS_PER_DEGREE = 10;
/** How far inside the edge a bounce puts the walker, so it is on the map (extent is exclusive). */
const EDGE_MARGIN = 1e-3;

export interface Pose {
  readonly x: number;
  readonly y: number;
  /** Heading in degrees, [0, 360), in tenths. */
  readonly h: number;
}

export class RandomWalk {
  private x: number;
  private y: number;
  private heading: number;
  private readonly width: number;
  private readonly height: number;

  constructor(
    grid: Grid,
    start: { readonly x: number; readonly y: number },
    /** World units per second. */
    private readonly speed: number,
    private readonly random: () => number = Math.random,
  ) {
    const size = extent(grid);
    this.width = size.x;
    this.height = size.y;
    this.x = clampInside(start.x, this.width);
    this.y = clampInside(start.y, this.height);
    this.heading = random() * FULL_TURN;
  }

  get pose(): Pose {
    return { x: this.x, y: this.y, h: tenths(this.heading) };
  }

  /** Walks for `seconds`: turns a little, moves, bounces off the edges; returns the new pose. */
  step(seconds: number): Pose {
    this.heading += (this.random() * 2 - 1) * MAX_TURN_DEGREES;
    const radians = (this.heading * Math.PI) / HALF_TURN;
    const distance = this.speed * seconds;
    let x = this.x + Math.cos(radians) * distance;
    let y = this.y + Math.sin(radians) * distance;
    if (x < 0 || x >= this.width) {
      x = clampInside(x, this.width);
      this.heading = HALF_TURN - this.heading; // mirror across the vertical edge
    }
    if (y < 0 || y >= this.height) {
      y = clampInside(y, this.height);
      this.heading = -this.heading; // mirror across the horizontal edge
    }
    this.heading = ((this.heading % FULL_TURN) + FULL_TURN) % FULL_TURN;
    this.x = x;
    this.y = y;
    return this.pose;
  }
}

function clampInside(value: number, size: number): number {
  if (!Number.isFinite(value)) return size / 2;
  return Math.min(size - EDGE_MARGIN, Math.max(0, value));
}

function tenths(degrees: number): number {
  return (
    (Math.round(degrees * HEADING_STEPS_PER_DEGREE) % (FULL_TURN * HEADING_STEPS_PER_DEGREE)) /
    HEADING_STEPS_PER_DEGREE
  );
}

/**
 * The capacity model (issue 16 item 5): each process's cores as a sum of unit costs times the work that
 * drives it (players connected, moves entering the cluster, updates delivered, datagrams the client agents
 * send and receive), the unit costs fitted to measured runs, then used to predict a run held out of the
 * fit and to size a world of 10k, 100k and 1M players.
 *
 * Pure: no processes, no clock; bench/capacity.bench.ts measures and prints.
 */

/**
 * What drives a process's CPU, per second (players: connected at once; agents: client-agent processes,
 * each with a cost of its own at rest; one: a constant, every other process's cost at rest).
 */
export interface Drivers {
  readonly one: number;
  readonly agents: number;
  readonly players: number;
  readonly movesPerS: number;
  readonly deliveredPerS: number;
  readonly datagramsOutPerS: number;
  readonly datagramsInPerS: number;
}
export type Driver = keyof Drivers;

/**
 * Which drivers each process's CPU is modelled on: the client agents seal and send datagrams, open
 * those that come in and pack every delivered update; the state server, the zone AI, the director,
 * NATS and Redis see each move once (a zone's channel is one NATS subject, fanned out by the agents)
 * and a little of each player (heartbeats, leases); uberdog only players (logins, heartbeats).
 */
export const MODEL_DRIVERS: Readonly<Record<string, readonly Driver[]>> = {
  "client-agent": ["agents", "datagramsOutPerS", "datagramsInPerS", "deliveredPerS"],
  "state-server": ["one", "movesPerS", "players"],
  "zone-ai": ["one", "movesPerS", "players"],
  "message-director": ["one", "movesPerS", "players"],
  uberdog: ["one", "players"],
  nats: ["one", "movesPerS", "players"],
  redis: ["one", "movesPerS", "players"],
  bots: ["deliveredPerS", "datagramsInPerS", "movesPerS", "players"],
};
/** The processes that make the server side (the bots are the players' machines). */
export const SERVER_GROUPS = Object.keys(MODEL_DRIVERS).filter((group) => group !== "bots");

/** A measured run: its drivers and the cores each process group used. */
export interface Observation {
  readonly drivers: Drivers;
  readonly cores: Readonly<Record<string, number>>;
}

/** Cores per unit of each driver, by process group. */
export type UnitCosts = Readonly<Record<string, Partial<Record<Driver, number>>>>;

/**
 * Least squares with every coefficient at least 0, by trying each subset of the drivers (at most four,
 * so sixteen small solves) and keeping the best fit whose coefficients are all non-negative: a unit cost
 * below zero has no meaning.
 */
export function fitGroup(observations: readonly Observation[], group: string, drivers: readonly Driver[]) {
  let best: { costs: Partial<Record<Driver, number>>; error: number } = { costs: {}, error: Infinity };
  for (let mask = 1; mask < 1 << drivers.length; mask++) {
    const chosen = drivers.filter((_, i) => mask & (1 << i));
    if (chosen.length > observations.length) continue;
    const rows = observations.map((o) => chosen.map((d) => o.drivers[d]));
    const targets = observations.map((o) => o.cores[group] ?? 0);
    const solution = leastSquares(rows, targets);
    if (solution === undefined || solution.some((c) => c < 0)) continue;
    const error = rows.reduce((sum, row, i) => sum + (dot(row, solution) - targets[i]!) ** 2, 0);
    if (error < best.error)
      best = { costs: Object.fromEntries(chosen.map((d, i) => [d, solution[i]!])), error };
  }
  return best.costs;
}

export function fitCosts(observations: readonly Observation[]): UnitCosts {
  return Object.fromEntries(
    Object.entries(MODEL_DRIVERS).map(([group, drivers]) => [group, fitGroup(observations, group, drivers)]),
  );
}

export function predictCores(costs: UnitCosts, drivers: Drivers): Record<string, number> {
  return Object.fromEntries(
    Object.entries(costs).map(([group, perUnit]) => [
      group,
      Object.entries(perUnit).reduce((sum, [driver, cost]) => sum + cost! * drivers[driver as Driver], 0),
    ]),
  );
}

/** A world's load: players, how often each moves, how many others each sees, the agents' tick. */
export interface Load {
  readonly players: number;
  readonly moveHz: number;
  readonly visible: number;
  readonly tickHz: number;
  readonly agents: number;
}

/** How the wire packs updates, from the measured runs. */
export interface WireShape {
  /** Payload bytes per delivered update. */
  readonly bytesPerUpdate: number;
  /** The most payload one datagram carries. */
  readonly datagramBytes: number;
  /** Datagrams clients send: each move's, and acknowledgements and keep-alives of each player's. */
  readonly datagramsInPerMove: number;
  readonly datagramsInPerPlayerS: number;
}

/** The wire's shape of measured runs: bytes per update weighted by deliveries, datagrams in fitted. */
export function wireShapeOf(
  runs: readonly (Observation & { readonly bytesPerUpdate: number })[],
  datagramBytes: number,
): WireShape {
  const delivered = runs.reduce((sum, run) => sum + run.drivers.deliveredPerS, 0);
  const datagramsIn = fitGroup(
    runs.map((run) => ({ drivers: run.drivers, cores: { in: run.drivers.datagramsInPerS } })),
    "in",
    ["movesPerS", "players"],
  );
  return {
    bytesPerUpdate:
      runs.reduce((sum, run) => sum + run.bytesPerUpdate * run.drivers.deliveredPerS, 0) / delivered,
    datagramBytes,
    datagramsInPerMove: datagramsIn.movesPerS ?? 0,
    datagramsInPerPlayerS: datagramsIn.players ?? 0,
  };
}

/**
 * The drivers of a load: each player's moves reach the `visible` others; each client gets, every agent
 * tick with something for it, as many datagrams as its updates of that tick need.
 */
export function driversOf(load: Load, wire: WireShape): Drivers {
  const movesPerS = load.players * load.moveHz;
  const deliveredPerS = movesPerS * load.visible;
  const updatesPerTick = (load.moveHz * load.visible) / load.tickHz;
  const datagramsPerTick =
    updatesPerTick < 1
      ? updatesPerTick
      : Math.ceil((updatesPerTick * wire.bytesPerUpdate) / wire.datagramBytes);
  return {
    one: 1,
    agents: load.agents,
    players: load.players,
    movesPerS,
    deliveredPerS,
    datagramsOutPerS: load.players * load.tickHz * datagramsPerTick,
    datagramsInPerS: movesPerS * wire.datagramsInPerMove + load.players * wire.datagramsInPerPlayerS,
  };
}

/**
 * Solves the normal equations (AᵀA)x = Aᵀb by Gauss-Jordan elimination on columns scaled to their
 * largest value (players are hundreds, deliveries hundreds of thousands); undefined when singular.
 */
function leastSquares(
  rows: readonly (readonly number[])[],
  targets: readonly number[],
): number[] | undefined {
  const n = rows[0]?.length ?? 0;
  const scale = Array.from({ length: n }, (_, j) => Math.max(...rows.map((row) => Math.abs(row[j]!))) || 1);
  const scaled = rows.map((row) => row.map((value, j) => value / scale[j]!));
  const a = Array.from({ length: n }, (_, i) => [
    ...Array.from({ length: n }, (_, j) => scaled.reduce((sum, row) => sum + row[i]! * row[j]!, 0)),
    scaled.reduce((sum, row, k) => sum + row[i]! * targets[k]!, 0),
  ]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r]![col]!) > Math.abs(a[pivot]![col]!)) pivot = r;
    if (Math.abs(a[pivot]![col]!) < 1e-9) return undefined;
    [a[col], a[pivot]] = [a[pivot]!, a[col]!];
    const lead = a[col]!;
    for (let r = 0; r < n; r++) {
      const row = a[r]!;
      if (r === col) continue;
      const factor = row[col]! / lead[col]!;
      for (let c = col; c <= n; c++) row[c] = row[c]! - factor * lead[c]!;
    }
  }
  return a.map((row, i) => row[n]! / row[i]! / scale[i]!);
}

function dot(a: readonly number[], b: readonly number[]): number {
  return a.reduce((sum, value, i) => sum + value * b[i]!, 0);
}

import { describe, expect, it } from "vitest";
import {
  type Drivers,
  driversOf,
  fitCosts,
  fitGroup,
  type Observation,
  predictCores,
} from "../../bench/support/capacity-model.ts";

/** Runs of a made-up cluster whose processes cost exactly these per unit. */
const TRUE_COSTS = {
  "client-agent": { agents: 0.02, datagramsOutPerS: 30e-6, deliveredPerS: 0.5e-6 },
  "state-server": { movesPerS: 80e-6 },
  redis: { movesPerS: 40e-6, players: 20e-6 },
};

function observe(players: number, moveHz: number, agents = 1): Observation {
  const drivers: Drivers = {
    one: 1,
    agents,
    players,
    movesPerS: players * moveHz,
    deliveredPerS: players * moveHz * (players - 1),
    datagramsOutPerS: players * 20 * Math.ceil((moveHz * (players - 1) * 17) / 20 / 1150),
    datagramsInPerS: players * moveHz * 1.2,
  };
  return { drivers, cores: predictCores(TRUE_COSTS, drivers) };
}

describe("the capacity model", () => {
  it("recovers the unit costs of runs on one agent that follow them, and predicts a larger run on two", () => {
    const runs = [observe(60, 10), observe(100, 10), observe(150, 6), observe(150, 2), observe(220, 4)];
    const costs = fitCosts(runs);
    const held = observe(300, 2, 2);
    const predicted = predictCores(costs, held.drivers);
    for (const group of Object.keys(TRUE_COSTS)) {
      expect(predicted[group]).toBeCloseTo(held.cores[group]!, 6);
    }
  });

  it("never fits a negative cost, even where the best unconstrained fit would", () => {
    // cores fall as players rise at a fixed move rate: unconstrained, players would cost less than nothing
    const runs: Observation[] = [
      { drivers: { ...observe(100, 5).drivers, players: 100 }, cores: { uberdog: 0.3 } },
      { drivers: { ...observe(100, 5).drivers, players: 200, movesPerS: 800 }, cores: { uberdog: 0.2 } },
      { drivers: { ...observe(100, 5).drivers, players: 300, movesPerS: 1500 }, cores: { uberdog: 0.25 } },
    ];
    const costs = fitGroup(runs, "uberdog", ["players", "movesPerS"]);
    for (const cost of Object.values(costs)) expect(cost).toBeGreaterThanOrEqual(0);
  });

  it("gives each client one datagram a tick until a tick's updates fill more", () => {
    const wire = { bytesPerUpdate: 17, datagramBytes: 1150, datagramsInPerMove: 1, datagramsInPerPlayerS: 0 };
    // 50 visible at 10 Hz: 25 updates a tick, 425 bytes: one datagram a tick
    expect(
      driversOf({ players: 100, moveHz: 10, visible: 50, tickHz: 20, agents: 1 }, wire).datagramsOutPerS,
    ).toBe(2000);
    // 299 visible at 10 Hz: 150 updates a tick, 2,542 bytes: three datagrams a tick
    expect(
      driversOf({ players: 300, moveHz: 10, visible: 299, tickHz: 20, agents: 1 }, wire).datagramsOutPerS,
    ).toBe(18_000);
    // 1 visible at 2 Hz: an update every tenth tick
    expect(
      driversOf({ players: 10, moveHz: 2, visible: 1, tickHz: 20, agents: 1 }, wire).datagramsOutPerS,
    ).toBe(20);
  });
});

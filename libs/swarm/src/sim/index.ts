/** The swarm simulator: many peers in one process on a virtual clock, driving the real core. */
export * from "./events.ts";
export * from "./network.ts";
export * from "./node.ts";
export * from "./simulation.ts";

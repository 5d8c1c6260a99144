/** The swarm on the network: peer connections over UDP with grants the cluster mints (docs/assets.md). */
export * from "./cluster.ts";
export * from "./grant.ts";
export * from "./node.ts";
export * from "./wire.ts";

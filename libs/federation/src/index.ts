/** What main (services/signaling) and the link ends of clusters (services/link) share. */
export * from "./keys.ts";
export * from "./link-node.ts";
export * from "./link-token.ts";
export * from "./main-client.ts";
export * from "./signed.ts";
export * from "./wire.ts";

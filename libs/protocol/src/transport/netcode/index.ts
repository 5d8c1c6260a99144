/** netcode.io 1.02: connect tokens, packets, and the client and server connection state machines. */

export * from "./address.ts";
export * from "./challenge-token.ts";
export * from "./client.ts";
export * from "./connect-token.ts";
export * from "./constants.ts";
export * from "./crypto.ts";
export * from "./encryption-mappings.ts";
export * from "./packets.ts";
export * from "./replay-protection.ts";
export * from "./results.ts";
export * from "./server.ts";
export * from "./token-history.ts";
export * from "./udp.ts";

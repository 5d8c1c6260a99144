export * from "./bus.ts";
export * from "./config.ts";
export * from "./http.ts";
export * from "./log.ts";
export * from "./login-user-data.ts";
export * from "./participant.ts";
export * from "./retry.ts";
export * from "./stores.ts";

/** Peer-to-peer asset distribution, the transport-independent core (docs/assets.md). */
export * from "./chunks.ts";
export * from "./clock.ts";
export * from "./download.ts";
export * from "./ledbat.ts";
export * from "./picker.ts";
export * from "./pipeline.ts";
export * from "./progress.ts";
export * from "./proximity.ts";
export * from "./random.ts";
export * from "./resume.ts";
export * from "./scoring.ts";
export * from "./seed-policy.ts";
export * from "./store.ts";

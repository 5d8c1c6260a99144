/** The client message catalogue (layer 3 of the client wire) and its dclass-driven value sizer. */

export * from "./field-keys.ts";
export * from "./grid.ts";
export * from "./messages.ts";
export * from "./sizer.ts";

export * from "./dc/dclass.ts";
export * from "./dc/field.ts";
export * from "./dc/file.ts";
export * from "./dc/keywords.ts";
export * from "./dc/load.ts";
export type * from "./dc/parameter.ts";
export * from "./dc/types.ts";
export type * from "./dc/value.ts";

/**
 * The entry of the browser bundle (`pnpm build:web` -> dist/overworld-client.js): the client, and what a
 * page needs to make the model it connects with, since a browser has no .dc files to load: `parseDcText`
 * for .dc text it fetched, or `defineSchema` and `t` for classes written in TypeScript.
 */
export { defineSchema, parseDcText, t } from "@overworld/protocol";
export * from "./portable.ts";

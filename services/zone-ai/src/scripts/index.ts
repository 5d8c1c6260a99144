/**
 * World scripts in source form, sandboxed: TypeScript or JavaScript run in QuickJS (WASM) with their own
 * memory limit and a budget per call, deterministic, composed into a zone kind with `withScript`. See
 * hooks.ts for the life of a script in a zone, sandbox.ts for the sandbox, api.ts for what a script sees.
 */
export type { FixedPoint, ScriptEvent, ScriptObject, ScriptZone } from "./api.ts";
export { type CompiledScript, compileScript, compileScriptFile, type ScriptLanguage } from "./compile.ts";
export {
  type LoadScriptOptions,
  loadScript,
  type Script,
  type ScriptData,
  type ScriptsState,
  scriptHooks,
  withScript,
} from "./hooks.ts";
export {
  type PublishedScript,
  publishedScripts,
  type ScriptStop,
  scriptMetrics,
  scriptStops,
} from "./published.ts";
export { DEFAULT_LIMITS, type ScriptLimits, ScriptStopped, type StopReason } from "./sandbox.ts";

/**
 * A bot worker's first module: a worker thread runs no TypeScript by itself. On Node 20 a worker does not
 * get its parent's `--import tsx` loader (the parent's execArgv is passed on, but the hooks come too late
 * for the worker's own entry), so this plain module registers tsx's loader in the worker and then imports
 * the worker proper (worker.ts) and everything it imports as TypeScript, under `pnpm overworld` (tsx),
 * `node --import tsx` and vitest alike.
 */
import { register } from "tsx/esm/api";

register();
await import("./worker.ts");

import { isEntryPoint, runService } from "@overworld/service";
import { loadStateServerConfig } from "./config.ts";
import { startStateServer } from "./server.ts";

export { loadStateServerConfig, type StateServerConfig, stateServerConfigShape } from "./config.ts";
export { EVENT_KINDS } from "./events.ts";
export type { IdSource } from "./ids.ts";
export { type StateServerHandle, startStateServer } from "./server.ts";

if (isEntryPoint(import.meta.url))
  runService("state-server", () => loadStateServerConfig(), startStateServer);

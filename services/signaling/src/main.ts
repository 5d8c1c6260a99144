import { isEntryPoint, runService } from "@overworld/service";
import { loadSignalingConfig } from "./config.ts";
import { startSignaling } from "./server.ts";

export { buildApp, type SignalingDeps } from "./app.ts";
export { assignmentsFor, PairKeyCache, responsible } from "./broker.ts";
export { loadSignalingConfig, type SignalingConfig, signalingConfigShape } from "./config.ts";
export { Directory } from "./directory.ts";
export type {
  MainPlugin,
  MainPluginMessage,
  MainPluginSender,
  MainPlugins,
} from "./main-plugins.ts";
export { migrate } from "./migrations.ts";
export { type SignalingHandle, type SignalingOptions, startSignaling } from "./server.ts";

if (isEntryPoint(import.meta.url)) runService("signaling", () => loadSignalingConfig(), startSignaling);

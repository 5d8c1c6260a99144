import { isEntryPoint, runService } from "@overworld/service";
import { loadLinkConfig } from "./config.ts";
import { startLinkEnd } from "./link-end.ts";

export { type LinkConfig, linkConfigShape, loadLinkConfig } from "./config.ts";
export { type LinkEndHandle, startLinkEnd } from "./link-end.ts";

if (isEntryPoint(import.meta.url)) runService("link", () => loadLinkConfig(), startLinkEnd);

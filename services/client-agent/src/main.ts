import { isEntryPoint, runService } from "@overworld/service";
import { startClientAgent } from "./agent.ts";
import { loadClientAgentConfig } from "./config.ts";

export { type ClientAgentHandle, startClientAgent } from "./agent.ts";
export { type ClientAgentConfig, clientAgentConfigShape, loadClientAgentConfig } from "./config.ts";
export { AddressRateLimiter } from "./rate-limit.ts";
export { ClientSession, EJECT_LINGER_MS, MAX_CLIENT_MESSAGE_BYTES, type SessionRules } from "./session.ts";

if (isEntryPoint(import.meta.url))
  runService("client-agent", () => loadClientAgentConfig(), startClientAgent);

/** What @overworld/client offers in Node and in browsers alike (the browser bundle is this). */

export {
  type ClientEvents,
  ConnectError,
  type ConnectOptions,
  type DisconnectEvent,
  type EjectEvent,
  type InterestHandle,
  type MoveEvent,
  ObjectMirror,
  OverworldClient,
  type PluginsEvent,
  type SystemMessageEvent,
  type UpdateEvent,
} from "./client.ts";
export { type ClockEstimate, ClusterClock } from "./clock.ts";
export { Emitter, type Listener } from "./emitter.ts";
export {
  LoginError,
  type LoginResult,
  login,
  type RegisterResult,
  type RequestOptions,
  register,
} from "./login.ts";
export {
  ClientPluginMessages,
  type PluginEnd,
  type PluginErrorEvent,
  type PluginMessageEvent,
  type PluginSendOptions,
} from "./plugin-messages.ts";
export {
  type CallOptions,
  DEFAULT_REQUEST_TIMEOUT_MS,
  RequestError,
  RequestTimeoutError,
} from "./requests.ts";
export { type Resumed, ResumeError, type ResumeOptions, resume } from "./resume.ts";
export type { ClassNotifications, FieldUpdateOf } from "./typed.ts";

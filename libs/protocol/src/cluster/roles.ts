/**
 * The roles a participant of the cluster can have. Each instance of a service joins with one, and its
 * credentials let it say only what that role says (see catalogue.ts).
 *
 * - `message-director`, `state-server`, `client-agent`, `zone-ai`, `uberdog`, `signaling`: the services.
 * - `observer`: reads the world without changing it (e.g. the dashboard's live map).
 * - `admin`: an operator acting on the world (kick, set a field, delete an object).
 * - `link`: the end of a federation link, acting for another cluster on shared objects.
 * - `tool`: a command-line tool or test harness with an operator's rights over objects.
 */
export const ROLES = [
  "message-director",
  "state-server",
  "client-agent",
  "zone-ai",
  "uberdog",
  "signaling",
  "observer",
  "admin",
  "link",
  "tool",
] as const;

export type Role = (typeof ROLES)[number];

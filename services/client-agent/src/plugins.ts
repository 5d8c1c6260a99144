/**
 * The client plugins this agent's clients must run: the cluster's link end fetches main's plugin set,
 * verifies it against the cluster's trust list and resolves it with the cluster's own required client
 * plugins (services/link plugin-sync.ts), then tells every agent (`ca.plugins`, each agent hears it). The
 * agent tells each client in its hello (PLUGINS just before HELLO_RESP), and tells the connected ones again
 * when the set changes. The link end tells the set again every poll, so an agent started later learns it.
 */
import { messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";
import type { ClientPluginSet } from "./session.ts";

export class ClientPlugins {
  current: ClientPluginSet = { push: 0, required: [] };

  /** Takes a set the link end told; true when it differs from the one held (an older push is ignored). */
  update(set: ClientPluginSet): boolean {
    if (set.push < this.current.push) return false;
    if (set.push === this.current.push && sameSet(set, this.current)) return false;
    this.current = { push: set.push, required: set.required.map((pin) => ({ ...pin })) };
    return true;
  }
}

function sameSet(a: ClientPluginSet, b: ClientPluginSet): boolean {
  return (
    a.required.length === b.required.length &&
    a.required.every((pin, at) => {
      const other = b.required[at]!;
      return pin.name === other.name && pin.version === other.version && pin.id === other.id;
    })
  );
}

export interface PluginTeller {
  tellPlugins(set: ClientPluginSet): number;
}

/** Serves `ca.plugins` for this agent until the subscription is closed. */
export function servePlugins(
  participant: Participant,
  instanceId: string,
  plugins: ClientPlugins,
  sessions: PluginTeller,
  log: Logger,
): Subscription {
  return serve(
    participant.nc,
    participant.subjects.served("ca", "plugins"),
    messages.CLIENT_AGENT_OPS.plugins.request,
    (body): messages.ResultOf<typeof messages.CLIENT_AGENT_OPS.plugins> => {
      if (plugins.update(body)) {
        const told = sessions.tellPlugins(plugins.current);
        log.info(
          { push: body.push, plugins: body.required.map((pin) => `${pin.name}@${pin.version}`), told },
          "client plugins changed",
        );
      }
      return { agent: participant.channel, instanceId };
    },
    { log },
  );
}

/**
 * What a client agent answers operators (uberdog's admin API, the live map): `ca.sessions`, the sessions
 * it holds. Every agent hears the request (no queue group: `ca` is asked of all agents at once) and
 * answers for its own clients; the catalogue lets only readers and operators ask. Kicks and system
 * messages need nothing here: operators publish them to the client's channel (`eject`, `system-message`
 * control messages), which the agent already obeys.
 */
import { messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";

export interface SessionDirectory {
  sessionsInfo(accountId?: number): messages.SessionInfo[];
}

/** Serves `ca.sessions` for this agent until the subscription is closed. */
export function serveOperators(
  participant: Participant,
  instanceId: string,
  directory: SessionDirectory,
  log: Logger,
): Subscription {
  return serve(
    participant.nc,
    participant.subjects.served("ca", "sessions"),
    messages.CLIENT_AGENT_OPS.sessions.request,
    (body): messages.ResultOf<typeof messages.CLIENT_AGENT_OPS.sessions> => ({
      agent: participant.channel,
      instanceId,
      sessions: directory.sessionsInfo(body.accountId),
    }),
    { log },
  );
}

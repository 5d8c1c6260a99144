/**
 * What a client agent answers operators (uberdog's admin API, the live map): `ca.sessions`, the sessions
 * it holds, and `ca.load`, how full it is (uberdog puts the least loaded agent first in its tokens). Every agent hears the request (no queue group: `ca` is asked of all agents at once) and
 * answers for its own clients; the catalogue lets only readers and operators ask. Kicks and system
 * messages need nothing here: operators publish them to the client's channel (`eject`, `system-message`
 * control messages), which the agent already obeys.
 */
import { messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";

export interface SessionDirectory {
  sessionsInfo(accountId?: number): messages.SessionInfo[];
  /** Where players reach this agent, how many it holds and how many it takes (`ca.load`). */
  load(): { publicAddress: string; clients: number; maxClients: number };
}

/** Serves `ca.sessions` and `ca.load` for this agent until the subscriptions are closed. */
export function serveOperators(
  participant: Participant,
  instanceId: string,
  directory: SessionDirectory,
  log: Logger,
): Subscription[] {
  return [
    serve(
      participant.nc,
      participant.subjects.served("ca", "sessions"),
      messages.CLIENT_AGENT_OPS.sessions.request,
      (body): messages.ResultOf<typeof messages.CLIENT_AGENT_OPS.sessions> => ({
        agent: participant.channel,
        instanceId,
        sessions: directory.sessionsInfo(body.accountId),
      }),
      { log },
    ),
    serve(
      participant.nc,
      participant.subjects.served("ca", "load"),
      messages.CLIENT_AGENT_OPS.load.request,
      (): messages.ResultOf<typeof messages.CLIENT_AGENT_OPS.load> => ({
        agent: participant.channel,
        instanceId,
        ...directory.load(),
      }),
      { log },
    ),
  ];
}

/**
 * The leader's duty: declaring dead the participants past their deadline and publishing their
 * post-removes. A participant is claimed (atomically, fenced by the lease) before anything is published,
 * so two replicas can never both fire it; its messages stay in a firing list until they have reached
 * NATS, so a director that dies mid-way leaves them for the next leader instead of losing them.
 */
import type { Identity, messages } from "@overworld/protocol";
import { appendEvent, type Logger, type NatsConnection } from "@overworld/service";
import type { DirectorMetrics } from "./metrics.ts";
import type { Claim, Registry } from "./registry.ts";

/** How many dead participants one sweep handles; the next sweep takes the rest. */
const SWEEP_BATCH = 64;

export interface ReaperOptions {
  nc: NatsConnection;
  registry: Registry;
  metrics: DirectorMetrics;
  log: Logger;
  root: string;
  /** The director replica, as its events say. */
  self: Identity;
  /** A firing unfinished for this long is taken over (its director is presumed dead). */
  staleFiringMs: number;
}

export type SweepResult = "done" | "lost-lease";

export class Reaper {
  constructor(private readonly options: ReaperOptions) {}

  /** Declares dead every participant past its deadline, then resumes firings left unfinished. */
  async sweep(leaseValue: string): Promise<SweepResult> {
    const { registry } = this.options;
    for (const channel of await registry.due(SWEEP_BATCH)) {
      const claim = await registry.claimDead(channel, leaseValue);
      if (claim.status === "not-leader") return "lost-lease";
      if (claim.status === "claimed") await this.fire(channel, claim, "declared dead");
    }
    for (const channel of await registry.staleFirings(SWEEP_BATCH, this.options.staleFiringMs)) {
      const claim = await registry.reclaimFiring(channel, leaseValue, this.options.staleFiringMs);
      if (claim.status === "not-leader") return "lost-lease";
      if (claim.status === "claimed") await this.fire(channel, claim, "firing resumed");
    }
    return "done";
  }

  private async fire(
    channel: number,
    claim: Extract<Claim, { status: "claimed" }>,
    what: string,
  ): Promise<void> {
    const { nc, registry, metrics, log } = this.options;
    const published = this.publishAll(channel, claim.messages);
    await nc.flush();
    metrics.deaths.inc();
    metrics.postRemovesFired.inc(published);
    log.warn(
      { channel, role: claim.info.role, instance: claim.info.instanceId, postRemoves: published },
      `participant ${what}; post-removes published`,
    );
    await this.logDeath(channel, claim, published);
    await registry.finishFiring(channel);
  }

  private publishAll(channel: number, list: readonly messages.PostRemove[]): number {
    let published = 0;
    for (const message of list) {
      try {
        this.options.nc.publish(message.subject, message.payload);
        published += 1;
      } catch (error) {
        this.options.log.error(
          { err: error, channel, subject: message.subject },
          "a post-remove could not be published",
        );
      }
    }
    return published;
  }

  /** The event log entry; idempotent (by message id), and never a reason not to finish the firing. */
  private async logDeath(
    channel: number,
    claim: Extract<Claim, { status: "claimed" }>,
    published: number,
  ): Promise<void> {
    const data = {
      channel,
      role: claim.info.role,
      instanceId: claim.info.instanceId,
      postRemoves: published,
    };
    try {
      await appendEvent(this.options.nc, "participant.died", data, {
        root: this.options.root,
        from: this.options.self,
        msgId: `participant.died.${channel}`,
      });
    } catch (error) {
      this.options.log.error({ err: error, channel }, "cannot append participant.died to the event log");
    }
  }
}

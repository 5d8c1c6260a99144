/**
 * The state server as a participant of the cluster: it joins through the message director (role
 * `state-server`, its version and the schema hash of its DC_FILES), heartbeats, takes doIds from the
 * director's allocator, appends to the event log, and says goodbye when it stops. If the director
 * declares it dead while it still runs (a long pause, a partition), it joins again.
 */
import { formatHash, messages, subjects } from "@overworld/protocol";
import {
  ConfigError,
  type JoinOptions,
  joinCluster,
  type Logger,
  type NatsConnection,
  type Participant,
  untilReachable,
} from "@overworld/service";
import type { IdSource } from "./ids.ts";

export interface MembershipOptions {
  readonly root: string;
  readonly instanceId: string;
  readonly version: string;
  readonly schemaHash: number;
  /** How many doIds to take from the director at a time. */
  readonly doIdBlock: number;
  readonly log: Logger;
}

/** How long to wait before trying again to join after being declared dead, at first and at most. */
const REJOIN_FIRST_DELAY_MS = 100;
const REJOIN_MAX_DELAY_MS = 2000;

/**
 * The director refused this state server (its version or schema hash is not the cluster's). A
 * configuration error: the process must be given the cluster's version and .dc files.
 */
export class JoinRefused extends ConfigError {}

/** Joins the cluster, waiting for a director to answer (as for NATS, within CONNECT_TIMEOUT_MS). */
export async function joinAsStateServer(
  nc: NatsConnection,
  options: MembershipOptions,
): Promise<ClusterMember> {
  const member = new ClusterMember(nc, options);
  await member.join();
  return member;
}

export class ClusterMember implements IdSource {
  private participant: Participant | undefined;
  private rejoining: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: MembershipOptions,
  ) {}

  /** The channel the director gave this state server (changes if it has to join again). */
  get channel(): number {
    return this.participant?.channel ?? 0;
  }

  /** True while the director counts this state server among the living. */
  get alive(): boolean {
    return this.participant?.alive === true;
  }

  /** Joins; retries while no director answers, throws `JoinRefused` naming both values on a mismatch. */
  async join(): Promise<void> {
    const { root, instanceId, version, schemaHash, doIdBlock, log } = this.options;
    let joined: Participant | undefined;
    const joinOptions: JoinOptions = {
      role: "state-server",
      instanceId,
      version,
      schemaHash,
      root,
      doIdBlock,
      log,
      // only the current registration's death matters; an earlier one's heartbeat may report late
      onDead: (reason) => {
        if (joined !== undefined && joined === this.participant) this.onDead(reason);
      },
    };
    const joinSubject = subjects(root).service("md", "join");
    const outcome = await untilReachable(`the message director (${joinSubject})`, async () => {
      try {
        return { participant: await joinCluster(this.nc, joinOptions) };
      } catch (error) {
        if (error instanceof messages.RequestError && error.code === "unavailable") throw error;
        return { refusal: error };
      }
    });
    if ("refusal" in outcome) {
      const refusal = outcome.refusal;
      if (refusal instanceof messages.RequestError && refusal.code === "mismatch") {
        throw new JoinRefused(
          `the message director refused this state server (version ${version}, schema hash ${formatHash(schemaHash)}): ${refusal.message}`,
        );
      }
      throw refusal;
    }
    joined = outcome.participant;
    this.participant = joined;
    log.info(
      { channel: this.participant.channel, version, schemaHash: formatHash(schemaHash) },
      "joined the cluster",
    );
  }

  /** A doId from the director's allocator (cached in ranges of DOID_BLOCK). */
  async next(): Promise<number> {
    const participant = await this.current();
    try {
      return await participant.nextDoId();
    } catch (error) {
      const forgotten = error instanceof messages.RequestError && error.code === "not_found";
      if (!forgotten || this.stopped) throw error;
      // declared dead since the last heartbeat: join again and take the id from the new registration
      if (participant === this.participant) this.onDead(error.message);
      return (await this.current()).nextDoId();
    }
  }

  /** Appends an event to the cluster event log, naming this state server as its source. */
  async appendEvent(kind: string, data: unknown): Promise<number> {
    return (await this.current()).appendEvent(kind, data);
  }

  /** Says goodbye (the director forgets this state server). Errors are logged, not thrown. */
  async leave(): Promise<void> {
    this.stopped = true;
    await this.rejoining?.catch(() => undefined);
    const participant = this.participant;
    if (!participant?.alive) return;
    try {
      await participant.leave();
      this.options.log.info({ channel: participant.channel }, "left the cluster");
    } catch (error) {
      this.options.log.warn({ err: error, channel: participant.channel }, "goodbye not acknowledged");
    }
  }

  private async current(): Promise<Participant> {
    if (this.rejoining) await this.rejoining;
    const participant = this.participant;
    if (!participant)
      throw new messages.RequestError("unavailable", "the state server has not joined the cluster");
    return participant;
  }

  /** Declared dead while running: join again (a new channel), retrying until it works or we stop. */
  private onDead(reason: string): void {
    if (this.stopped || this.rejoining) return;
    this.options.log.warn({ reason }, "declared dead by the message director; joining again");
    this.rejoining = this.rejoin().finally(() => {
      this.rejoining = undefined;
    });
  }

  private async rejoin(): Promise<void> {
    let delay = REJOIN_FIRST_DELAY_MS;
    while (!this.stopped) {
      try {
        await this.join();
        return;
      } catch (error) {
        this.options.log.error({ err: error }, "joining the cluster again failed; retrying");
        await new Promise((wake) => setTimeout(wake, delay));
        delay = Math.min(REJOIN_MAX_DELAY_MS, delay * 2);
      }
    }
  }
}

/**
 * A zone-AI replica: joins the cluster (role `zone-ai`), learns its peers from the message director (and
 * their liveness from short-lived Redis keys, so that a replica killed -9 drops out within a lease), spreads
 * the plugin's zones over the live replicas by rendezvous hashing, and runs the zones that fall to it once
 * it holds their leases (one running owner per zone: a zone starts only under a lease and stops the moment
 * its lease is lost).
 *
 * A zone is followed from its journal (the JetStream stream over the zone channels' subjects): from the
 * sequence after its last snapshot, so that a zone resumed on another replica replays exactly the inputs
 * its snapshot does not include, then goes on live. Every tick its outputs go to the state server in order;
 * every SNAPSHOT_EVERY_MS its snapshot is stored.
 */
import {
  type DcFile,
  decodeEnvelope,
  encodeEnvelope,
  legacyHash,
  messages,
  type Subjects,
} from "@overworld/protocol";
import {
  type Logger,
  type Participant,
  parseDelivery,
  parseMessage,
  publish,
  type Redis,
  UpdateForwarder,
  untilReachable,
} from "@overworld/service";
import { AwaitedCalls } from "./calls.ts";
import { type InstanceOutput, Instances } from "./instances.ts";
import type { ZoneJournal } from "./journal.ts";
import { Placement, zoneKey } from "./placement.ts";
import type { ArrivingClient, Cluster, ZonePlugin, ZoneSpec } from "./plugin.ts";
import { pluginMessageSender, servePluginMessages } from "./plugin-messages.ts";
import type { PluginSet } from "./plugins/compose.ts";
import { encodeSwitch, readSwitch, switchGroups } from "./plugins/switch-entry.ts";
import type { ZoneChannels } from "./zone-channels.ts";
import type { ZoneLeases } from "./zone-leases.ts";
import {
  packFields,
  snapshotData,
  type ZoneInput,
  type ZoneObjectData,
  type ZoneOutput,
  ZoneRuntime,
  type ZoneSnapshot,
} from "./zone-runtime.ts";

/** How often a replica looks at its peers and its zones. */
const CONTROL_EVERY_MS = 200;
/** A replica's liveness key lasts this long; it is refreshed every CONTROL_EVERY_MS. */
const ALIVE_TTL_MS = 800;
const REQUEST_TIMEOUT_MS = 5000;
const DEFAULT_TICK_HZ = 10;
const MS_PER_SECOND = 1000;
/** A refused lease is asked for again this long after it should have expired. */
const LEASE_RETRY_SLACK_MS = 5;
/** Spawn ids taken at a time for a zone. */
const ID_BLOCK = 128;

/**
 * The prefix of zone AI's shared registries (zone channels, instances): one hash tag, `{zone-ai}`, so that
 * their scripts, which take several of these keys, touch one slot of a Redis Cluster.
 */
export function zoneAiSlotPrefix(redisPrefix: string): string {
  return `${redisPrefix}zone-ai:{zone-ai}`;
}

export interface ReplicaDeps {
  readonly redis: Redis;
  readonly participant: Participant;
  readonly journal: ZoneJournal;
  readonly leases: ZoneLeases;
  readonly channels: ZoneChannels;
  readonly plugin: ZonePlugin;
  /**
   * The plugins behind `plugin` and every version loaded (plugins/compose.ts): zones name their code by
   * version, a snapshot's version resumes it, and switches in the journal hand it to another.
   */
  readonly versions?: PluginSet;
  readonly dc: DcFile;
  readonly redisPrefix: string;
  readonly snapshotEveryMs: number;
  readonly log: Logger;
}

interface RunningZone {
  readonly spec: ZoneSpec;
  readonly key: string;
  readonly runtime: ZoneRuntime;
  readonly stops: (() => void)[];
  /** Outputs are sent one after the other. */
  chain: Promise<void>;
  lastSnapshotAt: number;
  snapshotting: boolean;
  /** A block of spawn ids is being asked for. */
  refilling: boolean;
  /** Not ticking: its lease's local deadline passed without a renewal (the next renewal resumes or ends it). */
  paused: boolean;
}

export class Replica {
  private readonly names: Subjects;
  private readonly instance: string;
  private specs: ZoneSpec[] = [];
  private readonly running = new Map<string, RunningZone>();
  private readonly starting = new Set<string>();
  private placement = new Placement([]);
  private peers: string[] = [];
  private controlTimer: NodeJS.Timeout | undefined;
  private tickTimer: NodeJS.Timeout | undefined;
  private controlling = false;
  /** What to undo when the replica stops. */
  private readonly stops: (() => void)[] = [];
  private stopped = false;
  /** What plugins may do outside any zone (their `start`, `zones`, `clientArrived`). */
  readonly cluster: Cluster;
  /** The plugin's awaitable requests (`Cluster.request`), answered on this replica's own channel. */
  private readonly calls: AwaitedCalls;
  /** The zones' field updates, held until a state server acknowledges them, in order (one batch in flight). */
  private readonly forwarder: UpdateForwarder;
  /** Instances: the registry, their outputs, keeping and closing them (instances.ts). */
  readonly instances: Instances;
  /**
   * Zones resumed (started from a snapshot) and started fresh, inputs received, pauses (a lease not renewed
   * in time), and stray leases (held for a zone that neither runs nor starts here: released by the
   * placement round; never expected), for metrics and tests.
   */
  readonly counts = { resumed: 0, fresh: 0, inputs: 0, pauses: 0, strayLeases: 0 };

  constructor(private readonly deps: ReplicaDeps) {
    this.names = deps.participant.subjects;
    this.instance = String(deps.participant.channel);
    this.instances = new Instances({
      ...deps,
      prefix: zoneAiSlotPrefix(deps.redisPrefix),
      running: () => [...this.running.values()].map((zone) => zone.spec),
      retire: (key) => this.retire(key),
    });
    this.calls = new AwaitedCalls(deps.participant);
    this.cluster = this.makeCluster();
    this.forwarder = new UpdateForwarder({
      send: (batch) => deps.participant.request("ss", "updates", batch, REQUEST_TIMEOUT_MS),
      giveUp: (zones, reason) =>
        deps.log.error({ zones, reason }, "zone updates dropped: no state server acknowledged them"),
      log: deps.log,
    });
  }

  /** The zones this replica runs now (`parent.zone`). */
  get zones(): string[] {
    return [...this.running.keys()].sort();
  }

  /** The live replicas as this one last saw them (participant channels). */
  get members(): readonly string[] {
    return this.peers;
  }

  /**
   * The plugin's zones. A cluster started all at once (docker compose, Kubernetes) may bring zone AI up
   * before any state server, and a plugin's `zones` may ask one (the demo's asks whether its objects
   * exist): while nothing answers, it is asked again, as a service waits for NATS; any other error is
   * the plugin's, thrown at once.
   */
  private async zonesOf(plugin: ZonePlugin): Promise<Iterable<ZoneSpec>> {
    const outcome = await untilReachable("an answer to the plugin's zones (a state server)", async () => {
      try {
        return { specs: await plugin.zones(this.cluster) };
      } catch (error) {
        if ((error as { code?: string }).code === "unavailable") throw error;
        return { error };
      }
    });
    if ("error" in outcome) throw outcome.error;
    return outcome.specs;
  }

  async start(): Promise<void> {
    const { plugin, log } = this.deps;
    if (legacyHash(plugin.schema.file) !== legacyHash(this.deps.dc)) {
      throw new Error(
        `plugin ${plugin.name} is written against other classes than the cluster's DC_FILES (schema hash 0x${legacyHash(plugin.schema.file).toString(16)} vs 0x${legacyHash(this.deps.dc).toString(16)})`,
      );
    }
    this.hearOwnChannel(); // before `zones`, which may make requests
    await plugin.start?.(this.cluster);
    this.specs = [...(await this.zonesOf(plugin))];
    for (const spec of this.specs) {
      if (plugin.kinds[spec.kind] === undefined) {
        throw new Error(`plugin ${plugin.name} names zone kind ${spec.kind} but has no hooks for it`);
      }
      await this.deps.channels.channelOf(spec.parent, spec.zone);
    }
    const subscription = this.deps.participant.nc.subscribe(this.names.served("game", "client-arrived"), {
      queue: this.names.queue("game"),
      callback: (error, msg) => {
        if (error) return;
        let notice: messages.ClientArrived;
        try {
          notice = parseMessage(messages.clientArrived, msg.data);
        } catch (problem) {
          log.warn({ err: problem }, "unreadable client-arrived notice dropped");
          return;
        }
        const client: ArrivingClient = {
          channel: notice.client,
          accountId: notice.accountId,
          username: notice.username,
        };
        plugin.clientArrived?.(client, this.cluster).catch((problem: unknown) => {
          log.error(
            { err: problem, client: client.channel },
            "the plugin failed to receive an arriving client",
          );
        });
      },
    });
    this.stops.push(() => subscription.unsubscribe());
    const pluginMessages = servePluginMessages({
      participant: this.deps.participant,
      plugin: (name) => this.deps.versions?.get(name) ?? (name === plugin.name ? plugin : undefined),
      cluster: this.cluster,
      log,
    });
    this.stops.push(() => pluginMessages.unsubscribe());
    await this.control();
    this.instances.start();
    this.controlTimer = setInterval(() => void this.control(), CONTROL_EVERY_MS);
    this.tickTimer = setInterval(() => this.tick(), MS_PER_SECOND / (plugin.tickHz ?? DEFAULT_TICK_HZ));
    log.info({ zones: this.specs.length, plugin: plugin.name }, "zone-AI replica started");
  }

  /** Stops every zone (storing its snapshot and releasing its lease, so that peers resume it at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.controlTimer);
    clearInterval(this.tickTimer);
    this.instances.stop();
    for (const stop of this.stops.splice(0)) stop();
    this.calls.closeAll("the zone-AI replica stopped");
    await Promise.all([...this.running.values()].map((zone) => this.stopZone(zone, true)));
    await this.forwarder.drain(REQUEST_TIMEOUT_MS);
    this.forwarder.close();
    await this.deps.redis.del(this.aliveKey(this.instance)).catch(() => undefined);
  }

  /** The replies to the plugin's awaitable requests come to the replica's own channel. */
  private hearOwnChannel(): void {
    const subscription = this.deps.participant.nc.subscribe(
      this.names.participant(this.deps.participant.channel),
      {
        callback: (error, msg) => {
          if (error) return;
          try {
            this.calls.receive(parseMessage(messages.requestReply, msg.data));
          } catch {
            // not a reply (nothing else is sent to a replica's channel): dropped
          }
        },
      },
    );
    this.stops.push(() => subscription.unsubscribe());
  }

  // ---- placement -----------------------------------------------------------------------------------

  private aliveKey(instance: string): string {
    return `${this.deps.redisPrefix}zone-ai:alive:${instance}`;
  }

  /** Refreshes liveness, recomputes the placement, starts and stops zones. One at a time. */
  private async control(): Promise<void> {
    if (this.controlling || this.stopped) return;
    this.controlling = true;
    try {
      await this.deps.redis.set(this.aliveKey(this.instance), "1", "PX", ALIVE_TTL_MS);
      const members = (await this.deps.participant.members("zone-ai")).map((member) =>
        String(member.channel),
      );
      const alive =
        members.length === 0 ? [] : await this.deps.redis.mget(members.map((m) => this.aliveKey(m)));
      const peers = members.filter((_, index) => alive[index] !== null);
      if (!peers.includes(this.instance)) peers.push(this.instance);
      peers.sort();
      if (peers.join() !== this.peers.join()) {
        this.deps.log.info({ replicas: peers }, "zone-AI replicas changed");
        this.peers = peers;
        this.placement = new Placement(peers);
      }
      await this.instances.refresh();
      const specs = [...this.specs, ...this.instances.specs];
      const known = new Set(specs.map((spec) => zoneKey(spec.parent, spec.zone)));
      for (const zone of this.running.values()) if (!known.has(zone.key)) await this.retire(zone.key); // a closed instance's
      for (const spec of specs) {
        const key = zoneKey(spec.parent, spec.zone);
        const mine = this.placement.ownerOf(key) === this.instance;
        const zone = this.running.get(key);
        if (mine && zone === undefined && !this.starting.has(key)) void this.startZone(spec, key);
        else if (!mine && zone !== undefined) await this.stopZone(zone, true);
      }
      // a lease held for a zone neither running nor starting here keeps every replica from running it
      for (const key of this.deps.leases.zones()) {
        if (this.running.has(key) || this.starting.has(key)) continue;
        this.counts.strayLeases += 1;
        this.deps.log.warn({ zone: key }, "a lease held for a zone that does not run here: released");
        await this.deps.leases.release(key).catch(() => undefined);
      }
    } catch (error) {
      this.deps.log.warn({ err: error }, "zone placement round failed; retrying");
    } finally {
      this.controlling = false;
    }
  }

  // ---- running a zone ------------------------------------------------------------------------------

  private async startZone(spec: ZoneSpec, key: string): Promise<void> {
    this.starting.add(key);
    const { leases, journal, log, plugin } = this.deps;
    /** What a half-started zone has set up, undone if the start fails. */
    const stops: (() => void)[] = [];
    /** One step of the start, bounded: a step that hangs fails the start (retried next round), naming it. */
    const step = <T>(what: string, work: Promise<T>, undoLate?: (late: T) => void): Promise<T> =>
      boundedStep(`zone ${key}: ${what}`, work, undoLate);
    try {
      const lease = await leases.acquire(key);
      if (this.stopped) return;
      if (lease.acquired && spec.instance && !(await this.instances.isOpen(spec.instance.parent))) {
        await leases.release(key); // closed since the placement round: it must not start again
        return;
      }
      if (!lease.acquired) {
        // its last owner's lease has not run out yet: try again the moment it does (not a round later)
        setTimeout(() => this.retryStart(spec, key), lease.expiresInMs + LEASE_RETRY_SLACK_MS).unref();
        return;
      }
      const channel = this.deps.channels.cached(spec.parent, spec.zone);
      const saved = await step(
        "loading its snapshot",
        journal.loadSnapshot({ parentId: spec.parent, zoneId: spec.zone }),
      );
      const snapshot = saved ? (decodeEnvelope(saved.state) as ZoneSnapshot) : undefined;
      const code = this.codeToResume(spec, snapshot?.code);
      const runtime = new ZoneRuntime({
        spec,
        channel,
        dc: plugin.schema.file, // the same classes as DC_FILES (checked at start), as the plugin's handles know them
        hooks:
          (code === undefined ? undefined : this.deps.versions?.hooksOf(code, spec.kind)) ??
          plugin.kinds[spec.kind]!,
        ...(code === undefined ? {} : { code }),
        templates: plugin.instances,
        channelOf: (zone) => this.deps.channels.cached(spec.parent, zone),
        log: {
          info: (message, details) => log.info({ zone: key, ...details }, message),
          warn: (message, details) => log.warn({ zone: key, ...details }, message),
        },
      });
      const zone: RunningZone = {
        spec,
        key,
        runtime,
        stops,
        chain: Promise.resolve(),
        lastSnapshotAt: Date.now(),
        snapshotting: false,
        refilling: false,
        paused: false,
      };
      // a fresh zone spawns in `start`: it needs ids first (a resumed one has its block in the snapshot)
      if (snapshot === undefined) await step("taking doIds", this.refillIds(runtime));
      const objects = await step("reading its objects", this.query(spec.parent, [spec.zone]));
      const first = runtime.begin(objects, snapshot, Date.now());
      if (snapshot === undefined) {
        // a fresh zone's first snapshot is stored before its spawns leave: were its lease lost before the
        // next one, a second fresh start elsewhere would spawn them again, under other doIds
        await step("storing its first snapshot", this.saveSnapshot(zone));
        if (!leases.holds(key)) throw new Error("its lease was lost while it started");
      }
      this.send(zone, first);
      // follow the journal before the neighbours, so no input of the zone is missed
      zone.stops.push(
        await step(
          "following its journal",
          journal.follow(channel, runtime.seq, (entry) => {
            let message: messages.ZoneChannelMessage;
            try {
              message = parseMessage(messages.zoneChannelMessage, entry.data);
            } catch {
              const change = readSwitch(entry.data, channel);
              if (change !== undefined) {
                const hooks = this.deps.versions?.hooksOf(change.to, spec.kind);
                runtime.receiveSwitch({ seq: entry.seq, to: change.to, hooks });
              }
              return; // not for zone logic (or from a newer version): skipped, as the journal keeps it
            }
            this.counts.inputs += 1;
            runtime.receive({ seq: entry.seq, time: entry.time, message } satisfies ZoneInput);
          }),
          (stop) => stop(),
        ),
      );
      await step("watching its neighbours", this.watchNeighbours(zone));
      if (!leases.holds(key) || this.stopped) {
        // lost or not renewed in time while starting: undone, and the lease (if still ours) given up
        for (const stop of zone.stops) stop();
        await leases.release(key).catch(() => undefined);
        return;
      }
      this.running.set(key, zone);
      // resumed under an older version than runs here now: handed to the current one (journaled)
      const current = this.deps.versions?.codeOf(spec.kind);
      if (current !== undefined && runtime.code !== current) {
        await this.appendSwitches([zone], current).catch((error: unknown) =>
          log.warn({ err: error, zone: key }, "the zone's switch to the current code was not journaled"),
        );
      }
      if (snapshot) this.counts.resumed += 1;
      else this.counts.fresh += 1;
      log.info(
        { zone: key, channel, resumedFrom: snapshot?.seq ?? null, objects: objects.length },
        "zone started",
      );
    } catch (error) {
      for (const stop of stops) stop();
      log.error({ err: error, zone: key }, "zone failed to start; retrying");
      await leases.release(key).catch(() => undefined);
    } finally {
      this.starting.delete(key);
    }
  }

  // ---- plugin versions (plugins/hot-swap.ts) ------------------------------------------------------

  /** The code a zone resumes with: its snapshot's, if loaded here, else the current code of its kind. */
  private codeToResume(spec: ZoneSpec, saved: string | undefined): string | undefined {
    const versions = this.deps.versions;
    if (versions === undefined) return undefined;
    if (saved !== undefined && versions.has(saved)) return saved;
    if (saved !== undefined) {
      this.deps.log.warn(
        { zone: zoneKey(spec.parent, spec.zone), snapshotCode: saved },
        "the zone's snapshot is of a version not loaded here; it resumes under the current one",
      );
    }
    return versions.codeOf(spec.kind);
  }

  /** A running zone's snapshot as it would be stored now (for tests and operators). */
  snapshotOf(key: string): ZoneSnapshot | undefined {
    return this.running.get(key)?.runtime.snapshot();
  }

  /** The kind of a running zone. */
  kindOf(key: string): string | undefined {
    return this.running.get(key)?.spec.kind;
  }

  /** The code each running zone runs (`parent.zone` → `name@version`). */
  codes(): Record<string, string | undefined> {
    return Object.fromEntries([...this.running].map(([key, zone]) => [key, zone.runtime.code]));
  }

  /**
   * Tries handing the running zones of `kinds` to the code `to` (a loaded version): each one's `migrate`
   * runs on a copy of its state, between two ticks, one zone at a time (the ticks go on in between); the
   * first that throws is named in the error. Changes nothing; returns how long each zone's took (ms).
   */
  async trySwitch(kinds: ReadonlySet<string>, to: string): Promise<Map<string, number>> {
    const versions = this.deps.versions;
    if (versions === undefined) throw new Error("this replica runs no plugin set: it cannot switch code");
    const costs = new Map<string, number>();
    for (const zone of this.zonesToSwitch(kinds, to)) {
      const hooks = versions.hooksOf(to, zone.spec.kind);
      if (hooks === undefined)
        throw new Error(`${to} has no zone kind ${zone.spec.kind} (zone ${zone.key} runs it)`);
      const started = performance.now();
      const problem = zone.runtime.trySwitch(hooks);
      costs.set(zone.key, performance.now() - started);
      if (problem !== undefined) {
        throw new Error(`zone ${zone.key} cannot be handed to ${to}: its migrate threw: ${problem.message}`, {
          cause: problem,
        });
      }
      await new Promise((resolve) => setImmediate(resolve)); // a tick due meanwhile runs now
    }
    return costs;
  }

  /**
   * Hands the running zones of `kinds` not running `to` yet to it: a switch entry appended to each one's
   * journal, which the zone applies when its tick reaches it. With the migrations' costs (`trySwitch`),
   * the entries go in groups that fit half a tick's time together, a tick apart, so that no tick migrates
   * every zone at once. Returns the zones.
   */
  async switchCode(
    kinds: ReadonlySet<string>,
    to: string,
    costs: ReadonlyMap<string, number> = new Map(),
  ): Promise<string[]> {
    const zones = this.zonesToSwitch(kinds, to);
    const tickMs = MS_PER_SECOND / (this.deps.plugin.tickHz ?? DEFAULT_TICK_HZ);
    const groups = switchGroups(
      zones.map((zone) => [zone.key, costs.get(zone.key) ?? 0] as const),
      tickMs / 2,
    );
    for (const [index, group] of groups.entries()) {
      if (index > 0) await new Promise((resolve) => setTimeout(resolve, tickMs));
      await this.appendSwitches(
        zones.filter((zone) => group.includes(zone.key) && this.running.get(zone.key) === zone),
        to,
      );
    }
    return zones.map((zone) => zone.key);
  }

  private zonesToSwitch(kinds: ReadonlySet<string>, to: string): RunningZone[] {
    return [...this.running.values()].filter((zone) => kinds.has(zone.spec.kind) && zone.runtime.code !== to);
  }

  private async appendSwitches(zones: readonly RunningZone[], to: string): Promise<void> {
    const at = Date.now();
    await Promise.all(
      zones.map((zone) =>
        this.deps.journal.append(
          zone.runtime.channel,
          encodeSwitch({
            sender: zone.runtime.channel,
            plugin: to.slice(0, to.lastIndexOf("@")),
            from: zone.runtime.code ?? to,
            to,
            at,
          }),
        ),
      ),
    );
  }

  /**
   * The zones the plugins name, changed while the replica runs (plugins/hot-swap.ts `applyPluginSet`: a
   * plugin added or removed, a version naming other zones). Zones new to the list start at once where
   * the placement puts them; a zone gone from it stops for good on the replica that runs it, and its
   * objects without an owner (what its logic spawned; players' avatars stay) are deleted, its journal and
   * snapshot dropped. Call `prepareZones` first. Returns the zones new to the list and those gone.
   */
  async replaceZones(specs: readonly ZoneSpec[]): Promise<{ added: string[]; removed: string[] }> {
    const after = new Set(specs.map((spec) => zoneKey(spec.parent, spec.zone)));
    const before = new Set(this.specs.map((spec) => zoneKey(spec.parent, spec.zone)));
    const gone = this.specs.filter((spec) => !after.has(zoneKey(spec.parent, spec.zone)));
    // taken out of the running ones at once (no await between): a placement round cannot retire them
    const removing = gone.flatMap((spec) => {
      const zone = this.running.get(zoneKey(spec.parent, spec.zone));
      return zone === undefined ? [] : [zone]; // run elsewhere: that replica removes it
    });
    for (const zone of removing) this.running.delete(zone.key);
    this.specs = [...specs];
    for (const zone of removing) {
      const { key, spec } = zone;
      for (const stop of zone.stops) stop();
      this.send(zone, zone.runtime.tick(Date.now()));
      await zone.chain;
      for (const object of await this.query(spec.parent, [spec.zone])) {
        if (object.owner !== 0) continue;
        await this.deps.participant
          .request("ss", "delete", { doId: object.doId, as: zone.runtime.channel }, REQUEST_TIMEOUT_MS)
          .catch((error: unknown) => {
            if ((error as { code?: string }).code !== "unknown_object") throw error;
          });
      }
      await this.deps.journal
        .forget({ parentId: spec.parent, zoneId: spec.zone }, zone.runtime.channel)
        .catch((error: unknown) =>
          this.deps.log.warn({ err: error, zone: key }, "a removed zone's journal was not dropped"),
        );
      await this.deps.leases.release(key).catch(() => undefined);
      this.deps.log.info({ zone: key }, "zone removed: its plugin no longer names it");
    }
    void this.control();
    return {
      added: [...after].filter((key) => !before.has(key)),
      removed: gone.map((spec) => zoneKey(spec.parent, spec.zone)),
    };
  }

  /** Learns the channels of zones about to be named (`replaceZones`), so that they can start at once. */
  async prepareZones(specs: readonly ZoneSpec[]): Promise<void> {
    for (const spec of specs) await this.deps.channels.channelOf(spec.parent, spec.zone);
  }

  /** Starts a zone whose lease was held by another, if it is still this replica's to run. */
  private retryStart(spec: ZoneSpec, key: string): void {
    if (this.stopped || this.running.has(key) || this.starting.has(key)) return;
    if (this.placement.ownerOf(key) === this.instance) void this.startZone(spec, key);
  }

  /** Stops running a zone; with `handOver`, stores its snapshot first and releases its lease. */
  private async stopZone(zone: RunningZone, handOver: boolean): Promise<void> {
    if (this.running.get(zone.key) !== zone) return;
    this.running.delete(zone.key);
    for (const stop of zone.stops) stop();
    if (handOver && this.deps.leases.holds(zone.key)) {
      this.send(zone, zone.runtime.tick(Date.now()));
      await zone.chain;
      await this.saveSnapshot(zone).catch((error: unknown) =>
        this.deps.log.warn(
          { err: error, zone: zone.key },
          "last snapshot not stored; the next owner replays more",
        ),
      );
    }
    // always given up (a no-op when lost): a paused zone's lease kept here would be renewed by the next
    // round of renewals, for a zone no replica could then run
    await this.deps.leases.release(zone.key).catch(() => undefined);
    this.deps.log.info({ zone: zone.key, handOver }, "zone stopped");
  }

  /** Stops a zone for good (a closed instance's): no snapshot, its outputs so far sent, its lease given up. */
  private async retire(key: string): Promise<void> {
    const zone = this.running.get(key);
    if (zone === undefined) return;
    this.running.delete(key);
    for (const stop of zone.stops) stop();
    await zone.chain;
    await this.deps.leases.release(key).catch(() => undefined);
    this.deps.log.info({ zone: key }, "zone retired");
  }

  /** The zone's lease was lost (expired or taken): it stops at once, without writing anything. */
  lost(key: string): void {
    const zone = this.running.get(key);
    if (zone) void this.stopZone(zone, false);
  }

  private tick(): void {
    const now = Date.now();
    for (const zone of this.running.values()) {
      if (!this.deps.leases.holds(zone.key)) {
        // paused, not stopped: the next renewal resumes it (the lease never left Redis) or loses it (`lost`)
        if (!zone.paused) {
          zone.paused = true;
          this.counts.pauses += 1;
          this.deps.log.warn({ zone: zone.key }, "zone paused: its lease was not renewed in time");
        }
        continue;
      }
      if (zone.paused) {
        zone.paused = false;
        this.deps.log.info({ zone: zone.key }, "zone resumed: its lease was renewed");
      }
      try {
        this.send(zone, zone.runtime.tick(now));
      } catch (error) {
        this.deps.log.error({ err: error, zone: zone.key }, "zone tick failed");
      }
      if (zone.runtime.idsLow && !zone.refilling) {
        zone.refilling = true;
        this.refillIds(zone.runtime)
          .catch((error: unknown) =>
            this.deps.log.warn({ err: error, zone: zone.key }, "no new spawn ids yet"),
          )
          .finally(() => {
            zone.refilling = false;
          });
      }
      if (now - zone.lastSnapshotAt >= this.deps.snapshotEveryMs && !zone.snapshotting) {
        zone.lastSnapshotAt = now;
        zone.snapshotting = true;
        this.saveSnapshot(zone)
          .catch((error: unknown) =>
            this.deps.log.warn({ err: error, zone: zone.key }, "snapshot not stored"),
          )
          .finally(() => {
            zone.snapshotting = false;
          });
      }
    }
  }

  /** Stores the zone's snapshot once its outputs so far are sent (a snapshot never runs ahead of them). */
  private async saveSnapshot(zone: RunningZone): Promise<void> {
    const snapshot = zone.runtime.snapshot();
    // encoded now: the state is the zone's live object, which the ticks while the outputs go on change
    const state = encodeEnvelope(snapshot);
    await zone.chain;
    await this.deps.journal.saveSnapshot(
      { parentId: zone.spec.parent, zoneId: zone.spec.zone },
      { seq: snapshot.seq, state, token: this.deps.leases.token(zone.key) ?? 0 },
    );
  }

  private async refillIds(runtime: ZoneRuntime): Promise<void> {
    const range = await this.deps.participant.allocateIds("doId", ID_BLOCK);
    runtime.addIds(range.first, range.count);
  }

  /** Subscribes to the bordering zones' locations and loads what is there now. */
  private async watchNeighbours(zone: RunningZone): Promise<void> {
    const neighbours = (this.deps.plugin.neighbours?.(zone.spec) ?? []).filter((z) => z !== zone.spec.zone);
    if (neighbours.length === 0) return;
    for (const neighbour of neighbours) {
      const subscription = this.deps.participant.nc.subscribe(
        this.names.location(zone.spec.parent, neighbour),
        {
          callback: (error, msg) => {
            if (error) return;
            try {
              zone.runtime.receiveNearby(parseDelivery(msg.data));
            } catch {
              // unreadable: the view of the neighbours is advisory
            }
          },
        },
      );
      zone.stops.push(() => subscription.unsubscribe());
    }
    await this.deps.participant.nc.flush();
    zone.runtime.addNearby(await this.query(zone.spec.parent, neighbours));
  }

  // ---- talking to the cluster ----------------------------------------------------------------------

  private async query(parent: number, zones: readonly number[]): Promise<ZoneObjectData[]> {
    const reply = await this.deps.participant.request(
      "ss",
      "query-zones",
      { parentId: parent, zones: [...zones] },
      REQUEST_TIMEOUT_MS,
    );
    return reply.objects.map((object) => snapshotData(object));
  }

  /** Sends a tick's outputs, in order, after the previous tick's. */
  private send(zone: RunningZone, outputs: readonly ZoneOutput[]): void {
    if (outputs.length === 0) return;
    const sender = zone.runtime.channel;
    // a zone that opened an instance is snapshotted at its next tick: resumed from an older snapshot
    // without the inputs that led to the open (their objects moved on), it would forget the instance
    if (outputs.some((output) => output.op === "open-instance")) zone.lastSnapshotAt = 0;
    zone.chain = zone.chain.then(async () => {
      for (const output of outputs) {
        try {
          await this.perform(sender, output);
        } catch (error) {
          this.deps.log.warn({ err: error, zone: zone.key, op: output.op }, "zone output refused");
        }
      }
    });
  }

  /** Does one output of the zone whose channel is `zone`, acting for the zone. */
  private async perform(zone: number, output: ZoneOutput): Promise<void> {
    const { participant } = this.deps;
    const ss = <K extends messages.StateServerOp>(op: K, body: messages.RequestOf<"ss", K>) =>
      participant.request("ss", op, { ...body, as: zone }, REQUEST_TIMEOUT_MS);
    switch (output.op) {
      case "updates":
        // held until acknowledged; the zone's next outputs wait, so they stay in order
        await this.forwarder.add([[zone, output.updates]]);
        return;
      case "create":
        await ss("create", {
          doId: output.doId,
          classId: output.classId,
          parentId: output.parent,
          zoneId: output.zone,
          fields: output.fields,
          ai: output.ai,
          ...(output.owner === 0 ? {} : { owner: output.owner }),
        }).catch((error: unknown) => {
          if ((error as { code?: string }).code !== "exists") throw error; // a replay creating it again
        });
        return;
      case "move":
        // one step: the object never stands in the new zone under the old zone's AI
        await ss("set-location", {
          doId: output.doId,
          parentId: output.parent,
          zoneId: output.zone,
          ai: output.ai,
        });
        return;
      case "delete":
        await ss("delete", { doId: output.doId }).catch((error: unknown) => {
          if ((error as { code?: string }).code !== "unknown_object") throw error; // a replay deleting it again
        });
        return;
      case "open-instance":
      case "enter-instance":
      case "leave-instance":
        await this.instances.perform(zone, output satisfies InstanceOutput);
        return;
      case "event":
        publish(participant.nc, this.names.participant(output.channel), {
          kind: "zone-event",
          sender: zone,
          name: output.name,
          target: output.target,
          data: output.data,
          origin: output.origin,
        });
        return;
      case "reply":
        // to the caller's channel: a client's (its agent answers it), a zone's (journaled there)
        publish(participant.nc, this.names.participant(output.to), {
          kind: "reply",
          sender: zone,
          requestId: output.requestId,
          ...output.answer,
        } satisfies messages.RequestReply);
        return;
      case "request":
        await ss("request", {
          requestId: output.requestId,
          doId: output.doId,
          fieldId: output.fieldId,
          args: output.args,
        }).catch((error: unknown) => {
          // refused (no such object, no AI) or unanswered: the zone hears it as its reply, journaled
          const { code, message } = error as { code?: string; message?: string };
          publish(participant.nc, this.names.participant(zone), {
            kind: "reply",
            sender: zone,
            requestId: output.requestId,
            error: { code: code ?? "unavailable", message: (message ?? String(error)).slice(0, 1024) },
          } satisfies messages.RequestReply);
        });
        return;
    }
  }

  private makeCluster(): Cluster {
    const { participant, channels, dc } = this.deps;
    return {
      dc,
      create: async (handle, fields, place) => {
        const doId = place.doId ?? (await participant.nextDoId());
        const packed = packFields(handle, fields);
        await participant.request(
          "ss",
          "create",
          {
            doId,
            classId: handle.dclass.id,
            parentId: place.parent,
            zoneId: place.zone,
            fields: packed,
            ai: await channels.channelOf(place.parent, place.zone),
            ...(place.owner === undefined ? {} : { owner: place.owner }),
          },
          REQUEST_TIMEOUT_MS,
        );
        return doId;
      },
      exists: async (doId) => {
        try {
          await participant.request("ss", "get", { doId, fieldIds: [] }, REQUEST_TIMEOUT_MS);
          return true;
        } catch (error) {
          if ((error as { code?: string }).code === "unknown_object") return false;
          throw error;
        }
      },
      request: this.calls.request,
      createInstance: (template, options = {}) => this.instances.create(template, options.data ?? null),
      addSessionObject: (client, doId) => {
        publish(participant.nc, this.names.participant(client), {
          kind: "add-session-object",
          sender: participant.channel,
          doId,
        });
      },
      sendPluginMessage: pluginMessageSender(participant),
    };
  }
}

/** How long one step of starting a zone may take before the start is given up and tried again. */
const START_STEP_TIMEOUT_MS = 10_000;

/**
 * `work`, or an error naming `what` once it has taken START_STEP_TIMEOUT_MS (a NATS or JetStream call
 * that never answers must not leave a zone half-started, holding its lease, for good); what `work`
 * brings after that is handed to `undoLate`.
 */
function boundedStep<T>(what: string, work: Promise<T>, undoLate?: (late: T) => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let late = false;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      late = true;
      reject(new Error(`${what} took over ${START_STEP_TIMEOUT_MS} ms`));
    }, START_STEP_TIMEOUT_MS);
  });
  void work.then(
    (value) => {
      if (late) undoLate?.(value);
    },
    () => undefined,
  );
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

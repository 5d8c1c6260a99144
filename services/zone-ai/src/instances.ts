/**
 * Instances: copies of a set of zones made on demand (a dungeon per party), each under a parent object
 * of its own, so its zones are a space of their own. Zone logic opens one (`zone.openInstance`), moves
 * objects in (`zone.moveToInstance`) and out again to where they came from (`zone.leaveInstance`); a
 * player's followed interest goes with its avatar (the client agent moves it when the avatar changes
 * place, parent included). When no player has been in an instance for its grace period, it closes:
 * its zones stop on whichever replicas run them, everything under its parent object is deleted, and its
 * journal, snapshots, leases, zone channels and registry entries are dropped.
 *
 * How it runs: an open instance is an entry of the registry in Redis. Every replica reads the registry
 * in its control round and places the instance's zones with the plugin's own (rendezvous hashing,
 * leases, journal, snapshots: an instance's zone fails over as any zone does). The replica running an
 * instance's first zone (its *head*) keeps it: it asks the state server now and then whether a player
 * (an object with an owner) is in any of its zones, and closes it after `emptyGraceMs` without one.
 *
 * Keys (under the replica's `<REDIS_PREFIX>zone-ai:{zone-ai}`: one slot of a Redis Cluster, see zoneAiSlotPrefix):
 * - `instances`          hash: parent doId -> the instance (template, data, opener), msgpack
 * - `instances:version`  counter, INCR'd at every open and close: replicas read the hash when it moved
 * - `instance:<parent>`  hash: `state` (open, closing), `entered` (ms, Redis's clock), `from:<doId>` (the
 *                        zone each object came from, `parent.zone`)
 * - `instance-closed:<parent>`  a marker that expires (`CLOSED_MARKER_MS`): a zone resumed from an older
 *                        snapshot replays its `openInstance`; the marker keeps it from opening it again.
 */
import {
  type DClassHandle,
  decodeEnvelope,
  encodeEnvelope,
  type FieldInfoMap,
  type messages,
} from "@overworld/protocol";
import { type Logger, LuaScript, type Participant, publish, type Redis } from "@overworld/service";
import type { ZoneJournal } from "./journal.ts";
import { zoneKey } from "./placement.ts";
import type { ZoneObject, ZonePlugin, ZoneSpec } from "./plugin.ts";
import type { ZoneChannels } from "./zone-channels.ts";
import type { ZoneLeases } from "./zone-leases.ts";
import { packFields } from "./zone-runtime.ts";

/** How long an instance without players stays up, by default. */
export const DEFAULT_EMPTY_GRACE_MS = 30_000;
/** How long the marker of a closed instance lasts (longer than any replay of the zone that opened it). */
export const CLOSED_MARKER_MS = 10 * 60_000;
/** An instance does not close within this long of an object entering it (its move may be under way). */
const ENTRY_SETTLE_MS = 5000;
/** How often the head's replica asks whether players are in the instance. */
const KEEP_EVERY_MS = 250;
/** How long a close waits for the instance's zones to stop on every replica. */
const STOP_WAIT_MS = 10_000;
/** A clean-up that failed (the state server or JetStream did not answer) is tried again this often, this many times. */
const CLEAN_UP_RETRY_MS = 1000;
const CLEAN_UP_ATTEMPTS = 30;
const REQUEST_TIMEOUT_MS = 5000;

/** The zone event a zone gets when the instance it opened has closed (data: {@link InstanceClosed}). */
export const INSTANCE_CLOSED = "instance-closed";
/** The zone event an instance's zones get when its last player left: it closes after its grace period. */
export const INSTANCE_EMPTY = "instance-empty";

/** The object an instance's zones hang under, made with {@link instanceParent}. */
export interface InstanceParent {
  readonly classId: number;
  readonly fields: readonly [number, Uint8Array][];
}

/** What an instance is made of: its zones and its parent object. */
export interface InstanceTemplate {
  /**
   * Its zones, each of a kind of the plugin. Number them as the world's zones are numbered (from 1 on a
   * grid), so that a player's followed interest covers them; the first is where `moveToInstance` puts
   * objects by default, and its replica keeps the instance.
   */
  readonly zones: readonly { readonly zone: number; readonly kind: string }[];
  /** The class and fields of its parent object (created at parent 0, zone 0). */
  readonly parent: InstanceParent;
  /** How long it stays up once no player is in it, or when none comes in (ms; 30 s by default). */
  readonly emptyGraceMs?: number;
}

/** An instance's parent object: a class of the plugin's schema and its typed fields. */
export function instanceParent<G extends FieldInfoMap>(
  handle: DClassHandle<G>,
  fields: { readonly [N in keyof G]?: G[N]["value"] },
): InstanceParent {
  return { classId: handle.dclass.id, fields: packFields(handle, fields) };
}

/** An open instance: its parent object's doId (the parent of its zones) and its template's name. */
export interface Instance {
  readonly parent: number;
  readonly template: string;
}

/** An instance as its own zones see it (`zone.instance`). */
export interface InstanceInfo extends Instance {
  /** What the opener gave (`openInstance(template, { data })`): plain data (msgpack). */
  readonly data: unknown;
  /** The zone channel of the zone that opened it (0 when the cluster did): it hears INSTANCE_CLOSED. */
  readonly opener: number;
}

/** The data of an INSTANCE_CLOSED event. */
export interface InstanceClosed extends Instance {
  readonly data: unknown;
}

/** What zone logic does with instances (part of `Zone`). */
export interface InstanceActions {
  /** The instance this zone is part of, or undefined for a zone of the world. */
  readonly instance: InstanceInfo | undefined;
  /**
   * Opens an instance of a template of the plugin (`instances`): its parent's doId is known at once
   * (from the zone's own ids, so a replay opens the same one); its zones start within a placement round.
   * This zone hears INSTANCE_CLOSED when it closes.
   */
  openInstance(template: string, options?: { readonly data?: unknown }): Instance;
  /**
   * Moves an object this zone runs into an instance (its first zone, or `zone`), AI and all; where it
   * came from is remembered for `leaveInstance`. Refused (logged) if the instance has closed meanwhile.
   */
  moveToInstance(object: ZoneObject, instance: Instance | number, zone?: number): void;
  /** Moves an object this zone runs back to the zone it was in before it entered this instance. */
  leaveInstance(object: ZoneObject): void;
}

/** What the instance actions ask the replica to do (zone outputs, performed in order). */
export type InstanceOutput =
  | {
      readonly op: "open-instance";
      readonly parent: number;
      readonly template: string;
      readonly data: unknown;
      /** Where in the opener's journal it was asked for: [input sequence, index]. */
      readonly origin: readonly [number, number];
    }
  | {
      readonly op: "enter-instance";
      readonly doId: number;
      readonly instance: number;
      readonly zone: number;
      /** Where the object was when the zone moved it (a replay finding it elsewhere does nothing). */
      readonly from: readonly [number, number];
    }
  | { readonly op: "leave-instance"; readonly doId: number; readonly instance: number };

/** What `instanceActions` needs from a zone runtime. */
export interface InstanceRuntime {
  readonly spec: ZoneSpec;
  readonly templates: ZonePlugin["instances"];
  takeId(): number;
  /** Where in the zone's journal an action is asked for (the input's sequence, and the events made at it so far). */
  origin(): [number, number];
  push(output: InstanceOutput): void;
  runs(doId: number): boolean;
}

/** The instance actions of one zone (see `InstanceActions`). */
export function instanceActions(runtime: InstanceRuntime): InstanceActions {
  const { spec } = runtime;
  const template = (name: string) => {
    const found = runtime.templates?.[name];
    if (found === undefined) throw new Error(`the plugin has no instance template ${JSON.stringify(name)}`);
    return found;
  };
  return {
    instance: spec.instance,
    openInstance: (name, options = {}) => {
      template(name);
      const parent = runtime.takeId();
      const origin = runtime.origin();
      runtime.push({ op: "open-instance", parent, template: name, data: options.data ?? null, origin });
      return { parent, template: name };
    },
    moveToInstance: (object, instance, zone) => {
      if (!runtime.runs(object.doId)) return;
      const parent = typeof instance === "number" ? instance : instance.parent;
      const first = typeof instance === "number" ? undefined : template(instance.template).zones[0]?.zone;
      const into = zone ?? first;
      if (into === undefined) {
        throw new Error(
          `moveToInstance(${object.doId}, ${parent}): name the zone (an instance by doId alone)`,
        );
      }
      runtime.push({
        op: "enter-instance",
        doId: object.doId,
        instance: parent,
        zone: into,
        from: [object.parent, object.zone],
      });
    },
    leaveInstance: (object) => {
      if (!runtime.runs(object.doId) || spec.instance === undefined) return;
      runtime.push({ op: "leave-instance", doId: object.doId, instance: spec.instance.parent });
    },
  };
}

// ---- the registry, in Redis ----------------------------------------------------------------------

/**
 * KEYS: instances, version, instance hash, closed marker. ARGV: parent, record, request (who asked, where
 * in its journal). The same request again (a replay) finds it 'open' or 'closed'; another request for the
 * same parent (a zone that resumed without the inputs that led to an open reuses its ids) finds it 'taken'.
 */
const REGISTER = new LuaScript(
  "instance-register",
  `
local closed = redis.call('GET', KEYS[4])
if closed then
  if closed == ARGV[3] then return 'closed' end
  return 'taken'
end
if redis.call('HSETNX', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  if redis.call('HGET', KEYS[3], 'request') == ARGV[3] then return 'open' end
  return 'taken'
end
redis.call('HSET', KEYS[3], 'state', 'open', 'entered', now_ms(), 'request', ARGV[3])
redis.call('INCR', KEYS[2])
return 'opened'
`,
);

/** KEYS: instance hash. ARGV: doId, origin. 1 when the instance is open (the entry is recorded). */
const ENTER = new LuaScript(
  "instance-enter",
  `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
redis.call('HSET', KEYS[1], 'entered', now_ms())
redis.call('HSETNX', KEYS[1], 'from:' .. ARGV[1], ARGV[2])
return 1
`,
);

/** KEYS: instance hash. ARGV: settle ms. 1 when it is now closing (open, and nothing entered lately). */
const BEGIN_CLOSE = new LuaScript(
  "instance-begin-close",
  `
if redis.call('HGET', KEYS[1], 'state') ~= 'open' then return 0 end
local entered = tonumber(redis.call('HGET', KEYS[1], 'entered') or '0')
if now_ms() - entered < tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'state', 'closing')
return 1
`,
);

/** KEYS: instances, version, closed marker, instance hash. ARGV: parent, marker ms. Takes it off the registry. */
const UNREGISTER = new LuaScript(
  "instance-unregister",
  `
redis.call('SET', KEYS[3], redis.call('HGET', KEYS[4], 'request') or '', 'PX', tonumber(ARGV[2]))
if redis.call('HDEL', KEYS[1], ARGV[1]) == 1 then redis.call('INCR', KEYS[2]) end
return 1
`,
);

interface Registered {
  readonly template: string;
  readonly data: unknown;
  readonly opener: number;
}

export interface InstancesDeps {
  readonly redis: Redis;
  /** `<REDIS_PREFIX>zone-ai:{zone-ai}` (zoneAiSlotPrefix) */
  readonly prefix: string;
  readonly participant: Participant;
  readonly channels: ZoneChannels;
  readonly journal: ZoneJournal;
  readonly leases: ZoneLeases;
  readonly plugin: ZonePlugin;
  readonly log: Logger;
  /** The zones this replica runs now. */
  running(): readonly ZoneSpec[];
  /** Stops a zone of a closing instance here at once (no snapshot) and gives its lease up. */
  retire(key: string): Promise<void>;
}

/** The replica's side of instances: the registry, the outputs of instance actions, keeping and closing. */
export class Instances {
  private version: string | null = null;
  private zoneSpecs: ZoneSpec[] = [];
  /** When each kept instance was first seen without a player (ms), by parent. */
  private readonly emptySince = new Map<number, number>();
  /** Kept instances a player was seen in since they were last empty. */
  private readonly occupied = new Set<number>();
  private readonly closing = new Set<number>();
  private keeping = false;
  private timer: NodeJS.Timeout | undefined;
  private eventCount = 0;

  constructor(private readonly deps: InstancesDeps) {
    for (const [name, template] of Object.entries(deps.plugin.instances ?? {})) {
      if (template.zones.length === 0) throw new Error(`instance template ${name} has no zones`);
      for (const { kind } of template.zones) {
        if (deps.plugin.kinds[kind] === undefined) {
          throw new Error(
            `instance template ${name} names zone kind ${kind} but the plugin has no hooks for it`,
          );
        }
      }
    }
  }

  /** The zones of every open instance, as the last `refresh` read them. */
  get specs(): readonly ZoneSpec[] {
    return this.zoneSpecs;
  }

  start(): void {
    this.timer = setInterval(() => void this.keep(), KEEP_EVERY_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Reads the registry if it changed since the last time; learns the new instances' zone channels. */
  async refresh(): Promise<void> {
    const { redis } = this.deps;
    const version = await redis.get(this.key("instances:version"));
    if (version === this.version) return;
    const entries = await redis.hgetallBuffer(this.key("instances"));
    const specs: ZoneSpec[] = [];
    for (const [parent, bytes] of Object.entries(entries)) {
      const record = decodeEnvelope(bytes) as Registered;
      const template = this.deps.plugin.instances?.[record.template];
      if (template === undefined) continue; // another plugin's, or a template since removed
      const doId = Number(parent);
      const instance: InstanceInfo = { parent: doId, ...record };
      for (const { zone, kind } of template.zones) {
        await this.deps.channels.channelOf(doId, zone);
        specs.push({ parent: doId, zone, kind, instance });
      }
    }
    this.zoneSpecs = specs;
    this.version = version;
  }

  /** Whether the instance is still in the registry (asked of Redis: a zone starting checks it under its lease). */
  async isOpen(parent: number): Promise<boolean> {
    return (await this.deps.redis.hexists(this.key("instances"), String(parent))) === 1;
  }

  /** Opens an instance outside any zone (`cluster.createInstance`). */
  async create(template: string, data: unknown): Promise<Instance> {
    this.template(template);
    const { participant } = this.deps;
    const parent = await participant.nextDoId();
    await this.register(parent, template, data, 0, `cluster:${participant.channel}:${parent}`);
    return { parent, template };
  }

  /** Does an instance output of the zone whose channel is `zone`. */
  async perform(zone: number, output: InstanceOutput): Promise<void> {
    switch (output.op) {
      case "open-instance":
        await this.register(
          output.parent,
          output.template,
          output.data,
          zone,
          `${zone}:${output.origin.join(":")}`,
        );
        return;
      case "enter-instance":
        await this.enter(output);
        return;
      case "leave-instance":
        await this.leave(output.doId, output.instance);
        return;
    }
  }

  private template(name: string) {
    const template = this.deps.plugin.instances?.[name];
    if (template === undefined)
      throw new Error(`the plugin has no instance template ${JSON.stringify(name)}`);
    return template;
  }

  private key(name: string): string {
    return `${this.deps.prefix}${name}`;
  }

  private async register(
    parent: number,
    template: string,
    data: unknown,
    opener: number,
    request: string,
  ): Promise<void> {
    const { redis, participant, log } = this.deps;
    const record = encodeEnvelope({ template, data, opener } satisfies Registered);
    const outcome = await REGISTER.run(
      redis,
      [
        this.key("instances"),
        this.key("instances:version"),
        this.key(`instance:${parent}`),
        this.key(`instance-closed:${parent}`),
      ],
      [String(parent), Buffer.from(record), request],
    );
    if (outcome === "closed") return; // a replay of an open whose instance has come and gone
    if (outcome === "taken") {
      // the opener resumed from a snapshot older than an open it made, without the inputs that led to it,
      // and reuses that parent's doId: its open fails, and it hears so (its state forgets that instance)
      log.warn(
        { instanceParent: parent, template, opener },
        "openInstance refused: that parent doId was an instance already",
      );
      if (opener !== 0)
        this.event(opener, INSTANCE_CLOSED, parent, { parent, template, data } satisfies InstanceClosed);
      return;
    }
    const { classId, fields } = this.template(template).parent;
    await participant
      .request(
        "ss",
        "create",
        {
          doId: parent,
          classId,
          parentId: 0,
          zoneId: 0,
          fields: fields.map(([id, value]): [number, Uint8Array] => [id, value]),
        },
        REQUEST_TIMEOUT_MS,
      )
      .catch((error: unknown) => {
        if ((error as { code?: string }).code !== "exists") throw error; // made already (a replay)
      });
    if (outcome === "opened") log.info({ instanceParent: parent, template, opener }, "instance opened");
  }

  private async location(doId: number): Promise<{ parentId: number; zoneId: number } | undefined> {
    try {
      return await this.deps.participant.request("ss", "get", { doId, fieldIds: [] }, REQUEST_TIMEOUT_MS);
    } catch (error) {
      if ((error as { code?: string }).code === "unknown_object") return undefined;
      throw error;
    }
  }

  private async enter(output: Extract<InstanceOutput, { op: "enter-instance" }>): Promise<void> {
    const { doId, instance, zone, from } = output;
    const now = await this.location(doId);
    if (now === undefined || now.parentId !== from[0] || now.zoneId !== from[1]) return; // moved on (a replay)
    const entered = await ENTER.run(
      this.deps.redis,
      [this.key(`instance:${instance}`)],
      [String(doId), zoneKey(from[0], from[1])],
    );
    if (entered !== 1) {
      this.deps.log.warn(
        { doId, instanceParent: instance },
        "moveToInstance refused: the instance is closed or closing",
      );
      return;
    }
    await this.moveTo(doId, instance, zone);
  }

  private async leave(doId: number, instance: number): Promise<void> {
    const { redis, log } = this.deps;
    const now = await this.location(doId);
    if (now === undefined || now.parentId !== instance) return; // gone, or left already (a replay)
    const origin = await redis.hget(this.key(`instance:${instance}`), `from:${doId}`);
    if (origin === null) {
      log.warn(
        { doId, instanceParent: instance },
        "leaveInstance: where the object came from is not known; it stays",
      );
      return;
    }
    const [parent, zone] = origin.split(".").map(Number) as [number, number];
    await this.moveTo(doId, parent, zone);
    await redis.hdel(this.key(`instance:${instance}`), `from:${doId}`);
  }

  /** Moves an object to a zone of the plugin, its AI with it (one step, as `zone.move` does). */
  private async moveTo(doId: number, parent: number, zone: number): Promise<void> {
    const ai = await this.deps.channels.channelOf(parent, zone);
    await this.deps.participant.request(
      "ss",
      "set-location",
      { doId, parentId: parent, zoneId: zone, ai },
      REQUEST_TIMEOUT_MS,
    );
  }

  // ---- keeping and closing -------------------------------------------------------------------------

  /** For each instance whose head runs here: players in it? Closes it after its grace period without. */
  private async keep(): Promise<void> {
    if (this.keeping) return;
    this.keeping = true;
    try {
      const heads = this.deps
        .running()
        .filter((spec) => spec.instance !== undefined && this.isHead(spec))
        .map((spec) => spec.instance!);
      const kept = new Set(heads.map((instance) => instance.parent));
      for (const parent of this.emptySince.keys()) if (!kept.has(parent)) this.emptySince.delete(parent);
      for (const parent of this.occupied) if (!kept.has(parent)) this.occupied.delete(parent);
      for (const instance of heads) {
        if (this.closing.has(instance.parent)) continue;
        const now = Date.now();
        if (await this.hasPlayers(instance)) {
          this.emptySince.delete(instance.parent);
          this.occupied.add(instance.parent);
          continue;
        }
        const since = this.emptySince.get(instance.parent);
        if (since === undefined) {
          this.emptySince.set(instance.parent, now);
          if (this.occupied.delete(instance.parent)) this.tellZones(instance, INSTANCE_EMPTY);
          continue;
        }
        const grace = this.template(instance.template).emptyGraceMs ?? DEFAULT_EMPTY_GRACE_MS;
        if (now - since >= grace) void this.close(instance);
      }
    } catch (error) {
      this.deps.log.warn({ err: error }, "keeping instances failed; trying again");
    } finally {
      this.keeping = false;
    }
  }

  private isHead(spec: ZoneSpec): boolean {
    return this.template(spec.instance!.template).zones[0]!.zone === spec.zone;
  }

  private zonesOf(instance: Instance): number[] {
    return this.template(instance.template).zones.map(({ zone }) => zone);
  }

  private async hasPlayers(instance: Instance): Promise<boolean> {
    const reply = await this.deps.participant.request(
      "ss",
      "query-zones",
      { parentId: instance.parent, zones: this.zonesOf(instance) },
      REQUEST_TIMEOUT_MS,
    );
    return reply.objects.some((object) => (object.owner ?? 0) !== 0);
  }

  /** Sends a zone event to every zone of the instance (from this replica's channel). */
  private tellZones(instance: Instance, name: string): void {
    for (const zone of this.zonesOf(instance)) {
      this.event(this.deps.channels.cached(instance.parent, zone), name, instance.parent, {
        parent: instance.parent,
        template: instance.template,
      });
    }
  }

  private event(channel: number, name: string, target: number, data: unknown): void {
    const { participant } = this.deps;
    publish(participant.nc, participant.subjects.participant(channel), {
      kind: "zone-event",
      sender: participant.channel,
      name,
      target,
      data,
      // the replica's events in the order it made them (a receiver drops what is not newer)
      origin: [Date.now(), this.eventCount++ % 0x1_0000],
    } satisfies messages.ZoneEvent);
  }

  /** Closes an instance: takes it off the registry (see `takeOff`), then cleans up after it (`cleanUp`). */
  private async close(instance: InstanceInfo): Promise<void> {
    const { log } = this.deps;
    const { parent } = instance;
    this.closing.add(parent);
    try {
      if (!(await this.takeOff(instance))) return;
      this.emptySince.delete(parent);
      const zoneChannels = this.zonesOf(instance).map((zone) => this.deps.channels.cached(parent, zone));
      // off the registry: no replica starts its zones again; what is left is this replica's to clean up
      for (let attempt = 1; ; attempt++) {
        try {
          await this.cleanUp(instance, zoneChannels);
          log.info({ instanceParent: parent, template: instance.template }, "instance closed");
          return;
        } catch (error) {
          if (attempt >= CLEAN_UP_ATTEMPTS) {
            log.error(
              { err: error, instanceParent: parent },
              "an instance closed but its clean-up failed; things are left",
            );
            return;
          }
          log.warn(
            { err: error, instanceParent: parent, attempt },
            "cleaning up a closed instance failed; trying again",
          );
          await new Promise((resolve) => setTimeout(resolve, CLEAN_UP_RETRY_MS));
        }
      }
    } finally {
      this.closing.delete(parent);
    }
  }

  /**
   * Marks the instance closing (refused if something entered it lately, or a player is in it after all)
   * and takes it off the registry: true when it is off.
   */
  private async takeOff(instance: InstanceInfo): Promise<boolean> {
    const { redis, log } = this.deps;
    const { parent } = instance;
    const state = this.key(`instance:${parent}`);
    try {
      if ((await BEGIN_CLOSE.run(redis, [state], [ENTRY_SETTLE_MS])) !== 1) return false;
      if (await this.hasPlayers(instance)) {
        await redis.hset(state, "state", "open");
        this.emptySince.delete(parent);
        return false;
      }
      await UNREGISTER.run(
        redis,
        [
          this.key("instances"),
          this.key("instances:version"),
          this.key(`instance-closed:${parent}`),
          this.key(`instance:${parent}`),
        ],
        [String(parent), CLOSED_MARKER_MS],
      );
      return true;
    } catch (error) {
      log.warn({ err: error, instanceParent: parent }, "closing an instance failed; it is tried again");
      await redis.hset(state, "state", "open").catch(() => undefined);
      return false;
    }
  }

  /**
   * What a closed instance leaves: waits for its zones to stop everywhere, deletes its objects, drops its
   * journal, snapshots, leases, channels and registry entries, and tells its opener. Each step may be done
   * again.
   */
  private async cleanUp(instance: InstanceInfo, zoneChannels: readonly number[]): Promise<void> {
    const { redis, participant, channels, journal, leases } = this.deps;
    const { parent } = instance;
    const zones = this.zonesOf(instance);
    const keys = zones.map((zone) => zoneKey(parent, zone));
    for (const key of keys) await this.deps.retire(key);
    // every replica sees the registry change within a control round and stops its zones of it
    const deadline = Date.now() + STOP_WAIT_MS;
    for (const key of keys) {
      while ((await leases.holder(key)) !== undefined) {
        if (Date.now() > deadline) throw new Error(`zone ${key} did not stop within ${STOP_WAIT_MS} ms`);
        await new Promise((resolve) => setTimeout(resolve, KEEP_EVERY_MS));
      }
    }
    await participant
      .request("ss", "delete", { doId: parent }, REQUEST_TIMEOUT_MS)
      .catch((error: unknown) => {
        if ((error as { code?: string }).code !== "unknown_object") throw error;
      });
    for (const [index, zone] of zones.entries()) {
      await journal.forget({ parentId: parent, zoneId: zone }, zoneChannels[index]!);
    }
    await leases.forget(keys);
    await channels.forget(parent, zones);
    await redis.del(this.key(`instance:${parent}`));
    if (instance.opener !== 0) {
      this.event(instance.opener, INSTANCE_CLOSED, parent, {
        parent,
        template: instance.template,
        data: instance.data,
      } satisfies InstanceClosed);
    }
  }
}

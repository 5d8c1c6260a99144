/**
 * The plugin API: how a game team writes zone logic. A plugin names the zones it runs (each of a *kind*),
 * and for each kind the hooks a zone calls: `init` (its state when it first starts), `start`, `tick` (at
 * a fixed rate), `enter` / `leave` (objects coming under or leaving the zone's AI), typed handlers of
 * `airecv` fields (`onField(Class, "field", handler)`), `event` (zone events, e.g. damage from the zone
 * next door) and `timer`. Hooks act through the `Zone` they are given: spawn and delete objects, set
 * fields (broadcast fields are how events reach clients), move objects to other zones, send zone events,
 * set timers, draw random numbers.
 *
 * Determinism: a zone's inputs (what clients and other zones send it) are journaled before it sees them,
 * and within a tick they are applied in a canonical order (time, then source, then sequence). Its state
 * must be plain data (msgpack), its randomness must come from `zone.random()` and its time from
 * `zone.now`, so that a replica resuming it from a snapshot and the journal reaches the same state.
 * Writes should be absolute values (hp = 90, not hp -= 10): replayed inputs may repeat a write.
 */
import type {
  DClass,
  DClassHandle,
  DcFile,
  FieldInfoMap,
  FieldValue,
  KeyedArray,
  MethodName,
  TrackedNode,
} from "@overworld/protocol";
import type { Instance, InstanceActions, InstanceInfo, InstanceTemplate } from "./instances.ts";

export {
  INSTANCE_CLOSED,
  INSTANCE_EMPTY,
  type Instance,
  type InstanceClosed,
  type InstanceInfo,
  type InstanceTemplate,
  instanceParent,
} from "./instances.ts";

import type { AwaitRequest } from "./calls.ts";
import type { RequestHandler, RequestOptions, RequestResult } from "./requests.ts";

export type { AwaitOptions, AwaitRequest } from "./calls.ts";

export { onRequest, RequestError, type RequestResult } from "./requests.ts";

import type { FieldCleaner, ZoneNotification } from "./notifications.ts";
import type { PluginMessageIn, PluginPeer, PluginTarget } from "./plugin-messages.ts";

export { clean, onCreated, onDeleted, onDisabled, onUpdated, refuse } from "./notifications.ts";
export type { PluginMessageIn, PluginPeer, PluginTarget } from "./plugin-messages.ts";

/** A zone of the zone graph that a plugin runs, and the kind of logic that runs it. */
export interface ZoneSpec {
  readonly parent: number;
  readonly zone: number;
  readonly kind: string;
  /** The instance it belongs to (instances.ts), if any. */
  readonly instance?: InstanceInfo;
}

/** An object as a zone sees it: class, place and its fields' latest values, decoded. */
export interface ZoneObject<F extends FieldInfoMap = FieldInfoMap> {
  readonly doId: number;
  readonly dclass: DClass;
  readonly parent: number;
  readonly zone: number;
  /**
   * The owner's channel (a client's), 0 for none, as the object was when the zone took it on: compare
   * it with an update's `sender` to tell the owner from anyone else (a clsend field may come from anyone).
   */
  readonly owner: number;
  /** A field's latest value (undefined if never set). */
  get<N extends keyof F & string>(name: N): F[N]["value"] | undefined;
  /** True when the object is of that class or inherits from it; narrows its field types. */
  is<G extends FieldInfoMap>(handle: DClassHandle<G>): this is ZoneObject<G>;
}

export interface SpawnOptions {
  /** The zone to place it in (this zone by default): the AI of that zone runs it. */
  readonly zone?: number;
  /** The owner's channel (a client's), if any. */
  readonly owner?: number;
}

/** What a hook may do; everything it does is sent when the tick ends, in order. */
export interface Zone extends InstanceActions {
  readonly parent: number;
  readonly zone: number;
  readonly kind: string;
  /** The zone's channel (its AI channel, whichever replica runs it). */
  readonly channel: number;
  /** The time of the tick or input being handled (cluster ms). */
  readonly now: number;
  /** The objects this zone runs (their AI is this zone). */
  readonly objects: ReadonlyMap<number, ZoneObject>;
  /** Objects of the bordering zones, as their location shows them (read-only, not journaled). */
  readonly nearby: ReadonlyMap<number, ZoneObject>;
  /** An object by doId, here or nearby. */
  find(doId: number): ZoneObject | undefined;
  /** A number in [0, 1) from the zone's own seeded generator (deterministic across replays). */
  random(): number;
  /** Creates an object in this zone (or `options.zone`); its doId is known at once. */
  spawn<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fields: { readonly [N in keyof G]?: G[N]["value"] },
    options?: SpawnOptions,
  ): number;
  /** Sets a field of an object (typed by its class). */
  set<G extends FieldInfoMap, N extends keyof G & string>(
    object: ZoneObject<G>,
    name: N,
    value: G[N]["value"],
  ): void;
  /**
   * A tracked view of a field's value, to change it in place: an atomic field's argument tuple, a
   * parameter field's array or struct; `path` goes further in (`edit(board, "setCells", 0)`: the first
   * argument's array). Only what changed inside is sent when the hook returns: for a ram or required
   * field clients get that change alone (one element, one member); the cluster stores the whole value.
   */
  edit<G extends FieldInfoMap, N extends keyof G & string>(
    object: ZoneObject<G>,
    name: N,
    ...path: readonly (string | number)[]
  ): TrackedNode;
  /**
   * A map view of a field's struct array (DC has no map type): its entries found, set, edited and
   * deleted by `keyMember` (the struct's first member by default); an atomic field of one argument is
   * that argument. `zone.editMap(shop, "setStock").set(7, { id: 7, count: 3 })` sends that entry alone.
   */
  editMap<G extends FieldInfoMap, N extends keyof G & string>(
    object: ZoneObject<G>,
    name: N,
    keyMember?: string,
    ...path: readonly (string | number)[]
  ): KeyedArray;
  /** Moves an object this zone runs to another zone of the same parent: its AI goes with it. */
  move(object: ZoneObject, zone: number): void;
  delete(object: ZoneObject): void;
  /** Sends a zone event (journaled there like any input) to a zone of the same parent, this one included. */
  sendEvent(zone: number, name: string, data?: unknown, target?: number): void;
  /**
   * Calls a method of an object (any zone's, this one's too) and hands its reply (or error, or timeout) to
   * the kind's `replied` hook as `options.onReply` (requests.ts). Returns the request's id.
   */
  request<G extends FieldInfoMap, N extends MethodName<G>>(
    doId: number,
    handle: DClassHandle<G>,
    method: N,
    args: G[N]["value"],
    options: RequestOptions,
  ): number;
  /** Calls the kind's `timer` hook with `name` and `data` after `ms` (on the first tick after then). */
  after(ms: number, name: string, data?: unknown): void;
  readonly log: {
    info(message: string, details?: object): void;
    warn(message: string, details?: object): void;
  };
}

export interface ZoneEventInput {
  readonly name: string;
  readonly target: number;
  readonly data: unknown;
  /** The sender's channel (the zone it came from). */
  readonly from: number;
}

/** A typed handler of one airecv field of one class (see `onField`). */
export interface FieldHandler<S> {
  readonly dclass: DClass;
  readonly fieldName: string;
  readonly handle: (zone: Zone, state: S, object: ZoneObject, value: FieldValue, sender: number) => void;
}

export interface ZoneHooks<S> {
  /** The state of a zone that starts for the first time (no snapshot). Plain data. */
  init(zone: Zone): S;
  /** The zone starts for the first time (not when it resumes on another replica). */
  start?(zone: Zone, state: S): void;
  tick?(zone: Zone, state: S, dtMs: number): void;
  enter?(zone: Zone, state: S, object: ZoneObject): void;
  leave?(zone: Zone, state: S, object: ZoneObject): void;
  fields?: readonly FieldHandler<S>[];
  event?(zone: Zone, state: S, event: ZoneEventInput): void;
  timer?(zone: Zone, state: S, name: string, data: unknown): void;
  /**
   * The state as plain data for the zone's snapshot, for a kind that keeps live things beside it (a
   * physics world): a copy, as it is now; a zone resumed from the snapshot starts from it.
   */
  save?(state: S): S;
  /** Handlers of methods of the objects the zone runs (`onRequest`): calls from clients and zones. */
  requests?: readonly RequestHandler<S>[];
  /** The reply to a `zone.request` (or its error, or its timeout), by the name it was made with. */
  replied?(zone: Zone, state: S, name: string, result: RequestResult, data: unknown): void;
  /** Created / updated / disabled / deleted notifications of its objects, by class (notifications.ts). */
  notifications?: readonly ZoneNotification<S>[];
  /** Clean hooks of fields, run before a value sent to the zone is applied (notifications.ts: `clean`). */
  clean?: readonly FieldCleaner<S>[];
  /**
   * A hot swap hands the zone to this version (plugins/hot-swap.ts): the state as the version `from`
   * (`name@version`) left it, returned as this version's (a copy: change it freely). Pure: no zone
   * actions, the same result on every replay. Throwing refuses the version (the old one runs on).
   * Without it the state is taken as it is.
   */
  migrate?(state: unknown, from: string): S;
}

/** A client that said hello, for the plugin to give an avatar. */
export interface ArrivingClient {
  /** The client's channel: owner of its avatar. */
  readonly channel: number;
  readonly accountId: number;
  readonly username: string;
}

/** What `onClientArrived` and `zones` may do: cluster-wide actions outside any zone. */
export interface Cluster {
  readonly dc: DcFile;
  /** Creates an object in a zone of the plugin (its AI is that zone); resolves with its doId. */
  create<G extends FieldInfoMap>(
    handle: DClassHandle<G>,
    fields: { readonly [N in keyof G]?: G[N]["value"] },
    place: {
      readonly parent: number;
      readonly zone: number;
      readonly owner?: number;
      readonly doId?: number;
    },
  ): Promise<number>;
  /** True when an object with that doId is live. */
  exists(doId: number): Promise<boolean>;
  /** Makes an object a session object of a client (deleted when it goes; ejected if it is deleted). */
  addSessionObject(client: number, doId: number): void;
  /**
   * Calls a method of an object (a zone's, or an uberdog service's) and waits for its answer:
   * `await cluster.request(doId, demo.DistributedDirectory, "whois", [avatar], { timeoutMs })` resolves
   * with the typed reply, or rejects with a RequestError (the answering side's code, the state server's
   * refusal, or `timeout`). For code outside a zone's tick (`zones`, `clientArrived`); inside a tick,
   * `zone.request` (its reply comes journaled, to the kind's `replied` hook).
   */
  request: AwaitRequest;
  /** Opens an instance of a template (`instances`) outside any zone: nobody hears when it closes. */
  createInstance(template: string, options?: { readonly data?: unknown }): Promise<Instance>;
  /**
   * Sends a plugin message to the plugin of that name at the other end of an edge (plugin-messages.ts):
   * one client (`{ kind: "client", client }`, or a message's `from`, to answer it), every client running
   * the plugin (`{ kind: "clients" }`), a linked cluster's servers (`{ kind: "cluster", cluster }`) or main
   * (`{ kind: "main" }`). `data` is bytes (a Uint8Array) or any MessagePack value. Resolves once the
   * message is on its way (for a cluster or main: once the link end took it); rejects naming the reason.
   */
  sendPluginMessage(plugin: string, to: PluginTarget | PluginPeer, data: unknown): Promise<void>;
}

export interface ZonePlugin {
  readonly name: string;
  /** Its version (semver, `0.0.0` when not given): a replica runs one version of each plugin at a time. */
  readonly version?: string;
  /**
   * Plugins it needs beside it on the replica, by name, with semver ranges (`{ "demo-world": "^1.2.0" }`):
   * checked when plugins are composed and when one is swapped (plugins/compose.ts).
   */
  readonly dependencies?: { readonly [name: string]: string };
  /**
   * A version starts on a replica (before its zones: at the replica's start, and when it is swapped in).
   * Throwing refuses it: at a swap the old version runs on.
   */
  start?(cluster: Cluster): Promise<void>;
  /** The classes it is written against; the replica refuses to start if they are not the cluster's. */
  readonly schema: { readonly file: DcFile };
  /** Ticks per second of every zone (10 by default). */
  readonly tickHz?: number;
  /** The zones it runs; may create the objects they hang under (idempotently: every replica calls it). */
  zones(cluster: Cluster): Promise<readonly ZoneSpec[]>;
  /** The zones whose objects a zone sees as `nearby` (its bordering zones). */
  neighbours?(zone: ZoneSpec): readonly number[];
  // biome-ignore lint/suspicious/noExplicitAny: each kind has its own state type
  readonly kinds: { readonly [kind: string]: ZoneHooks<any> };
  /** Templates of instances zone logic may open (`zone.openInstance(name)`; see instances.ts). */
  readonly instances?: { readonly [name: string]: InstanceTemplate };
  /** A client said hello: give it an avatar (exactly one replica is asked). */
  clientArrived?(client: ArrivingClient, cluster: Cluster): Promise<void>;
  /**
   * Plugin messages from the plugin of this name at the other end of an edge: a client (client-server),
   * a linked cluster (server-server), main (server-main). One replica hears each. `from` is who sent it,
   * as the cluster vouches for it; throwing refuses the message (the client hears PLUGIN_ERROR).
   */
  readonly messages?: {
    onMessage(message: PluginMessageIn, cluster: Cluster): void | Promise<void>;
  };
}

/**
 * A typed airecv handler: `onField(demo.DistributedAvatar, "say", (zone, state, avatar, [text], sender) => ...)`.
 * `sender` is the channel the update came from, as the state server names it: the sending client's
 * channel for a client's update (its agent cannot send for another agent's clients), the zone's for
 * game logic's own.
 */
export function onField<S, G extends FieldInfoMap, N extends keyof G & string>(
  handle: DClassHandle<G>,
  name: N,
  fn: (zone: Zone, state: S, object: ZoneObject<G>, value: G[N]["value"], sender: number) => void,
): FieldHandler<S> {
  handle.field(name); // throws now, naming the class, if it has no such field
  return {
    dclass: handle.dclass,
    fieldName: name,
    handle: fn as FieldHandler<S>["handle"],
  };
}

/** Declares a plugin (an identity function that checks its shape at compile time). */
export function definePlugin(plugin: ZonePlugin): ZonePlugin {
  return plugin;
}

/**
 * Uberdog's seat in the cluster for the admin API: a participant of role `admin` (the role the catalogue
 * gives the operators' actions; its credentials, `admin.creds`, are uberdog's), so everything it does
 * goes over NATS to the service that owns it, with that service's checks: objects through the state
 * server, sessions through the client agents (`ca.sessions`), kicks and system messages to a client's
 * channel (the agent holding it obeys), events through the director's event log. Nothing here touches
 * Redis.
 *
 * Field values cross the API as JSON: they are packed by the dclass here (a value that does not fit its
 * field is refused with the field's name and what was wrong) and unpacked for reading (64-bit integers
 * as decimal strings, blobs as base64).
 */
import {
  type DClass,
  type DcFile,
  type DcValue,
  encodeEnvelope,
  type Field,
  isMethod,
  type messages,
  packField,
  ROLES,
  type Role,
  unpackField,
} from "@overworld/protocol";
import { type LoggedEvent, type Participant, readEvents } from "@overworld/service";
import type { AwaitedCalls } from "@overworld/zone-ai/calls";
import { assign, zoneKey } from "@overworld/zone-ai/placement";

/** How long the client agents have to answer `ca.sessions`. */
const SESSIONS_TIMEOUT_MS = 1500;
/** The participant roles the status lists (the director answers for the others, not for itself). */
const LISTED_ROLES: readonly Role[] = ROLES.filter((role) => role !== "message-director");

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** A request the admin API refuses with 400, naming the field at fault. */
export class BadField extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ObjectView {
  readonly doId: number;
  readonly className: string;
  readonly parentId: number;
  readonly zoneId: number;
  readonly ai?: number;
  readonly owner?: number;
  readonly fields: Record<string, Json>;
}

export interface AgentSessions {
  readonly agent: number;
  readonly instanceId: string;
  readonly sessions: messages.SessionInfo[];
}

export class AdminCluster {
  constructor(
    private readonly participant: Participant,
    readonly dc: DcFile,
    readonly version: string,
    readonly schemaHash: number,
    private readonly eventStream: string,
    /** Uberdog's awaitable requests (service-objects.ts): answered on its channel. */
    private readonly calls?: AwaitedCalls,
  ) {}

  get alive(): boolean {
    return this.participant.alive;
  }

  /** Every live participant, by role, as the director sees them (those heartbeating within their deadline). */
  async members(): Promise<Record<string, messages.Member[]>> {
    const lists = await Promise.all(LISTED_ROLES.map((role) => this.participant.members(role)));
    return Object.fromEntries(LISTED_ROLES.map((role, index) => [role, lists[index]!]));
  }

  /** Each live client agent's sessions (one account's, if given): agents that did not answer in time are left out. */
  async sessions(accountId?: number): Promise<AgentSessions[]> {
    const agents = await this.participant.members("client-agent");
    const replies = await this.participant.gather(
      "ca",
      "sessions",
      accountId === undefined ? {} : { accountId },
      agents.length,
      SESSIONS_TIMEOUT_MS,
    );
    return replies.map(({ agent, instanceId, sessions }) => ({ agent, instanceId, sessions }));
  }

  /** How full each live client agent is (`ca.load`): agents that did not answer in time are left out. */
  async agentLoads(): Promise<messages.AgentLoadReply[]> {
    const agents = await this.participant.members("client-agent");
    if (agents.length === 0) return [];
    return this.participant.gather("ca", "load", {}, agents.length, SESSIONS_TIMEOUT_MS);
  }

  /**
   * Which zone-AI replica runs each zone of a parent that holds objects, as the replicas place them:
   * rendezvous hashing over the live replicas' channels (services/zone-ai placement.ts). During a handover
   * the zone's lease, not this advice, says who runs it for the moment.
   */
  async placement(parentId: number): Promise<{ replica: number; zones: number[] }[]> {
    const [replicas, active] = await Promise.all([
      this.participant.members("zone-ai"),
      this.participant.request("ss", "active-zones", { parentId }),
    ]);
    const byKey = new Map(active.zones.map((zone) => [zoneKey(parentId, zone), zone]));
    const placed = assign(
      byKey.keys(),
      replicas.map((replica) => String(replica.channel)),
    );
    return [...placed].map(([replica, keys]) => ({
      replica: Number(replica),
      zones: keys.map((key) => byKey.get(key)!),
    }));
  }

  async activeZones(parentId: number): Promise<number[]> {
    return (await this.participant.request("ss", "active-zones", { parentId })).zones;
  }

  /** The objects in these zones of a parent, as the state server shows a zone. */
  async objectsIn(parentId: number, zones: readonly number[]): Promise<ObjectView[]> {
    const reply = await this.participant.request("ss", "query-zones", { parentId, zones: [...zones] });
    return reply.objects.map((object) => this.view(object));
  }

  /** One object with every stored field; a state-server refusal (unknown object) rejects with its RequestError. */
  async object(doId: number): Promise<ObjectView> {
    return this.view(await this.participant.request("ss", "get", { doId }));
  }

  /** Sets fields of an object through the state server (all or none), packed by the object's class. */
  async setFields(doId: number, values: Record<string, Json>): Promise<ObjectView> {
    const state = await this.participant.request("ss", "get", { doId, fieldIds: [] });
    const dclass = this.classOf(state.classId);
    const fields = Object.entries(values).map(([name, value]): [number, Uint8Array] => {
      const field = dclass.field(name);
      if (field === undefined) {
        throw new BadField(`fields.${name}`, `${dclass.name} has no field ${name}`);
      }
      try {
        return [field.id, packField(field, value as DcValue)];
      } catch (error) {
        throw new BadField(`fields.${name}`, `${dclass.name}.${name}: ${(error as Error).message}`);
      }
    });
    await this.participant.request("ss", "set", { doId, fields });
    return this.object(doId);
  }

  /**
   * Calls a method of an object (a zone's or a service's) with arguments as JSON, packed by the object's
   * class, and waits for its answer: the reply field's value as JSON (null when the method has none). A
   * refusal or an error answer rejects with a RequestError naming its code; bad arguments with BadField.
   */
  async request(doId: number, method: string, args: Json, timeoutMs: number): Promise<Json> {
    if (this.calls === undefined) throw new Error("uberdog makes no requests without its service objects");
    const state = await this.participant.request("ss", "get", { doId, fieldIds: [] });
    const dclass = this.classOf(state.classId);
    const field = dclass.field(method);
    if (field === undefined) throw new BadField("method", `${dclass.name} has no field ${method}`);
    if (!isMethod(field)) {
      throw new BadField("method", `${dclass.name}.${method} is not a method (it has no keyword request)`);
    }
    try {
      packField(field, args as DcValue);
    } catch (error) {
      throw new BadField("args", `${dclass.name}.${method}: ${(error as Error).message}`);
    }
    const reply = await this.calls.call(doId, dclass, method, args as DcValue, { timeoutMs });
    return reply === undefined ? null : toJson(reply as DcValue);
  }

  /** Ejects a client (by its channel) with a code and reason; its agent sends the EJECT and disconnects it. */
  eject(client: number, code: number, reason: string): void {
    this.toClient(client, { kind: "eject", sender: this.participant.channel, code, reason });
  }

  /** Says something to a client: a SYSTEM_MESSAGE from its agent. */
  tell(client: number, text: string): void {
    this.toClient(client, { kind: "system-message", sender: this.participant.channel, text });
  }

  /** The cluster's event log from `fromSeq`, of one kind if given (may end in `>`). */
  events(options: { fromSeq: number; limit: number; kind?: string }): Promise<LoggedEvent[]> {
    return readEvents(this.participant.nc, {
      root: this.participant.subjects.root,
      stream: this.eventStream,
      fromSeq: options.fromSeq,
      limit: options.limit,
      ...(options.kind === undefined ? {} : { kind: options.kind }),
    });
  }

  /** Appends to the cluster event log under uberdog's identity (bans, maintenance, the temp admin). */
  async record(kind: string, data: unknown): Promise<void> {
    await this.participant.appendEvent(kind, data);
  }

  /**
   * Hears everything said on a parent's location subjects (`<root>.l.<parent>.*`: entries, exits,
   * deletions, broadcast updates), read-only, as the live map does; returns how to stop.
   */
  watchLocations(parentId: number, heard: (data: Uint8Array) => void): () => void {
    const subscription = this.participant.nc.subscribe(`${this.participant.subjects.root}.l.${parentId}.*`, {
      callback: (error, msg) => (error ? undefined : heard(msg.data)),
    });
    return () => subscription.unsubscribe();
  }

  /** A field value as JSON, unpacked by its field. */
  decode(field: Field, bytes: Uint8Array): Json {
    return toJson(unpackField(field, bytes));
  }

  private toClient(client: number, message: messages.ClientControl): void {
    this.participant.nc.publish(this.participant.subjects.participant(client), encodeEnvelope(message));
  }

  private classOf(classId: number): DClass {
    const dclass = this.dc.typeById(classId);
    if (dclass?.kind !== "class") throw new Error(`class ${classId} is not in the cluster's DC_FILES`);
    return dclass;
  }

  /** An object as the API shows it, from a snapshot or state the state server gave. */
  view(object: messages.ObjectSnapshot | messages.ObjectState): ObjectView {
    const dclass = this.classOf(object.classId);
    const fields: Record<string, Json> = {};
    for (const [fieldId, bytes] of object.fields) {
      const field = dclass.fieldById(fieldId);
      if (field === undefined) continue;
      fields[field.name] = toJson(unpackField(field, bytes));
    }
    const ai = "ai" in object && object.ai !== 0 ? { ai: object.ai } : {};
    const owner = object.owner ? { owner: object.owner } : {};
    return {
      doId: object.doId,
      className: dclass.name,
      parentId: object.parentId,
      zoneId: object.zoneId,
      ...ai,
      ...owner,
      fields,
    };
  }
}

/** A dclass value as JSON: 64-bit integers as decimal strings, blobs as base64. */
export function toJson(value: DcValue): Json {
  if (typeof value === "bigint") return value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString("base64");
  if (Array.isArray(value)) return value.map((each) => toJson(each as DcValue));
  if (typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([key, each]) => [key, toJson(each as DcValue)]));
  }
  return value as number | string;
}

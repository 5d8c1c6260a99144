/**
 * Who may say what inside the cluster: for every operation of the message catalogue, the roles that may
 * send it and the role that serves it; for every subject that carries no sender (locations, participant
 * and zone channels, account channels), the roles that may publish and subscribe; and the JetStream
 * streams each role uses. The NATS permissions of every participant are generated from these tables
 * (`permissionsFor`), never written by hand, and a test holds a real NATS server to them.
 *
 * Identity travels in the subject: an instance may publish a request only on
 * `<root>.<service>.<operation>.<its role>.<its channel>`, so the service reads the sender from the subject
 * and nobody can speak as another. Replies go to the requester's own inbox (`_INBOX.<its key>.>`), which
 * nobody else may subscribe to; a service answers through NATS's allow-responses (one reply per request it
 * received), so it cannot publish into inboxes at will.
 */
import { EVENT_STREAM, type Identity, type ServiceName, subjects } from "./channels.ts";
import type {
  CLIENT_AGENT_OPS,
  DB_OPS,
  DirectorOp,
  LINK_OPS,
  STATE_SERVER_OPS,
  ZONE_AI_OPS,
} from "./messages.ts";
import { ROLES, type Role } from "./roles.ts";

/** Every role that joins through the director (all but the director itself). */
const JOINING: readonly Role[] = ROLES.filter((role) => role !== "message-director");
/** Roles with an operator's rights over objects. */
const OPERATORS: readonly Role[] = ["admin", "tool"];
/** Roles that only read. */
const READERS: readonly Role[] = ["observer", ...OPERATORS];

type Senders<Op extends string> = { readonly [K in Op]: readonly Role[] };

interface ServiceRule<Op extends string> {
  /** The role whose instances serve the operations (a queue group of them). */
  readonly servedBy: Role;
  /** Who may send each operation. */
  readonly operations: Senders<Op>;
}

export const DIRECTOR_SERVICE: ServiceRule<DirectorOp> = {
  servedBy: "message-director",
  operations: {
    heartbeat: JOINING,
    goodbye: JOINING,
    addPostRemoves: JOINING,
    clearPostRemoves: JOINING,
    allocateIds: JOINING,
    members: JOINING,
    // zone AI: to check that a client agent vouching for a client's plugin message holds that client
    owners: ["state-server", "zone-ai", ...READERS],
  },
};

export const STATE_SERVICE: ServiceRule<keyof typeof STATE_SERVER_OPS> = {
  servedBy: "state-server",
  operations: {
    create: ["zone-ai", ...OPERATORS],
    delete: ["zone-ai", "client-agent", ...OPERATORS],
    get: ["zone-ai", ...READERS],
    set: ["zone-ai", ...OPERATORS],
    "set-location": ["zone-ai", ...OPERATORS],
    "set-ai": ["zone-ai", ...OPERATORS],
    "set-owner": ["zone-ai", ...OPERATORS],
    "delete-ai-objects": ["zone-ai", ...OPERATORS],
    "query-zones": ["client-agent", "zone-ai", "link", ...READERS],
    "count-zones": ["zone-ai", ...READERS],
    "active-zones": ["zone-ai", ...READERS],
    "delete-zone": ["zone-ai", ...OPERATORS],
    "delete-children": ["zone-ai", ...OPERATORS],
    updates: ["client-agent", "zone-ai", "link", ...OPERATORS],
    request: ["client-agent", "zone-ai", ...OPERATORS],
  },
};

export const DB_SERVICE: ServiceRule<keyof typeof DB_OPS> = {
  servedBy: "state-server",
  operations: {
    create: ["zone-ai", "uberdog", ...OPERATORS],
    get: ["zone-ai", "uberdog", ...READERS],
    set: ["zone-ai", "uberdog", ...OPERATORS],
    "set-if-equals": ["zone-ai", "uberdog", ...OPERATORS],
    "set-if-empty": ["zone-ai", "uberdog", ...OPERATORS],
    "delete-fields": ["zone-ai", "uberdog", ...OPERATORS],
    delete: ["zone-ai", "uberdog", ...OPERATORS],
    activate: ["zone-ai", ...OPERATORS],
  },
};

/**
 * What game logic (zone AI) serves: the notices of client agents, and plugin messages to the servers'
 * plugins from clients (their agents vouch for them) and from linked clusters and main (the link end).
 */
export const GAME_SERVICE: ServiceRule<"client-arrived" | "client-left" | "plugin-message"> = {
  servedBy: "zone-ai",
  operations: {
    "client-arrived": ["client-agent"],
    "client-left": ["client-agent"],
    "plugin-message": ["client-agent", "link"],
  },
};

/**
 * What every client agent answers for its own clients (each hears every request: no queue group): the
 * sessions it holds, for operators (uberdog's admin API joins as `admin`) and readers (the live map); how
 * full it is, for uberdog's logins; the
 * client plugins its clients must run, from the link end (which fetches and verifies main's plugin set).
 */
export const CLIENT_AGENT_SERVICE: ServiceRule<keyof typeof CLIENT_AGENT_OPS> = {
  servedBy: "client-agent",
  operations: {
    sessions: READERS,
    load: ["uberdog", ...READERS],
    plugins: ["link", ...OPERATORS],
    "plugin-deliver": ["zone-ai", "link"],
  },
};

/**
 * What the cluster's link ends serve (a queue group): plugin messages out of the cluster, to a linked
 * cluster's plugin or to main's, from the servers' plugins and from clients (through their agent); the
 * packages of the pushed server plugin set, to zone-AI replicas.
 */
export const LINK_SERVICE: ServiceRule<keyof typeof LINK_OPS> = {
  servedBy: "link",
  operations: {
    "plugin-message": ["zone-ai", "client-agent"],
    // the packages of the cluster's server plugin set, which replicas verify again before loading
    "plugin-package": ["zone-ai"],
    // the set running, asked by a replica as it starts
    "plugin-set": ["zone-ai"],
  },
};

/**
 * What every zone-AI replica answers (each hears every request: no queue group): a plugin version swap,
 * which only operators may ask, and the cluster's pushed server plugin set, which only the link end says.
 */
export const ZONE_AI_SERVICE: ServiceRule<keyof typeof ZONE_AI_OPS> = {
  servedBy: "zone-ai",
  operations: {
    "plugin-swap": OPERATORS,
    // the server plugin set main pushed, as the link end verified it: the link end alone says it
    "plugin-set": ["link"],
  },
};

export const SERVICES: { readonly [S in ServiceName]: ServiceRule<string> } = {
  md: DIRECTOR_SERVICE,
  ss: STATE_SERVICE,
  db: DB_SERVICE,
  game: GAME_SERVICE,
  ca: CLIENT_AGENT_SERVICE,
  zai: ZONE_AI_SERVICE,
  lk: LINK_SERVICE,
};

/** A subject that carries no sender: who may publish on it and who may subscribe to it. */
export interface BroadcastRule {
  /** The wildcard covering every subject of the kind, under a root. */
  readonly pattern: (root: string) => string;
  readonly publish: readonly Role[];
  readonly subscribe: readonly Role[];
}

export const BROADCASTS = {
  /** What happens in a zone: entries, exits, broadcast updates. Only the state server says it. */
  location: {
    pattern: (root) => `${subjects(root).root}.l.*.*`,
    publish: ["state-server"],
    subscribe: ["client-agent", "zone-ai", "link", ...READERS],
  },
  /** A participant's channel: owner and AI deliveries (state server), control messages (game logic, operators). */
  participant: {
    pattern: (root) => `${subjects(root).root}.c.*`,
    publish: ["state-server", "zone-ai", ...OPERATORS],
    subscribe: ["client-agent", ...OPERATORS],
  },
  /**
   * A zone's channel: its AI's deliveries and zone events, stored by the zone journal (read through
   * JetStream). Uberdog (role `admin`) answers there the requests zones make of its service objects.
   */
  zone: {
    pattern: (root) => `${subjects(root).root}.zc.*`,
    publish: ["state-server", "zone-ai", "admin", "tool"],
    subscribe: ["tool"],
  },
  /** An account's channel: what concerns all its sessions (e.g. "logged in elsewhere"). */
  account: {
    pattern: (root) => `${subjects(root).root}.a.*`,
    publish: ["client-agent", "uberdog", ...OPERATORS],
    subscribe: ["client-agent"],
  },
} as const satisfies Record<string, BroadcastRule>;

/** The JetStream streams of a cluster, by what they hold. */
export interface Streams {
  /** The cluster event log. */
  readonly events: string;
  /** The zone journal. */
  readonly zones: string;
  /** The zone snapshots (a KV bucket: its stream is `KV_<bucket>`). */
  readonly snapshots: string;
}

/** The streams of the cluster under `root`: the zone journal's names follow the root. */
export function streamsOf(root: string, eventStream: string = EVENT_STREAM): Streams {
  const zones = `OW_ZONES_${subjects(root).root.toUpperCase()}`;
  return { events: eventStream, zones, snapshots: `${zones}_SNAPSHOTS` };
}

/** The streams each role reads or manages through JetStream's API (appending events needs none). */
export const STREAM_ACCESS: { readonly [R in Role]?: readonly (keyof Streams)[] } = {
  "message-director": ["events"],
  "zone-ai": ["zones", "snapshots"],
  observer: ["events"],
  admin: ["events"],
  tool: ["events", "zones", "snapshots"],
};

/** NATS permissions as a user JWT carries them. */
export interface NatsPermissions {
  pub: { allow: string[] };
  sub: { allow: string[] };
  /** Replies to requests received: at most one each (allow-responses). */
  resp?: { max: number; ttl: number };
}

/** Where a participant's permissions apply: its cluster's root and streams, its key and channel. */
export interface PermissionScope {
  readonly root: string;
  readonly streams: Streams;
  /** The participant's public user key: its inbox is `_INBOX.<key>`. */
  readonly key: string;
  readonly channel: number;
}

/** The inbox prefix of a participant with this public user key (replies to its requests come there). */
export function inboxOf(key: string): string {
  return `_INBOX.${key}`;
}

/** The inbox prefix of a connection that has not joined yet (it holds only its role's join credentials). */
export function joinInboxOf(role: Role): string {
  return `_INBOX.join.${role}`;
}

/**
 * The permissions of the instance of `role` with the given channel and key: publish its own requests,
 * its events, what its role may publish without a sender, and its JetStream streams; subscribe to what it
 * serves, its inbox, and what its role may hear. The message director's are the union of everyone's
 * (it publishes post-removes for the dead), checked per message when they are registered.
 */
export function permissionsFor(role: Role, scope: PermissionScope): NatsPermissions {
  const names = subjects(scope.root);
  const me: Identity = { role, channel: scope.channel };
  const pub = new Set<string>();
  // its own channel: where the answers to the requests it makes of objects come (and, for uberdog, the
  // calls of its service objects), whatever its role
  const sub = new Set<string>([`${inboxOf(scope.key)}.>`, names.participant(scope.channel)]);
  let serves = false;
  for (const [service, rule] of Object.entries(SERVICES) as [ServiceName, ServiceRule<string>][]) {
    for (const [operation, senders] of Object.entries(rule.operations)) {
      if (senders.includes(role)) pub.add(names.service(service, operation, me));
      if (rule.servedBy === role) {
        sub.add(names.served(service, operation));
        serves = true;
      }
    }
  }
  if (role !== "message-director") pub.add(names.join(role));
  pub.add(names.event(me, ">"));
  for (const rule of Object.values(BROADCASTS) as BroadcastRule[]) {
    if (rule.publish.includes(role)) pub.add(rule.pattern(scope.root));
    if (rule.subscribe.includes(role)) sub.add(rule.pattern(scope.root));
  }
  for (const stream of STREAM_ACCESS[role] ?? []) {
    for (const subject of jetStreamApi(scope.streams[stream], stream === "snapshots")) pub.add(subject);
  }
  if (role === "message-director") {
    sub.add(names.join("*"));
    for (const subject of everyonesPublications(scope.root)) pub.add(subject);
  }
  return {
    pub: { allow: [...pub].sort() },
    sub: { allow: [...sub].sort() },
    ...(serves ? { resp: { max: 1, ttl: 0 } } : {}),
  };
}

/** Whether a NATS subject matches a subject pattern (`*` one token, `>` one or more at the end). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const want = pattern.split(".");
  const have = subject.split(".");
  for (let i = 0; i < want.length; i++) {
    if (want[i] === ">") return have.length > i;
    if (i >= have.length || (want[i] !== "*" && want[i] !== have[i])) return false;
  }
  return want.length === have.length;
}

/** Whether these permissions let their holder publish on `subject`. */
export function mayPublish(permissions: NatsPermissions, subject: string): boolean {
  return permissions.pub.allow.some((pattern) => subjectMatches(pattern, subject));
}

/** What the credentials a role's instances join with allow: the join request, and the answer to it. */
export function joinPermissionsFor(role: Role): NatsPermissions {
  return {
    pub: { allow: [`*.md.join.${role}`] },
    sub: { allow: [`${joinInboxOf(role)}.>`] },
  };
}

/**
 * What the director may publish for the dead: every service's requests and every subject without a
 * sender. Each post-remove was checked against its own participant's permissions when registered.
 */
function everyonesPublications(root: string): string[] {
  const out: string[] = (Object.keys(SERVICES) as ServiceName[]).map((service) => `${root}.${service}.>`);
  for (const rule of Object.values(BROADCASTS) as BroadcastRule[]) {
    if (rule.publish.length > 0) out.push(rule.pattern(root));
  }
  return out;
}

/** JetStream API subjects that manage, read and acknowledge one stream (and, for a KV bucket, its keys). */
function jetStreamApi(stream: string, isBucket: boolean): string[] {
  const name = isBucket ? `KV_${stream}` : stream;
  const api = [
    "$JS.API.INFO",
    `$JS.API.STREAM.*.${name}`,
    `$JS.API.STREAM.MSG.*.${name}`,
    `$JS.API.DIRECT.GET.${name}`,
    `$JS.API.DIRECT.GET.${name}.>`,
    `$JS.API.CONSUMER.*.${name}`,
    `$JS.API.CONSUMER.*.${name}.>`,
    `$JS.API.CONSUMER.MSG.NEXT.${name}.>`,
    `$JS.API.CONSUMER.DURABLE.CREATE.${name}.>`,
    `$JS.ACK.${name}.>`,
    `$JS.FC.${name}.>`,
  ];
  if (isBucket) api.push(`$KV.${stream}.>`);
  return api;
}

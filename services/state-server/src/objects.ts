import { isCluster, type Redis, waitForReplicas } from "@overworld/service";
import type { ChainableCommander, Redis as SingleRedis } from "ioredis";
import type { FieldBytes } from "./model.ts";
import { SCRIPTS, type ScriptName } from "./scripts.ts";

/** An object's class, location, AI and owner as Redis holds them; 0 means none. */
export interface ObjectMeta {
  readonly doId: number;
  readonly classId: number;
  readonly parentId: number;
  readonly zoneId: number;
  readonly ai: number;
  readonly aiExplicit: boolean;
  readonly owner: number;
  /** Stored in Postgres: its db fields are written back on every update. */
  readonly stored: boolean;
}

export interface LiveObject extends ObjectMeta {
  /** Stored field values by field id (molecular fields are stored as their atoms). */
  readonly fields: Map<number, Uint8Array>;
}

export interface NewObject {
  readonly doId: number;
  readonly classId: number;
  readonly parentId: number;
  readonly zoneId: number;
  /** 0: inherit the parent's AI. */
  readonly ai: number;
  readonly owner: number;
  readonly stored: boolean;
  readonly fields: readonly FieldBytes[];
}

/** The values to store on one object, guarded by the class the caller validated them against. */
export interface ApplyGroup {
  readonly doId: number;
  readonly classId: number;
  readonly fields: readonly FieldBytes[];
}

export type ApplyOutcome =
  | { readonly status: "ok"; parentId: number; zoneId: number; ai: number; owner: number; stored: boolean }
  | { readonly status: "missing" | "class" };

/** One object whose AI changed, and the AI it had. */
export interface AiChange {
  readonly doId: number;
  readonly oldAi: number;
}

export type MoveOutcome =
  | { readonly status: "missing" | "self" | "cycle" | "same" }
  | {
      readonly status: "ok";
      readonly oldParentId: number;
      readonly oldZoneId: number;
      readonly oldAi: number;
      readonly owner: number;
      readonly aiChanges: AiChange[];
    };

/** A deleted object and where it was, for the delete notices. */
export interface Deleted {
  readonly doId: number;
  readonly parentId: number;
  readonly zoneId: number;
  readonly ai: number;
  readonly owner: number;
}

export type DestroyTarget =
  | { readonly mode: "object"; readonly doId: number }
  | { readonly mode: "zone"; readonly parentId: number; readonly zoneId: number }
  | { readonly mode: "children"; readonly parentId: number }
  | { readonly mode: "ai"; readonly ai: number };

/** Keeps one EVALSHA call well inside Redis's and Lua's argument limits. */
const MAX_SCRIPT_ARGS = 8000;
const META_FIELDS = new Set(["c", "p", "z", "a", "x", "w", "d"]);
/** How deep a parent chain the cycle check walks before it gives up (as the single-script check did). */
const MAX_DEPTH = 100_000;

type ScriptCaller = (...args: (string | number | Buffer | Uint8Array)[]) => Promise<unknown>;

function text(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString("latin1");
  return String(value);
}

function num(value: unknown): number {
  return Number(text(value));
}

/** Uint8Arrays that are not Buffers are sent by ioredis as text; wrap them without copying. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function pairs(fields: readonly FieldBytes[]): (string | Buffer)[] {
  const out: (string | Buffer)[] = [];
  for (const [fieldId, value] of fields) out.push(String(fieldId), asBuffer(value));
  return out;
}

/** How long the state server remembers a sender's last numbered batch (its resends come within seconds). */
const BATCH_MEMORY_SECONDS = 3600;

/** Options of the store beyond its Redis and prefix. */
export interface ObjectStoreOptions {
  /**
   * Replicas each master must confirm (Redis WAIT) before an acknowledged change is answered; 0: none.
   * See the README's "Redis Cluster" for what it buys.
   */
  readonly waitReplicas?: number;
  /** How long one WAIT may take (ms); past it the change is answered anyway, and counted. */
  readonly waitTimeoutMs?: number;
  /** Called when a WAIT timed out with fewer replicas than asked. */
  readonly onWaitShort?: (reached: number) => void;
}

/**
 * The live objects in Redis, on one server or a Redis Cluster. Each change of an object is one Lua
 * script in the object's slot (atomic: its hash is the truth); the location and AI indexes, in other
 * slots, follow it by idempotent steps and are repaired when a read finds them disagreeing with the
 * hashes (see scripts.ts). Field values are kept and returned as the packed bytes.
 */
export class ObjectStore {
  private readonly cluster: boolean;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
    private readonly options: ObjectStoreOptions = {},
  ) {
    this.cluster = isCluster(redis);
    for (const [name, [lua, numberOfKeys]] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) {
        redis.defineCommand(name, numberOfKeys === undefined ? { lua } : { lua, numberOfKeys });
      }
    }
  }

  private script(target: Redis | ChainableCommander, name: ScriptName): ScriptCaller {
    const fn = (target as unknown as Record<string, ScriptCaller>)[`${name}Buffer`]!;
    return fn.bind(target);
  }

  private call(name: ScriptName, keys: readonly string[], ...args: (string | Buffer)[]): Promise<unknown> {
    if (SCRIPTS[name][1] !== keys.length) throw new Error(`${name} takes ${SCRIPTS[name][1]} key(s)`);
    return this.script(this.redis, name)(...keys, ...args);
  }

  /**
   * One command per item: one pipeline on one Redis; on a cluster, commands of their own (ioredis's
   * auto-pipelining sends those of one tick as one pipeline per node: a pipeline may not span nodes).
   */
  private async perItem<I>(
    items: readonly I[],
    issue: (target: ChainableCommander, item: I) => unknown,
  ): Promise<unknown[]> {
    if (items.length === 0) return [];
    if (this.cluster) {
      const target = this.redis as unknown as ChainableCommander;
      return Promise.all(items.map((item) => issue(target, item) as Promise<unknown>));
    }
    const pipeline = (this.redis as SingleRedis).pipeline();
    for (const item of items) issue(pipeline, item);
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, value]) => {
      if (error) throw error;
      return value;
    });
  }

  objectKey(doId: number): string {
    return `${this.prefix}o:{${doId}}`;
  }

  private zoneKey(parentId: number, zoneId: number): string {
    return `${this.prefix}z:{${parentId}}:${zoneId}`;
  }

  private zonesKey(parentId: number): string {
    return `${this.prefix}zs:{${parentId}}`;
  }

  private childrenKey(parentId: number): string {
    return `${this.prefix}ch:{${parentId}}`;
  }

  private aiKey(ai: number): string {
    return `${this.prefix}ai:{${ai}}`;
  }

  private locationKeys(parentId: number, zoneId: number): string[] {
    return [this.zoneKey(parentId, zoneId), this.zonesKey(parentId), this.childrenKey(parentId)];
  }

  /**
   * Waits, when configured, until replicas hold what this store wrote to these objects (WAIT on the
   * masters of their slots; on one Redis, on it): called before a change is acknowledged.
   */
  async durable(doIds: readonly number[]): Promise<void> {
    const replicas = this.options.waitReplicas ?? 0;
    if (replicas <= 0 || doIds.length === 0) return;
    const keys = doIds.map((doId) => this.objectKey(doId));
    const reached = await waitForReplicas(this.redis, replicas, this.options.waitTimeoutMs ?? 100, keys);
    if (reached < replicas) this.options.onWaitShort?.(reached);
  }

  /** The last numbered batch of updates applied for a sender (0 for none), kept an hour after it. */
  async lastBatch(sender: number): Promise<number> {
    const last = await this.redis.get(`${this.prefix}batch:{${sender}}`);
    return last === null ? 0 : Number(last);
  }

  async batchApplied(sender: number, seq: number): Promise<void> {
    await this.redis.set(`${this.prefix}batch:{${sender}}`, String(seq), "EX", BATCH_MEMORY_SECONDS);
  }

  // ---- indexes -----------------------------------------------------------------------------------

  private async indexAdd(doId: number, parentId: number, zoneId: number): Promise<void> {
    if (parentId === 0) return;
    await this.call("owIndexAdd", this.locationKeys(parentId, zoneId), String(doId), String(zoneId));
  }

  /** Takes an object out of a location's indexes, and puts it back if its hash says it is there. */
  private async indexRemove(doId: number, parentId: number, zoneId: number): Promise<void> {
    if (parentId === 0) return;
    await this.call("owIndexRemove", this.locationKeys(parentId, zoneId), String(doId), String(zoneId));
    const [p, z] = await this.redis.hmget(this.objectKey(doId), "p", "z");
    if (p === String(parentId) && z === String(zoneId)) await this.indexAdd(doId, parentId, zoneId);
  }

  private async aiAdd(doId: number, ai: number): Promise<void> {
    if (ai !== 0) await this.redis.sadd(this.aiKey(ai), String(doId));
  }

  /** Takes an object out of an AI's set, and puts it back if its hash says that AI runs it. */
  private async aiRemove(doId: number, ai: number): Promise<void> {
    if (ai === 0) return;
    await this.redis.srem(this.aiKey(ai), String(doId));
    if ((await this.redis.hget(this.objectKey(doId), "a")) === String(ai)) await this.aiAdd(doId, ai);
  }

  // ---- changes -----------------------------------------------------------------------------------

  /** Creates an object unless its doId is taken; answers the AI it got (its own or its parent's). */
  async create(object: NewObject): Promise<{ created: false } | { created: true; ai: number }> {
    const { doId, parentId, zoneId } = object;
    let ai = object.ai;
    if (ai === 0 && parentId !== 0) {
      const parentAi = await this.redis.hget(this.objectKey(parentId), "a");
      ai = parentAi === null ? 0 : Number(parentAi);
    }
    // the indexes first: a crash after it leaves an entry that reads repair, not a missing one
    await Promise.all([this.indexAdd(doId, parentId, zoneId), this.aiAdd(doId, ai)]);
    const reply = await this.call(
      "owCreate",
      [this.objectKey(doId)],
      String(object.classId),
      String(parentId),
      String(zoneId),
      String(ai),
      object.ai === 0 ? "0" : "1",
      String(object.owner),
      object.stored ? "1" : "0",
      ...pairs(object.fields),
    );
    if (text(reply) === "exists") {
      await Promise.all([this.indexRemove(doId, parentId, zoneId), this.aiRemove(doId, ai)]);
      return { created: false };
    }
    await Promise.all([this.indexAdd(doId, parentId, zoneId), this.aiAdd(doId, ai)]);
    await this.durable([doId]);
    return { created: true, ai };
  }

  /**
   * Stores field values on many objects: one pipeline on one Redis, one script per object on a cluster
   * (auto-pipelined per node). The calls are issued before this returns its promise, so calls made one
   * after another reach Redis in that order.
   */
  apply(groups: readonly ApplyGroup[]): Promise<ApplyOutcome[]> {
    if (groups.length === 0) return Promise.resolve([]);
    const chunks: { keys: string[]; args: (string | Buffer)[] }[] = [];
    let chunk: { keys: string[]; args: (string | Buffer)[] } | undefined;
    for (const group of groups) {
      const size = 3 + 2 * group.fields.length;
      if (!chunk || this.cluster || chunk.keys.length + chunk.args.length + size > MAX_SCRIPT_ARGS) {
        chunk = { keys: [], args: [] };
        chunks.push(chunk);
      }
      chunk.keys.push(this.objectKey(group.doId));
      chunk.args.push(String(group.classId), String(group.fields.length), ...pairs(group.fields));
    }
    const replies = this.perItem(chunks, (target, { keys, args }) =>
      this.cluster
        ? this.script(target, "owApplyOne")(...keys, ...args)
        : this.script(target, "owApply")(keys.length, ...keys, ...args),
    );
    return replies.then((results) => {
      const outcomes: ApplyOutcome[] = [];
      for (const reply of results) readApplyReply(reply as Buffer, outcomes);
      return outcomes;
    });
  }

  /** Whether `ancestor` is `doId` or one of its ancestors' chain reaches `doId` (a move would make a cycle). */
  private async reaches(ancestor: number, doId: number): Promise<boolean> {
    let current = ancestor;
    for (let depth = 0; current !== 0 && depth < MAX_DEPTH; depth++) {
      if (current === doId) return true;
      const parent = await this.redis.hget(this.objectKey(current), "p");
      current = parent === null ? 0 : Number(parent);
    }
    return false;
  }

  /** Moves an object; with `ai`, sets its AI explicitly in the same step. */
  async move(doId: number, parentId: number, zoneId: number, ai?: number): Promise<MoveOutcome> {
    const key = this.objectKey(doId);
    if (parentId === doId) return (await this.redis.exists(key)) ? { status: "self" } : { status: "missing" };
    // the parent chain spans slots: checked before the move, not inside it (see the README)
    if (parentId !== 0 && (await this.reaches(parentId, doId))) {
      return (await this.redis.exists(key)) ? { status: "cycle" } : { status: "missing" };
    }
    const current = await this.redis.hmget(key, "p", "z");
    if (current[0] !== null && (current[0] !== String(parentId) || current[1] !== String(zoneId))) {
      await this.indexAdd(doId, parentId, zoneId);
    }
    const args = [String(parentId), String(zoneId)];
    if (ai !== undefined) args.push(String(ai));
    const reply = (await this.call("owMove", [key], ...args)) as unknown[];
    const status = text(reply[0]);
    if (status !== "ok") {
      if (current[0] !== null) await this.indexRemove(doId, parentId, zoneId);
      return { status: status as "missing" | "same" };
    }
    const oldParentId = num(reply[1]);
    const oldZoneId = num(reply[2]);
    const explicit = text(reply[4]) === "1";
    await this.indexAdd(doId, parentId, zoneId);
    if (oldParentId !== parentId || oldZoneId !== zoneId)
      await this.indexRemove(doId, oldParentId, oldZoneId);
    let aiChanges: AiChange[] = [];
    if (ai !== undefined) {
      aiChanges = await this.spreadAi(doId, ai, "explicit");
    } else if (!explicit && parentId !== oldParentId) {
      const inherited = await this.inheritedAi(parentId);
      if (inherited !== undefined) aiChanges = await this.spreadAi(doId, inherited, "inherited");
    }
    await this.durable([doId, ...aiChanges.map((change) => change.doId)]);
    return {
      status: "ok",
      oldParentId,
      oldZoneId,
      oldAi: num(reply[3]),
      owner: num(reply[5]),
      aiChanges,
    };
  }

  /** The AI an object that did not choose one gets under this parent; undefined if it is not live. */
  private async inheritedAi(parentId: number): Promise<number | undefined> {
    if (parentId === 0) return 0;
    const ai = await this.redis.hget(this.objectKey(parentId), "a");
    return ai === null ? undefined : Number(ai);
  }

  /**
   * Gives `root` the AI `ai` (mode as SET_AI's), and every descendant that inherits its AI too, one
   * object (one slot) at a time; answers each change as doId and old AI, parents first. Undefined when
   * the root is not live.
   */
  private async spreadAi(
    root: number,
    ai: number,
    mode: "explicit" | "inherit" | "inherited",
  ): Promise<AiChange[]> {
    const changes: AiChange[] = [];
    let level: { doId: number; mode: string }[] = [{ doId: root, mode }];
    while (level.length > 0) {
      const replies = await Promise.all(
        level.map(({ doId, mode: step }) =>
          this.call("owSetAi", [this.objectKey(doId), this.childrenKey(doId)], String(ai), step),
        ),
      );
      const next: { doId: number; mode: string }[] = [];
      const indexing: Promise<void>[] = [];
      replies.forEach((reply, i) => {
        const list = reply as unknown[];
        if (text(list[0]) !== "ok") return;
        const doId = level[i]!.doId;
        const oldAi = num(list[1]);
        changes.push({ doId, oldAi });
        indexing.push(this.aiAdd(doId, ai).then(() => this.aiRemove(doId, oldAi)));
        for (const child of list[2] as unknown[]) next.push({ doId: num(child), mode: "inherited" });
      });
      await Promise.all(indexing);
      level = next;
    }
    return changes;
  }

  /** Sets (or with 0 clears) an explicit AI; answers the AI changes, or undefined if the object is missing. */
  async setAi(doId: number, ai: number): Promise<AiChange[] | undefined> {
    const parent = await this.redis.hget(this.objectKey(doId), "p");
    if (parent === null) return undefined;
    let changes: AiChange[];
    if (ai === 0) {
      changes = await this.spreadAi(doId, (await this.inheritedAi(Number(parent))) ?? 0, "inherit");
    } else {
      changes = await this.spreadAi(doId, ai, "explicit");
    }
    await this.durable(changes.map((change) => change.doId));
    return changes;
  }

  async setOwner(
    doId: number,
    owner: number,
  ): Promise<{ status: "missing" } | { status: "same" } | { status: "ok"; oldOwner: number }> {
    const reply = (await this.call("owSetOwner", [this.objectKey(doId)], String(owner))) as unknown[];
    const status = text(reply[0]);
    if (status === "ok") {
      await this.durable([doId]);
      return { status, oldOwner: num(reply[1]) };
    }
    return status === "same" ? { status } : { status: "missing" };
  }

  /** Deletes objects and their descendants; undefined when a single asked-for object does not exist. */
  async destroy(target: DestroyTarget): Promise<Deleted[] | undefined> {
    type Root = { doId: number; guard: [p: string, z: string, a: string] };
    let roots: Root[];
    switch (target.mode) {
      case "object":
        roots = [{ doId: target.doId, guard: ["", "", ""] }];
        break;
      case "zone": {
        const members = await this.redis.smembers(this.zoneKey(target.parentId, target.zoneId));
        const guard: Root["guard"] = [String(target.parentId), String(target.zoneId), ""];
        roots = members.map((doId) => ({ doId: Number(doId), guard }));
        break;
      }
      case "children": {
        const children = await this.redis.hkeys(this.childrenKey(target.parentId));
        const guard: Root["guard"] = [String(target.parentId), "", ""];
        roots = children.map((doId) => ({ doId: Number(doId), guard }));
        break;
      }
      case "ai": {
        const members = await this.redis.smembers(this.aiKey(target.ai));
        const guard: Root["guard"] = ["", "", String(target.ai)];
        roots = members.map((doId) => ({ doId: Number(doId), guard }));
        break;
      }
    }
    const out: Deleted[] = [];
    const seen = new Set<number>();
    let level = roots;
    let first = true;
    while (level.length > 0) {
      const fresh = level.filter(({ doId }) => !seen.has(doId));
      for (const { doId } of fresh) seen.add(doId);
      const replies = await Promise.all(
        fresh.map(({ doId, guard }) =>
          this.call("owDestroy", [this.objectKey(doId), this.childrenKey(doId)], ...guard),
        ),
      );
      if (first && target.mode === "object" && text((replies[0] as unknown[])[0]) === "missing") {
        return undefined;
      }
      first = false;
      const next: Root[] = [];
      const indexing: Promise<void>[] = [];
      replies.forEach((reply, i) => {
        const list = reply as unknown[];
        if (text(list[0]) !== "ok") return;
        const doId = fresh[i]!.doId;
        const deleted = {
          doId,
          parentId: num(list[1]),
          zoneId: num(list[2]),
          ai: num(list[3]),
          owner: num(list[4]),
        };
        out.push(deleted);
        indexing.push(this.indexRemove(doId, deleted.parentId, deleted.zoneId));
        indexing.push(this.aiRemove(doId, deleted.ai));
        for (const child of list[5] as unknown[]) {
          next.push({ doId: num(child), guard: [String(doId), "", ""] });
        }
      });
      await Promise.all(indexing);
      level = next;
    }
    await this.durable(out.map((deleted) => deleted.doId));
    return out;
  }

  /** Updates the stored copy of a live stored object after a db write; false if it is not live. */
  async refreshStored(doId: number, fields: readonly FieldBytes[]): Promise<boolean> {
    return Number(await this.call("owRefreshStored", [this.objectKey(doId)], ...pairs(fields))) === 1;
  }

  async unstore(doId: number): Promise<boolean> {
    return Number(await this.call("owUnstore", [this.objectKey(doId)])) === 1;
  }

  // ---- reads -------------------------------------------------------------------------------------

  async read(doId: number): Promise<LiveObject | undefined> {
    return parseObject(doId, await this.redis.hgetallBuffer(this.objectKey(doId)));
  }

  async readMany(doIds: readonly number[]): Promise<(LiveObject | undefined)[]> {
    const hashes = await this.perItem(doIds, (target, doId) => target.hgetallBuffer(this.objectKey(doId)));
    return hashes.map((hash, i) => parseObject(doIds[i]!, hash as Record<string, Buffer>));
  }

  /** The class of each object, undefined for those that do not exist. */
  async classOf(doIds: readonly number[]): Promise<(number | undefined)[]> {
    const values = await this.perItem(doIds, (target, doId) => target.hget(this.objectKey(doId), "c"));
    return values.map((value) => (value === null ? undefined : Number(value)));
  }

  /**
   * The live objects in these zones of a parent: the index's members whose hash says they are there.
   * Members whose hash says otherwise (a step cut off by a crash or a failover) are taken out of the index.
   */
  async inZones(parentId: number, zones: readonly number[]): Promise<LiveObject[]> {
    const sets = await this.perItem(zones, (target, zone) => target.smembers(this.zoneKey(parentId, zone)));
    const members: { doId: number; zoneId: number }[] = [];
    sets.forEach((set, i) => {
      for (const member of set as string[]) members.push({ doId: Number(member), zoneId: zones[i]! });
    });
    const found = await this.readMany(members.map(({ doId }) => doId));
    const out: LiveObject[] = [];
    const stale: Promise<void>[] = [];
    found.forEach((object, i) => {
      const { doId, zoneId } = members[i]!;
      if (object && object.parentId === parentId && object.zoneId === zoneId) out.push(object);
      else stale.push(this.indexRemove(doId, parentId, zoneId));
    });
    await Promise.all(stale);
    return out;
  }

  async countZones(parentId: number, zones: readonly number[]): Promise<number> {
    const counts = await this.perItem(zones, (target, zone) => target.scard(this.zoneKey(parentId, zone)));
    return counts.reduce<number>((total, count) => total + Number(count), 0);
  }

  async activeZones(parentId: number): Promise<number[]> {
    const zones = await this.redis.smembers(this.zonesKey(parentId));
    return zones.map(Number).sort((a, b) => a - b);
  }
}

const SPACE = 0x20;
const DIGIT_0 = 0x30;
const LETTER_O = 0x6f;
const LETTER_M = 0x6d;
const WORDS_PER_OBJECT = 6;

/**
 * The APPLY script's answer (six space-separated words per object, see scripts.ts), read from its bytes:
 * no string or Buffer per word.
 */
function readApplyReply(reply: Buffer, into: ApplyOutcome[]): void {
  const words: number[] = [0, 0, 0, 0, 0, 0];
  let at = 0;
  while (at < reply.length) {
    const status = reply[at]!;
    for (let word = 0; word < WORDS_PER_OBJECT; word++) {
      let value = 0;
      while (at < reply.length && reply[at] !== SPACE) {
        value = value * 10 + (reply[at]! - DIGIT_0);
        at++;
      }
      words[word] = value;
      at++; // the space
    }
    if (status !== LETTER_O) {
      into.push({ status: status === LETTER_M ? "missing" : "class" });
      continue;
    }
    into.push({
      status: "ok",
      parentId: words[1]!,
      zoneId: words[2]!,
      ai: words[3]!,
      owner: words[4]!,
      stored: words[5] === 1,
    });
  }
}

function parseObject(doId: number, hash: Record<string, Buffer>): LiveObject | undefined {
  const classId = hash.c;
  if (classId === undefined) return undefined;
  const fields = new Map<number, Uint8Array>();
  for (const [name, value] of Object.entries(hash)) {
    if (!META_FIELDS.has(name)) fields.set(Number(name), value);
  }
  return {
    doId,
    classId: num(classId),
    parentId: num(hash.p ?? "0"),
    zoneId: num(hash.z ?? "0"),
    ai: num(hash.a ?? "0"),
    aiExplicit: text(hash.x ?? "0") === "1",
    owner: num(hash.w ?? "0"),
    stored: text(hash.d ?? "0") === "1",
    fields,
  };
}

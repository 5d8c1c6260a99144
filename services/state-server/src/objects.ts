import type { ChainableCommander, Redis } from "ioredis";
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

type ScriptCaller = (...args: (string | Buffer | Uint8Array)[]) => Promise<unknown>;

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

function aiChanges(flat: unknown): AiChange[] {
  const list = flat as unknown[];
  const out: AiChange[] = [];
  for (let i = 0; i + 1 < list.length; i += 2) out.push({ doId: num(list[i]), oldAi: num(list[i + 1]) });
  return out;
}

/**
 * The live objects in Redis: every change goes through one of the Lua scripts (atomic), reads are
 * plain commands. Field values are kept and returned as the packed bytes.
 */
/** How long the state server remembers a sender's last numbered batch (its resends come within seconds). */
const BATCH_MEMORY_SECONDS = 3600;

export class ObjectStore {
  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    for (const [name, lua] of Object.entries(SCRIPTS)) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 0, lua });
    }
  }

  private script(target: Redis | ChainableCommander, name: ScriptName): ScriptCaller {
    const fn = (target as unknown as Record<string, ScriptCaller>)[`${name}Buffer`]!;
    return fn.bind(target);
  }

  private call(name: ScriptName, ...args: (string | Buffer)[]): Promise<unknown> {
    return this.script(this.redis, name)(this.prefix, ...args);
  }

  objectKey(doId: number): string {
    return `${this.prefix}o:${doId}`;
  }

  /** The last numbered batch of updates applied for a sender (0 for none), kept an hour after it. */
  async lastBatch(sender: number): Promise<number> {
    const last = await this.redis.get(`${this.prefix}batch:${sender}`);
    return last === null ? 0 : Number(last);
  }

  async batchApplied(sender: number, seq: number): Promise<void> {
    await this.redis.set(`${this.prefix}batch:${sender}`, String(seq), "EX", BATCH_MEMORY_SECONDS);
  }

  /** Creates an object unless its doId is taken; answers the AI it got (its own or its parent's). */
  async create(object: NewObject): Promise<{ created: false } | { created: true; ai: number }> {
    const reply = (await this.call(
      "owCreate",
      String(object.doId),
      String(object.classId),
      String(object.parentId),
      String(object.zoneId),
      String(object.ai),
      String(object.owner),
      object.stored ? "1" : "0",
      ...pairs(object.fields),
    )) as unknown[];
    if (text(reply[0]) === "exists") return { created: false };
    return { created: true, ai: num(reply[1]) };
  }

  /**
   * Stores field values on many objects in one pipeline. The calls are issued before this returns its
   * promise, so calls made one after another reach Redis in that order.
   */
  apply(groups: readonly ApplyGroup[]): Promise<ApplyOutcome[]> {
    const pipeline = this.redis.pipeline();
    const run = this.script(pipeline, "owApply");
    const chunkSizes: number[] = [];
    let args: (string | Buffer)[] = [];
    let count = 0;
    const flush = () => {
      if (count === 0) return;
      run(this.prefix, ...args);
      chunkSizes.push(count);
      args = [];
      count = 0;
    };
    for (const group of groups) {
      if (args.length > 0 && args.length + 3 + 2 * group.fields.length > MAX_SCRIPT_ARGS) flush();
      args.push(
        String(group.doId),
        String(group.classId),
        String(group.fields.length),
        ...pairs(group.fields),
      );
      count++;
    }
    flush();
    if (chunkSizes.length === 0) return Promise.resolve([]);
    return pipeline.exec().then((results) => {
      const outcomes: ApplyOutcome[] = [];
      for (const [error, reply] of results ?? []) {
        if (error) throw error;
        readApplyReply(reply as Buffer, outcomes);
      }
      return outcomes;
    });
  }

  /** Moves an object; with `ai`, sets its AI explicitly in the same step. */
  async move(doId: number, parentId: number, zoneId: number, ai?: number): Promise<MoveOutcome> {
    const args = [String(doId), String(parentId), String(zoneId)];
    if (ai !== undefined) args.push(String(ai));
    const reply = (await this.call("owMove", ...args)) as unknown[];
    const status = text(reply[0]);
    if (status !== "ok") return { status: status as "missing" | "self" | "cycle" | "same" };
    return {
      status: "ok",
      oldParentId: num(reply[1]),
      oldZoneId: num(reply[2]),
      oldAi: num(reply[3]),
      owner: num(reply[4]),
      aiChanges: aiChanges(reply[5]),
    };
  }

  /** Sets (or with 0 clears) an explicit AI; answers the AI changes, or undefined if the object is missing. */
  async setAi(doId: number, ai: number): Promise<AiChange[] | undefined> {
    const reply = (await this.call("owSetAi", String(doId), String(ai))) as unknown[];
    if (text(reply[0]) === "missing") return undefined;
    return aiChanges(reply[1]);
  }

  async setOwner(
    doId: number,
    owner: number,
  ): Promise<{ status: "missing" } | { status: "same" } | { status: "ok"; oldOwner: number }> {
    const reply = (await this.call("owSetOwner", String(doId), String(owner))) as unknown[];
    const status = text(reply[0]);
    if (status === "ok") return { status, oldOwner: num(reply[1]) };
    return status === "same" ? { status } : { status: "missing" };
  }

  /** Deletes objects and their descendants; undefined when a single asked-for object does not exist. */
  async destroy(target: DestroyTarget): Promise<Deleted[] | undefined> {
    const args: string[] = [target.mode];
    if (target.mode === "object") args.push(String(target.doId));
    else if (target.mode === "zone") args.push(String(target.parentId), String(target.zoneId));
    else if (target.mode === "children") args.push(String(target.parentId));
    else args.push(String(target.ai));
    const reply = (await this.call("owDestroy", ...args)) as unknown[];
    if (text(reply[0]) === "missing") return undefined;
    const out: Deleted[] = [];
    for (let i = 1; i + 4 < reply.length; i += 5) {
      out.push({
        doId: num(reply[i]),
        parentId: num(reply[i + 1]),
        zoneId: num(reply[i + 2]),
        ai: num(reply[i + 3]),
        owner: num(reply[i + 4]),
      });
    }
    return out;
  }

  /** Updates the stored copy of a live stored object after a db write; false if it is not live. */
  async refreshStored(doId: number, fields: readonly FieldBytes[]): Promise<boolean> {
    return Number(await this.call("owRefreshStored", String(doId), ...pairs(fields))) === 1;
  }

  async unstore(doId: number): Promise<boolean> {
    return Number(await this.call("owUnstore", String(doId))) === 1;
  }

  async read(doId: number): Promise<LiveObject | undefined> {
    return parseObject(doId, await this.redis.hgetallBuffer(this.objectKey(doId)));
  }

  async readMany(doIds: readonly number[]): Promise<(LiveObject | undefined)[]> {
    if (doIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const doId of doIds) pipeline.hgetallBuffer(this.objectKey(doId));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, hash], i) => {
      if (error) throw error;
      return parseObject(doIds[i]!, hash as Record<string, Buffer>);
    });
  }

  /** The class of each object, undefined for those that do not exist. */
  async classOf(doIds: readonly number[]): Promise<(number | undefined)[]> {
    if (doIds.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const doId of doIds) pipeline.hget(this.objectKey(doId), "c");
    const results = (await pipeline.exec()) ?? [];
    return results.map(([error, value]) => {
      if (error) throw error;
      return value === null ? undefined : Number(value);
    });
  }

  /** The objects in these zones of a parent. */
  async zoneMembers(parentId: number, zones: readonly number[]): Promise<number[]> {
    const pipeline = this.redis.pipeline();
    for (const zone of zones) pipeline.smembers(this.zoneKey(parentId, zone));
    const results = (await pipeline.exec()) ?? [];
    const out: number[] = [];
    for (const [error, members] of results) {
      if (error) throw error;
      for (const member of members as string[]) out.push(Number(member));
    }
    return out;
  }

  async countZones(parentId: number, zones: readonly number[]): Promise<number> {
    const pipeline = this.redis.pipeline();
    for (const zone of zones) pipeline.scard(this.zoneKey(parentId, zone));
    const results = (await pipeline.exec()) ?? [];
    let total = 0;
    for (const [error, count] of results) {
      if (error) throw error;
      total += Number(count);
    }
    return total;
  }

  async activeZones(parentId: number): Promise<number[]> {
    const zones = await this.redis.smembers(`${this.prefix}zs:${parentId}`);
    return zones.map(Number).sort((a, b) => a - b);
  }

  private zoneKey(parentId: number, zoneId: number): string {
    return `${this.prefix}z:${parentId}:${zoneId}`;
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

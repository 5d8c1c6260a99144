import {
  type DClass,
  DcPackError,
  decodeFieldDelta,
  type Field,
  hasKeyword,
  isContainerField,
  messages,
  type Subjects,
} from "@overworld/protocol";
import type { Logger, NatsConnection } from "@overworld/service";
import type { z } from "zod";
import { EVENT_KINDS, type EventSink } from "./events.ts";
import type { IdSource } from "./ids.ts";
import type { Metrics } from "./metrics.ts";
import {
  type Audience,
  type ClassModel,
  type FieldBytes,
  isAiRecv,
  isBroadcast,
  isClientSendable,
  isDb,
  isOwnRecv,
  isRequired,
  isStored,
} from "./model.ts";
import type {
  AiChange,
  ApplyGroup,
  ApplyOutcome,
  Deleted,
  DestroyTarget,
  LiveObject,
  NewObject,
  ObjectStore,
} from "./objects.ts";
import { Outbox, type UpdateEntry } from "./outbox.ts";

/** A db field value to write to Postgres (null: delete the stored value). */
export interface DbRow {
  readonly doId: number;
  readonly fieldId: number;
  readonly value: Uint8Array | null;
}

export interface LiveDeps {
  readonly nc: NatsConnection;
  readonly objects: ObjectStore;
  readonly model: ClassModel;
  readonly subjects: Subjects;
  readonly ids: IdSource;
  /** The cluster event log: objects created and deleted (queued, never waited for). */
  readonly events: EventSink;
  readonly metrics: Metrics;
  readonly log: Logger;
  /** Writes db fields of stored objects; resolves once committed. */
  persist(rows: DbRow[]): Promise<void>;
}

type Refusal = z.infer<typeof messages.updateBatchReply>["refused"][number];

/** A request with the channel it acts for (its sender's own, or one the sender holds: see senders.ts). */
export type Sent<S extends z.ZodType> = z.infer<S> & { readonly sender: number };

/** One validated update, ready to store and route. */
interface Entry {
  readonly index: number;
  /** The channel it was sent for: never echoed to it, and named to the AI and owner. */
  readonly from: number;
  readonly doId: number;
  readonly classId: number;
  readonly field: Field;
  readonly bytes: Uint8Array;
  /** The nested change that made `bytes`, forwarded to those who hold the value before it. */
  readonly delta: Uint8Array | undefined;
  readonly parts: FieldBytes[];
}

interface Round {
  readonly entries: Entry[][];
  readonly outcomes: Promise<ApplyOutcome[]>;
}

type Update = readonly [doId: number, fieldId: number, value: Uint8Array, delta?: Uint8Array];

/**
 * Where updates come from, which says what is left to check. Values are checked once, where they enter:
 * - `clients`: players' updates through their client agent, which checked each value against the dclass
 *   (and its limits): only the keywords are checked here (a client may send only clsend and ownsend fields);
 * - `game`: game logic's (zone AI packs values from typed fields): nothing more to check;
 * - `link`: a linked cluster's values of shared fields, through this cluster's link end: only fields with
 *   the `shared` keyword, every value unpacked against the dclass;
 * - `other`: anyone else's (operators, tools): every value is unpacked against the dclass.
 */
export type Origin = "clients" | "game" | "link" | "other";

/** An update of a request, by its index among the request's updates, and the channel it was sent for. */
interface Pending {
  readonly index: number;
  readonly update: Update;
  readonly from: number;
  readonly origin: Origin;
}

/** Objects whose class this replica remembers; past this many it starts afresh. */
const CLASS_CACHE_LIMIT = 200_000;
/** An update whose object changed class under it is validated again once against the new class. */
const APPLY_ATTEMPTS = 2;

function refusal(index: number, error: unknown): Refusal {
  if (error instanceof messages.RequestError) return { index, code: error.code, message: error.message };
  throw error;
}

function unknownObject(doId: number): messages.RequestError {
  return new messages.RequestError("unknown_object", `object ${doId} does not exist`);
}

/**
 * The live objects: creation and deletion, field reads and writes with keyword routing, locations, AI
 * and owner, zone queries. Every change is one Lua script in Redis; the notices go out afterwards, one
 * message per channel per operation.
 */
export class LiveObjects {
  private readonly classes = new Map<number, number>();
  /** Operations that store updates issue their Redis calls in arrival order through this chain. */
  private chain: Promise<unknown> = Promise.resolve();
  /** Operations' notices leave through this chain, in the order the operations were applied. */
  private delivered: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: LiveDeps) {}

  // ---- create and delete -----------------------------------------------------------------------

  async create(request: Sent<typeof messages.createObject>): Promise<{ doId: number }> {
    const { model } = this.deps;
    const dclass = model.dclass(request.classId);
    const fields = this.liveFields(dclass, request.fields);
    this.checkRequired(dclass, request.classId, fields);
    const doId = request.doId ?? (await this.deps.ids.next());
    await this.spawn(
      {
        doId,
        classId: request.classId,
        parentId: request.parentId,
        zoneId: request.zoneId,
        ai: request.ai ?? 0,
        owner: request.owner ?? 0,
        stored: false,
        fields: [...fields],
      },
      request.sender,
    );
    return { doId };
  }

  /**
   * Validates values for a live object: each field must belong to the class and be kept (ram or
   * required; a molecular field is kept as its atoms). Later values of a field replace earlier ones.
   */
  liveFields(dclass: DClass, values: readonly FieldBytes[]): Map<number, Uint8Array> {
    const { model } = this.deps;
    const out = new Map<number, Uint8Array>();
    for (const [fieldId, bytes] of values) {
      const field = model.field(dclass, fieldId);
      for (const [partId, part] of model.parts(dclass, field, bytes)) {
        const atom = model.file.fieldById(partId)!;
        if (!isStored(atom)) {
          throw new messages.RequestError(
            "forbidden",
            `${dclass.name}.${atom.name} (field ${partId}) is neither ram nor required, so a live object cannot hold it`,
          );
        }
        out.set(partId, part);
      }
    }
    return out;
  }

  checkRequired(dclass: DClass, classId: number, fields: ReadonlyMap<number, Uint8Array>): void {
    const missing = this.deps.model.requiredFields(classId).filter((field) => !fields.has(field.id));
    if (missing.length === 0) return;
    const names = missing.map((field) => `${field.name} (field ${field.id})`).join(", ");
    throw new messages.RequestError("bad_value", `${dclass.name} needs its required field(s) ${names}`);
  }

  /** Puts a validated object into Redis and announces it to its location, AI and owner. */
  async spawn(object: NewObject, sender: number): Promise<void> {
    if (object.parentId === object.doId) {
      throw new messages.RequestError("bad_value", `object ${object.doId} cannot be its own parent`);
    }
    const result = await this.deps.objects.create(object);
    if (!result.created) {
      throw new messages.RequestError("exists", `object ${object.doId} already exists`);
    }
    this.remember(object.doId, object.classId);
    this.deps.events.record(EVENT_KINDS.objectCreated, {
      doId: object.doId,
      classId: object.classId,
      parentId: object.parentId,
      zoneId: object.zoneId,
      ai: result.ai,
      owner: object.owner,
      stored: object.stored,
    });
    const live: LiveObject = {
      ...object,
      ai: result.ai,
      aiExplicit: object.ai !== 0,
      fields: new Map(object.fields),
    };
    const outbox = new Outbox(sender);
    if (live.parentId !== 0) {
      outbox.notice(this.deps.subjects.location(live.parentId, live.zoneId), {
        kind: "enter",
        sender,
        object: this.snapshot(live, "location"),
      });
    }
    if (live.ai !== 0) {
      outbox.notice(this.deps.subjects.participant(live.ai), {
        kind: "enter-ai",
        sender,
        object: this.snapshot(live, "ai"),
      });
    }
    if (live.owner !== 0) {
      outbox.notice(this.deps.subjects.participant(live.owner), {
        kind: "enter-owner",
        sender,
        object: this.snapshot(live, "owner"),
      });
    }
    await this.deliverInOrder(outbox, undefined);
  }

  async delete(request: Sent<typeof messages.deleteObject>): Promise<{ deleted: number[] }> {
    const deleted = await this.destroy({ mode: "object", doId: request.doId }, request.sender);
    if (deleted === undefined) throw unknownObject(request.doId);
    return { deleted };
  }

  async deleteZone(request: Sent<typeof messages.deleteZone>): Promise<{ deleted: number[] }> {
    const target = { mode: "zone", parentId: request.parentId, zoneId: request.zoneId } as const;
    return { deleted: (await this.destroy(target, request.sender)) ?? [] };
  }

  async deleteChildren(request: Sent<typeof messages.deleteChildren>): Promise<{ deleted: number[] }> {
    const target = { mode: "children", parentId: request.parentId } as const;
    return { deleted: (await this.destroy(target, request.sender)) ?? [] };
  }

  async deleteAiObjects(request: Sent<typeof messages.deleteAiObjects>): Promise<{ deleted: number[] }> {
    return { deleted: (await this.destroy({ mode: "ai", ai: request.ai }, request.sender)) ?? [] };
  }

  private async destroy(target: DestroyTarget, sender: number): Promise<number[] | undefined> {
    const deleted = await this.deps.objects.destroy(target);
    if (deleted === undefined) return undefined;
    const outbox = new Outbox(sender);
    for (const object of deleted) {
      this.classes.delete(object.doId);
      this.deps.events.record(EVENT_KINDS.objectDeleted, {
        doId: object.doId,
        parentId: object.parentId,
        zoneId: object.zoneId,
      });
      for (const subject of this.deleteAudience(object)) {
        outbox.notice(subject, { kind: "delete", sender, doId: object.doId });
      }
    }
    await this.deliverInOrder(outbox, undefined);
    return deleted.map((object) => object.doId);
  }

  private deleteAudience(object: Deleted): Set<string> {
    const { subjects } = this.deps;
    const out = new Set<string>();
    if (object.parentId !== 0) out.add(subjects.location(object.parentId, object.zoneId));
    if (object.ai !== 0) out.add(subjects.participant(object.ai));
    if (object.owner !== 0) out.add(subjects.participant(object.owner));
    return out;
  }

  // ---- fields ------------------------------------------------------------------------------------

  async get(request: z.infer<typeof messages.getFields>): Promise<messages.ObjectState> {
    const { model, objects } = this.deps;
    const object = await objects.read(request.doId);
    if (!object) throw unknownObject(request.doId);
    const dclass = model.dclass(object.classId);
    let fields: FieldBytes[];
    if (request.fieldIds === undefined) {
      fields = model.snapshotFields(object.classId, object.fields, "ai");
    } else {
      fields = [];
      for (const fieldId of new Set(request.fieldIds)) {
        const value = model.assemble(model.field(dclass, fieldId), object.fields);
        if (value !== undefined) fields.push([fieldId, value]);
      }
    }
    return {
      doId: object.doId,
      classId: object.classId,
      parentId: object.parentId,
      zoneId: object.zoneId,
      ai: object.ai,
      owner: object.owner,
      fields,
    };
  }

  /** Sets several fields of one object atomically: one bad value refuses the whole request. */
  async set(request: Sent<typeof messages.setFields>): Promise<void> {
    const pending = request.fields.map(([fieldId, bytes], index) => ({
      index,
      update: [request.doId, fieldId, bytes] as const,
      from: request.sender,
      origin: "other" as const,
    }));
    await this.applyUpdates(request.sender, pending, true);
  }

  /**
   * The hot path: a tick's updates of many objects, one Redis pipeline, one message per channel. Each
   * group's updates are sent for its channel (0: the sender's own); the caller checked the sender holds it.
   * `origin` says what was checked already (see Origin): clients' updates of fields no client may send
   * are refused with `forbidden`.
   */
  async updates(
    request: messages.UpdateBatch,
    sender: number,
    origin: Origin,
  ): Promise<{ applied: number; refused: Refusal[] }> {
    const pending: Pending[] = [];
    for (const [channel, updates] of request.groups) {
      for (const update of updates)
        pending.push({ index: pending.length, update, from: channel || sender, origin });
    }
    return this.applyUpdates(sender, pending, false);
  }

  /** The owner of a live object (0 for none); `unknown_object` if there is no such object. */
  async ownerOf(doId: number): Promise<number> {
    const object = await this.deps.objects.read(doId);
    if (!object) throw unknownObject(doId);
    return object.owner;
  }

  /**
   * Validates, stores and routes updates. Atomic: the first bad update refuses them all before
   * anything is stored. Otherwise bad updates are refused one by one and the others applied.
   * Resolves once the db fields of stored objects are committed.
   */
  private async applyUpdates(
    sender: number,
    updates: readonly Pending[],
    atomic: boolean,
  ): Promise<{ applied: number; refused: Refusal[] }> {
    const refused: Refusal[] = [];
    const outbox = new Outbox(sender);
    const rows: DbRow[] = [];
    let pending = updates;
    let applied = 0;
    /** Objects changed, and those of them whose required fields changed (see the WAIT below). */
    const touched: number[] = [];
    const durable: number[] = [];
    for (let attempt = 1; attempt <= APPLY_ATTEMPTS && pending.length > 0; attempt++) {
      const round = await this.sequenced(() => this.issue(pending, atomic, refused));
      const outcomes = await round.outcomes;
      const retry: Pending[] = [];
      round.entries.forEach((entries, i) => {
        const outcome = outcomes[i]!;
        const doId = entries[0]!.doId;
        if (outcome.status === "ok") {
          applied += entries.length;
          touched.push(doId);
          if (entries.some((entry) => isRequired(entry.field))) durable.push(doId);
          this.route(entries, outcome, outbox);
          if (outcome.stored) rows.push(...this.dbRows(entries));
          return;
        }
        this.classes.delete(doId);
        for (const entry of entries) {
          if (outcome.status === "class" && attempt < APPLY_ATTEMPTS) {
            retry.push(updates[entry.index]!);
          } else {
            refused.push({
              index: entry.index,
              code: "unknown_object",
              message: unknownObject(doId).message,
            });
          }
        }
      });
      pending = retry;
    }
    if (atomic && refused.length > 0) throw new messages.RequestError(refused[0]!.code, refused[0]!.message);
    // a set of fields, or an update of a required one, is answered only once replicas hold it (when
    // configured: REDIS_WAIT_REPLICAS); the tick's ram updates are not waited for
    if (atomic || durable.length > 0) await this.deps.objects.durable(atomic ? touched : durable);
    this.deps.metrics.updatesApplied.inc(applied);
    for (const refusal of refused) this.deps.metrics.errors.inc({ code: refusal.code });
    await this.deliverInOrder(outbox, rows.length > 0 ? this.deps.persist(rows) : undefined);
    return { applied, refused };
  }

  /**
   * Publishes an operation's notices after those of the operations applied before it, and, when it changed
   * db fields of stored objects, only once they are committed: no one hears of a db value that a crash
   * could still take back. A failed commit publishes nothing (the sender hears of the failure and sends
   * again); the operations after it are not held back by it.
   */
  private deliverInOrder(outbox: Outbox, commit: Promise<void> | undefined): Promise<void> {
    const delivery = this.delivered.then(async () => {
      if (commit) await commit;
      this.publish(outbox);
    });
    this.delivered = delivery.catch(() => undefined);
    return delivery;
  }

  /** Runs `step` after the steps queued before it; used so Redis calls leave in arrival order. */
  private sequenced<T>(step: () => Promise<T> | T): Promise<T> {
    const result = this.chain.then(step);
    this.chain = result.catch(() => undefined);
    return result;
  }

  /** Resolves classes, validates, and issues one Redis pipeline for the valid updates. */
  private async issue(pending: readonly Pending[], atomic: boolean, refused: Refusal[]): Promise<Round> {
    await this.learnClasses(pending.map(({ update }) => update[0]));
    const byObject = new Map<number, Entry[]>();
    for (const item of pending) {
      try {
        const entry = this.validate(item);
        const list = byObject.get(entry.doId);
        if (list) list.push(entry);
        else byObject.set(entry.doId, [entry]);
      } catch (error) {
        const problem = refusal(item.index, error);
        if (atomic) throw new messages.RequestError(problem.code, problem.message);
        refused.push(problem);
      }
    }
    const entries = [...byObject.values()];
    const groups: ApplyGroup[] = entries.map((list) => ({
      doId: list[0]!.doId,
      classId: this.classes.get(list[0]!.doId)!,
      fields: list.flatMap((entry) => entry.parts.filter(([partId]) => isStored(this.atom(partId)))),
    }));
    return { entries, outcomes: this.deps.objects.apply(groups) };
  }

  private validate({ index, update: [doId, fieldId, bytes, delta], from, origin }: Pending): Entry {
    const classId = this.classes.get(doId);
    if (classId === undefined) throw unknownObject(doId);
    const { model } = this.deps;
    const dclass = model.dclass(classId);
    const field = model.field(dclass, fieldId);
    if (origin === "clients" && !isClientSendable(field)) {
      throw new messages.RequestError(
        "forbidden",
        `${dclass.name}.${field.name} is neither clsend nor ownsend: no client may send it (from channel ${from})`,
      );
    }
    if (delta !== undefined) this.checkDelta(dclass, field, delta, origin);
    if (origin === "link" && !hasKeyword(field, "shared")) {
      throw new messages.RequestError(
        "forbidden",
        `${dclass.name}.${field.name} is not shared: a link end sets only shared fields (from channel ${from})`,
      );
    }
    const checked = origin === "clients" || origin === "game";
    const parts = model.parts(dclass, field, bytes, checked);
    return { index, from, doId, classId, field, bytes, delta, parts };
  }

  /**
   * A nested change comes from game logic, beside the whole value it made: only for a stored field whose
   * value holds an array or struct (those who hold the value apply it; the others are sent the whole
   * value). Game logic made it from tracked state; anyone else's is read against the dclass.
   */
  private checkDelta(dclass: DClass, field: Field, delta: Uint8Array, origin: Origin): void {
    const what = `${dclass.name}.${field.name} (field ${field.id})`;
    if (origin === "clients") {
      throw new messages.RequestError(
        "forbidden",
        `a client sends whole values only, not a nested change of ${what}`,
      );
    }
    if (!isStored(field) || !isContainerField(field)) {
      throw new messages.RequestError(
        "bad_value",
        `a nested change needs a ram or required field whose value holds an array or struct; ${what} is not one`,
      );
    }
    if (origin === "game") return;
    try {
      decodeFieldDelta(field, delta);
    } catch (error) {
      if (!(error instanceof DcPackError)) throw error;
      throw new messages.RequestError(
        "bad_value",
        `bad nested change of ${what}: ${error.message} [${error.code}]`,
      );
    }
  }

  private atom(fieldId: number): Field {
    return this.deps.model.file.fieldById(fieldId)!;
  }

  private async learnClasses(doIds: readonly number[]): Promise<void> {
    const unknown = [...new Set(doIds.filter((doId) => !this.classes.has(doId)))];
    if (unknown.length === 0) return;
    const classes = await this.deps.objects.classOf(unknown);
    unknown.forEach((doId, i) => {
      const classId = classes[i];
      if (classId !== undefined) this.remember(doId, classId);
    });
  }

  private remember(doId: number, classId: number): void {
    if (this.classes.size >= CLASS_CACHE_LIMIT) this.classes.clear();
    this.classes.set(doId, classId);
  }

  /**
   * broadcast → the location, airecv → the AI, ownrecv → the owner, never back to the channel it was
   * sent for; the AI and the owner are told which channel that was.
   */
  private route(
    entries: readonly Entry[],
    where: Extract<ApplyOutcome, { status: "ok" }>,
    outbox: Outbox,
  ): void {
    const { subjects } = this.deps;
    const location = where.parentId !== 0 ? subjects.location(where.parentId, where.zoneId) : undefined;
    const ai = where.ai !== 0 ? subjects.participant(where.ai) : undefined;
    const owner = where.owner !== 0 ? subjects.participant(where.owner) : undefined;
    for (const entry of entries) {
      const { doId, classId, field, bytes, delta } = entry;
      if (location && isBroadcast(field)) {
        outbox.locationUpdate(
          location,
          delta ? [doId, field.id, bytes, classId, delta] : [doId, field.id, bytes, classId],
        );
      }
      const told: UpdateEntry = delta
        ? [doId, field.id, bytes, entry.from, delta]
        : [doId, field.id, bytes, entry.from];
      const toAi = ai !== undefined && where.ai !== entry.from && isAiRecv(entry.field);
      if (toAi) outbox.update(ai, told);
      const toOwner = owner !== undefined && where.owner !== entry.from && isOwnRecv(entry.field);
      if (toOwner && !(toAi && owner === ai)) outbox.update(owner, told);
    }
  }

  private dbRows(entries: readonly Entry[]): DbRow[] {
    const rows: DbRow[] = [];
    for (const entry of entries) {
      for (const [partId, value] of entry.parts) {
        if (isDb(this.atom(partId))) rows.push({ doId: entry.doId, fieldId: partId, value });
      }
    }
    return rows;
  }

  // ---- location, AI, owner -----------------------------------------------------------------------

  async setLocation(request: Sent<typeof messages.setLocation>): Promise<void> {
    const { objects, subjects } = this.deps;
    const { doId, parentId, zoneId, sender } = request;
    const moved = await objects.move(doId, parentId, zoneId, request.ai);
    switch (moved.status) {
      case "missing":
        throw unknownObject(doId);
      case "self":
        throw new messages.RequestError("bad_value", `object ${doId} cannot be its own parent`);
      case "cycle":
        throw new messages.RequestError(
          "bad_value",
          `object ${doId} cannot move under ${parentId}: ${parentId} is one of its descendants`,
        );
      case "same":
        return;
    }
    const object = await objects.read(doId);
    const outbox = new Outbox(sender);
    if (moved.oldParentId !== 0) {
      outbox.notice(subjects.location(moved.oldParentId, moved.oldZoneId), {
        kind: "leave",
        sender,
        doId,
        parentId: moved.oldParentId,
        zoneId: moved.oldZoneId,
      });
    }
    const changing: messages.Delivery = {
      kind: "changing-location",
      sender,
      doId,
      parentId,
      zoneId,
      oldParentId: moved.oldParentId,
      oldZoneId: moved.oldZoneId,
    };
    for (const channel of new Set([moved.oldAi, moved.owner])) {
      if (channel !== 0) outbox.notice(subjects.participant(channel), changing);
    }
    if (object && parentId !== 0) {
      outbox.notice(subjects.location(parentId, zoneId), {
        kind: "enter",
        sender,
        object: this.snapshot(object, "location"),
      });
    }
    await this.announceAiChanges(moved.aiChanges, outbox, object);
    await this.deliverInOrder(outbox, undefined);
  }

  async setAi(request: Sent<typeof messages.setAi>): Promise<void> {
    const changes = await this.deps.objects.setAi(request.doId, request.ai);
    if (changes === undefined) throw unknownObject(request.doId);
    const outbox = new Outbox(request.sender);
    await this.announceAiChanges(changes, outbox);
    await this.deliverInOrder(outbox, undefined);
  }

  /** For each object whose AI changed: changing-ai to the old AI, enter-ai to the new one. */
  private async announceAiChanges(
    changes: readonly AiChange[],
    outbox: Outbox,
    known?: LiveObject,
  ): Promise<void> {
    if (changes.length === 0) return;
    const { objects, subjects } = this.deps;
    const needed = changes.map((change) => change.doId).filter((doId) => doId !== known?.doId);
    const read = await objects.readMany(needed);
    const byId = new Map<number, LiveObject>();
    if (known) byId.set(known.doId, known);
    for (const object of read) if (object) byId.set(object.doId, object);
    for (const change of changes) {
      const object = byId.get(change.doId);
      if (!object) continue;
      if (change.oldAi !== 0) {
        outbox.notice(subjects.participant(change.oldAi), {
          kind: "changing-ai",
          sender: outbox.sender,
          doId: change.doId,
          ai: object.ai,
          oldAi: change.oldAi,
        });
      }
      if (object.ai !== 0) {
        outbox.notice(subjects.participant(object.ai), {
          kind: "enter-ai",
          sender: outbox.sender,
          object: this.snapshot(object, "ai"),
        });
      }
    }
  }

  async setOwner(request: Sent<typeof messages.setOwner>): Promise<void> {
    const { objects, subjects } = this.deps;
    const { doId, owner, sender } = request;
    const result = await objects.setOwner(doId, owner);
    if (result.status === "missing") throw unknownObject(doId);
    if (result.status === "same") return;
    const outbox = new Outbox(sender);
    if (result.oldOwner !== 0) {
      outbox.notice(subjects.participant(result.oldOwner), {
        kind: "changing-owner",
        sender,
        doId,
        owner,
        oldOwner: result.oldOwner,
      });
    }
    if (owner !== 0) {
      const object = await objects.read(doId);
      if (object) {
        outbox.notice(subjects.participant(owner), {
          kind: "enter-owner",
          sender,
          object: this.snapshot(object, "owner"),
        });
      }
    }
    await this.deliverInOrder(outbox, undefined);
  }

  // ---- zones -------------------------------------------------------------------------------------

  async queryZones(
    request: z.infer<typeof messages.queryZones>,
  ): Promise<{ objects: messages.ObjectSnapshot[] }> {
    const { objects } = this.deps;
    const found = await objects.inZones(request.parentId, [...new Set(request.zones)]);
    const snapshots = found.map((object) => this.snapshot(object, "location"));
    snapshots.sort((a, b) => a.doId - b.doId);
    return { objects: snapshots };
  }

  async countZones(request: z.infer<typeof messages.countZones>): Promise<{ count: number }> {
    return { count: await this.deps.objects.countZones(request.parentId, [...new Set(request.zones)]) };
  }

  async activeZones(request: z.infer<typeof messages.activeZones>): Promise<{ zones: number[] }> {
    return { zones: await this.deps.objects.activeZones(request.parentId) };
  }

  // ---- shared ------------------------------------------------------------------------------------

  snapshot(object: LiveObject, audience: Audience): messages.ObjectSnapshot {
    return {
      doId: object.doId,
      classId: object.classId,
      parentId: object.parentId,
      zoneId: object.zoneId,
      fields: this.deps.model.snapshotFields(object.classId, object.fields, audience),
      ...(object.owner === 0 ? {} : { owner: object.owner }),
    };
  }

  private publish(outbox: Outbox): void {
    if (outbox.size === 0) return;
    this.deps.metrics.deliveries.inc(outbox.publish(this.deps.nc));
  }
}

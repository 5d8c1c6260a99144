import { type DClass, type Field, messages } from "@overworld/protocol";
import type { z } from "zod";
import { EVENT_KINDS, type EventSink } from "../events.ts";
import type { IdSource } from "../ids.ts";
import type { DbRow, LiveObjects, Sent } from "../live.ts";
import {
  type ClassModel,
  type FieldBytes,
  hasDeclaredDefault,
  isDb,
  isRequired,
  isStored,
} from "../model.ts";
import type { ObjectStore } from "../objects.ts";
import type { DbStore, Expectation } from "./store.ts";
import type { BatchWriter } from "./writer.ts";

export interface StoredDeps {
  readonly db: DbStore;
  readonly writer: BatchWriter;
  readonly model: ClassModel;
  readonly ids: IdSource;
  /** The cluster event log: stored objects created and deleted (queued, never waited for). */
  readonly events: EventSink;
  readonly live: LiveObjects;
  readonly objects: ObjectStore;
}

/** Tries this many fresh doIds before giving up on creating a stored object. */
const CREATE_ATTEMPTS = 5;
const CLASS_CACHE_LIMIT = 200_000;

function unknownObject(doId: number): messages.RequestError {
  return new messages.RequestError("unknown_object", `stored object ${doId} does not exist`);
}

/**
 * The db operations on stored objects: create, read, write, compare-and-set, delete fields, delete,
 * and activation into a live object. Plain writes go through the batch writer and are answered after
 * their commit. When a stored object is also live, its copy in Redis follows the db writes.
 */
export class StoredObjects {
  private readonly classes = new Map<number, number>();

  constructor(private readonly deps: StoredDeps) {}

  async create(request: z.infer<typeof messages.dbCreateObject>): Promise<{ doId: number }> {
    const { model, db, ids } = this.deps;
    const dclass = model.dclass(request.classId);
    const values = this.dbValues(dclass, request.fields);
    for (const field of dclass.fields) {
      if (isDb(field) && hasDeclaredDefault(field) && !values.has(field.id)) {
        values.set(field.id, model.defaultBytes(field));
      }
    }
    for (let attempt = 1; attempt <= CREATE_ATTEMPTS; attempt++) {
      const doId = await ids.next();
      if (await db.createObject(doId, request.classId, [...values])) {
        this.remember(doId, request.classId);
        this.deps.events.record(EVENT_KINDS.storedCreated, { doId, classId: request.classId });
        return { doId };
      }
    }
    throw new messages.RequestError(
      "internal",
      `no free doId after ${CREATE_ATTEMPTS} tries: the id source hands out ids that stored objects already use`,
    );
  }

  async get(
    request: z.infer<typeof messages.dbGetFields>,
  ): Promise<z.infer<typeof messages.dbGetFieldsReply>> {
    const { model, db } = this.deps;
    const classId = await this.classOf(request.doId, true);
    const dclass = model.dclass(classId);
    if (request.fieldIds === undefined) {
      const stored = await db.getFields(request.doId);
      return { ok: true, doId: request.doId, classId, fields: [...stored] };
    }
    const asked = [...new Set(request.fieldIds)].map((fieldId) => this.dbField(dclass, fieldId));
    const stored = await db.getFields(request.doId, asked.flatMap(atomIds));
    const fields: FieldBytes[] = [];
    for (const field of asked) {
      const value = model.assemble(field, stored);
      if (value !== undefined) fields.push([field.id, value]);
    }
    return { ok: true, doId: request.doId, classId, fields };
  }

  /** Answered once the values are committed. */
  async set(request: Sent<typeof messages.dbSetFields>): Promise<void> {
    const dclass = this.deps.model.dclass(await this.classOf(request.doId));
    const values = this.dbValues(dclass, request.fields);
    await this.write(
      request.doId,
      [...values].map(([fieldId, value]) => ({ doId: request.doId, fieldId, value })),
    );
    await this.refreshLive(request.doId, [...values]);
  }

  async setIfEquals(
    request: Sent<typeof messages.dbSetFieldsIfEquals>,
  ): Promise<{ applied: boolean; current: FieldBytes[] }> {
    const dclass = this.deps.model.dclass(await this.classOf(request.doId));
    const expectations: Expectation[] = [];
    const writes: FieldBytes[] = [];
    for (const [fieldId, expected, replacement] of request.fields) {
      const field = this.dbField(dclass, fieldId);
      for (const [atomId, bytes] of this.deps.model.parts(dclass, field, expected)) {
        expectations.push({ fieldId: atomId, expected: bytes });
      }
      writes.push(...this.deps.model.parts(dclass, field, replacement));
    }
    return this.compareAndSet(request.doId, expectations, writes);
  }

  async setIfEmpty(
    request: Sent<typeof messages.dbSetFieldIfEmpty>,
  ): Promise<{ applied: boolean; current: FieldBytes[] }> {
    const dclass = this.deps.model.dclass(await this.classOf(request.doId));
    const field = this.dbField(dclass, request.fieldId);
    const writes = this.deps.model.parts(dclass, field, request.value);
    const expectations = writes.map(([fieldId]) => ({ fieldId, expected: null }));
    return this.compareAndSet(request.doId, expectations, writes);
  }

  private async compareAndSet(
    doId: number,
    expectations: Expectation[],
    writes: FieldBytes[],
  ): Promise<{ applied: boolean; current: FieldBytes[] }> {
    const outcome = await this.deps.db.compareAndSet(doId, expectations, writes);
    if (outcome.status === "missing") {
      this.classes.delete(doId);
      throw unknownObject(doId);
    }
    if (outcome.status === "mismatch") return { applied: false, current: [...outcome.current] };
    await this.refreshLive(doId, writes);
    return { applied: true, current: [] };
  }

  /** Deletes stored values; a field with a declared default is reset to it instead (as Astron does). */
  async deleteFields(request: Sent<typeof messages.dbDeleteFields>): Promise<void> {
    const { model } = this.deps;
    const dclass = model.dclass(await this.classOf(request.doId));
    const rows: DbRow[] = [];
    const resets: FieldBytes[] = [];
    for (const fieldId of request.fieldIds) {
      const field = this.dbField(dclass, fieldId);
      const atoms = field.kind === "molecular" ? field.atoms : [field];
      for (const atom of atoms) {
        const value = hasDeclaredDefault(atom) ? model.defaultBytes(atom) : null;
        rows.push({ doId: request.doId, fieldId: atom.id, value });
        if (value) resets.push([atom.id, value]);
      }
    }
    await this.write(request.doId, rows);
    await this.refreshLive(request.doId, resets);
  }

  async delete(request: Sent<typeof messages.dbDeleteObject>): Promise<void> {
    const deleted = await this.deps.db.deleteObject(request.doId);
    this.classes.delete(request.doId);
    if (!deleted) throw unknownObject(request.doId);
    this.deps.events.record(EVENT_KINDS.storedDeleted, { doId: request.doId });
    await this.deps.objects.unstore(request.doId);
  }

  /**
   * Makes a stored object live at a location: required fields from the db, or their default; ram
   * fields from the db when stored; `fields` override both. Its db fields are then written back on
   * every update.
   */
  async activate(request: Sent<typeof messages.dbActivate>): Promise<{ doId: number }> {
    const { model, db, live, objects } = this.deps;
    const classId = await this.classOf(request.doId, true);
    const dclass = model.dclass(classId);
    const overrides = live.liveFields(dclass, request.fields ?? []);
    const [liveClass] = await objects.classOf([request.doId]);
    if (liveClass !== undefined) {
      throw new messages.RequestError("exists", `object ${request.doId} is already active`);
    }
    const stored = await db.getFields(request.doId);
    const fields = new Map<number, Uint8Array>();
    for (const field of dclass.fields) {
      if (!isStored(field)) continue;
      const value =
        overrides.get(field.id) ??
        stored.get(field.id) ??
        (isRequired(field) ? model.defaultBytes(field) : undefined);
      if (value !== undefined) fields.set(field.id, value);
    }
    await live.spawn(
      {
        doId: request.doId,
        classId,
        parentId: request.parentId,
        zoneId: request.zoneId,
        ai: request.ai ?? 0,
        owner: request.owner ?? 0,
        stored: true,
        fields: [...fields],
      },
      request.sender,
    );
    return { doId: request.doId };
  }

  // ---- shared ------------------------------------------------------------------------------------

  private async write(doId: number, rows: DbRow[]): Promise<void> {
    const missing = await this.deps.writer.write(rows);
    if (missing.has(doId)) {
      this.classes.delete(doId);
      throw unknownObject(doId);
    }
  }

  /** Keeps a live copy of a stored object in step with a db write (only its ram and required fields). */
  private async refreshLive(doId: number, values: readonly FieldBytes[]): Promise<void> {
    const kept = values.filter(([fieldId]) => isStored(this.deps.model.file.fieldById(fieldId)!));
    await this.deps.objects.refreshStored(doId, kept);
  }

  /** Validated db values by field id, molecular fields split into their atoms. */
  private dbValues(dclass: DClass, values: readonly FieldBytes[]): Map<number, Uint8Array> {
    const out = new Map<number, Uint8Array>();
    for (const [fieldId, bytes] of values) {
      const field = this.dbField(dclass, fieldId);
      for (const [atomId, part] of this.deps.model.parts(dclass, field, bytes)) out.set(atomId, part);
    }
    return out;
  }

  /** The field, which must belong to the class and be a db field. */
  private dbField(dclass: DClass, fieldId: number): Field {
    const field = this.deps.model.field(dclass, fieldId);
    if (!isDb(field)) {
      throw new messages.RequestError(
        "forbidden",
        `${dclass.name}.${field.name} (field ${fieldId}) is not a db field; only db fields are stored`,
      );
    }
    return field;
  }

  /**
   * The class of a stored object, from the cache unless `fresh`; reads use fresh lookups, since another
   * replica may have deleted the object (writes find that out in their transaction).
   */
  private async classOf(doId: number, fresh = false): Promise<number> {
    const known = fresh ? undefined : this.classes.get(doId);
    if (known !== undefined) return known;
    const classId = await this.deps.db.classOf(doId);
    if (classId === undefined) throw unknownObject(doId);
    this.remember(doId, classId);
    return classId;
  }

  private remember(doId: number, classId: number): void {
    if (this.classes.size >= CLASS_CACHE_LIMIT) this.classes.clear();
    this.classes.set(doId, classId);
  }
}

function atomIds(field: Field): number[] {
  return field.kind === "molecular" ? field.atoms.map((atom) => atom.id) : [field.id];
}

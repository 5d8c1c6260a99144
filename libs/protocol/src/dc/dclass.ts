import type { AtomicField, Field, ParameterField } from "./field.ts";
import type { DcFile } from "./file.ts";

/**
 * A distributed class. Its `fields` are all the fields an object of the class has, inherited ones
 * included, sorted by field id; a field declared here shadows an inherited one of the same name, and
 * between parents the earlier parent wins (Astron's and Panda3D's multiple-inheritance rules).
 */
export class DClass {
  readonly kind = "class";
  /** Shared numbering with structs, in declaration order. */
  id = -1;
  readonly parents: DClass[] = [];
  readonly children: DClass[] = [];
  /** Fields declared in this class body, in declaration order (the constructor excluded). */
  readonly baseFields: Field[] = [];
  /** All fields, inherited included, sorted by id. */
  readonly fields: Field[] = [];
  /** An atomic field named like the class, if declared first. */
  constructorField?: AtomicField;
  private readonly byName = new Map<string, Field>();
  private readonly byId = new Map<number, Field>();

  constructor(
    readonly file: DcFile,
    readonly name: string,
  ) {}

  field(name: string): Field | undefined {
    return this.byName.get(name);
  }

  fieldById(id: number): Field | undefined {
    return this.byId.get(id);
  }

  /** Whether this class is `other` or inherits from it. */
  inheritsFrom(other: DClass): boolean {
    return this === other || this.parents.some((parent) => parent.inheritsFrom(other));
  }

  /** @internal Used by DcFile while building the model. */
  addParent(parent: DClass): void {
    this.parents.push(parent);
    parent.children.push(this);
    for (const field of parent.fields) this.inherit(parent, field);
  }

  /** @internal Used by DcFile while building the model. */
  addBaseField(field: Field): void {
    this.baseFields.push(field);
    const shadowed = this.byName.get(field.name);
    if (shadowed) this.shadow(shadowed);
    this.insert(field);
    for (const child of this.children) child.inherit(this, field);
  }

  hasBaseField(name: string): boolean {
    return this.baseFields.some((field) => field.name === name);
  }

  private inherit(parent: DClass, field: Field): void {
    if (this.hasBaseField(field.name)) return;
    const previous = this.byName.get(field.name);
    if (previous === field) return; // the same field reached through two parents (a diamond)
    if (previous) {
      const earlier = this.parents.find((p) => p === parent || p.inheritsFromOwner(previous));
      if (earlier !== parent) return;
      this.shadow(previous);
    }
    this.insert(field);
    for (const child of this.children) child.inherit(this, field);
  }

  private inheritsFromOwner(field: Field): boolean {
    return field.owner.kind === "class" && this.inheritsFrom(field.owner);
  }

  private insert(field: Field): void {
    this.byName.set(field.name, field);
    this.byId.set(field.id, field);
    let at = this.fields.length;
    while (at > 0 && this.fields[at - 1]!.id > field.id) at--;
    this.fields.splice(at, 0, field);
  }

  private shadow(field: Field): void {
    this.byName.delete(field.name);
    this.byId.delete(field.id);
    const at = this.fields.indexOf(field);
    if (at >= 0) this.fields.splice(at, 1);
    for (const child of this.children) if (child.byId.get(field.id) === field) child.shadow(field);
  }
}

/** A struct: named parameter fields packed one after another, usable as a parameter type. */
export class DStruct {
  readonly kind = "struct";
  id = -1;
  readonly fields: ParameterField[] = [];
  private readonly byName = new Map<string, ParameterField>();

  constructor(
    readonly file: DcFile,
    readonly name: string,
  ) {}

  field(name: string): ParameterField | undefined {
    return this.byName.get(name);
  }

  /** @internal Used by DcFile while building the model. */
  addField(field: ParameterField): void {
    this.fields.push(field);
    this.byName.set(field.name, field);
  }
}

export type DType = DClass | DStruct;

/**
 * Whether `dclass` is `ancestor` or inherits from it. By id and name, not identity: a service's model
 * and a schema's handles may be two loads of the same classes (same hash, same ids).
 */
export function inheritsFrom(dclass: DClass, ancestor: DClass): boolean {
  if (dclass.id === ancestor.id && dclass.name === ancestor.name) return true;
  return dclass.parents.some((parent) => inheritsFrom(parent, ancestor));
}

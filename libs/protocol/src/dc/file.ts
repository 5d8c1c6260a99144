import { DClass, DStruct, type DType } from "./dclass.ts";
import type { AtomicField, Field, MolecularField, ParameterField, UnnumberedField } from "./field.ts";
import { isHistoricalKeyword } from "./keywords.ts";
import type { DcType } from "./types.ts";

/** A model-level rule was broken (a name used twice, an unknown keyword...). */
export class DcModelError extends Error {
  override readonly name = "DcModelError";
}

export interface Typedef {
  readonly name: string;
  /** The aliased type, carrying `alias: name`. */
  readonly type: DcType;
}

/** `from module/AI/OV import Symbol/AI, Other` or `import module/AI`. Kept for printing; no effect on packing. */
export interface Import {
  readonly module: string;
  readonly moduleSuffixes: readonly string[];
  /** Empty for a plain `import module`. */
  readonly symbols: readonly { readonly name: string; readonly suffixes: readonly string[] }[];
}

/**
 * The model of one or more `.dc` files loaded in order. Classes and structs share one id sequence in
 * declaration order; field ids are global in declaration order (struct fields and molecular fields
 * included), exactly as Panda3D and Astron number them.
 */
export class DcFile {
  readonly types: DType[] = [];
  readonly classes: DClass[] = [];
  readonly structs: DStruct[] = [];
  readonly fields: Field[] = [];
  readonly typedefs = new Map<string, Typedef>();
  /** Keywords declared with `keyword x;` (the historical ones are always known). */
  readonly keywords: string[] = [];
  /**
   * Historical keywords that a `keyword x;` declaration names, each with the id the next field had
   * then. Panda3D treats such a keyword as custom (no legacy bit flag) in the fields declared after
   * that point, which changes the legacy hash.
   */
  readonly historicalKeywordsDeclaredAt = new Map<string, number>();
  readonly imports: Import[] = [];
  private readonly typesByName = new Map<string, DType>();

  type(name: string): DType | undefined {
    return this.typesByName.get(name);
  }

  class(name: string): DClass | undefined {
    const type = this.typesByName.get(name);
    return type?.kind === "class" ? type : undefined;
  }

  struct(name: string): DStruct | undefined {
    const type = this.typesByName.get(name);
    return type?.kind === "struct" ? type : undefined;
  }

  /** A class or struct by its id, as sent on the wire. */
  typeById(id: number): DType | undefined {
    return this.types[id];
  }

  fieldById(id: number): Field | undefined {
    return this.fields[id];
  }

  isKeyword(word: string): boolean {
    return isHistoricalKeyword(word) || this.keywords.includes(word);
  }

  addImport(entry: Import): void {
    this.imports.push(entry);
  }

  addKeyword(word: string): void {
    if (isHistoricalKeyword(word)) {
      const declared = this.historicalKeywordsDeclaredAt;
      if (!declared.has(word)) declared.set(word, this.fields.length);
      return;
    }
    if (!this.keywords.includes(word)) this.keywords.push(word);
  }

  addTypedef(name: string, type: DcType): Typedef {
    this.claimName(name, "typedef");
    const typedef: Typedef = { name, type: { ...type, alias: name } };
    this.typedefs.set(name, typedef);
    return typedef;
  }

  addStruct(name: string): DStruct {
    this.claimName(name, "struct");
    const struct = new DStruct(this, name);
    this.register(struct);
    this.structs.push(struct);
    return struct;
  }

  addClass(name: string, parents: readonly DClass[] = []): DClass {
    this.claimName(name, "dclass");
    const dclass = new DClass(this, name);
    this.register(dclass);
    this.classes.push(dclass);
    for (const parent of parents) {
      if (dclass.parents.includes(parent))
        throw new DcModelError(`dclass '${name}' names parent '${parent.name}' twice`);
      dclass.addParent(parent);
    }
    return dclass;
  }

  /** Numbers a field and adds it to its owner, checking the rules of its owner's kind. */
  addField(field: Omit<AtomicField, "id">): AtomicField;
  addField(field: Omit<ParameterField, "id">): ParameterField;
  addField(field: Omit<MolecularField, "id">): MolecularField;
  addField(field: UnnumberedField): Field {
    const owner = field.owner;
    for (const word of field.keywords) {
      if (!this.isKeyword(word)) {
        throw new DcModelError(
          `field '${owner.name}.${field.name}' uses undeclared keyword '${word}' (declare it with 'keyword ${word};')`,
        );
      }
    }
    if (owner.kind === "struct") {
      if (field.kind !== "parameter") {
        throw new DcModelError(
          `struct '${owner.name}' can only hold plain typed fields, not ${field.kind} field '${field.name}'`,
        );
      }
      if (owner.field(field.name))
        throw new DcModelError(`struct '${owner.name}' already has a field '${field.name}'`);
      const numbered = this.number(field) as ParameterField;
      owner.addField(numbered);
      return numbered;
    }
    if (field.name === owner.name) {
      if (field.kind !== "atomic")
        throw new DcModelError(`the constructor of dclass '${owner.name}' must be an atomic field`);
      if (owner.constructorField) throw new DcModelError(`dclass '${owner.name}' already has a constructor`);
      if (owner.baseFields.length > 0)
        throw new DcModelError(`the constructor of dclass '${owner.name}' must be its first field`);
      const numbered = this.number(field) as AtomicField;
      owner.constructorField = numbered;
      return numbered;
    }
    if (owner.hasBaseField(field.name))
      throw new DcModelError(`dclass '${owner.name}' already has a field '${field.name}'`);
    const numbered = this.number(field);
    owner.addBaseField(numbered);
    return numbered;
  }

  private number(field: UnnumberedField): Field {
    const numbered = { ...field, id: this.fields.length } as Field;
    this.fields.push(numbered);
    return numbered;
  }

  private register(type: DType): void {
    type.id = this.types.length;
    this.types.push(type);
    this.typesByName.set(type.name, type);
  }

  private claimName(name: string, what: string): void {
    if (this.typesByName.has(name) || this.typedefs.has(name)) {
      throw new DcModelError(`${what} '${name}' is already declared`);
    }
  }
}

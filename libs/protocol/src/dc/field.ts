import type { DClass, DStruct } from "./dclass.ts";
import { DcModelError } from "./file.ts";
import { keywordFlags } from "./keywords.ts";
import type { Parameter } from "./parameter.ts";

/**
 * A field of a dclass or struct. Field ids are global to the file, in declaration order, as Panda3D
 * and Astron number them. Three kinds:
 * - atomic: `setPos(float32 x, float32 y) broadcast;` — its value is the tuple of its arguments;
 * - parameter: `uint32 hp ram;` — its value is the single value;
 * - molecular: `setXY : setX, setY;` — its value is the tuple of all its atoms' arguments, in order.
 */
export type Field = AtomicField | ParameterField | MolecularField;

interface FieldCommon {
  /** Global field number; assigned by the file when the field is added. */
  readonly id: number;
  readonly name: string;
  /** Keywords in the order they were written. */
  readonly keywords: readonly string[];
  /** Bit flags of the historical keywords (see `KW`). */
  readonly flags: number;
  /** The class or struct that declared the field. */
  readonly owner: DClass | DStruct;
  /** The typed elements the field packs, in order (a molecular field's are its atoms'). */
  readonly elements: readonly Parameter[];
}

export interface AtomicField extends FieldCommon {
  readonly kind: "atomic";
}

export interface ParameterField extends FieldCommon {
  readonly kind: "parameter";
  readonly param: Parameter;
}

export interface MolecularField extends FieldCommon {
  readonly kind: "molecular";
  readonly atoms: readonly (AtomicField | ParameterField)[];
}

export function hasKeyword(field: Field, keyword: string): boolean {
  return field.keywords.includes(keyword);
}

/** Field objects are created unnumbered and numbered by `DcFile.addField`. */
export type UnnumberedField =
  | Omit<AtomicField, "id">
  | Omit<ParameterField, "id">
  | Omit<MolecularField, "id">;

export function atomicField(
  owner: DClass | DStruct,
  name: string,
  params: readonly Parameter[],
  keywords: readonly string[],
): Omit<AtomicField, "id"> {
  return { kind: "atomic", name, owner, keywords, flags: keywordFlags(keywords), elements: params };
}

export function parameterField(
  owner: DClass | DStruct,
  param: Parameter & { readonly name: string },
  keywords: readonly string[],
): Omit<ParameterField, "id"> {
  return {
    kind: "parameter",
    name: param.name,
    owner,
    keywords,
    flags: keywordFlags(keywords),
    param,
    elements: [param],
  };
}

/** A molecular field takes the keywords of its atoms, which must all have the same ones. */
export function molecularField(
  owner: DClass,
  name: string,
  atoms: readonly (AtomicField | ParameterField)[],
): Omit<MolecularField, "id"> {
  const first = atoms[0];
  const keywords = first ? first.keywords : [];
  for (const atom of atoms) {
    if (!sameKeywords(atom.keywords, keywords)) {
      throw new DcModelError(
        `molecular field '${name}': atom '${atom.name}' has keywords [${atom.keywords.join(" ")}] ` +
          `but '${first?.name}' has [${keywords.join(" ")}]; the atoms of a molecular field must share their keywords`,
      );
    }
  }
  return {
    kind: "molecular",
    name,
    owner,
    keywords,
    flags: keywordFlags(keywords),
    atoms,
    elements: atoms.flatMap((atom) => atom.elements),
  };
}

function sameKeywords(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((word) => b.includes(word));
}

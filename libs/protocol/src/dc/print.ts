/**
 * Prints a DcFile as `.dc` text that the parser reads back to the same model: imports, keywords,
 * then structs and dclasses in id order, each typedef printed as soon as the types it names are.
 * Types are written in DC syntax (`int16%360/10`, `uint8(0-100)`, `string(8-16)`, `Block[]`) and by
 * their typedef name when they carry one; defaults in DC value syntax (`= 78`, `= "Avatar"`,
 * `= [0 * 16]`, `= {1, 2}`).
 */
import type { DClass, DStruct } from "./dclass.ts";
import type { Field, ParameterField } from "./field.ts";
import type { DcFile, Import, Typedef } from "./file.ts";
import type { Parameter } from "./parameter.ts";
import {
  type DcType,
  isBigIntValued,
  isDatetime,
  isFixedLength,
  isNumeric,
  type Length,
  type NumericRange,
} from "./types.ts";
import type { DcValue } from "./value.ts";

const INDENT = "  ";
/** A run of at least this many equal numbers in an array default is printed as `value * count`. */
const MIN_REPEAT_RUN = 3;

export function printDc(file: DcFile): string {
  const sections: string[] = [];
  if (file.imports.length > 0) sections.push(file.imports.map(printImport).join("\n"));
  if (file.keywords.length > 0) sections.push(file.keywords.map((word) => `keyword ${word};`).join("\n"));

  const printedTypes = new Set<string>();
  const pending = [...file.typedefs.values()];
  const flushTypedefs = (): void => {
    const ready = takeReadyTypedefs(pending, printedTypes, file);
    if (ready.length > 0) sections.push(ready.map(printTypedef).join("\n"));
  };
  flushTypedefs();
  for (const type of file.types) {
    sections.push(type.kind === "class" ? printClass(type) : printStruct(type));
    printedTypes.add(type.name);
    flushTypedefs();
  }
  if (pending.length > 0) {
    const names = pending.map((typedef) => typedef.name).join(", ");
    throw new Error(`printDc: typedef(s) ${names} name types that are not declared in this file`);
  }
  return `${sections.join("\n\n")}\n`;
}

// ---- declarations --------------------------------------------------------------------------------

function printImport(entry: Import): string {
  const module = withSuffixes(entry.module, entry.moduleSuffixes);
  if (entry.symbols.length === 0) return `import ${module}`;
  const symbols = entry.symbols.map((symbol) => withSuffixes(symbol.name, symbol.suffixes)).join(", ");
  return `from ${module} import ${symbols}`;
}

function withSuffixes(name: string, suffixes: readonly string[]): string {
  return [name, ...suffixes].join("/");
}

/**
 * Removes from `pending` (keeping the order of the rest) the typedefs whose named types are all
 * printed, taking them in declaration order so a typedef of a typedef follows it.
 */
function takeReadyTypedefs(pending: Typedef[], printedTypes: Set<string>, file: DcFile): Typedef[] {
  const ready: Typedef[] = [];
  const printedAliases = new Set<string>();
  for (const typedef of [...file.typedefs.values()])
    if (!pending.includes(typedef)) printedAliases.add(typedef.name);
  let progress = true;
  while (progress) {
    progress = false;
    for (const typedef of pending) {
      const { types, aliases } = namesUsed(withoutAlias(typedef.type));
      const typesReady = types.every((name) => printedTypes.has(name));
      const aliasesReady = aliases.every((name) => printedAliases.has(name) || !file.typedefs.has(name));
      if (typesReady && aliasesReady) {
        ready.push(typedef);
        printedAliases.add(typedef.name);
        pending.splice(pending.indexOf(typedef), 1);
        progress = true;
        break;
      }
    }
  }
  return ready;
}

/** The struct/class names and typedef names a type's text mentions. */
function namesUsed(type: DcType): { types: string[]; aliases: string[] } {
  if (type.alias) return { types: [], aliases: [type.alias] };
  if (type.kind === "struct") return { types: [type.name], aliases: [] };
  if (type.kind === "array") return namesUsed(type.element);
  return { types: [], aliases: [] };
}

function printTypedef(typedef: Typedef): string {
  const { base, suffixes } = splitType(withoutAlias(typedef.type));
  return `typedef ${base} ${typedef.name}${suffixes};`;
}

function printStruct(struct: DStruct): string {
  const lines = struct.fields.map((field) => `${INDENT}${printParameter(field.param)};`);
  return block(`struct ${struct.name}`, lines);
}

function printClass(dclass: DClass): string {
  const parents =
    dclass.parents.length > 0 ? ` : ${dclass.parents.map((parent) => parent.name).join(", ")}` : "";
  const fields: Field[] = dclass.constructorField
    ? [dclass.constructorField, ...dclass.baseFields]
    : dclass.baseFields;
  return block(
    `dclass ${dclass.name}${parents}`,
    fields.map((field) => `${INDENT}${printField(field)}`),
  );
}

function block(header: string, lines: readonly string[]): string {
  return lines.length === 0 ? `${header} {\n};` : `${header} {\n${lines.join("\n")}\n};`;
}

/** One field of a dclass, as its declaration line (without indentation). */
export function printField(field: Field): string {
  const keywords = field.keywords.length > 0 ? ` ${field.keywords.join(" ")}` : "";
  switch (field.kind) {
    case "atomic":
      return `${field.name}(${field.elements.map(printParameter).join(", ")})${keywords};`;
    case "parameter":
      return `${printParameter(field.param)}${keywords};`;
    case "molecular":
      return `${field.name} : ${field.atoms.map((atom) => atom.name).join(", ")};`;
  }
}

/** `uint8(0-100) hp = 100`, `int16%360/10`, `Block[] blocks`. */
export function printParameter(param: Parameter): string {
  const name = param.name === undefined ? "" : ` ${param.name}`;
  const value = param.default === undefined ? "" : ` = ${printValue(param.type, param.default)}`;
  return `${printType(param.type)}${name}${value}`;
}

// ---- types ---------------------------------------------------------------------------------------

/** A type in DC syntax; a type carrying a typedef alias prints as that name. */
export function printType(type: DcType): string {
  if (type.alias) return type.alias;
  const { base, suffixes } = splitType(type);
  return base + suffixes;
}

/**
 * Splits a type (its own alias ignored) into its base text and its array suffixes. Suffixes nest as
 * in C and Panda3D, the outer array first: `uint8[2][3]` is two arrays of three. An element
 * carrying an alias ends the descent (it prints as its name).
 */
function splitType(type: DcType): { base: string; suffixes: string } {
  const lengths: Length[] = [];
  let inner = type;
  while (inner.kind === "array") {
    lengths.push(inner.length);
    inner = inner.element;
    if (inner.alias) break;
  }
  const base = inner === type ? scalarText(type) : printType(inner);
  return { base, suffixes: lengths.map(arraySuffix).join("") };
}

/** Text of a type that is not an array. */
function scalarText(type: DcType): string {
  switch (type.kind) {
    case "array":
      throw new Error("printDc: an array type has no scalar text");
    case "struct":
      return type.name;
    case "char":
      return "char";
    case "string":
    case "blob":
    case "blob32":
      return `${type.kind}${lengthParens(type.length)}`;
    default: {
      const ranges =
        type.ranges && type.ranges.length > 0 ? `(${type.ranges.map(rangeText).join(", ")})` : "";
      const modulus = type.modulus === undefined ? "" : `%${numberText(type.modulus)}`;
      const divisor = type.divisor === 1 ? "" : `/${type.divisor}`;
      return `${type.kind}${ranges}${modulus}${divisor}`;
    }
  }
}

function withoutAlias(type: DcType): DcType {
  if (!type.alias) return type;
  const { alias: _alias, ...plain } = type;
  return plain as DcType;
}

function rangeText(range: NumericRange): string {
  return range.min === range.max
    ? numberText(range.min)
    : `${numberText(range.min)}-${numberText(range.max)}`;
}

/** A length range always keeps both bounds: `(5)` alone would read back as a fixed length. */
function lengthRangeText(range: NumericRange): string {
  return `${range.min}-${range.max}`;
}

function lengthParens(length: Length): string {
  if (isFixedLength(length)) return `(${length.fixed})`;
  return length.range ? `(${lengthRangeText(length.range)})` : "";
}

function arraySuffix(length: Length): string {
  if (isFixedLength(length)) return `[${length.fixed}]`;
  return length.range ? `[${lengthRangeText(length.range)}]` : "[]";
}

// ---- values --------------------------------------------------------------------------------------

/** A value in DC syntax for a default: numbers, "strings", [arrays], {structs}. */
export function printValue(type: DcType, value: DcValue): string {
  switch (type.kind) {
    case "char":
    case "string":
      return stringLiteral(expect(value, "string", type));
    case "blob":
    case "blob32":
      if (!(value instanceof Uint8Array)) throw valueError(type, value, "a Uint8Array");
      return listText([...value].map(String), true);
    case "array": {
      if (type.element.kind === "char") return stringLiteral(expect(value, "string", type));
      if (!Array.isArray(value)) throw valueError(type, value, "an array");
      const items = (value as readonly DcValue[]).map((item) => printValue(type.element, item));
      return listText(items, isNumeric(type.element));
    }
    case "struct": {
      if (
        typeof value !== "object" ||
        value === null ||
        Array.isArray(value) ||
        value instanceof Uint8Array
      ) {
        throw valueError(type, value, "an object");
      }
      const record = value as { readonly [field: string]: DcValue };
      const members = (type.target().fields as readonly Field[]).filter(
        (field): field is ParameterField => field.kind === "parameter",
      );
      return `{${members.map((member) => printMember(member, record)).join(", ")}}`;
    }
    default:
      if (value instanceof Date && isDatetime(type)) return String(value.getTime());
      if (isBigIntValued(type)) return String(expect(value, "bigint", type));
      return numberText(expect(value, "number", type));
  }
}

function printMember(member: ParameterField, record: { readonly [field: string]: DcValue }): string {
  const value = record[member.name];
  if (value === undefined) throw new Error(`printDc: struct value has no member '${member.name}'`);
  return printValue(member.param.type, value);
}

/** `[a, b, c]`, with runs of equal numbers written `0 * 16` when `compress` is set. */
function listText(items: readonly string[], compress: boolean): string {
  const parts: string[] = [];
  for (let i = 0; i < items.length; ) {
    let run = 1;
    while (compress && items[i + run] === items[i]) run++;
    if (run >= MIN_REPEAT_RUN) {
      parts.push(`${items[i]} * ${run}`);
    } else {
      for (let k = 0; k < run; k++) parts.push(items[i]!);
    }
    i += run;
  }
  return `[${parts.join(", ")}]`;
}

function numberText(n: number): string {
  if (!Number.isFinite(n)) throw new Error(`printDc: ${n} cannot be written in a .dc file`);
  return Object.is(n, -0) ? "0" : String(n);
}

/** A double-quoted string; quotes, backslashes and control characters are escaped. */
function stringLiteral(text: string): string {
  let out = '"';
  for (const ch of text) {
    const code = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\r") out += "\\r";
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

function expect<T extends "string" | "number" | "bigint">(
  value: DcValue,
  kind: T,
  type: DcType,
): T extends "string" ? string : T extends "number" ? number : bigint {
  if (typeof value !== kind) throw valueError(type, value, `a ${kind}`);
  return value as never;
}

function valueError(type: DcType, value: DcValue, expected: string): Error {
  return new Error(`printDc: default ${String(value)} for type ${printType(type)} is not ${expected}`);
}

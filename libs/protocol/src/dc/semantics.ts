/**
 * Semantics: gives the syntax tree its meaning. Resolves type names (built-ins, typedefs, structs,
 * dclasses), applies ranges, divisors, moduli and array sizes, checks and converts default values,
 * and adds everything to a DcFile, whose builder numbers types and fields. Every error names the
 * file, line and column of the offending text.
 */
import { checkValue } from "../pack/api.ts";
import { DcPackError } from "../pack/errors.ts";
import { BUILTIN_TYPES } from "./builtins.ts";
import type { DClass, DStruct } from "./dclass.ts";
import { atomicField, type Field, molecularField, type ParameterField, parameterField } from "./field.ts";
import { DcFile, DcModelError } from "./file.ts";
import { DcSyntaxError, type Position } from "./lexer.ts";
import type { Parameter } from "./parameter.ts";
import {
  type ArraySuffix,
  type Decl,
  type FieldDecl,
  type ListItem,
  type NumberLiteral,
  type ParamDecl,
  parseDcSyntax,
  type RangeExpr,
  type TypeExpr,
  type ValueExpr,
} from "./parser.ts";
import {
  type DcType,
  INT_LIMITS,
  isBigIntValued,
  isFixedLength,
  isFloatKind,
  isIntKind,
  isNumeric,
  type Length,
  type NumericRange,
} from "./types.ts";
import type { DcValue } from "./value.ts";

export { DcSyntaxError } from "./lexer.ts";

/** Parses `.dc` source text and adds its declarations to `into` (a new model if none is given). */
export function parseDcText(source: string, fileName = "<input>", into = new DcFile()): DcFile {
  const semantics = new Semantics(into);
  for (const decl of parseDcSyntax(source, fileName)) semantics.declare(decl);
  return into;
}

/** The largest length a uint16 length prefix can describe. */
const MAX_PREFIXED_LENGTH = 0xffff;

class Semantics {
  constructor(private readonly file: DcFile) {}

  declare(decl: Decl): void {
    switch (decl.kind) {
      case "import":
        this.file.addImport({
          module: decl.module,
          moduleSuffixes: decl.moduleSuffixes,
          symbols: decl.symbols,
        });
        return;
      case "keyword":
        this.file.addKeyword(decl.name);
        return;
      case "typedef": {
        const param = decl.param;
        if (param.default)
          throw new DcSyntaxError(param.default.pos, "a typedef cannot have a default value");
        const type = this.resolveParamType(param);
        this.atPosition(decl.pos, () => this.file.addTypedef(param.name!, type));
        return;
      }
      case "struct": {
        const struct = this.atPosition(decl.pos, () => this.file.addStruct(decl.name));
        for (const field of decl.fields) this.structField(struct, field);
        return;
      }
      case "dclass": {
        const parents = decl.parents.map((ref) => this.parentClass(decl.name, ref.name, ref.pos));
        const dclass = this.atPosition(decl.pos, () => this.file.addClass(decl.name, parents));
        for (const field of decl.fields) this.classField(dclass, field);
        return;
      }
    }
  }

  private atPosition<T>(pos: Position, build: () => T): T {
    try {
      return build();
    } catch (error) {
      if (error instanceof DcModelError) throw new DcSyntaxError(pos, error.message);
      throw error;
    }
  }

  private parentClass(child: string, name: string, pos: Position): DClass {
    const type = this.file.type(name);
    if (!type)
      throw new DcSyntaxError(pos, `dclass '${child}' inherits from '${name}', which is not declared (yet)`);
    if (type.kind !== "class")
      throw new DcSyntaxError(
        pos,
        `dclass '${child}' inherits from '${name}', which is a struct, not a dclass`,
      );
    return type;
  }

  private structField(struct: DStruct, decl: FieldDecl): void {
    if (decl.kind !== "parameter") {
      throw new DcSyntaxError(
        decl.pos,
        `struct '${struct.name}' can only hold typed fields such as 'uint32 x;', not a ${decl.kind} field`,
      );
    }
    const param = this.parameter(decl.param, struct.name);
    if (param.name === undefined)
      throw new DcSyntaxError(decl.pos, `a field of struct '${struct.name}' needs a name`);
    const keywords = this.keywords(decl.keywords);
    this.atPosition(decl.pos, () =>
      this.file.addField(parameterField(struct, { ...param, name: param.name! }, keywords)),
    );
  }

  private classField(dclass: DClass, decl: FieldDecl): void {
    switch (decl.kind) {
      case "atomic": {
        const params = decl.params.map((p) => this.parameter(p, `${dclass.name}.${decl.name}`));
        const keywords = this.keywords(decl.keywords);
        this.atPosition(decl.pos, () => this.file.addField(atomicField(dclass, decl.name, params, keywords)));
        return;
      }
      case "parameter": {
        const param = this.parameter(decl.param, dclass.name);
        if (param.name === undefined)
          throw new DcSyntaxError(decl.pos, `a field of dclass '${dclass.name}' needs a name`);
        const keywords = this.keywords(decl.keywords);
        this.atPosition(decl.pos, () =>
          this.file.addField(parameterField(dclass, { ...param, name: param.name! }, keywords)),
        );
        return;
      }
      case "molecular": {
        const atoms = decl.atoms.map((ref) => this.molecularAtom(dclass, decl.name, ref.name, ref.pos));
        this.atPosition(decl.pos, () => this.file.addField(molecularField(dclass, decl.name, atoms)));
        return;
      }
    }
  }

  private molecularAtom(dclass: DClass, molecule: string, name: string, pos: Position) {
    const field: Field | undefined = dclass.field(name);
    if (!field)
      throw new DcSyntaxError(
        pos,
        `molecular field '${molecule}' names '${name}', which is not a field of dclass '${dclass.name}'`,
      );
    if (field.kind === "molecular")
      throw new DcSyntaxError(
        pos,
        `molecular field '${molecule}' names '${name}', which is itself molecular`,
      );
    return field;
  }

  private keywords(refs: readonly { pos: Position; name: string }[]): string[] {
    const seen: string[] = [];
    for (const ref of refs) {
      if (!this.file.isKeyword(ref.name)) {
        throw new DcSyntaxError(
          ref.pos,
          `'${ref.name}' is not a keyword; declare it with 'keyword ${ref.name};' or check the spelling`,
        );
      }
      if (!seen.includes(ref.name)) seen.push(ref.name);
    }
    return seen;
  }

  // ---- parameters and types ------------------------------------------------------------------

  private parameter(decl: ParamDecl, where: string): Parameter {
    const type = this.resolveParamType(decl);
    const name = decl.name;
    const label = name ? `${where}.${name}` : where;
    if (!decl.default) return name === undefined ? { type } : { name, type };
    const value = this.value(type, decl.default, label);
    try {
      checkValue(type, value, label);
    } catch (error) {
      if (error instanceof DcPackError)
        throw new DcSyntaxError(decl.default.pos, `bad default for ${error.message}`);
      throw error;
    }
    return name === undefined ? { type, default: value } : { name, type, default: value };
  }

  /**
   * Array suffixes nest as in C and Panda3D: in `T[2][3]` (or `T[2] name[3]`) the first suffix is the
   * outer array, so `[2]` holds two arrays of three.
   */
  private resolveParamType(decl: ParamDecl): DcType {
    let type = this.resolveType(decl.type);
    const suffixes = [...decl.type.arrays, ...decl.arrays];
    for (let i = suffixes.length - 1; i >= 0; i--) type = this.arrayOf(type, suffixes[i]!);
    return type;
  }

  /** The type without its array suffixes (resolveParamType applies those). */
  private resolveType(expr: TypeExpr): DcType {
    let type = this.baseType(expr.name, expr.pos);
    const modified = expr.ranges || expr.divisor || expr.modulus;
    if (modified && type.alias) {
      const { alias: _alias, ...plain } = type;
      type = plain as DcType;
    }
    if (expr.divisor || expr.modulus) type = this.fixedPoint(type, expr);
    if (expr.ranges) type = this.withRanges(type, expr.name, expr.ranges);
    return type;
  }

  private baseType(name: string, pos: Position): DcType {
    const builtin = BUILTIN_TYPES[name];
    if (builtin) return builtin;
    const typedef = this.file.typedefs.get(name);
    if (typedef) return typedef.type;
    const declared = this.file.type(name);
    if (declared) return { kind: "struct", name, target: () => declared };
    throw new DcSyntaxError(
      pos,
      `unknown type '${name}': not a built-in type, typedef, struct or dclass declared before this point`,
    );
  }

  private fixedPoint(type: DcType, expr: TypeExpr): DcType {
    if (!isNumeric(type)) {
      throw new DcSyntaxError(
        expr.pos,
        `type '${expr.name}' is not numeric, so it cannot take a divisor '/' or a modulus '%'`,
      );
    }
    let divisor = type.divisor;
    if (expr.divisor) {
      divisor = literalNumber(expr.divisor);
      if (!Number.isInteger(divisor) || divisor < 1) {
        throw new DcSyntaxError(
          expr.divisor.pos,
          `the divisor of '${expr.name}' must be a positive whole number, not ${expr.divisor.text}`,
        );
      }
    }
    let modulus = type.modulus;
    if (expr.modulus) {
      modulus = literalNumber(expr.modulus);
      if (!(modulus > 0))
        throw new DcSyntaxError(
          expr.modulus.pos,
          `the modulus of '${expr.name}' must be positive, not ${expr.modulus.text}`,
        );
    }
    return modulus === undefined ? { ...type, divisor } : { ...type, divisor, modulus };
  }

  private withRanges(type: DcType, name: string, ranges: readonly RangeExpr[]): DcType {
    if (isNumeric(type)) {
      const numeric: NumericRange[] = ranges.map((range) => {
        const min = literalNumber(range.min);
        const max = range.max ? literalNumber(range.max) : min;
        if (min > max)
          throw new DcSyntaxError(
            range.pos,
            `range ${min}-${max} of '${name}' is empty: the minimum is above the maximum`,
          );
        return { min, max };
      });
      return { ...type, ranges: numeric };
    }
    if (type.kind === "string" || type.kind === "blob" || type.kind === "blob32") {
      if (ranges.length !== 1)
        throw new DcSyntaxError(ranges[1]!.pos, `'${name}' takes one length range, not ${ranges.length}`);
      return { ...type, length: this.length(ranges[0]!, `the length of '${name}'`) };
    }
    throw new DcSyntaxError(ranges[0]!.pos, `type '${name}' cannot take a range`);
  }

  private arrayOf(element: DcType, suffix: ArraySuffix): DcType {
    const length: Length = suffix.size ? this.length(suffix.size, "the array size") : {};
    return { kind: "array", element, length };
  }

  private length(range: RangeExpr, what: string): Length {
    const min = literalCount(range.min, what);
    if (!range.max) return { fixed: min };
    const max = literalCount(range.max, what);
    if (min > max)
      throw new DcSyntaxError(range.pos, `${what} ${min}-${max} is empty: the minimum is above the maximum`);
    if (max > MAX_PREFIXED_LENGTH)
      throw new DcSyntaxError(range.max.pos, `${what} cannot exceed ${MAX_PREFIXED_LENGTH}`);
    return { range: { min, max } };
  }

  // ---- default values ------------------------------------------------------------------------

  private value(type: DcType, expr: ValueExpr, where: string): DcValue {
    const wrong = (expected: string): never => {
      throw new DcSyntaxError(
        expr.pos,
        `bad default for ${where}: expected ${expected} for type ${describeType(type)}`,
      );
    };
    switch (type.kind) {
      case "char":
        if (expr.kind === "string" && expr.text.length === 1) return expr.text;
        if (expr.kind === "number") return String.fromCharCode(literalNumber(expr.literal));
        return wrong("a one-character string");
      case "string":
        return expr.kind === "string" ? expr.text : wrong("a string");
      case "blob":
      case "blob32":
        if (expr.kind === "string") return Uint8Array.from(expr.text, (ch) => ch.charCodeAt(0));
        if (expr.kind === "hex") return expr.bytes;
        if (expr.kind === "list")
          return Uint8Array.from(this.expand(expr.items), (item) => this.byte(item, where));
        return wrong("a string, <hex> or [bytes]");
      case "array":
        if (type.element.kind === "char" && expr.kind === "string") return expr.text;
        if (expr.kind === "hex" && (type.element.kind === "uint8" || type.element.kind === "int8")) {
          return Array.from(expr.bytes, (byte) => (type.element.kind === "int8" ? (byte << 24) >> 24 : byte));
        }
        if (expr.kind !== "list") return wrong("an array value [...]");
        return this.expand(expr.items).map((item, i) => this.value(type.element, item, `${where}[${i}]`));
      case "struct": {
        const target = type.target();
        if (expr.kind !== "tuple") return wrong(`a struct value {...} with ${target.fields.length} members`);
        const members = (target.fields as readonly Field[]).filter(
          (field): field is ParameterField => field.kind === "parameter",
        );
        if (expr.items.length !== members.length)
          return wrong(`${members.length} members, not ${expr.items.length},`);
        const value: Record<string, DcValue> = {};
        members.forEach((member, i) => {
          value[member.name] = this.value(member.param.type, expr.items[i]!, `${where}.${member.name}`);
        });
        return value;
      }
      default:
        return expr.kind === "number" ? numericValue(type, expr.literal, where) : wrong("a number");
    }
  }

  private expand(items: readonly ListItem[]): ValueExpr[] {
    const out: ValueExpr[] = [];
    for (const item of items) {
      const count = item.repeat ? literalCount(item.repeat, "a repeat count") : 1;
      for (let i = 0; i < count; i++) out.push(item.value);
    }
    return out;
  }

  private byte(expr: ValueExpr, where: string): number {
    if (expr.kind !== "number")
      throw new DcSyntaxError(expr.pos, `bad default for ${where}: a blob's array holds numbers 0-255`);
    const value = literalNumber(expr.literal);
    if (!Number.isInteger(value) || value < -128 || value > 255) {
      throw new DcSyntaxError(expr.pos, `bad default for ${where}: ${value} is not a byte`);
    }
    return value & 0xff;
  }
}

function numericValue(type: DcType, literal: NumberLiteral, where: string): DcValue {
  if (isBigIntValued(type)) {
    const big = literalBigInt(literal, where);
    const limits = INT_LIMITS[type.kind as "int64" | "uint64"];
    if (big < limits.min || big > limits.max) {
      throw new DcSyntaxError(literal.pos, `bad default for ${where}: ${big} does not fit in ${type.kind}`);
    }
    return big;
  }
  const value = literalNumber(literal);
  if (isIntKind(type.kind) && (type as { divisor: number }).divisor === 1 && !Number.isInteger(value)) {
    throw new DcSyntaxError(
      literal.pos,
      `bad default for ${where}: ${type.kind} holds whole numbers, not ${value}`,
    );
  }
  if (!isIntKind(type.kind) && !isFloatKind(type.kind))
    throw new DcSyntaxError(literal.pos, `bad default for ${where}`);
  return value;
}

function literalNumber(literal: NumberLiteral): number {
  const value =
    literal.text.startsWith("0x") || literal.text.startsWith("0X")
      ? Number.parseInt(literal.text, 16)
      : Number(literal.text);
  return literal.negative ? -value : value;
}

function literalBigInt(literal: NumberLiteral, where: string): bigint {
  if (!/^(0[xX][0-9A-Fa-f]+|[0-9]+)$/.test(literal.text)) {
    throw new DcSyntaxError(
      literal.pos,
      `bad default for ${where}: expected a whole number, not ${literal.text}`,
    );
  }
  const value = BigInt(literal.text);
  return literal.negative ? -value : value;
}

function literalCount(literal: NumberLiteral, what: string): number {
  const value = literalNumber(literal);
  if (literal.negative || !Number.isInteger(value)) {
    throw new DcSyntaxError(
      literal.pos,
      `${what} must be a whole number of zero or more, not ${literal.negative ? "-" : ""}${literal.text}`,
    );
  }
  return value;
}

/** A short description of a type for error messages, in DC syntax. */
export function describeType(type: DcType): string {
  if (type.alias) return type.alias;
  switch (type.kind) {
    case "array":
      return `${describeType(type.element)}[${describeLength(type.length)}]`;
    case "struct":
      return type.name;
    case "string":
    case "blob":
    case "blob32": {
      const length = describeLength(type.length);
      return length ? `${type.kind}(${length})` : type.kind;
    }
    default:
      return type.kind;
  }
}

function describeLength(length: Length): string {
  if (isFixedLength(length)) return String(length.fixed);
  return length.range ? `${length.range.min}-${length.range.max}` : "";
}

/**
 * The `.dc` parser: tokens to a syntax tree, with no knowledge of what names mean (that is
 * semantics.ts). Grammar, informally:
 *
 *   file      := (import | typedef | keyword | struct | dclass | ";")*
 *   import    := "from" module "import" ("*" | symbol ("," symbol)*) | "import" module
 *   module    := name ("/" suffix)* ("." name ("/" suffix)*)*
 *   typedef   := "typedef" type name? array* ";"
 *   keyword   := "keyword" name ";"
 *   struct    := "struct" name "{" (param keyword* ";")* "}" ";"?
 *   dclass    := "dclass" name (":" name ("," name)*)? "{" field* "}" ";"?
 *   field     := name ":" name ("," name)* ";"                  molecular
 *              | name "(" (param ("," param)*)? ")" keyword* ";" atomic
 *              | param keyword* ";"                             parameter
 *   param     := type name? array* ("=" value)?
 *   type      := name ("(" range ("," range)* ")" | "/" number | "%" number)* array*
 *   array     := "[" (size | size "-" size)? "]"
 *   value     := number | string | <hex> | "[" (value ("*" number)?)* "]" | "{" value* "}" | "(" value* ")"
 */
import { BUILTIN_TYPE_NAMES } from "./builtins.ts";
import { DcSyntaxError, type Position, type Token, tokenize } from "./lexer.ts";

export interface NumberLiteral {
  readonly pos: Position;
  /** Source text without the sign; kept as text so 64-bit values keep every digit. */
  readonly text: string;
  readonly negative: boolean;
}

export interface RangeExpr {
  readonly pos: Position;
  readonly min: NumberLiteral;
  /** Absent for a single value: `(32)`. */
  readonly max?: NumberLiteral;
}

export interface ArraySuffix {
  readonly pos: Position;
  /** Absent for `[]`. */
  readonly size?: RangeExpr;
}

export interface TypeExpr {
  readonly pos: Position;
  readonly name: string;
  readonly ranges?: readonly RangeExpr[];
  readonly divisor?: NumberLiteral;
  readonly modulus?: NumberLiteral;
  readonly arrays: readonly ArraySuffix[];
}

export type ValueExpr =
  | { readonly kind: "number"; readonly pos: Position; readonly literal: NumberLiteral }
  | { readonly kind: "string"; readonly pos: Position; readonly text: string }
  | { readonly kind: "hex"; readonly pos: Position; readonly bytes: Uint8Array }
  | { readonly kind: "list"; readonly pos: Position; readonly items: readonly ListItem[] }
  | { readonly kind: "tuple"; readonly pos: Position; readonly items: readonly ValueExpr[] };

export interface ListItem {
  readonly value: ValueExpr;
  readonly repeat?: NumberLiteral;
}

export interface ParamDecl {
  readonly pos: Position;
  readonly type: TypeExpr;
  readonly name?: string;
  /** Array suffixes written after the name: `Block blocks[]`. */
  readonly arrays: readonly ArraySuffix[];
  readonly default?: ValueExpr;
}

export interface NameRef {
  readonly pos: Position;
  readonly name: string;
}

export type FieldDecl =
  | {
      readonly kind: "atomic";
      readonly pos: Position;
      readonly name: string;
      readonly params: readonly ParamDecl[];
      readonly keywords: readonly NameRef[];
    }
  | {
      readonly kind: "parameter";
      readonly pos: Position;
      readonly param: ParamDecl;
      readonly keywords: readonly NameRef[];
    }
  | {
      readonly kind: "molecular";
      readonly pos: Position;
      readonly name: string;
      readonly atoms: readonly NameRef[];
    };

export interface ImportSymbol {
  readonly name: string;
  readonly suffixes: readonly string[];
}

export type Decl =
  | {
      readonly kind: "import";
      readonly pos: Position;
      readonly module: string;
      readonly moduleSuffixes: readonly string[];
      readonly symbols: readonly ImportSymbol[];
    }
  | { readonly kind: "typedef"; readonly pos: Position; readonly param: ParamDecl }
  | { readonly kind: "keyword"; readonly pos: Position; readonly name: string }
  | {
      readonly kind: "struct";
      readonly pos: Position;
      readonly name: string;
      readonly fields: readonly FieldDecl[];
    }
  | {
      readonly kind: "dclass";
      readonly pos: Position;
      readonly name: string;
      readonly parents: readonly NameRef[];
      readonly fields: readonly FieldDecl[];
    };

export function parseDcSyntax(source: string, file = "<input>"): Decl[] {
  return new Parser(tokenize(source, file)).file();
}

class Parser {
  private at = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  file(): Decl[] {
    const decls: Decl[] = [];
    while (!this.atEof()) {
      if (this.accept(";")) continue;
      decls.push(this.declaration());
    }
    return decls;
  }

  // ---- token helpers -------------------------------------------------------------------------

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.at + offset, this.tokens.length - 1)]!;
  }

  private atEof(): boolean {
    return this.peek().kind === "eof";
  }

  private isPunct(text: string, offset = 0): boolean {
    const token = this.peek(offset);
    return token.kind === "punct" && token.text === text;
  }

  private accept(text: string): boolean {
    if (!this.isPunct(text)) return false;
    this.at++;
    return true;
  }

  private expect(text: string, what: string): Token {
    if (!this.isPunct(text)) this.fail(`expected '${text}' ${what}`);
    return this.tokens[this.at++]!;
  }

  private expectIdent(what: string): Token {
    if (this.peek().kind !== "ident") this.fail(`expected ${what}`);
    return this.tokens[this.at++]!;
  }

  private fail(expected: string): never {
    throw new DcSyntaxError(this.peek(), `${expected}, found ${describe(this.peek())}`);
  }

  // ---- declarations --------------------------------------------------------------------------

  private declaration(): Decl {
    const token = this.peek();
    if (token.kind !== "ident")
      this.fail("expected a declaration (dclass, struct, typedef, keyword, import or from)");
    switch (token.text) {
      case "from":
      case "import":
        return this.importDecl();
      case "typedef":
        return this.typedefDecl();
      case "keyword":
        return this.keywordDecl();
      case "struct":
        return this.structDecl();
      case "dclass":
        return this.classDecl();
      case "switch":
        throw new DcSyntaxError(
          token,
          "'switch' declarations are not supported by Overworld; use separate fields",
        );
      default:
        this.fail("expected a declaration (dclass, struct, typedef, keyword, import or from)");
    }
  }

  private importDecl(): Decl {
    const start = this.tokens[this.at++]!;
    const { name: module, suffixes: moduleSuffixes } = this.dottedName("a module name");
    if (start.text === "import") {
      this.accept(";");
      return { kind: "import", pos: start, module, moduleSuffixes, symbols: [] };
    }
    const keyword = this.expectIdent("'import' after the module name");
    if (keyword.text !== "import")
      throw new DcSyntaxError(keyword, `expected 'import' after the module name, found '${keyword.text}'`);
    const symbols: ImportSymbol[] = [];
    if (this.accept("*")) {
      symbols.push({ name: "*", suffixes: [] });
    } else {
      do {
        const name = this.expectIdent("a symbol to import").text;
        symbols.push({ name, suffixes: this.suffixes() });
      } while (this.accept(","));
    }
    this.accept(";");
    return { kind: "import", pos: start, module, moduleSuffixes, symbols };
  }

  /** `a.b.c/AI/OV`: the suffixes of every part are gathered (they only ever appear at the end). */
  private dottedName(what: string): { name: string; suffixes: string[] } {
    const parts = [this.expectIdent(what).text];
    const suffixes = this.suffixes();
    while (this.accept(".")) {
      parts.push(this.expectIdent(`a name after '.' in ${what}`).text);
      suffixes.push(...this.suffixes());
    }
    return { name: parts.join("."), suffixes };
  }

  private suffixes(): string[] {
    const suffixes: string[] = [];
    while (this.accept("/")) suffixes.push(this.expectIdent("a suffix such as AI or OV after '/'").text);
    return suffixes;
  }

  private typedefDecl(): Decl {
    const start = this.tokens[this.at++]!;
    const param = this.param("typedef");
    if (!param.name)
      throw new DcSyntaxError(this.peek(), `expected a name for the typedef, found ${describe(this.peek())}`);
    this.expect(";", "after the typedef");
    return { kind: "typedef", pos: start, param };
  }

  private keywordDecl(): Decl {
    const start = this.tokens[this.at++]!;
    const name = this.expectIdent("a keyword name after 'keyword'").text;
    this.expect(";", "after the keyword declaration");
    return { kind: "keyword", pos: start, name };
  }

  private structDecl(): Decl {
    const start = this.tokens[this.at++]!;
    const name = this.expectIdent("a struct name").text;
    return { kind: "struct", pos: start, name, fields: this.body("struct", name) };
  }

  private classDecl(): Decl {
    const start = this.tokens[this.at++]!;
    const name = this.expectIdent("a dclass name").text;
    const parents: NameRef[] = [];
    if (this.accept(":")) {
      do {
        const parent = this.expectIdent(`a parent class name for '${name}'`);
        parents.push({ pos: parent, name: parent.text });
      } while (this.accept(","));
    }
    return { kind: "dclass", pos: start, name, parents, fields: this.body("dclass", name) };
  }

  /** `{ field* }` with an optional `;` after the closing brace. */
  private body(what: "struct" | "dclass", name: string): FieldDecl[] {
    this.expect("{", `to open ${what} '${name}'`);
    const fields: FieldDecl[] = [];
    while (!this.accept("}")) {
      if (this.atEof()) this.fail(`expected '}' to close ${what} '${name}'`);
      if (this.accept(";")) continue;
      fields.push(this.fieldDecl(name));
    }
    this.accept(";");
    return fields;
  }

  // ---- fields --------------------------------------------------------------------------------

  private fieldDecl(owner: string): FieldDecl {
    const first = this.expectIdent(`a field in '${owner}'`);
    this.at--;
    if (this.isPunct(":", 1)) return this.molecularDecl();
    if (this.isAtomicStart()) return this.atomicDecl();
    const param = this.param(`field of '${owner}'`);
    if (!param.name && this.peek().kind !== "ident" && !this.isPunct(";")) {
      this.fail(`expected a field name, keywords or ';' after the type in '${owner}'`);
    }
    const keywords = this.keywords();
    this.expect(";", `after field '${param.name ?? first.text}'`);
    return { kind: "parameter", pos: first, param, keywords };
  }

  /**
   * `name(` starts an atomic field unless `name` is a type: a built-in type name, or a name whose
   * parenthesis holds a range (`DoId(0-5) x;`) rather than parameters.
   */
  private isAtomicStart(): boolean {
    if (!this.isPunct("(", 1)) return false;
    if (BUILTIN_TYPE_NAMES.has(this.peek().text)) return false;
    const inside = this.peek(2);
    return !(inside.kind === "number" || (inside.kind === "punct" && inside.text === "-"));
  }

  private molecularDecl(): FieldDecl {
    const name = this.tokens[this.at++]!;
    this.expect(":", "in molecular field");
    const atoms: NameRef[] = [];
    do {
      const atom = this.expectIdent(`a field name in molecular field '${name.text}'`);
      atoms.push({ pos: atom, name: atom.text });
    } while (this.accept(","));
    this.expect(";", `after molecular field '${name.text}'`);
    return { kind: "molecular", pos: name, name: name.text, atoms };
  }

  private atomicDecl(): FieldDecl {
    const name = this.tokens[this.at++]!;
    this.expect("(", `after field name '${name.text}'`);
    const params: ParamDecl[] = [];
    if (!this.accept(")")) {
      do params.push(this.param(`parameter of '${name.text}'`));
      while (this.accept(","));
      this.expect(")", `to close the parameters of '${name.text}'`);
    }
    const keywords = this.keywords();
    this.expect(";", `after field '${name.text}'`);
    return { kind: "atomic", pos: name, name: name.text, params, keywords };
  }

  private keywords(): NameRef[] {
    const keywords: NameRef[] = [];
    while (this.peek().kind === "ident") {
      const token = this.tokens[this.at++]!;
      keywords.push({ pos: token, name: token.text });
    }
    return keywords;
  }

  // ---- parameters and types ------------------------------------------------------------------

  private param(what: string): ParamDecl {
    const start = this.peek();
    const type = this.type(what);
    let name: string | undefined;
    if (this.peek().kind === "ident" && !this.isPunct("(", 1)) {
      name = this.tokens[this.at++]!.text;
    }
    const arrays = this.arraySuffixes();
    const value = this.accept("=") ? this.value() : undefined;
    return {
      pos: start,
      type,
      ...(name === undefined ? {} : { name }),
      arrays,
      ...(value ? { default: value } : {}),
    };
  }

  private type(what: string): TypeExpr {
    const name = this.expectIdent(`a type for the ${what}`);
    let ranges: RangeExpr[] | undefined;
    let divisor: NumberLiteral | undefined;
    let modulus: NumberLiteral | undefined;
    for (;;) {
      if (this.isPunct("(")) {
        if (ranges) this.fail(`expected one range list for type '${name.text}'`);
        ranges = this.rangeList(name.text);
      } else if (this.accept("/")) {
        if (divisor) this.fail(`expected one divisor for type '${name.text}'`);
        divisor = this.unsignedNumber(`a divisor after '/' in type '${name.text}'`);
      } else if (this.accept("%")) {
        if (modulus) this.fail(`expected one modulus for type '${name.text}'`);
        modulus = this.unsignedNumber(`a modulus after '%' in type '${name.text}'`);
      } else {
        break;
      }
    }
    return {
      pos: name,
      name: name.text,
      ...(ranges ? { ranges } : {}),
      ...(divisor ? { divisor } : {}),
      ...(modulus ? { modulus } : {}),
      arrays: this.arraySuffixes(),
    };
  }

  private rangeList(typeName: string): RangeExpr[] {
    this.expect("(", `to open the range of '${typeName}'`);
    const ranges: RangeExpr[] = [];
    do ranges.push(this.range(`a range in '${typeName}(...)'`));
    while (this.accept(","));
    this.expect(")", `to close the range of '${typeName}'`);
    return ranges;
  }

  private range(what: string): RangeExpr {
    const pos = this.peek();
    const min = this.signedNumber(what);
    if (!this.accept("-")) return { pos, min };
    return { pos, min, max: this.signedNumber(`the upper bound of ${what}`) };
  }

  private arraySuffixes(): ArraySuffix[] {
    const arrays: ArraySuffix[] = [];
    while (this.isPunct("[")) {
      const pos = this.tokens[this.at++]!;
      if (this.accept("]")) {
        arrays.push({ pos });
        continue;
      }
      const size = this.range("an array size");
      this.expect("]", "to close the array size");
      arrays.push({ pos, size });
    }
    return arrays;
  }

  private unsignedNumber(what: string): NumberLiteral {
    const token = this.peek();
    if (token.kind !== "number") this.fail(`expected ${what}`);
    this.at++;
    return { pos: token, text: token.text, negative: false };
  }

  private signedNumber(what: string): NumberLiteral {
    const pos = this.peek();
    const negative = this.accept("-");
    const number = this.unsignedNumber(what);
    return { pos, text: number.text, negative };
  }

  // ---- default values ------------------------------------------------------------------------

  private value(): ValueExpr {
    const token = this.peek();
    if (token.kind === "string") {
      this.at++;
      return { kind: "string", pos: token, text: token.text };
    }
    if (token.kind === "hex") {
      this.at++;
      return { kind: "hex", pos: token, bytes: token.bytes! };
    }
    if (token.kind === "number" || this.isPunct("-")) {
      return { kind: "number", pos: token, literal: this.signedNumber("a number") };
    }
    if (this.accept("[")) {
      const items: ListItem[] = [];
      if (!this.accept("]")) {
        do {
          const value = this.value();
          const repeat = this.accept("*") ? this.unsignedNumber("a repeat count after '*'") : undefined;
          items.push(repeat ? { value, repeat } : { value });
        } while (this.accept(","));
        this.expect("]", "to close the array value");
      }
      return { kind: "list", pos: token, items };
    }
    if (this.isPunct("{") || this.isPunct("(")) {
      const close = this.tokens[this.at++]!.text === "{" ? "}" : ")";
      const items: ValueExpr[] = [];
      if (!this.accept(close)) {
        do items.push(this.value());
        while (this.accept(","));
        this.expect(close, "to close the value");
      }
      return { kind: "tuple", pos: token, items };
    }
    this.fail("expected a value (a number, a string, <hex>, [array] or {struct})");
  }
}

function describe(token: Token): string {
  switch (token.kind) {
    case "eof":
      return "end of file";
    case "string":
      return `string "${token.text}"`;
    case "punct":
      return `'${token.text}'`;
    default:
      return `'${token.text}'`;
  }
}

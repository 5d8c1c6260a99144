/**
 * The `.dc` lexer: turns source text into tokens with their line and column. Comments (`//`, `/* *\/`)
 * and white space are skipped. Numbers are lexed unsigned; the parser handles a leading `-`, so that
 * the range `0-100` lexes as `0`, `-`, `100`.
 */

export type TokenKind = "ident" | "number" | "string" | "hex" | "punct" | "eof";

export interface Position {
  readonly file: string;
  readonly line: number;
  readonly column: number;
}

export interface Token extends Position {
  readonly kind: TokenKind;
  /** The identifier, the punctuation character, the decoded string, or the number's source text. */
  readonly text: string;
  /** Decoded bytes of a `<hex>` literal. */
  readonly bytes?: Uint8Array;
}

/** A syntax or semantic error at a place in a `.dc` file. */
export class DcSyntaxError extends Error {
  override readonly name = "DcSyntaxError";
  readonly position: Position;
  constructor(
    at: Position,
    readonly reason: string,
  ) {
    const position = { file: at.file, line: at.line, column: at.column };
    super(`${position.file}:${position.line}:${position.column}: ${reason}`);
    this.position = position;
  }
}

const PUNCTUATION = new Set(["{", "}", "(", ")", "[", "]", ",", ";", ":", "=", "/", "%", "-", "*", "."]);
const IDENT_START = /[A-Za-z_]/;
const IDENT_PART = /[A-Za-z0-9_]/;
const DIGIT = /[0-9]/;
const HEX_DIGIT = /[0-9A-Fa-f]/;
const STRING_ESCAPES: Readonly<Record<string, string>> = {
  n: "\n",
  t: "\t",
  r: "\r",
  "0": "\0",
  '"': '"',
  "\\": "\\",
  "'": "'",
};

export function tokenize(source: string, file = "<input>"): Token[] {
  return new Lexer(source, file).run();
}

class Lexer {
  private at = 0;
  private line = 1;
  private lineStart = 0;
  private readonly tokens: Token[] = [];

  constructor(
    private readonly source: string,
    private readonly file: string,
  ) {}

  run(): Token[] {
    for (;;) {
      this.skipSpaceAndComments();
      if (this.at >= this.source.length) {
        this.tokens.push({ ...this.position(), kind: "eof", text: "end of file" });
        return this.tokens;
      }
      this.tokens.push(this.next());
    }
  }

  private position(): Position {
    return { file: this.file, line: this.line, column: this.at - this.lineStart + 1 };
  }

  private peek(offset = 0): string {
    return this.source[this.at + offset] ?? "";
  }

  private advance(): string {
    const ch = this.source[this.at++] ?? "";
    if (ch === "\n") {
      this.line++;
      this.lineStart = this.at;
    }
    return ch;
  }

  private skipSpaceAndComments(): void {
    for (;;) {
      const ch = this.peek();
      if (ch === " " || ch === "\t" || ch === "\r" || ch === "\n" || ch === "\f" || ch === "\v") {
        this.advance();
      } else if (ch === "/" && this.peek(1) === "/") {
        while (this.at < this.source.length && this.peek() !== "\n") this.advance();
      } else if (ch === "/" && this.peek(1) === "*") {
        const start = this.position();
        this.advance();
        this.advance();
        while (!(this.peek() === "*" && this.peek(1) === "/")) {
          if (this.at >= this.source.length)
            throw new DcSyntaxError(start, "comment '/*' is never closed with '*/'");
          this.advance();
        }
        this.advance();
        this.advance();
      } else {
        return;
      }
    }
  }

  private next(): Token {
    const start = this.position();
    const ch = this.peek();
    if (IDENT_START.test(ch)) return this.identifier(start);
    if (DIGIT.test(ch) || (ch === "." && DIGIT.test(this.peek(1)))) return this.number(start);
    if (ch === '"' || ch === "'") return this.string(start, ch);
    if (ch === "<") return this.hex(start);
    if (PUNCTUATION.has(ch)) {
      this.advance();
      return { ...start, kind: "punct", text: ch };
    }
    throw new DcSyntaxError(start, `unexpected character '${printable(ch)}'`);
  }

  private identifier(start: Position): Token {
    let text = "";
    while (IDENT_PART.test(this.peek())) text += this.advance();
    return { ...start, kind: "ident", text };
  }

  private number(start: Position): Token {
    let text = "";
    if (this.peek() === "0" && (this.peek(1) === "x" || this.peek(1) === "X")) {
      text = this.advance() + this.advance();
      while (HEX_DIGIT.test(this.peek())) text += this.advance();
      if (text.length === 2) throw new DcSyntaxError(start, "hexadecimal number '0x' has no digits");
      return { ...start, kind: "number", text };
    }
    while (DIGIT.test(this.peek())) text += this.advance();
    if (this.peek() === "." && DIGIT.test(this.peek(1))) {
      text += this.advance();
      while (DIGIT.test(this.peek())) text += this.advance();
    }
    if ((this.peek() === "e" || this.peek() === "E") && /[0-9+-]/.test(this.peek(1))) {
      text += this.advance();
      if (this.peek() === "+" || this.peek() === "-") text += this.advance();
      if (!DIGIT.test(this.peek()))
        throw new DcSyntaxError(start, `number '${text}' has an exponent with no digits`);
      while (DIGIT.test(this.peek())) text += this.advance();
    }
    return { ...start, kind: "number", text };
  }

  private string(start: Position, quote: string): Token {
    this.advance();
    let text = "";
    for (;;) {
      if (this.at >= this.source.length || this.peek() === "\n") {
        throw new DcSyntaxError(start, `string is not closed with ${quote} before the end of the line`);
      }
      const ch = this.advance();
      if (ch === quote) return { ...start, kind: "string", text };
      if (ch !== "\\") {
        text += ch;
        continue;
      }
      const escaped = this.advance();
      if (escaped === "x") {
        const hex = this.advance() + this.advance();
        if (!/^[0-9A-Fa-f]{2}$/.test(hex)) throw new DcSyntaxError(start, `bad escape '\\x${hex}' in string`);
        text += String.fromCharCode(Number.parseInt(hex, 16));
      } else {
        text += STRING_ESCAPES[escaped] ?? escaped;
      }
    }
  }

  private hex(start: Position): Token {
    this.advance();
    let digits = "";
    while (this.peek() !== ">") {
      const ch = this.advance();
      if (ch === "") throw new DcSyntaxError(start, "hex literal '<' is never closed with '>'");
      if (/\s/.test(ch)) continue;
      if (!HEX_DIGIT.test(ch))
        throw new DcSyntaxError(start, `hex literal holds '${printable(ch)}', expected hex digits`);
      digits += ch;
    }
    this.advance();
    if (digits.length % 2 !== 0) throw new DcSyntaxError(start, "hex literal has an odd number of digits");
    const bytes = new Uint8Array(digits.length / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(digits.slice(i * 2, i * 2 + 2), 16);
    return { ...start, kind: "hex", text: `<${digits}>`, bytes };
  }
}

function printable(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, "0")}` : ch;
}

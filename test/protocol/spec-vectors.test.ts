/**
 * docs/protocol.md against the implementation: every `vector` block of the document holds the bytes the
 * TypeScript code makes for the same inputs (spec-vectors.ts), and decodes back to them; the tables of
 * message types, eject codes and value packing name what the code does. A change to the wire or to the
 * document alone fails here; `pnpm exec tsx test/protocol/spec-vectors.ts` prints the current blocks.
 */
import { readFileSync } from "node:fs";
import { type DcValue, packValue, parseDcText, unpackValue } from "@overworld/protocol";
import { AgentMessageType, ClientMessageType, EjectCode } from "@overworld/protocol/client";
import { describe, expect, it } from "vitest";
import { VECTORS } from "./spec-vectors.ts";

/** Types the value-packing table's rows may name. */
const PRELUDE = "struct Vec2 { float32 x; float32 y; };";
const DOC = new URL("../../docs/protocol.md", import.meta.url);
const doc = readFileSync(DOC, "utf8");

/** The bytes of a block: hex pairs, `xx*N` for N of one byte; `#` starts a comment. */
function blockBytes(text: string): Uint8Array {
  const bytes: number[] = [];
  for (const line of text.split("\n")) {
    for (const token of line.replace(/#.*$/, "").trim().split(/\s+/)) {
      if (token === "") continue;
      const match = /^([0-9a-f]{2})(?:\*(\d+))?$/i.exec(token);
      if (match === null) throw new Error(`"${token}" in a vector block is neither a byte nor byte*count`);
      for (let i = 0; i < Number(match[2] ?? 1); i++) bytes.push(Number.parseInt(match[1]!, 16));
    }
  }
  return Uint8Array.from(bytes);
}

/** The document's vector blocks by name. */
function docVectors(): Map<string, Uint8Array> {
  const blocks = new Map<string, Uint8Array>();
  for (const match of doc.matchAll(/^```vector ([a-z0-9-]+)\n([\s\S]*?)^```$/gm)) {
    const name = match[1]!;
    if (blocks.has(name)) throw new Error(`docs/protocol.md has two vector blocks named ${name}`);
    blocks.set(name, blockBytes(match[2]!));
  }
  return blocks;
}

/** The rows of the table after `<!-- table:NAME -->`, as cells (header and rule left out). */
function tableRows(name: string): string[][] {
  const start = doc.indexOf(`<!-- table:${name} -->`);
  if (start < 0) throw new Error(`docs/protocol.md has no table marked <!-- table:${name} -->`);
  const lines = doc.slice(start).split("\n").slice(1);
  const rows: string[][] = [];
  for (const line of lines) {
    if (!line.startsWith("|")) {
      if (rows.length > 0) break;
      continue;
    }
    rows.push(
      line
        .split("|")
        .slice(1, -1)
        .map((cell) => cell.trim().replace(/^`(.*)`$/, "$1")),
    );
  }
  return rows.slice(2);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex").replace(/(..)/g, "$1 ").trim();
}

describe("docs/protocol.md test vectors", () => {
  const blocks = docVectors();

  it("has a block for each vector of the implementation, and none else", () => {
    expect([...blocks.keys()].sort()).toEqual(VECTORS.map((vector) => vector.name).sort());
  });

  for (const vector of VECTORS) {
    it(`${vector.name}: the implementation makes the document's bytes, and reads them back`, () => {
      const documented = blocks.get(vector.name);
      expect(documented, `a vector block named ${vector.name}`).toBeDefined();
      expect(hex(documented!)).toBe(hex(vector.bytes()));
      vector.decodes(documented!);
    });
  }
});

describe("docs/protocol.md tables", () => {
  it("names every message type with its number", () => {
    const rows = tableRows("message-types").map(([number, name]) => [Number(number), name]);
    const expected = [
      ...Object.entries(ClientMessageType).map(([name, number]) => [number, name]),
      ...Object.entries(AgentMessageType).map(([name, number]) => [number, name]),
    ];
    expect(rows.map(([number]) => number)).toEqual(expected.map(([number]) => number));
    expect(rows.map(([, name]) => name)).toEqual(expected.map(([, name]) => screamingSnake(name as string)));
  });

  it("lists exactly the eject codes of EjectCode", () => {
    const rows = tableRows("eject-codes").map(([code, name]) => [Number(code), name]);
    expect(rows).toEqual(Object.entries(EjectCode).map(([name, code]) => [code, name]));
  });

  it("packs each value of the value-packing table to its bytes, and back", () => {
    const rows = tableRows("value-packing");
    expect(rows.length).toBeGreaterThan(10);
    for (const [declaration, value, bytes, readsAs] of rows) {
      const type = parseDcText(`${PRELUDE} struct Row { ${declaration!} v; };`).struct("Row")!.fields[0]!;
      const dcType = type.kind === "parameter" ? type.param.type : undefined;
      expect(dcType, declaration).toBeDefined();
      expect(hex(packValue(dcType!, tableValue(value!))), `${declaration} = ${value}`).toBe(
        hex(blockBytes(bytes!)),
      );
      expect(unpackValue(dcType!, blockBytes(bytes!)), `${declaration} from ${bytes}`).toEqual(
        tableValue(readsAs!),
      );
    }
  });
});

/** A value of the value-packing table: JSON, or an integer with `n` for a bigint (64-bit kinds). */
function tableValue(text: string): DcValue {
  return /^-?\d+n$/.test(text) ? BigInt(text.slice(0, -1)) : (JSON.parse(text) as DcValue);
}

/** HelloResp -> HELLO_RESP, as the document names messages. */
function screamingSnake(name: string): string {
  const special: Record<string, string> = { EnterOwnedObject: "ENTER_OWNED" };
  return special[name] ?? name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

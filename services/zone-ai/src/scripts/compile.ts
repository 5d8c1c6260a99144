/**
 * A world script as published: its name, its source as written (TypeScript or JavaScript), the hash of
 * that source (what players see and can check), and the JavaScript the sandbox runs: the source with its
 * types stripped and its exports made CommonJS by esbuild (`import type` lines vanish; any other import
 * becomes a `require` that the sandbox refuses).
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { basename, extname } from "node:path";
import { transformSync } from "esbuild";

export type ScriptLanguage = "ts" | "js";

export interface CompiledScript {
  readonly name: string;
  readonly language: ScriptLanguage;
  /** The source as published. */
  readonly source: string;
  /** sha256 of the source (hex). */
  readonly hash: string;
  /** The JavaScript the sandbox evaluates (CommonJS body: `module`, `exports`, `require`). */
  readonly code: string;
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function compileScript(name: string, source: string, language: ScriptLanguage = "ts"): CompiledScript {
  if (!NAME.test(name)) {
    throw new Error(
      `script name ${JSON.stringify(name)}: use 1-64 lowercase letters, digits, '.', '_' or '-' (it names the script in logs, metrics and the /scripts route)`,
    );
  }
  let code: string;
  try {
    code = transformSync(source, {
      loader: language,
      format: "cjs",
      target: "es2020",
      sourcefile: `${name}.${language}`,
      logLevel: "silent",
    }).code;
  } catch (error) {
    throw new Error(`script ${name} does not compile: ${(error as Error).message}`);
  }
  const hash = createHash("sha256").update(source).digest("hex");
  return { name, language, source, hash, code };
}

/** A script file (`.ts` or `.js`), named after the file without its extension. */
export async function compileScriptFile(path: string | URL): Promise<CompiledScript> {
  const file = typeof path === "string" ? path : path.pathname;
  const ext = extname(file);
  if (ext !== ".ts" && ext !== ".js") {
    throw new Error(`script ${file}: a script is a .ts or .js file`);
  }
  const source = await readFile(path, "utf8");
  return compileScript(basename(file, ext), source, ext === ".ts" ? "ts" : "js");
}

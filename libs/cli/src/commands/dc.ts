import { readFileSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { DcSyntaxError, formatHash, legacyHash, loadDcFiles } from "@overworld/protocol";
import { dcTypesModule } from "./dc-types.ts";

const DC_USAGE =
  "usage: pnpm overworld dc check|hash FILE...\n       pnpm overworld dc types FILE... [--out F]\n";

/** `pnpm` runs scripts from the repository root; paths are taken relative to where the user typed them. */
function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export function runDcCommand(argv: readonly string[]): number {
  const [action, ...rest] = argv;
  const outAt = rest.indexOf("--out");
  const out = outAt < 0 ? undefined : rest[outAt + 1];
  const paths = outAt < 0 ? rest : rest.filter((_, i) => i !== outAt && i !== outAt + 1);
  const known = action === "check" || action === "hash" || action === "types";
  if (!known || paths.length === 0 || (outAt >= 0 && (action !== "types" || out === undefined))) {
    process.stderr.write(DC_USAGE);
    return 2;
  }
  let file: ReturnType<typeof loadDcFiles>;
  try {
    file = loadDcFiles(paths.map(userPath));
  } catch (error) {
    if (error instanceof DcSyntaxError) {
      process.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    if ((error as NodeJS.ErrnoException).code === "ENOENT") {
      process.stderr.write(`error: cannot read ${(error as NodeJS.ErrnoException).path}: no such file\n`);
      return 1;
    }
    throw error;
  }
  if (action === "types") {
    const sources = paths.map((path) => ({
      name: basename(path),
      text: readFileSync(userPath(path), "utf8"),
    }));
    const module = dcTypesModule(file, sources, `pnpm overworld dc types ${paths.join(" ")}`);
    if (out === undefined) process.stdout.write(module);
    else writeFileSync(userPath(out), module);
    return 0;
  }
  const hash = formatHash(legacyHash(file));
  if (action === "hash") {
    process.stdout.write(`${hash}\n`);
    return 0;
  }
  process.stdout.write(
    `${file.types.length} classes and structs (${file.classes.length} dclasses, ${file.structs.length} structs), ` +
      `${file.fields.length} fields, ${file.typedefs.size} typedefs, hash ${hash}\n`,
  );
  return 0;
}

import { resolve } from "node:path";
import { DcSyntaxError, formatHash, legacyHash, loadDcFiles } from "@overworld/protocol";

const DC_USAGE = "usage: pnpm overworld dc check|hash FILE...\n";

/** `pnpm` runs scripts from the repository root; paths are taken relative to where the user typed them. */
function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

export function runDcCommand(argv: readonly string[]): number {
  const [action, ...paths] = argv;
  if ((action !== "check" && action !== "hash") || paths.length === 0) {
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

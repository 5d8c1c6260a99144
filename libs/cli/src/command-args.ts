/**
 * A command's arguments, read the same way by every `overworld` command: its options and positionals
 * (node:util parseArgs), `--help`/`-h` printing its usage (exit 0), and a wrong option printing the error
 * and the usage (exit 2).
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

type Options = NonNullable<ParseArgsConfig["options"]>;

const HELP = { help: { type: "boolean", short: "h" } } as const;

/** The parsed arguments, or the exit code when `--help` was asked for or the options are wrong. */
export function parseCommand<const O extends Options>(argv: readonly string[], options: O, usage: string) {
  let parsed: ReturnType<
    typeof parseArgs<{ args: string[]; allowPositionals: true; options: O & typeof HELP }>
  >;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: { ...options, ...HELP } });
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    process.stdout.write(usage);
    return 0;
  }
  return parsed;
}

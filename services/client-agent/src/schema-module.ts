/**
 * SCHEMA_MODULE: the game's TypeScript schema (a module exporting what `defineSchema` returned), whose
 * validators (`.validate`, `.pattern`) the agent runs on every value a client sends. Its classes must be
 * DC_FILES' (the same schema hash), so field ids and packing are unchanged; only the checks are added.
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { DcFile, legacyHash } from "@overworld/protocol";
import { ConfigError } from "@overworld/service";

/** The model to check clients' values with: the schema module's when one is named, else `dc`. */
export async function withSchemaModule(dc: DcFile, path: string | undefined): Promise<DcFile> {
  if (path === undefined || path === "") return dc;
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(resolve(path)).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`SCHEMA_MODULE: cannot load ${path}: ${(error as Error).message}`);
  }
  const file = Object.values(exports)
    .map((value) => (value as { file?: unknown } | null)?.file)
    .find((value): value is DcFile => value instanceof DcFile);
  if (file === undefined) {
    throw new ConfigError(
      `SCHEMA_MODULE: ${path} exports no schema (what defineSchema returns, with its \`file\`)`,
    );
  }
  if (legacyHash(file) !== legacyHash(dc)) {
    throw new ConfigError(
      `SCHEMA_MODULE: ${path} defines other classes than DC_FILES (schema hash 0x${legacyHash(file).toString(16)} vs 0x${legacyHash(dc).toString(16)})`,
    );
  }
  return file;
}

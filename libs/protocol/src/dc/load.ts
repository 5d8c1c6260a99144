import { readFileSync } from "node:fs";
import { DcFile } from "./file.ts";
import { parseDcText } from "./semantics.ts";

/** Loads several `.dc` files, in order, into one model (as Astron's `dc_files` list does). */
export function loadDcFiles(paths: readonly string[], into = new DcFile()): DcFile {
  for (const path of paths) parseDcText(readFileSync(path, "utf8"), path, into);
  return into;
}

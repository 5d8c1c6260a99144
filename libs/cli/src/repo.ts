/**
 * The Overworld repository the command runs from (`pnpm overworld` in the workspace), or undefined when
 * it runs from installed packages (a game's project): then there is no demo world's `.dc` file, no
 * browser build and no scripts to start Redis and PostgreSQL, and a game names its own `--dc` and `--plugin`.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const root = resolve(import.meta.dirname, "../../..");

export const REPO: string | undefined =
  existsSync(resolve(root, "pnpm-workspace.yaml")) && existsSync(resolve(root, "libs/cli/src/main.ts"))
    ? root
    : undefined;

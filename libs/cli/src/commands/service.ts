/**
 * `overworld service NAME`: one service of the cluster in the foreground, configured by its environment
 * variables as under docker compose (a game's compose file runs each service so, from the installed
 * packages). It runs as a child process with tsx's loader (a game's plugin and schema are TypeScript);
 * SIGINT and SIGTERM are passed on, and its exit code is this command's.
 */
import { spawn } from "node:child_process";
import { SERVICE_ORDER, serviceEntry, TSX_LOADER } from "../cluster-processes.ts";

const SERVICES = [...SERVICE_ORDER, "link", "signaling"] as const;

export async function runServiceCommand(argv: readonly string[]): Promise<number> {
  const name = SERVICES.find((service) => service === argv[0]);
  if (name === undefined || argv.length > 1) {
    const usage = `usage: overworld service NAME, NAME one of ${SERVICES.join(", ")}\n`;
    process.stderr.write(argv[0] === undefined ? usage : `error: unknown service '${argv[0]}'\n${usage}`);
    return 2;
  }
  const child = spawn(process.execPath, ["--import", TSX_LOADER, serviceEntry(name)], { stdio: "inherit" });
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => child.kill(signal));
  return new Promise((done) => child.once("exit", (code, signal) => done(code ?? (signal ? 1 : 0))));
}

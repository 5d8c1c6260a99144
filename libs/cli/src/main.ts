#!/usr/bin/env -S node --import tsx
/**
 * The `overworld` command. Run from the repository root as `pnpm overworld <command> ...`.
 */
import { runAdminCommand } from "./commands/admin.ts";
import { runBotsCommand } from "./commands/bots.ts";
import { runDcCommand } from "./commands/dc.ts";
import { runSignalingCommand } from "./commands/federation.ts";
import { runFightersCommand } from "./commands/fighters.ts";
import { runNatsCommand } from "./commands/nats.ts";
import { runStartCommand } from "./commands/start.ts";

const USAGE = `usage: pnpm overworld <command>

commands:
  start [--help]     run the cluster as local processes with the demo world (--cluster NAME --signaling URL:
                     one of several linked clusters; --federation-demo: main, two linked clusters, bots)
  signaling          run main: the directory of clusters, link policy and tokens, rendezvous and relay
  fighters           players who hit the demo world's boss and print what it shows (--help)
  bots --count N     log in N bots that walk the demo world; live progress, then a latency report (--help)
  dc check FILE...   load .dc files in order; print class, struct and field counts and the hash
  dc hash FILE...    print the legacy schema hash of .dc files loaded in order, as 0x%08x
  dc types FILE... [--out F]
                     a TypeScript module of typed handles for the classes (as defineSchema gives)
  nats init DIR      make the cluster's NATS trust (credentials per role) and nats-server configuration
  admin key|grant    make an API key for the admin REST API, or give a player the admin or moderator role
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "dc":
      return runDcCommand(rest);
    case "start":
      return runStartCommand(rest);
    case "bots":
      return runBotsCommand(rest);
    case "nats":
      return runNatsCommand(rest);
    case "admin":
      return runAdminCommand(rest);
    case "signaling":
      return runSignalingCommand(rest);
    case "fighters":
      return runFightersCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`overworld: unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

process.exitCode = await main(process.argv.slice(2));

#!/usr/bin/env -S node --import tsx
/**
 * The `overworld` command. Run from the repository root as `pnpm overworld <command> ...`, and in a game's
 * project (made by `overworld new`) as `npx overworld <command> ...`.
 */
import { COMMANDS } from "./commands/index.ts";

const USAGE = `usage: pnpm overworld <command>

commands:
  new DIR [--help]   make a new game's project: schema (.dc and TypeScript), zone plugin, client, test, compose
                     file (--overworld-from DIR: Overworld's packages from pnpm pack's tarballs)
  start [--help]     run the cluster as local processes with the demo world, or a game's (--dc FILES --plugin
                     FILE); --cluster NAME --signaling URL: one of several linked clusters; --federation-demo:
                     main, two linked clusters, bots
  service NAME       run one service in the foreground (message-director, state-server, uberdog, client-agent,
                     zone-ai, link, signaling), configured by its environment: a container's command
  signaling          run main: the directory of clusters, link policy and tokens, rendezvous and relay
  fighters           players who hit the demo world's boss and print what it shows (--help)
  bots --count N     log in N bots that walk the demo world; live progress, then a latency report (--help)
  dc check FILE...   load .dc files in order; print class, struct and field counts and the hash
  dc hash FILE...    print the legacy schema hash of .dc files loaded in order, as 0x%08x
  dc types FILE... [--out F]
                     a TypeScript module of typed handles for the classes (as defineSchema gives)
  nats init DIR      make the cluster's NATS trust (credentials per role) and nats-server configuration
  admin key|grant    make an API key for the admin REST API, or give a player the admin or moderator role
  plugin pack|sign|verify|publish|key|trust|swap
                     plugin packages: make a manifest, sign it with main's key, check it, publish it, keep a trust list,
                     swap a running plugin's version on every zone-AI replica (--help)
  assets pack|sign|verify|publish
                     asset packages (content chunked for clients to swarm): make, sign, check, publish (--help)
`;

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "help" || command === "--help" || command === "-h") {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (load === undefined) {
    process.stderr.write(`overworld: unknown command '${command}'\n\n${USAGE}`);
    return 2;
  }
  return (await load())(rest);
}

process.exitCode = await main(process.argv.slice(2));

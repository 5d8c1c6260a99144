/**
 * The commands of `overworld`, each imported when it runs, so a quick command does not wait for the
 * dependencies of others. (Kept out of main.ts: tsx's lexer misreads dynamic imports after a shebang.)
 */
export type Command = (argv: readonly string[]) => number | Promise<number>;

export const COMMANDS: Readonly<Record<string, () => Promise<Command>>> = {
  dc: async () => (await import("./dc.ts")).runDcCommand,
  new: async () => (await import("./new.ts")).runNewCommand,
  start: async () => (await import("./start.ts")).runStartCommand,
  service: async () => (await import("./service.ts")).runServiceCommand,
  bots: async () => (await import("./bots.ts")).runBotsCommand,
  nats: async () => (await import("./nats.ts")).runNatsCommand,
  admin: async () => (await import("./admin.ts")).runAdminCommand,
  signaling: async () => (await import("./federation.ts")).runSignalingCommand,
  fighters: async () => (await import("./fighters.ts")).runFightersCommand,
  plugin: async () => (await import("./plugin.ts")).runPluginCommand,
  assets: async () => (await import("./assets.ts")).runAssetsCommand,
};

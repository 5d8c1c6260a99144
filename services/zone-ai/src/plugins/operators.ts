/**
 * What a zone-AI replica answers operators: `zai.plugin-swap`, heard by every replica at once (no queue
 * group; the catalogue lets only operators, roles `admin` and `tool`, send it: NATS refuses anyone else's
 * publish). Each replica loads the new version, from a module path or from a plugin package directory
 * verified with libs/manifest's loader against its trust list of main keys (PLUGIN_TRUST), swaps it
 * (hot-swap.ts) and answers what it did, or why it refused, with its old version running on.
 */
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadPlugins, readPackageDirectory, readTrustList } from "@overworld/manifest";
import { messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";
import type { ZonePlugin } from "../plugin.ts";
import type { SwapReport } from "./hot-swap.ts";

export interface PackageOptions {
  /** The trust list of main keys (a file, as `overworld plugin trust` keeps it); none: packages refused. */
  readonly trustFile?: string | undefined;
  /** Where checked package files are written to be imported from. */
  readonly cacheDir?: string | undefined;
}

/** The plugin a module exports (`plugin` or default), or an error naming the module. */
export function pluginOf(module: unknown, where: string): ZonePlugin {
  const exports = module as { plugin?: ZonePlugin; default?: ZonePlugin };
  const plugin = exports.plugin ?? exports.default;
  if (plugin === undefined || typeof plugin.zones !== "function" || typeof plugin.kinds !== "object") {
    throw new Error(`${where} exports no zone plugin (as \`plugin\` or default; see definePlugin)`);
  }
  return plugin;
}

/**
 * Loads the zone plugin of a package directory (DIR/manifest.json signed by a trusted main, DIR's files
 * matching it): refused, naming why, when it is unsigned, tampered, untrusted or not a server plugin.
 */
export async function loadPackagedPlugin(dir: string, options: PackageOptions): Promise<ZonePlugin> {
  if (options.trustFile === undefined) {
    throw new Error(
      "this replica trusts no main key (PLUGIN_TRUST names no trust list): it loads no package; give it one",
    );
  }
  const trust = await readTrustList(options.trustFile);
  const cacheDir = options.cacheDir ?? join(tmpdir(), "overworld-zone-ai-plugins");
  await mkdir(cacheDir, { recursive: true });
  const [loaded] = await loadPlugins([await readPackageDirectory(dir)], { trust, cacheDir, side: "server" });
  const plugin = pluginOf(
    loaded!.module,
    `package ${dir} (${loaded!.manifest.name}@${loaded!.manifest.version})`,
  );
  if (plugin.name !== loaded!.manifest.name || (plugin.version ?? "0.0.0") !== loaded!.manifest.version) {
    throw new Error(
      `package ${dir} is ${loaded!.manifest.name}@${loaded!.manifest.version} but its plugin says ${plugin.name}@${plugin.version ?? "0.0.0"}: make them agree`,
    );
  }
  return plugin;
}

/** Serves `zai.plugin-swap` for this replica until the subscription is closed. */
export function servePluginSwaps(
  participant: Participant,
  options: PackageOptions & {
    readonly loadModule: (path: string) => Promise<ZonePlugin>;
    readonly swap: (plugin: ZonePlugin) => Promise<SwapReport>;
    readonly log: Logger;
  },
): Subscription {
  const { log } = options;
  return serve(
    participant.nc,
    participant.subjects.served("zai", "plugin-swap"),
    messages.ZONE_AI_OPS["plugin-swap"].request,
    async (body, from): Promise<messages.ResultOf<(typeof messages.ZONE_AI_OPS)["plugin-swap"]>> => {
      const replica = participant.channel;
      try {
        const plugin =
          "module" in body
            ? await options.loadModule(body.module)
            : await loadPackagedPlugin(body.package, options);
        const report = await options.swap(plugin);
        log.info({ by: from, ...report }, "plugin version swapped at an operator's request");
        return {
          replica,
          swapped: true,
          plugin: report.plugin,
          from: report.from,
          to: report.to,
          zones: [...report.zones],
        };
      } catch (error) {
        log.warn({ by: from, err: error }, "an operator's plugin swap refused");
        return { replica, swapped: false, zones: [], error: (error as Error).message };
      }
    },
    { log },
  );
}

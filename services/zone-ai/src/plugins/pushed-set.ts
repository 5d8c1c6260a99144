/**
 * Running the server plugin set main pushed to the cluster. The cluster's link end (services/link
 * plugin-sync.ts) fetches a pushed set, verifies it against the cluster's trust list of main keys and
 * installs it; then, at every poll, it tells every zone-AI replica the set (`zai.plugin-set`: the link role
 * alone may send it, NATS refuses anyone else's publish, and a request naming another role is refused here
 * too). A replica whose set differs:
 *
 * 1. fetches each package it does not hold from the link end (`lk.plugin-package`) and verifies it again,
 *    whole, against its own trust list (PLUGIN_TRUST: the same keys), as a server plugin: unsigned,
 *    tampered, untrusted or another package than the pin's id, the set is refused;
 * 2. imports each plugin (libs/manifest `importVerified`) and checks it is the package's name and version;
 * 3. runs its own plugins (PLUGIN) with the set's in place of those of the same name and beside the others,
 *    applied live (hot-swap.ts `applyPluginSet`: added, removed, versions swapped at tick boundaries).
 *
 * It answers the plugins it runs, or why it refused (its previous set running on): the link end reports
 * that to main as what the cluster runs.
 */
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  importVerified,
  label,
  type PackageContent,
  PackageRefused,
  readTrustList,
  subjectOf,
  verifyPlugins,
} from "@overworld/manifest";
import { messages } from "@overworld/protocol";
import { type Logger, type Participant, type Subscription, serve } from "@overworld/service";
import type { ZonePlugin } from "../plugin.ts";
import { labelOf } from "./compose.ts";
import { type SetReport, SwapRefused } from "./hot-swap.ts";
import { pluginOf } from "./operators.ts";

const PACKAGE_TIMEOUT_MS = 10_000;
/** How long a starting replica waits for the link end to tell it the cluster's set. */
const INITIAL_TIMEOUT_MS = 2_000;

export interface PushedSetOptions {
  readonly participant: Participant;
  /** The plugins the replica was started with (PLUGIN): the set's go in place of these or beside them. */
  readonly base: readonly ZonePlugin[];
  /** The trust list of main keys (PLUGIN_TRUST); none: every set with a package is refused. */
  readonly trustFile: string | undefined;
  /** Where checked package files are written to be imported from. */
  readonly cacheDir: string | undefined;
  /** Makes these the plugins the replica runs (hot-swap.ts applyPluginSet); throws SwapRefused. */
  readonly apply: (target: readonly ZonePlugin[]) => Promise<SetReport>;
  /** The plugins running now (`name@version`). */
  readonly running: () => string[];
  readonly log: Logger;
}

type Reply = messages.ResultOf<(typeof messages.ZONE_AI_OPS)["plugin-set"]>;

/**
 * A set that is refused before it is applied: the package it is about and the kind of refusal
 * (`unavailable`: not now, asked again with the next set).
 */
export class SetRefused extends Error {
  constructor(
    readonly refusal: string,
    readonly subject: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

export class PushedSets {
  /** The pushed set running: its push and the package ids, in order. */
  private current = { push: 0, ids: "" };
  /** The push refused last and its ids (`push:ids`), and the answer it had. */
  private refused: { attempt: string; reply: Reply } | undefined;
  /** The plugins imported, by package id. */
  private readonly loaded = new Map<string, ZonePlugin>();
  private chain: Promise<unknown> = Promise.resolve();

  constructor(private readonly options: PushedSetOptions) {}

  /** Serves `zai.plugin-set` until the subscription is closed. */
  serve(): Subscription {
    const { participant, log } = this.options;
    return serve(
      participant.nc,
      participant.subjects.served("zai", "plugin-set"),
      messages.ZONE_AI_OPS["plugin-set"].request,
      async (body, from): Promise<Reply> => {
        if (from.role !== "link") {
          log.warn({ by: from }, "a plugin set from another role than the link end refused");
          throw new messages.RequestError(
            "forbidden",
            `only the cluster's link end sends plugin sets; ${from.role} ${from.channel} may not`,
          );
        }
        const run = this.chain.then(() => this.receive(body));
        this.chain = run.catch(() => undefined);
        return run;
      },
      { log },
    );
  }

  /**
   * Takes the set the cluster runs from the link end (`lk.plugin-set`), for a replica about to start: its
   * zones then start under the set's versions (a zone resumed from a snapshot of a pushed version replays
   * under that version). No link end answering: the replica starts with its own plugins, and takes the
   * set when the link end next tells it.
   */
  async initial(timeoutMs = INITIAL_TIMEOUT_MS): Promise<void> {
    const { participant, log } = this.options;
    let set: messages.PluginSetMessage;
    try {
      const reply = await participant.request("lk", "plugin-set", {}, timeoutMs);
      set = { push: reply.push, servers: reply.servers };
    } catch (error) {
      log.info(
        { err: (error as Error).message },
        "no link end told the cluster's plugin set: starting with PLUGIN's",
      );
      return;
    }
    const run = this.chain.then(() => this.receive(set));
    this.chain = run.catch(() => undefined);
    const reply = await run;
    if (!reply.applied)
      log.warn({ err: reply.error }, "the cluster's plugin set refused: starting with PLUGIN's");
  }

  /** One set from the link end: applied if it differs from the one running (see the module's doc). */
  async receive(body: messages.PluginSetMessage): Promise<Reply> {
    const { participant, log } = this.options;
    const replica = participant.channel;
    const ids = body.servers.map((pin) => pin.id).join(",");
    if (ids === this.current.ids) {
      this.current = { push: body.push, ids };
      return { replica, push: body.push, applied: true, running: this.options.running() };
    }
    // a set refused is not tried again until another push (the link end tells it at every poll)
    const attempt = `${body.push}:${ids}`;
    if (this.refused?.attempt === attempt) return this.refused.reply;
    try {
      const plugins = await this.load(body.servers);
      const pushed = new Map(plugins.map((plugin) => [plugin.name, plugin]));
      const target = [
        ...this.options.base.map((plugin) => pushed.get(plugin.name) ?? plugin),
        ...plugins.filter((plugin) => !this.options.base.some((own) => own.name === plugin.name)),
      ];
      const report = await this.options.apply(target);
      this.current = { push: body.push, ids };
      this.refused = undefined;
      log.info({ push: body.push, ...report }, "the cluster's pushed plugin set runs");
      return { replica, push: body.push, applied: true, running: [...report.running] };
    } catch (error) {
      const reply: Reply = {
        replica,
        push: this.current.push,
        applied: false,
        running: this.options.running(),
        error: (error as Error).message,
        ...(error instanceof SetRefused
          ? { refusal: error.refusal, ...(error.subject === undefined ? {} : { package: error.subject }) }
          : error instanceof PackageRefused
            ? { refusal: error.refusal, package: error.subject }
            : error instanceof SwapRefused
              ? {
                  refusal: error.stage,
                  ...(error.plugin === undefined ? {} : { package: `plugin ${error.plugin}` }),
                }
              : { refusal: "failed" }),
      };
      // a package the link end could not serve now is asked again at the next set; a refusal is kept
      if (!(error instanceof SetRefused && error.refusal === "unavailable"))
        this.refused = { attempt, reply };
      log.warn({ push: body.push, err: reply.error }, "the cluster's pushed plugin set refused");
      return reply;
    }
  }

  /** The plugins of the pins: held ones, the others fetched from the link end, verified and imported. */
  private async load(pins: readonly messages.PluginPinMessage[]): Promise<ZonePlugin[]> {
    const missing = pins.filter((pin) => !this.loaded.has(pin.id));
    if (missing.length > 0) {
      if (this.options.trustFile === undefined) {
        throw new SetRefused(
          "untrusted",
          undefined,
          "this replica trusts no main key (PLUGIN_TRUST names no trust list): it loads no pushed plugin; give it the cluster's",
        );
      }
      const trust = await readTrustList(this.options.trustFile);
      const cacheDir = this.options.cacheDir ?? join(tmpdir(), "overworld-zone-ai-plugins");
      await mkdir(cacheDir, { recursive: true });
      const contents = await Promise.all(missing.map((pin) => this.fetch(pin)));
      const verified = await verifyPlugins(contents, { trust, side: "server" });
      for (const [index, plugin] of verified.entries()) {
        const pin = missing[index]!;
        if (plugin.id !== pin.id) {
          throw new PackageRefused(
            "tampered",
            subjectOf(plugin.manifest),
            `the link end serves a manifest whose id is ${plugin.id}, but the set names ${pin.id}`,
          );
        }
        if (plugin.manifest.name !== pin.name || plugin.manifest.version !== pin.version) {
          throw new PackageRefused(
            "tampered",
            subjectOf(plugin.manifest),
            `the set names it ${pin.name}@${pin.version}`,
          );
        }
      }
      for (const plugin of verified) {
        const imported = await importVerified(plugin, cacheDir);
        const where = `package ${label(plugin.manifest)}`;
        const zonePlugin = pluginOf(imported.module, where);
        if (labelOf(zonePlugin) !== label(plugin.manifest)) {
          throw new SetRefused(
            "invalid",
            subjectOf(plugin.manifest),
            `${where} exports plugin ${labelOf(zonePlugin)}: its definePlugin must give the manifest's name and version`,
          );
        }
        this.loaded.set(plugin.id, zonePlugin);
      }
    }
    return pins.map((pin) => this.loaded.get(pin.id)!);
  }

  /** A package from the link end, as it arrived (verified by the caller). */
  private async fetch(pin: messages.PluginPinMessage): Promise<PackageContent> {
    const subject = `${pin.name}@${pin.version}`;
    let reply: messages.PluginPackageReply;
    try {
      reply = await this.options.participant.request(
        "lk",
        "plugin-package",
        { id: pin.id },
        PACKAGE_TIMEOUT_MS,
      );
    } catch (error) {
      // no answer: asked again with the next set; a refusal (too big, not held): this set is refused
      const unavailable = (error as { code?: string }).code === "unavailable";
      throw new SetRefused(
        unavailable ? "unavailable" : "refused",
        `plugin ${subject}`,
        `plugin ${subject} could not be fetched from the link end: ${(error as Error).message}`,
      );
    }
    let signed: unknown;
    try {
      signed = JSON.parse(reply.signed);
    } catch {
      throw new PackageRefused(
        "invalid",
        `plugin ${subject}`,
        "the link end sent a manifest that is not JSON",
      );
    }
    const files = new Map(reply.files.map((file) => [file.path, file.data]));
    return { origin: `the link end's copy of ${subject}`, signed, read: async (path) => files.get(path) };
  }
}

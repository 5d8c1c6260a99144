/**
 * The cluster's side of main's selective push (services/signaling plugin-sets.ts): every `pollMs` the
 * link end asks main for the plugin set assigned to this cluster (signed with the cluster's key). A new set
 * is fetched (only the packages not held already, from main's /v1/packages and /v1/files), every manifest
 * and file verified against the cluster's trust list of main keys (read again at each set, so a rotated
 * list applies), resolved with the cluster's own required client plugins (`resolveCluster`: each
 * dependency present and in range), and only then put in place, whole: the verified files are written
 * under `dir/<package id>/`, the set becomes the one running, and the client agents are told the client
 * plugins (`ca.plugins`), which they pass to their clients. A set with one bad package is refused whole
 * with the named reason (`untrusted`, `tampered`, `unsatisfiable`, ...): the cluster keeps running its
 * previous set and tells main both. A refused push is not tried again until main pushes another (or the
 * link end restarts); a package main could not serve is tried again at the next poll.
 *
 * Server plugins: with `tellServers` (the link end joined its cluster), a new set goes in only once every
 * zone-AI replica runs it (`zai.plugin-set`; each fetches the packages from here, `package(id)`, and
 * verifies them again): if one refuses (a package it will not load, a start hook or migration that
 * throws), the set is refused with that replica's reason and the previous one is told again at once, so
 * replicas that took the new one go back to it; what main hears is what zone AI runs. The running set is
 * told at every poll, so a replica started later takes it too.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { AssignedPlugins, MainClient, PluginPinRef, PluginReport } from "@overworld/federation";
import {
  type AvailablePlugin,
  fetchPackage,
  type PackageContent,
  PackageRefused,
  parseSignedManifest,
  type Ranges,
  readTrustList,
  resolveCluster,
  subjectOf,
  type TrustList,
  type VerifiedPlugin,
  verifyPlugins,
} from "@overworld/manifest";
import type { Logger } from "@overworld/service";

/** The client plugins every client of the cluster must run, as the agents are told. */
export interface ClientPluginSet {
  readonly push: number;
  readonly required: readonly PluginPinRef[];
}

export interface PluginSyncOptions {
  readonly main: MainClient;
  readonly cluster: string;
  /** The cluster's trust list of main keys (libs/manifest trust.ts). */
  readonly trustFile: string;
  /** Where verified packages are kept, one directory per package id. */
  readonly dir: string;
  readonly pollMs: number;
  /** The cluster's own required client plugins, exact name@version (published on main too). */
  readonly clientPlugins: readonly string[];
  readonly log: Logger;
  /** Tells the cluster's client agents the client plugins (every poll, so late agents learn them). */
  readonly tellClients?: (set: ClientPluginSet) => Promise<void>;
  /**
   * Tells the cluster's zone-AI replicas the server plugins (every poll) and answers their refusals: none
   * when every replica runs the set.
   */
  readonly tellServers?: (set: ServerPluginSet) => Promise<readonly ServerRefusal[]>;
  /** Linked peers asked for a file (by SHA-256 and size) before main (peer-files.ts). */
  readonly peers?: { fetch(sha256: string, size: number): Promise<Uint8Array | undefined> };
}

/** The server plugins every zone-AI replica of the cluster must run. */
export interface ServerPluginSet {
  readonly push: number;
  readonly servers: readonly PluginPinRef[];
}

/** A zone-AI replica that refused a server set: which, the package or stage, and why. */
export interface ServerRefusal {
  readonly replica: number;
  readonly package?: string | undefined;
  readonly refusal?: string | undefined;
  readonly error: string;
}

type Refusals = PluginReport["refusals"];

export class PluginSync {
  /** The set running: main's push it came with, the servers' plugins, the clients' (resolved). */
  running: AssignedPlugins = { push: 0, servers: [], clients: [] };
  /** What the last set tried was refused for (none when it went in). */
  refusals: Refusals = [];
  private readonly verified = new Map<string, VerifiedPlugin>();
  /** The files of every package verified, by SHA-256: what linked peers may ask for. */
  private readonly files = new Map<string, Uint8Array>();
  private applied = false;
  private refusedPush = -1;
  private reportDue = false;
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private stopped = false;

  constructor(private readonly options: PluginSyncOptions) {}

  start(): void {
    const tick = () => {
      if (this.stopped || this.polling) return;
      this.polling = this.poll()
        .catch((error: unknown) =>
          this.options.log.warn({ err: (error as Error).message }, "plugin set: main did not answer"),
        )
        .finally(() => {
          this.polling = undefined;
        });
    };
    tick();
    this.timer = setInterval(tick, this.options.pollMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.polling;
  }

  /** One round: ask main, apply a new set, report, tell the agents. */
  async poll(): Promise<void> {
    const assigned = await this.options.main.assignedPlugins();
    if (!this.applied || (assigned.push !== this.running.push && assigned.push !== this.refusedPush)) {
      await this.apply(assigned);
    }
    if (this.reportDue) {
      await this.options.main.reportPlugins({ ...this.running, refusals: this.refusals });
      this.reportDue = false;
    }
    await this.options.tellClients?.({ push: this.running.push, required: this.running.clients });
    const late = await this.options.tellServers?.({ push: this.running.push, servers: this.running.servers });
    for (const refusal of late ?? []) {
      this.options.log.warn(
        { push: this.running.push, replica: refusal.replica, err: refusal.error },
        "a zone-AI replica does not run the cluster's plugin set",
      );
    }
  }

  /** A verified package this cluster holds, by id: its signed manifest and files (for zone AI). */
  package(id: string): VerifiedPlugin | undefined {
    return this.verified.get(id);
  }

  private async apply(assigned: AssignedPlugins): Promise<void> {
    const { log } = this.options;
    try {
      const trust = await readTrustList(this.options.trustFile);
      const own = this.options.clientPlugins.map(parseLabel);
      const servers = await this.obtain(assigned.servers, "server", trust);
      const clients = await this.obtain([...assigned.clients, ...own], "client", trust);
      const available: AvailablePlugin[] = [...servers, ...clients].map(({ manifest, id }) => ({
        name: manifest.name,
        version: manifest.version,
        edge: manifest.edge,
        dependencies: manifest.dependencies,
        id,
      }));
      const resolved = resolveCluster(
        [
          { by: "main", servers: exact(assigned.servers), clients: exact(assigned.clients) },
          { by: `cluster ${this.options.cluster}`, servers: {}, clients: exact(own) },
        ],
        available,
      );
      if (!resolved.ok) {
        throw new PackageRefused(
          "unsatisfiable",
          `the plugin set of push ${assigned.push}`,
          resolved.message,
        );
      }
      for (const plugin of [...servers, ...clients]) await this.install(plugin);
      const pinned = (pins: readonly { name: string; version: string; id?: string }[]) =>
        pins.map((pin) => ({ name: pin.name, version: pin.version, id: pin.id ?? "" }));
      // zone AI runs it, or the set is refused (and the replicas that took it go back to the previous one)
      const refused = await this.options.tellServers?.({
        push: assigned.push,
        servers: pinned(resolved.servers),
      });
      if (refused !== undefined && refused.length > 0) {
        const [first] = refused;
        await this.options.tellServers?.({ push: this.running.push, servers: this.running.servers });
        throw new ServersRefused(
          first!.refusal ?? "refused",
          first!.package ?? `the plugin set of push ${assigned.push}`,
          `zone-AI replica ${first!.replica} refused it: ${first!.error}`,
          // a replica restarting or silent, not refusing: the set is tried again at the next poll
          refused.every((refusal) => refusal.refusal === "unavailable"),
        );
      }
      this.running = {
        push: assigned.push,
        servers: pinned(resolved.servers),
        clients: pinned(resolved.hello.required),
      };
      this.refusals = [];
      this.applied = true;
      this.reportDue = true;
      log.info(
        {
          push: assigned.push,
          servers: this.running.servers.map(labelOf),
          clients: this.running.clients.map(labelOf),
        },
        "plugin set running",
      );
    } catch (error) {
      if (error instanceof ServersRefused && error.retry) {
        this.refusals = [{ package: error.subject, refusal: error.refusal, detail: error.detail }];
        this.reportDue = true;
        log.warn(
          { push: assigned.push, err: error.message },
          "plugin set not taken by zone AI yet; trying again",
        );
        return;
      }
      if (error instanceof PackageRefused || error instanceof ServersRefused) {
        this.refusals = [{ package: error.subject, refusal: error.refusal, detail: error.detail }];
        this.refusedPush = assigned.push;
        this.applied = true;
        this.reportDue = true;
        log.warn({ push: assigned.push, err: error.message }, "plugin set refused; the previous set runs on");
        return;
      }
      if (error instanceof Unavailable) {
        this.refusals = [{ package: error.subject, refusal: "unavailable", detail: error.message }];
        this.reportDue = true;
        log.warn({ push: assigned.push, err: error.message }, "plugin set not fetched; trying again");
        return;
      }
      throw error;
    }
  }

  /** The verified packages of some pins: held ones, or fetched from main and verified for `side`. */
  private async obtain(
    pins: readonly { name: string; version: string; id?: string }[],
    side: "server" | "client",
    trust: TrustList,
  ): Promise<VerifiedPlugin[]> {
    const out: VerifiedPlugin[] = [];
    for (const pin of pins) {
      const held = pin.id === undefined ? undefined : this.verified.get(pin.id);
      // what the cluster holds is not fetched again, but verified again against the list as it is now
      const content: PackageContent = held ? heldContent(held) : await this.fetch(pin);
      const [plugin] = await verifyPlugins([content], { trust, side });
      if (pin.id !== undefined && plugin!.id !== pin.id) {
        throw new PackageRefused(
          "tampered",
          subjectOf(plugin!.manifest),
          `main serves a manifest whose id is ${plugin!.id}, but it pushed ${pin.id}`,
        );
      }
      this.verified.set(plugin!.id, plugin!);
      for (const entry of plugin!.manifest.files)
        this.files.set(entry.sha256, plugin!.files.get(entry.path)!);
      out.push(plugin!);
    }
    return out;
  }

  /** A verified file this cluster holds, by SHA-256. */
  file(sha256: string): Uint8Array | undefined {
    return this.files.get(sha256);
  }

  /** The package from main: its manifest, and each file from a linked peer that holds it, else from main. */
  private async fetch(pin: { name: string; version: string }): Promise<PackageContent> {
    let content: PackageContent;
    try {
      content = await fetchPackage(this.options.main.url, pin.name, pin.version);
    } catch (error) {
      throw new Unavailable(`plugin ${pin.name}@${pin.version}`, (error as Error).message);
    }
    const peers = this.options.peers;
    if (peers === undefined) return content;
    const entries = new Map<string, { sha256: string; size: number }>();
    try {
      for (const file of parseSignedManifest(content.signed, content.origin).manifest.files) {
        entries.set(file.path, file);
      }
    } catch {
      return content; // not a manifest: verification says so
    }
    return {
      ...content,
      read: async (path) => {
        const entry = entries.get(path);
        const fromPeer = entry === undefined ? undefined : await peers.fetch(entry.sha256, entry.size);
        return fromPeer ?? content.read(path);
      },
    };
  }

  /** Writes a verified package's files under `dir/<id>/` (what the cluster's services load from). */
  private async install(plugin: VerifiedPlugin): Promise<void> {
    const root = join(this.options.dir, plugin.id);
    for (const [path, bytes] of plugin.files) {
      const file = join(root, ...path.split("/"));
      await mkdir(dirname(file), { recursive: true });
      await writeFile(file, bytes);
    }
    await writeFile(
      join(root, "manifest.json"),
      `${JSON.stringify({ manifest: plugin.manifest, signature: plugin.signature }, null, 2)}\n`,
    );
  }
}

/** A set zone AI would not run (a package a replica refused, a start hook or migration that threw). */
class ServersRefused extends Error {
  constructor(
    readonly refusal: string,
    readonly subject: string,
    readonly detail: string,
    /** Only replicas that could not take it now (restarting, silent): tried again at the next poll. */
    readonly retry = false,
  ) {
    super(`${subject} refused (${refusal}): ${detail}`);
  }
}

/** main could not serve a package (not a refusal: tried again at the next poll). */
class Unavailable extends Error {
  constructor(
    readonly subject: string,
    detail: string,
  ) {
    super(`${subject} could not be fetched from main: ${detail}`);
  }
}

function heldContent(held: VerifiedPlugin): PackageContent {
  return {
    origin: "the cluster's copy",
    signed: { manifest: held.manifest, signature: held.signature },
    read: async (path) => held.files.get(path),
  };
}

function parseLabel(label: string): { name: string; version: string } {
  const at = label.lastIndexOf("@");
  if (at <= 0) throw new Error(`CLIENT_PLUGINS: "${label}" is not name@version`);
  return { name: label.slice(0, at), version: label.slice(at + 1) };
}

function exact(pins: readonly { name: string; version: string }[]): Ranges {
  return Object.fromEntries(pins.map((pin) => [pin.name, pin.version]));
}

function labelOf(pin: { name: string; version: string }): string {
  return `${pin.name}@${pin.version}`;
}

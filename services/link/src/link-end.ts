/**
 * Starts a link end: registers the cluster with main (signed with its key, retrying until main answers),
 * opens its UDP socket, and runs a LinkNode (libs/federation) over it every few milliseconds: heartbeats
 * to main, the links main assigns, their messages. Serves /healthz and /metrics (state, RTT and loss per
 * link). What rides on the links (shared objects) attaches through `onMessage` and `sendTo`.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LinkNode, type LinkVia, MainClient, MainError, signingKeyFromSeed } from "@overworld/federation";
import { legacyHash, loadDcFiles, messages, netcode } from "@overworld/protocol";
import {
  Closers,
  createLogger,
  joinCluster,
  type Logger,
  type Participant,
  serve,
  startOpsServer,
} from "@overworld/service";
import type { DestinationStream } from "pino";
import { Registry } from "prom-client";
import { instanceIdOf, type LinkConfig } from "./config.ts";
import { createLinkMetrics } from "./metrics.ts";
import { PeerFiles } from "./peer-files.ts";
import { LinkPluginMessages } from "./plugin-messages.ts";
import { PluginSync, type ServerRefusal } from "./plugin-sync.ts";
import { SharedObjects } from "./shared-objects.ts";

export const SERVICE = "link";
/** How often the link node runs (handshakes, keep-alives, acks and resends between flushes). */
const TICK_MS = 5;
const REGISTER_RETRY_MS = 1000;
/** How long the client agents have to acknowledge a plugin set told to them. */
const TELL_TIMEOUT_MS = 1000;
/** NATS's largest message when the server does not say (its default, 1 MiB). */
const DEFAULT_MAX_PAYLOAD = 1 << 20;
/** Room for the reply's envelope beside a package's bytes. */
const PACKAGE_REPLY_SLACK = 16 * 1024;
/** How long zone-AI replicas have to take a plugin set (fetch, verify, start, migrate) and answer. */
const SET_TIMEOUT_MS = 30_000;

export type MessageListener = (peer: string, bytes: Uint8Array, channel: "reliable" | "unreliable") => void;
export type LinkListener = (peer: string, up: boolean, detail: string) => void;

export interface LinkEndHandle {
  readonly instanceId: string;
  readonly node: LinkNode;
  /** The UDP socket's local address. */
  readonly udpAddress: netcode.NetcodeAddress;
  /** The /healthz and /metrics port. */
  readonly httpPort: number;
  readonly log: Logger;
  readonly metrics: Registry;
  /** The shared objects it reflects (when SHARED_ZONES is set). */
  readonly shared: SharedObjects | undefined;
  /** The plugin sets main pushes (when PLUGIN_TRUST_FILE is set). */
  readonly plugins: PluginSync | undefined;
  /** Package files asked of and served to linked peers (with `plugins`). */
  readonly peerFiles: PeerFiles | undefined;
  /** Plugin messages to and from linked clusters and main (whenever the link end joins its cluster). */
  readonly pluginMessages: LinkPluginMessages | undefined;
  onMessage(listener: MessageListener): void;
  onLink(listener: LinkListener): void;
  sendTo(peer: string, bytes: Uint8Array, channel?: "reliable" | "unreliable"): boolean;
  stop(): Promise<void>;
}

export interface LinkEndOptions {
  /** Overrides the instance's load as told to main (0 … 1). */
  readonly load?: () => number;
  /** Where the log goes (stdout by default): tests read it. */
  readonly logDestination?: DestinationStream;
}

export async function startLinkEnd(config: LinkConfig, options: LinkEndOptions = {}): Promise<LinkEndHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL, options.logDestination).child({
    cluster: config.CLUSTER_NAME,
  });
  const closers = new Closers();
  try {
    const key = signingKeyFromSeed(config.CLUSTER_SEED);
    if (config.SIGNALING_KEY === undefined) {
      log.warn(
        { url: config.SIGNALING_URL },
        "SIGNALING_KEY unset: trusting the key main states at first contact",
      );
    }
    const main = await until(log, "main's identity", () =>
      MainClient.connect(config.SIGNALING_URL, config.CLUSTER_NAME, key, config.SIGNALING_KEY),
    );
    const identity = await until(log, "main's identity", () => main.identity());
    const mainHost = await hostOf(config.SIGNALING_URL);
    const rendezvous = config.SIGNALING_UDP ?? reachable(netcode.parseAddress(identity.rendezvous), mainHost);
    await until(log, "registration with main", () =>
      main.register({ plugins: config.PLUGINS, tags: config.CLUSTER_TAGS }),
    );
    log.info(
      { main: identity.name, rendezvous: rendezvous.key, plugins: config.PLUGINS, tags: config.CLUSTER_TAGS },
      "registered with main",
    );

    const registry = new Registry();
    let node: LinkNode | undefined;
    const metrics = createLinkMetrics(registry, () => node);
    const messageListeners: MessageListener[] = [];
    const linkListeners: LinkListener[] = [];
    const udp = await netcode.openUdpEndpoint({
      host: config.LINK_UDP_HOST,
      port: config.LINK_UDP_PORT,
      onDatagram: (bytes, from) => node?.receive(bytes, from),
    });
    let udpOpen = true;
    closers.push(() => {
      udpOpen = false;
      return udp.close();
    });
    node = new LinkNode({
      cluster: config.CLUSTER_NAME,
      instance: instanceId,
      key,
      keys: main.keys,
      rendezvous,
      send: (bytes, to) => {
        if (udpOpen) udp.send(bytes, to);
      },
      requestToken: async (peer) => (await main.linkToken(peer)).token,
      log,
      heartbeatMs: config.HEARTBEAT_MS,
      punchTimeoutMs: config.PUNCH_TIMEOUT_MS,
      reachRelay: (stated) => reachable(stated, mainHost),
      ...(options.load ? { load: options.load } : {}),
      onMessage: (peer, bytes, channel) => {
        for (const listener of messageListeners) listener(peer, bytes, channel);
      },
      onLinkUp: (peer, via: LinkVia) => {
        metrics.ups.inc({ peer, via });
        for (const listener of linkListeners) listener(peer, true, via);
      },
      onLinkDown: (peer, reason) => {
        metrics.downs.inc({ peer });
        for (const listener of linkListeners) listener(peer, false, reason);
      },
      onRefused: (reason) => metrics.refusals.inc({ reason }),
    });
    const linkNode = node;
    let shared: SharedObjects | undefined;
    let plugins: PluginSync | undefined;
    let peerFiles: PeerFiles | undefined;
    let participantOf: Participant | undefined;
    let pluginMessages: LinkPluginMessages | undefined;
    const dc = config.DC_FILES === undefined ? undefined : loadDcFiles(config.DC_FILES);
    if (config.SHARED_ZONES.length > 0 || config.PLUGIN_TRUST_FILE !== undefined || config.PLUGIN_MESSAGES) {
      const participant = await joinCluster({
        natsUrl: config.NATS_URL,
        credentials: config.NATS_CREDS,
        role: "link",
        instanceId,
        version: config.CLUSTER_VERSION!,
        schemaHash: legacyHash(dc!),
        root: config.SUBJECT_ROOT,
        log,
      });
      closers.push(() => participant.leave());
      participantOf = participant;
      const relay = new LinkPluginMessages({
        participant,
        sendTo: (peer, bytes) => linkNode.sendTo(peer, bytes),
        upPeers: () => linkNode.upPeers(),
        main,
        pollMs: config.PLUGIN_MESSAGE_POLL_MS,
        log,
      });
      relay.start();
      closers.push(async () => relay.stop());
      messageListeners.push((peer, bytes) => relay.receive(peer, bytes));
      pluginMessages = relay;
      if (config.PLUGIN_TRUST_FILE !== undefined) {
        const sync = new PluginSync({
          main,
          cluster: config.CLUSTER_NAME,
          trustFile: config.PLUGIN_TRUST_FILE,
          dir: config.PLUGIN_DIR ?? join(tmpdir(), `overworld-plugins-${config.CLUSTER_NAME}`),
          pollMs: config.PLUGIN_POLL_MS,
          clientPlugins: config.CLIENT_PLUGINS,
          log,
          peers: {
            fetch: (sha256, size) => peerFiles?.fetch(sha256, size) ?? Promise.resolve(undefined),
          },
          tellServers: async (set) => {
            const replicas = await participant.members("zone-ai");
            if (replicas.length === 0) return [];
            const replies = await participant.gather(
              "zai",
              "plugin-set",
              { push: set.push, servers: set.servers.map((pin) => ({ ...pin })) },
              replicas.length,
              SET_TIMEOUT_MS,
            );
            const refusals: ServerRefusal[] = replies
              .filter((reply) => !reply.applied)
              .map((reply) => ({
                replica: reply.replica,
                package: reply.package,
                refusal: reply.refusal,
                error: reply.error ?? "refused",
              }));
            const answered = new Set(replies.map((reply) => reply.replica));
            for (const replica of replicas) {
              if (!answered.has(replica.channel)) {
                refusals.push({
                  replica: replica.channel,
                  refusal: "unavailable",
                  error: `it did not answer within ${SET_TIMEOUT_MS} ms`,
                });
              }
            }
            return refusals;
          },
          tellClients: async (set) => {
            const agents = await participant.members("client-agent");
            await participant.gather(
              "ca",
              "plugins",
              { push: set.push, required: set.required.map((pin) => ({ ...pin })) },
              agents.length,
              TELL_TIMEOUT_MS,
            );
          },
        });
        const files = new PeerFiles({
          sendTo: (peer, bytes) => linkNode.sendTo(peer, bytes),
          upPeers: () => linkNode.upPeers(),
          held: (sha256) => sync.file(sha256),
          log,
        });
        peerFiles = files;
        messageListeners.push((peer, bytes) => files.receive(peer, bytes));
        const packages = serve(
          participant.nc,
          participant.subjects.served("lk", "plugin-package"),
          messages.LINK_OPS["plugin-package"].request,
          async ({ id }) => {
            const held = sync.package(id);
            if (held === undefined) {
              throw new messages.RequestError(
                "not_found",
                `this link end holds no verified package ${id}: it serves those of the cluster's plugin set`,
              );
            }
            const signed = JSON.stringify({ manifest: held.manifest, signature: held.signature });
            const files = [...held.files].map(([path, data]) => ({ path, data }));
            // the answer is one NATS message: what does not fit is refused by name, not lost in transit
            const size =
              signed.length + files.reduce((sum, file) => sum + file.path.length + file.data.length, 0);
            const limit = participant.nc.info?.max_payload ?? DEFAULT_MAX_PAYLOAD;
            if (size + PACKAGE_REPLY_SLACK > limit) {
              throw new messages.RequestError(
                "forbidden",
                `package ${held.manifest.name}@${held.manifest.version} is ${size} bytes, more than one NATS message carries here (max_payload ${limit}): raise the NATS server's max_payload, or split the plugin's assets into an asset package`,
              );
            }
            return { signed, files };
          },
          { queue: participant.subjects.queue("lk"), log },
        );
        closers.push(async () => packages.unsubscribe());
        const running = serve(
          participant.nc,
          participant.subjects.served("lk", "plugin-set"),
          messages.LINK_OPS["plugin-set"].request,
          async () => ({
            push: sync.running.push,
            servers: sync.running.servers.map((pin) => ({ ...pin })),
          }),
          { queue: participant.subjects.queue("lk"), log },
        );
        closers.push(async () => running.unsubscribe());
        sync.start();
        closers.push(() => sync.stop());
        plugins = sync;
      }
    }
    if (config.SHARED_ZONES.length > 0) {
      const objects = new SharedObjects({
        cluster: config.CLUSTER_NAME,
        participant: participantOf!,
        dc: dc!,
        locations: config.SHARED_ZONES,
        log,
        sendTo: (peer, bytes) => linkNode.sendTo(peer, bytes),
        upPeers: () => linkNode.upPeers(),
        counters: { slots: metrics.slots },
      });
      await objects.start();
      closers.push(async () => objects.stop());
      messageListeners.push((peer, bytes) => objects.receive(peer, bytes));
      linkListeners.push((peer, up) => {
        if (up) objects.linkUp(peer);
      });
      shared = objects;
      log.info({ zones: config.SHARED_ZONES, root: config.SUBJECT_ROOT }, "reflecting shared objects");
    }
    const timer = setInterval(() => linkNode.update(), TICK_MS);
    closers.push(async () => {
      clearInterval(timer);
      linkNode.close();
    });
    const ops = await startOpsServer({
      service: SERVICE,
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      metrics: registry,
      checks: { key: () => !linkNode.revoked },
      details: () => ({
        cluster: config.CLUSTER_NAME,
        observed: linkNode.observed,
        mainAnsweredMsAgo: linkNode.mainAnsweredAt === 0 ? null : Date.now() - linkNode.mainAnsweredAt,
        links: linkNode.status().map(({ stats: _stats, ...link }) => link),
      }),
    });
    closers.push(() => ops.close());
    log.info({ udp: udp.address.key, http: ops.port }, "link end ready");

    let stopping: Promise<void> | undefined;
    return {
      instanceId,
      node: linkNode,
      udpAddress: udp.address,
      httpPort: ops.port,
      log,
      metrics: registry,
      shared,
      plugins,
      peerFiles,
      pluginMessages,
      onMessage: (listener) => messageListeners.push(listener),
      onLink: (listener) => linkListeners.push(listener),
      sendTo: (peer, bytes, channel) => linkNode.sendTo(peer, bytes, channel),
      stop: () => {
        stopping ??= (async () => {
          log.info("link end stopping");
          await closers.closeAll();
        })();
        return stopping;
      },
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/** An address main states, with main's host when it states one nobody can reach (0.0.0.0). */
function reachable(stated: netcode.NetcodeAddress, mainHost: string): netcode.NetcodeAddress {
  const unspecified = stated.key.startsWith("0.0.0.0:") || stated.key.startsWith("[::]:");
  return unspecified ? netcode.addressFromHostPort(mainHost, stated.port) : stated;
}

/** The IP address of main's host (its URL may name it: `http://signaling:8080` in docker compose). */
async function hostOf(url: string): Promise<string> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, "");
  if (isIP(host)) return host;
  return (await lookup(host, { family: 4 })).address;
}

/** Retries a call to main until it answers; a refusal (4xx) is final. */
async function until<T>(log: Logger, what: string, attempt: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries++) {
    try {
      return await attempt();
    } catch (error) {
      if (error instanceof MainError && error.status >= 400 && error.status < 500) throw error;
      if (tries % 10 === 1) log.warn({ err: (error as Error).message, tries }, `waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, REGISTER_RETRY_MS));
    }
  }
}

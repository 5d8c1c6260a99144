/**
 * The client agent: one UDP socket, a netcode.io server over it, a ClientSession per connected client, a
 * tick that drives them all, and membership of the cluster (role `client-agent`) through the message
 * director. `startClientAgent(config)` is what main.ts runs and what tests run in-process.
 *
 * Every datagram first passes the per-address token bucket (before any cryptography); then the netcode
 * server authenticates it; payloads of connected clients go to their session. Browsers connect over
 * WebSocket instead (websocket.ts, when WS_PORT is set): the same connect tokens, checked by the same
 * netcode server and spent there, the same per-address budget, and the same ClientSession, over a
 * StreamLink instead of the reliable layer (session-link.ts). Sessions are numbered by their netcode slot
 * (below 65536) or, over WebSocket, from 65536 up.
 *
 * Sessions are counted over the cluster in Redis (session-limits.ts): a session is admitted once it has
 * its channel, and its hello is answered only then. An address at MAX_SESSIONS_PER_ADDRESS is refused
 * (1). An account over MAX_SESSIONS_PER_ACCOUNT has its oldest sessions ended: the agent that admitted
 * the newest publishes `end-sessions` to the account's subject `<root>.a.<accountId>`, to which every agent
 * holding a session of the account listens, and the agent holding each named session ejects it (100).
 *
 * Each session gets a participant channel of its own from the director (`nextChannel()`); the agent
 * subscribes to `<root>.c.<channel>` for it, so that the objects it owns reach it. Session objects (see
 * `addSessionObject`) are deleted through the state server when the client goes, and each is registered
 * with the director as a post-remove of this agent (an `ss.delete`), so that a crashed agent leaves no
 * ghost avatars; the post-removes are rewritten when a session object goes cleanly.
 *
 * Game logic meets clients through two notices and the client's channel: once a client has said hello
 * and has its channel, the agent publishes `client-arrived` (to the `game` queue group: one zone-AI
 * replica gives it an avatar, owned by that channel, and declares it a session object with an
 * `add-session-object` control message to the channel); `client-left` follows when it goes.
 */

import { isUpdateFrame, legacyHash, messages, netcode } from "@overworld/protocol";
import { AgentMessageType, dcFieldSizer, EjectCode, PluginEdge } from "@overworld/protocol/client";
import {
  addressKey,
  Closers,
  connectRedis,
  createLogger,
  decodeLoginUserData,
  FORWARDER_DEFAULTS,
  joinCluster,
  type Logger,
  loadClusterModel,
  type OpsServer,
  type Participant,
  parseMessage,
  publish,
  startOpsServer,
  UpdateForwarder,
} from "@overworld/service";
import { Counter, Gauge, Registry } from "prom-client";
import type { WebSocket } from "ws";
import { AgentAssets } from "./assets.ts";
import { type ClientAgentConfig, instanceIdOf } from "./config.ts";
import { HeldFrames } from "./held-frames.ts";
import { type InterestPort, LocationSubscriptions } from "./interest.ts";
import { serveOperators } from "./operators.ts";
import {
  type OutgoingPluginMessage,
  type PluginDeliverer,
  pluginErrorCode,
  servePluginDeliveries,
} from "./plugin-messages.ts";
import { ClientPlugins, servePlugins } from "./plugins.ts";
import { AddressRateLimiter } from "./rate-limit.ts";
import type { OutgoingCall } from "./requests.ts";
import { withSchemaModule } from "./schema-module.ts";
import { type ClientPluginSet, ClientSession, fieldRulesOf, type SessionRules } from "./session.ts";
import { type Admission, type SessionIdentity, SessionLimits } from "./session-limits.ts";
import { ReliableLink, type SessionLink, StreamLink } from "./session-link.ts";
import { deleteUntilAnswered, type SessionPort, SessionPostRemoves } from "./session-objects.ts";
import { bytesOf, listenWebSocket, type WebSocketListener } from "./websocket.ts";

const SERVICE = "client-agent";
const MS_PER_SECOND = 1000;
/** How long a gone client's channel still hears control messages (see `release`). */
const LATE_CONTROL_GRACE_MS = 10_000;
/** How long a zone query may take before the interest fails. */
const QUERY_TIMEOUT_MS = 5000;
/** Bytes waiting unsent at a WebSocket past which its state messages count as lost (session-link.ts). */
const STATE_BACKLOG_BYTES = 256 * 1024;
/** The WebSocket close code when the agent ends a session (the EJECT before it says why, if ejected). */
const CLOSE_NORMAL = 1000;
const CLOSE_GOING_AWAY = 1001;
/** How long the agent waits for the state server to acknowledge a batch of client updates before sending it again. */
const UPDATES_ACK_TIMEOUT_MS = 1000;
/** At stop, how long the agent waits for its clients' last updates to be acknowledged. */
const DRAIN_MS = 3000;

export interface ClientAgentHandle {
  readonly log: Logger;
  /** The address the UDP socket is bound to. */
  readonly udpAddress: netcode.NetcodeAddress;
  /** The address written in connect tokens. */
  readonly publicAddress: netcode.NetcodeAddress;
  /** The players' WebSocket listener (`ws://` or `wss://` host:port), when WS_PORT is set. */
  readonly webSocketUrl: string | undefined;
  readonly httpPort: number;
  readonly schemaHash: number;
  /** The agent's participant channel (a new one if it had to join the cluster again). */
  readonly channel: number;
  /** Connected clients (netcode slots in use, and WebSocket sessions). */
  readonly connectedClients: number;
  /** Datagrams received, before the rate limit. */
  readonly datagramsReceived: number;
  /** Datagrams dropped by the rate limit, and WebSocket upgrades refused and frames held back by it. */
  readonly rateLimited: number;
  /** Open location subscriptions (one per subject, shared by the clients). */
  readonly locationSubscriptions: number;
  /** The participant channel of the connected client of that account, once it has one. */
  clientChannel(accountId: number): number | undefined;
  /**
   * Declares a session object of the client on that channel: deleted when the client goes; its deletion
   * by anyone else ejects the client (153). Resolves once the director holds its post-remove.
   */
  addSessionObject(clientChannel: number, doId: number): Promise<void>;
  /** The assets it swarms (ASSETS_DIR), with what its seeds sent. */
  readonly assets: AgentAssets | undefined;
  stop(): Promise<void>;
}

function createMetrics(registry: Registry) {
  const registers = [registry];
  return {
    clients: new Gauge({ name: "ow_client_agent_clients", help: "Connected clients", registers }),
    datagrams: new Counter({
      name: "ow_client_agent_datagrams_total",
      help: "Datagrams received, each counted once by outcome (accepted, rate_limited, or the netcode drop reason)",
      labelNames: ["outcome"] as const,
      registers,
    }),
    /** What the agent puts on the wire to players: for load tests (datagrams/s against loopback UDP's ceiling). */
    datagramsSent: new Counter({
      name: "ow_client_agent_datagrams_sent_total",
      help: "Datagrams sent to clients (every netcode packet: payloads, keep-alives, challenges, disconnects)",
      registers,
    }),
    bytesSent: new Counter({
      name: "ow_client_agent_sent_bytes_total",
      help: "UDP payload bytes sent to clients: whole netcode packets (header, encrypted payload, MAC), not IP/UDP headers",
      registers,
    }),
    bytesReceived: new Counter({
      name: "ow_client_agent_received_bytes_total",
      help: "UDP payload bytes received, before the rate limit (every datagram, accepted or not)",
      registers,
    }),
    webSocketRequests: new Counter({
      name: "ow_client_agent_websocket_requests_total",
      help: "WebSocket connection requests (the first frame: a connect token), by outcome (accepted, or the netcode reason it was refused)",
      labelNames: ["outcome"] as const,
      registers,
    }),
    webSocketFrames: new Counter({
      name: "ow_client_agent_websocket_frames_total",
      help: "WebSocket frames of sessions, by direction (in: from clients, before the rate limit; out: to clients)",
      labelNames: ["direction"] as const,
      registers,
    }),
    webSocketBytes: new Counter({
      name: "ow_client_agent_websocket_bytes_total",
      help: "Payload bytes of WebSocket frames of sessions, by direction",
      labelNames: ["direction"] as const,
      registers,
    }),
    sessionPacketsDropped: new Counter({
      name: "ow_client_agent_session_packets_dropped_total",
      help: "Payloads of connected clients (authenticated, decrypted) that the reliable layer refused, by reason; the session goes on",
      labelNames: ["reason"] as const,
      registers,
    }),
    rateLimitAddresses: new Gauge({
      name: "ow_client_agent_rate_limit_addresses",
      help: "Source addresses the datagram rate limit remembers (bounded; the one seen longest ago is forgotten first)",
      registers,
    }),
    ejections: new Counter({
      name: "ow_client_agent_ejections_total",
      help: "Clients ejected, by Astron code",
      labelNames: ["code"] as const,
      registers,
    }),
    pluginMessages: new Counter({
      name: "ow_client_agent_plugin_messages_total",
      help: "Clients' plugin messages by outcome: accepted (then passed on) or refused at the agent (not_in_set, too_large, rate_limited), and refused further on (no_handler, unavailable, refused)",
      labelNames: ["outcome"] as const,
      registers,
    }),
    pluginDeliveries: new Counter({
      name: "ow_client_agent_plugin_deliveries_total",
      help: "Plugin messages sent to clients, by where they came from (server, main)",
      labelNames: ["from"] as const,
      registers,
    }),
  };
}

/** What the update forwarder holds and has had to do, read when /metrics is scraped. */
function forwarderMetrics(registry: Registry, forwarder: UpdateForwarder): void {
  const registers = [registry];
  new Gauge({
    name: "ow_client_agent_updates_held",
    help: "Clients' accepted updates held until a state server acknowledges them",
    registers,
    collect() {
      this.set(forwarder.held);
    },
  });
  for (const [name, key, help] of [
    [
      "ow_client_agent_update_batches_resent_total",
      "resent",
      "Batches of client updates sent again after no answer",
    ],
    [
      "ow_client_agent_updates_dropped_total",
      "dropped",
      "Client updates dropped: refused outright or given up on (190)",
    ],
    [
      "ow_client_agent_updates_refused_total",
      "refused",
      "Client updates the state server refused one by one",
    ],
  ] as const) {
    let reported = 0;
    new Counter({
      name,
      help,
      registers,
      collect() {
        this.inc(forwarder.counts[key] - reported);
        reported = forwarder.counts[key];
      },
    });
  }
}

/** Starts a client agent; resolves once it is bound, joined and serving /healthz. */
export async function startClientAgent(config: ClientAgentConfig): Promise<ClientAgentHandle> {
  const instanceId = instanceIdOf(config);
  const log = createLogger(SERVICE, instanceId, config.LOG_LEVEL);
  const dc = await withSchemaModule(loadClusterModel(config.DC_FILES), config.SCHEMA_MODULE);
  const schemaHash = legacyHash(dc);
  /** What to close if starting fails half-way, or when it stops. */
  const closers = new Closers();
  try {
    let wire: Wire | undefined;
    const participant: Participant = await joinCluster({
      natsUrl: config.NATS_URL,
      credentials: config.NATS_CREDS,
      role: "client-agent",
      instanceId,
      version: config.CLUSTER_VERSION,
      schemaHash,
      root: config.SUBJECT_ROOT,
      log,
      // declared dead: our post-removes deleted the clients' session objects, and their channels were
      // the old registration's; they connect again to this agent's new registration
      onRejoin: () =>
        wire?.ejectAll(
          EjectCode.SessionObjectDeleted,
          "the client agent was declared dead and joined the cluster again; connect again",
        ),
    });
    closers.push(() => participant.leave());
    const { nc, subjects: names } = participant;
    const redis = await connectRedis(config.REDIS_URL, `${SERVICE}:${instanceId}`);
    closers.push(() => redis.quit());
    const limits = new SessionLimits(
      redis,
      // one hash slot ({ca}) for every session key: the admission script reads agents' leases it finds in
      // the sets, so on a Redis Cluster they must share the sets' slot
      `${config.REDIS_PREFIX}ca:{ca}`,
      participant.channel,
      { perAccount: config.MAX_SESSIONS_PER_ACCOUNT, perAddress: config.MAX_SESSIONS_PER_ADDRESS },
      log,
    );
    await limits.start();
    closers.push(() => limits.stop());

    const registry = new Registry();
    const metrics = createMetrics(registry);
    const plugins = new ClientPlugins();
    let assets: AgentAssets | undefined;
    if (config.ASSETS_DIR !== undefined) {
      if (config.ASSETS_TRUST === undefined) {
        throw new Error(
          "ASSETS_TRUST: required with ASSETS_DIR: the trust list (trusted-mains.json) of the mains whose signed assets this agent swarms",
        );
      }
      assets = await AgentAssets.load({
        dir: config.ASSETS_DIR,
        trustFile: config.ASSETS_TRUST,
        host: config.ASSET_SWARM_HOST ?? config.UDP_HOST,
        publicHost:
          config.ASSET_SWARM_PUBLIC_HOST ??
          config.PUBLIC_ADDRESS.key.replace(/:\d+$/, "").replace(/^\[|\]$/g, ""),
        log,
        serveAll: config.ASSET_SEED_SERVES_ALL === "1",
      });
      const loaded = assets;
      closers.push(() => loaded.close());
    }
    const rules: SessionRules = {
      version: config.CLUSTER_VERSION,
      schemaHash,
      dc,
      sizer: dcFieldSizer(dc),
      fields: fieldRulesOf(dc),
      heartbeatTimeoutMs: config.HEARTBEAT_TIMEOUT_MS,
      maxInterestZones: config.INTEREST_MAX_ZONES,
      // the agent's wall clock stands for the cluster's (hosts run NTP); its error bound is not measured yet
      clock: () => ({ time: Date.now(), errorBound: 0 }),
      plugins: () => plugins.current,
      pluginMessages: {
        burst: config.PLUGIN_MESSAGE_BURST,
        perSecond: config.PLUGIN_MESSAGE_PER_SECOND,
      },
      countPluginMessage: (outcome) => metrics.pluginMessages.inc({ outcome }),
      ...(assets !== undefined ? { assets } : {}),
    };
    const locations = new LocationSubscriptions(
      (subject, deliver, frame) => {
        const subscription = nc.subscribe(subject, {
          callback: (error, msg) => {
            if (error) return;
            try {
              // the zone's field updates come as a binary frame, read in place; the rest as envelopes
              if (isUpdateFrame(msg.data)) {
                if (!frame(msg.data)) throw new Error("a malformed update frame");
              } else deliver(parseMessage(messages.delivery, msg.data));
            } catch (problem) {
              log.warn({ subject, err: problem }, "unreadable delivery dropped");
            }
          },
        });
        return () => subscription.unsubscribe();
      },
      names.location,
      rules.fields.isState,
      dc,
    );
    closers.push(async () => locations.closeAll());
    const port: InterestPort = {
      get tick() {
        return locations.tick;
      },
      subscribe: (parent, zone, sink) => locations.add(parent, zone, sink),
      unsubscribe: (parent, zone, sink) => locations.remove(parent, zone, sink),
      query: async (parent, zones) => {
        const reply = await participant.request(
          "ss",
          "query-zones",
          { parentId: parent, zones: [...zones] },
          QUERY_TIMEOUT_MS,
        );
        return reply.objects;
      },
    };
    const forwarder = new UpdateForwarder(
      {
        send: (batch) => participant.request("ss", "updates", batch, UPDATES_ACK_TIMEOUT_MS),
        giveUp: (channels, reason) =>
          wire?.ejectChannels(channels, EjectCode.UpdatesNotKept, `${reason}: your last moves were not kept`),
        log,
      },
      { ...FORWARDER_DEFAULTS, maxHoldMs: config.UPDATES_HOLD_MS },
    );
    closers.push(async () => forwarder.close());
    forwarderMetrics(registry, forwarder);
    const forward = (groups: messages.UpdateBatch["groups"]) => forwarder.add(groups);
    const postRemoves = new SessionPostRemoves(
      (doIds) => doIds.map((doId) => participant.message("ss", "delete", { doId })),
      participant,
      log,
    );
    const sessionPort: SessionPort & GamePort = {
      openChannel: async (deliver) => {
        const channel = await participant.nextChannel();
        const subject = names.participant(channel);
        const subscription = nc.subscribe(subject, {
          callback: (error, msg) => {
            if (error) return;
            try {
              deliver(parseMessage(messages.clientChannelMessage, msg.data));
            } catch (problem) {
              log.warn({ subject, err: problem }, "unreadable message to a client channel dropped");
            }
          },
        });
        await nc.flush(); // subscribed at the server before anyone learns the channel
        return { channel, close: () => subscription.unsubscribe() };
      },
      deleteObject: (doId) =>
        deleteUntilAnswered(
          doId,
          () => participant.request("ss", "delete", { doId }),
          () => !postRemoves.stopped,
          log,
        ),
      postRemoves,
      arrived: (notice) => participant.publish("game", "client-arrived", notice),
      left: (notice) => participant.publish("game", "client-left", notice),
      call: async (client, call) => {
        await participant.request("ss", "request", { as: client, ...call }, QUERY_TIMEOUT_MS);
      },
      pluginMessage: async (client, accountId, message) => {
        const { plugin, encoding, data } = message;
        if (message.edge === PluginEdge.Server) {
          const from = { kind: "client" as const, client, accountId };
          await participant.request(
            "game",
            "plugin-message",
            { plugin, from, encoding, data },
            QUERY_TIMEOUT_MS,
          );
          return;
        }
        const to = { kind: "main" as const };
        await participant.request(
          "lk",
          "plugin-message",
          { plugin, to, client: { client, accountId }, encoding, data },
          QUERY_TIMEOUT_MS,
        );
      },
    };
    const watched = new Map<number, { sessions: number; unsubscribe(): void }>();
    const accountPort: AccountPort = {
      watch: (accountId) => {
        let watch = watched.get(accountId);
        if (watch === undefined) {
          const subject = names.account(accountId);
          const subscription = nc.subscribe(subject, {
            callback: (error, msg) => {
              if (error) return;
              try {
                wire?.endSessions(parseMessage(messages.endSessions, msg.data));
              } catch (problem) {
                log.warn({ subject, err: problem }, "unreadable message to an account dropped");
              }
            },
          });
          watch = { sessions: 0, unsubscribe: () => subscription.unsubscribe() };
          watched.set(accountId, watch);
        }
        watch.sessions += 1;
        const held = watch;
        return () => {
          held.sessions -= 1;
          if (held.sessions > 0 || watched.get(accountId) !== held) return;
          watched.delete(accountId);
          held.unsubscribe();
        };
      },
      admit: (session) => limits.admit(session),
      release: (client) => limits.release(client),
      endSessions: (message) => publish(nc, names.account(message.accountId), message),
    };
    const running = new Wire(config, rules, log, metrics, port, forward, sessionPort, accountPort, () =>
      locations.sealAll(),
    );
    wire = running;
    const udp = await netcode.openUdpEndpoint({
      host: config.UDP_HOST,
      port: config.UDP_PORT,
      onDatagram: (bytes, from) => running.receive(bytes, from),
    });
    closers.push(() => udp.close());
    const publicAddress =
      config.PUBLIC_ADDRESS.port === 0
        ? netcode.addressFromHostPort(netcode.formatHost(config.PUBLIC_ADDRESS), udp.address.port)
        : config.PUBLIC_ADDRESS;
    running.attach(udp, publicAddress);
    const operators = serveOperators(participant, instanceId, running, log);
    closers.push(async () => {
      for (const subscription of operators) subscription.unsubscribe();
    });
    const pluginService = servePlugins(participant, instanceId, plugins, running, log);
    closers.push(async () => pluginService.unsubscribe());
    const pluginDeliveries = servePluginDeliveries(participant, running, log);
    closers.push(async () => pluginDeliveries.unsubscribe());
    const tick = setInterval(() => running.tick(), MS_PER_SECOND / config.TICK_HZ);
    closers.push(async () => {
      clearInterval(tick);
      postRemoves.stop();
      running.disconnectAll();
      await forwarder.drain(DRAIN_MS); // what clients sent last reaches the state server before the agent goes
    });
    let webSocket: WebSocketListener | undefined;
    if (config.WS_PORT !== undefined) {
      webSocket = await listenWebSocket({
        host: config.WS_HOST,
        port: config.WS_PORT,
        ...(config.WS_TLS === undefined ? {} : { tls: config.WS_TLS }),
        origins: config.WS_ORIGINS,
        log,
        gate: {
          allow: (address, now) => running.allow(address, now),
          full: () => running.connectedClients >= config.MAX_CLIENTS,
          admit: (request, now) => running.admitStreamRequest(request, now),
          accepted: (socket, token, address) => running.connectStream(socket, token, address),
        },
      });
      closers.push(webSocket.close);
    }

    const ops: OpsServer = await startOpsServer({
      service: SERVICE,
      port: config.HTTP_PORT,
      host: config.HTTP_HOST,
      metrics: registry,
      checks: {
        nats: () => !nc.isClosed(),
        redis: () => redis.status === "ready",
        cluster: () => participant.alive,
      },
      details: () => ({
        clients: running.connectedClients,
        udp: udp.address.key,
        ...(webSocket ? { webSocket: webSocket.url } : {}),
      }),
    });
    closers.push(() => ops.close());
    log.info(
      {
        udp: udp.address.key,
        publicAddress: publicAddress.key,
        webSocket: webSocket?.url,
        httpPort: ops.port,
        schemaHash,
      },
      "client agent started",
    );
    let stopping: Promise<void> | undefined;
    return {
      log,
      udpAddress: udp.address,
      publicAddress,
      webSocketUrl: webSocket?.url,
      httpPort: ops.port,
      schemaHash,
      assets,
      get channel() {
        return participant.channel;
      },
      get connectedClients() {
        return running.connectedClients;
      },
      get datagramsReceived() {
        return running.datagramsReceived;
      },
      get rateLimited() {
        return running.rateLimited;
      },
      get locationSubscriptions() {
        return locations.size;
      },
      clientChannel: (accountId) => running.clientChannel(accountId),
      addSessionObject: (clientChannel, doId) => running.addSessionObject(clientChannel, doId),
      stop: () => {
        stopping ??= closers.closeAll().then(() => log.info("client agent stopped"));
        return stopping;
      },
    };
  } catch (error) {
    await closers.closeAll();
    throw error;
  }
}

/**
 * The socket side: datagrams in through the rate limit and the netcode server, WebSocket frames through
 * the same rate limit, sessions, the tick.
 */
class Wire implements PluginDeliverer {
  private server: netcode.NetcodeServer | undefined;
  private udp: netcode.UdpEndpoint | undefined;
  private publicAddress: netcode.NetcodeAddress | undefined;
  private readonly limiter: AddressRateLimiter;
  private readonly sessions = new Map<number, ClientSession>();
  /** The WebSocket of each session that came that way (by session number). */
  private readonly streams = new Map<number, { socket: WebSocket; held: HeldFrames }>();
  private nextStreamIndex = netcode.MAX_CLIENTS_LIMIT;
  /** The open participant-channel subscription of each session (by client index). */
  private readonly channels = new Map<number, () => void>();
  private forwardScheduled = false;
  datagramsReceived = 0;
  /** Per-datagram counts, kept here and added to the metrics once a tick (prom-client costs a datagram ~1 µs). */
  private readonly tally = new Tally();
  /** Sessions whose `client-arrived` went out (so `client-left` follows them). */
  private readonly announced = new Set<ClientSession>();
  /** Where each session connects from (its addressKey), and how many sessions each such address holds. */
  private readonly addresses = new Map<number, string>();
  private readonly sessionsAt = new Map<string, number>();
  /** What each session's next request waits for: its updates sent before it, its requests before it. */
  private readonly lastCalls = new WeakMap<ClientSession, Promise<unknown>>();
  /** Each session's last plugin message passed on: the next goes once it is answered. */
  private readonly lastPluginMessages = new WeakMap<ClientSession, Promise<unknown>>();
  /** Ends each session's watch of its account's subject (by client index). */
  private readonly unwatch = new Map<number, () => void>();

  constructor(
    private readonly config: ClientAgentConfig,
    private readonly rules: SessionRules,
    private readonly log: Logger,
    private readonly metrics: ReturnType<typeof createMetrics>,
    private readonly port: InterestPort,
    /** Resolves once the state server has acknowledged them (or they were given up on). */
    private readonly forward: (groups: messages.UpdateBatch["groups"]) => Promise<boolean>,
    private readonly sessionPort: SessionPort & GamePort,
    private readonly accounts: AccountPort,
    /** Ends the zones' tick: their updates are encoded once, for the sessions to send. */
    private readonly sealZones: () => void,
  ) {
    this.limiter = new AddressRateLimiter(
      { burst: config.RATE_LIMIT_BURST, perSecond: config.RATE_LIMIT_PER_SECOND },
      { burst: config.RATE_LIMIT_SESSION_BURST, perSecond: config.RATE_LIMIT_SESSION_PER_SECOND },
    );
  }

  get connectedClients(): number {
    return (this.server?.connectedClients ?? 0) + this.streams.size;
  }

  get rateLimited(): number {
    return this.limiter.dropped;
  }

  attach(udp: netcode.UdpEndpoint, publicAddress: netcode.NetcodeAddress): void {
    this.udp = udp;
    this.publicAddress = publicAddress;
    this.server = new netcode.NetcodeServer({
      protocolId: this.config.NETCODE_PROTOCOL_ID,
      privateKey: this.config.NETCODE_PRIVATE_KEY,
      publicAddresses: [publicAddress],
      maxClients: this.config.MAX_CLIENTS,
    });
  }

  receive(bytes: Uint8Array, from: netcode.NetcodeAddress): void {
    const server = this.server;
    if (server === undefined) return;
    const now = Date.now();
    this.datagramsReceived += 1;
    this.tally.bytesReceived += bytes.length;
    if (!this.allow(addressKey(from), now)) {
      this.tally.outcome("rate_limited");
      return;
    }
    const events = server.receive(bytes, from, now);
    // a dropped datagram yields one `dropped` event (counted in `handle`); anything else was accepted
    if (!events.some((event) => event.type === "dropped")) this.tally.outcome("accepted");
    this.handle(events, now);
  }

  /** Takes one token of the address's budget (a datagram, a WebSocket upgrade or frame); false: none left. */
  allow(address: string, now: number): boolean {
    return this.limiter.allow(address, now, this.sessionsAt.get(address) ?? 0);
  }

  /** Checks a connection request that came over WebSocket, and spends its token. */
  admitStreamRequest(request: Uint8Array, now: number): netcode.ReadResult<netcode.PrivateConnectToken> {
    const server = this.server;
    if (server === undefined) return { ok: false, reason: "not_connected" };
    const admitted = server.admitStreamRequest(request, now);
    this.metrics.webSocketRequests.inc({ outcome: admitted.ok ? "accepted" : admitted.reason });
    return admitted;
  }

  /** A WebSocket whose connect token passed: a session as a UDP client's, over a StreamLink. */
  connectStream(socket: WebSocket, token: netcode.PrivateConnectToken, address: string): void {
    const index = this.nextStreamIndex++;
    const held = new HeldFrames(
      socket,
      () => this.allow(address, Date.now()),
      (bytes) => this.receiveFrame(index, bytes),
    );
    this.streams.set(index, { socket, held });
    socket.on("message", (data) => {
      const bytes = bytesOf(data);
      this.tally.framesIn += 1;
      this.tally.frameBytesIn += bytes.length;
      held.push(bytes);
    });
    socket.on("close", () => {
      held.close();
      if (this.streams.delete(index)) this.release(index);
    });
    const link = new StreamLink(() => socket.bufferedAmount, STATE_BACKLOG_BYTES);
    this.connect(index, token.userData, address, Date.now(), link);
  }

  tick(): void {
    const server = this.server;
    if (server === undefined) return;
    const now = Date.now();
    try {
      this.handle(server.update(now), now);
      this.sealZones();
      for (const session of [...this.sessions.values()]) this.tickSession(session, now);
      this.forwardUpdates();
      this.metrics.clients.set(this.connectedClients);
      this.metrics.rateLimitAddresses.set(this.limiter.size);
      this.tally.flushTo(this.metrics);
    } catch (error) {
      this.log.error({ err: error }, "tick failed");
    }
  }

  /** Tells every connected client that reads PLUGINS the plugins it must run now; how many were told. */
  tellPlugins(set: ClientPluginSet): number {
    let told = 0;
    const now = Date.now();
    for (const session of this.sessions.values()) {
      if (!session.tellPlugins(set)) continue;
      this.flushSession(session, now);
      told++;
    }
    return told;
  }

  /** What `ca.load` answers: where players reach this agent and how full it is. */
  load(): { publicAddress: string; clients: number; maxClients: number } {
    return {
      publicAddress: this.publicAddress?.key ?? "",
      clients: this.connectedClients,
      maxClients: this.config.MAX_CLIENTS,
    };
  }

  /** Plugin data for clients of this agent (`ca.plugin-deliver`); how many sessions were sent it. */
  deliverPlugins(from: PluginEdge, message: messages.PluginDeliver): number {
    const wanted = message.clients === undefined ? undefined : new Set(message.clients);
    const now = Date.now();
    let delivered = 0;
    for (const session of this.sessions.values()) {
      if (session.channel === undefined) continue;
      if (wanted !== undefined && !wanted.has(session.channel)) continue;
      if (!session.deliverPlugin(from, message.plugin, message.encoding, message.data)) continue;
      this.flushSession(session, now);
      delivered++;
    }
    if (delivered > 0)
      this.metrics.pluginDeliveries.inc({ from: from === PluginEdge.Main ? "main" : "server" }, delivered);
    return delivered;
  }

  /** The sessions that have their channel (all of them, or one account's): what `ca.sessions` answers. */
  sessionsInfo(accountId?: number): messages.SessionInfo[] {
    const out: messages.SessionInfo[] = [];
    for (const session of this.sessions.values()) {
      if (session.channel === undefined || session.state === "closed") continue;
      if (accountId !== undefined && session.accountId !== accountId) continue;
      out.push({
        client: session.channel,
        accountId: session.accountId,
        username: session.username,
        address: this.addresses.get(session.clientIndex) ?? "",
        connectedAt: session.connectedAt,
        objects: [...session.sessionObjects],
      });
    }
    return out;
  }

  clientChannel(accountId: number): number | undefined {
    for (const session of this.sessions.values()) {
      if (session.accountId === accountId && session.state !== "closed") return session.channel;
    }
    return undefined;
  }

  /** An agent admitted a newer session of the account: the sessions named here end (100). */
  endSessions(message: messages.EndSessions): void {
    const now = Date.now();
    for (const session of this.sessions.values()) {
      const channel = session.channel;
      if (session.accountId !== message.accountId || channel === undefined || channel === message.by)
        continue;
      if (!message.clients.includes(channel)) continue;
      session.eject(
        EjectCode.LoggedInElsewhere,
        "this account logged in elsewhere: a newer session replaces this one",
        now,
      );
    }
  }

  async addSessionObject(clientChannel: number, doId: number): Promise<void> {
    const session = [...this.sessions.values()].find((each) => each.channel === clientChannel);
    if (session === undefined || session.state === "closed") {
      throw new Error(`no connected client has channel ${clientChannel}`);
    }
    await this.declareSessionObject(session, doId);
  }

  /** The object goes with the client; resolves once the director holds its post-remove. */
  private declareSessionObject(session: ClientSession, doId: number): Promise<void> {
    session.sessionObjects.add(doId);
    return this.sessionPort.postRemoves.add(doId);
  }

  disconnectAll(): void {
    const server = this.server;
    if (server === undefined) return;
    this.handle(server.disconnectAll(Date.now()), Date.now());
    for (const index of [...this.streams.keys()]) this.drop(index, Date.now(), CLOSE_GOING_AWAY);
  }

  /** Ejects the clients of these channels. */
  ejectChannels(channels: readonly number[], code: number, reason: string): void {
    const now = Date.now();
    const wanted = new Set(channels);
    for (const session of this.sessions.values()) {
      if (session.channel !== undefined && wanted.has(session.channel)) session.eject(code, reason, now);
    }
  }

  /** Ejects every client (e.g. the agent lost its registration, and with it its clients' channels). */
  ejectAll(code: number, reason: string): void {
    const now = Date.now();
    for (const session of this.sessions.values()) session.eject(code, reason, now);
    this.sessionPort.postRemoves.reset();
  }

  /**
   * Client updates go on as soon as the datagrams that arrived together are handled: one batch per turn
   * of the event loop (under load, many datagrams per turn), not one per tick, which would add up to a
   * tick of latency to every update.
   */
  private forwardSoon(): void {
    if (this.forwardScheduled) return;
    this.forwardScheduled = true;
    setImmediate(() => {
      this.forwardScheduled = false;
      this.forwardUpdates();
    });
  }

  private flushSession(session: ClientSession, now: number): void {
    const server = this.server;
    if (server === undefined) return;
    const stream = this.streams.get(session.clientIndex);
    for (const payload of session.flush(now)) {
      if (stream === undefined) {
        this.handle(server.send(session.clientIndex, payload, now), now);
        continue;
      }
      stream.socket.send(payload);
      this.tally.framesOut += 1;
      this.tally.frameBytesOut += payload.length;
    }
  }

  /** Ends a client's connection: netcode's disconnect packets, or the WebSocket's close. */
  private drop(clientIndex: number, now: number, code = CLOSE_NORMAL): void {
    const stream = this.streams.get(clientIndex);
    if (stream === undefined) {
      this.handle(this.server!.disconnect(clientIndex, now), now);
      return;
    }
    this.streams.delete(clientIndex);
    stream.held.close();
    stream.socket.close(code);
    this.release(clientIndex);
  }

  /** A frame of a WebSocket client, within its address's budget. */
  private receiveFrame(clientIndex: number, bytes: Uint8Array): void {
    const session = this.sessions.get(clientIndex);
    if (session === undefined) return;
    this.receiveSessionPayload(session, bytes, Date.now());
  }

  private receiveSessionPayload(session: ClientSession, payload: Uint8Array, now: number): void {
    session.receivePayload(payload, now);
    if (session.outgoing.length > 0) this.forwardSoon();
    if (session.requests.outgoing.length > 0) this.passRequests(session);
    if (session.pluginMessages.outgoing.length > 0) this.passPluginMessages(session);
    if (session.urgent) this.flushSession(session, now);
  }

  /**
   * The client's plugin messages, passed on under its channel and account, one after the other (in the
   * order it sent them); a refusal from the cluster comes back to it as PLUGIN_ERROR.
   */
  private passPluginMessages(session: ClientSession): void {
    const channel = session.channel;
    if (channel === undefined) return;
    let after = this.lastPluginMessages.get(session) ?? Promise.resolve();
    for (const message of session.pluginMessages.outgoing.splice(0)) {
      after = after
        .then(() => this.sessionPort.pluginMessage(channel, session.accountId, message))
        .catch((error: unknown) => {
          if (session.state !== "active") return;
          const code = pluginErrorCode((error as { code?: string }).code);
          this.metrics.pluginMessages.inc({ outcome: code });
          session.send({
            type: AgentMessageType.PluginError,
            edge: message.edge,
            plugin: message.plugin,
            code,
            message: `the plugin message was not delivered: ${(error as Error).message}`,
          });
          this.flushSession(session, Date.now());
        });
    }
    this.lastPluginMessages.set(session, after);
  }

  /**
   * The accepted SET_FIELDs of every client, to the state server as one batch: a group per client,
   * sent for its channel. A client's updates wait for its channel (a few ms after it connects).
   */
  private forwardUpdates(): void {
    const groups: messages.UpdateBatch["groups"] = [];
    const senders: ClientSession[] = [];
    for (const session of this.sessions.values()) {
      if (session.channel === undefined || session.outgoing.length === 0) continue;
      const updates = session.outgoing
        .splice(0)
        .map(({ doId, field, value }) => [doId, field.id, value] as [number, number, Uint8Array]);
      groups.push([session.channel, updates]);
      senders.push(session);
    }
    if (groups.length === 0) return;
    const kept = this.forward(groups);
    for (const session of senders) this.lastCalls.set(session, kept);
  }

  /**
   * The client's calls, each to the state server, which passes it to the object's AI (requests.ts): in
   * order, and after the field updates the client sent before them are kept (so that game logic sees a
   * request after the moves that came before it).
   */
  private passRequests(session: ClientSession): void {
    const channel = session.channel;
    if (channel === undefined) return;
    if (session.outgoing.length > 0) this.forwardUpdates();
    let after: Promise<unknown> = this.lastCalls.get(session) ?? Promise.resolve();
    for (const call of session.requests.outgoing.splice(0)) {
      after = after
        .then(() => this.sessionPort.call(channel, call))
        .catch((error: unknown) => {
          // the state server's refusal (unknown_object, unavailable: no AI, no state server answered, ...)
          const code = (error as { code?: string }).code ?? "unavailable";
          const reason = `the request could not be passed on: ${(error as Error).message}`;
          const answer = session.requests.fail(call.requestId, code, reason);
          if (answer === undefined || session.state !== "active") return;
          session.send(answer);
          this.flushSession(session, Date.now());
        });
    }
    this.lastCalls.set(session, after);
  }

  private tickSession(session: ClientSession, now: number): void {
    session.check(now);
    this.announce(session);
    this.flushSession(session, now);
    if (session.readyToClose(now)) {
      const ejection = session.ejection;
      if (ejection !== null) {
        this.metrics.ejections.inc({ code: String(ejection.code) });
        this.log.info(
          {
            client: session.clientIndex,
            account: session.accountId,
            code: ejection.code,
            reason: ejection.reason,
          },
          "client ejected",
        );
      }
      this.drop(session.clientIndex, now);
    }
  }

  private handle(events: netcode.ServerEvent[], now: number): void {
    for (const event of events) {
      switch (event.type) {
        case "send":
          if (this.udp === undefined) break;
          this.udp.send(event.bytes, event.to);
          this.tally.datagramsSent += 1;
          this.tally.bytesSent += event.bytes.length;
          break;
        case "connected":
          this.connect(
            event.clientIndex,
            event.userData,
            addressKey(event.address),
            now,
            new ReliableLink((reason) => this.tally.sessionDrop(reason)),
          );
          break;
        case "disconnected":
          this.release(event.clientIndex);
          this.log.debug({ client: event.clientIndex, reason: event.reason }, "client disconnected");
          break;
        case "payload": {
          const session = this.sessions.get(event.clientIndex);
          if (session === undefined) break;
          this.receiveSessionPayload(session, event.payload, now);
          break;
        }
        case "dropped":
          this.tally.outcome(event.reason);
          break;
        case "denied":
          break;
      }
    }
  }

  private connect(
    clientIndex: number,
    userData: Uint8Array,
    address: string,
    now: number,
    link: SessionLink,
  ): void {
    let user: { accountId: number; username: string };
    try {
      user = decodeLoginUserData(userData);
    } catch (error) {
      // sealed with our key, so a misconfigured issuer, not an attack: refuse the client, say why in the log
      this.log.warn({ client: clientIndex, err: error }, "connect token user data is unreadable");
      this.drop(clientIndex, now);
      return;
    }
    const session = new ClientSession(
      clientIndex,
      user.accountId,
      user.username,
      this.rules,
      now,
      this.port,
      link,
    );
    this.sessions.set(clientIndex, session);
    this.addresses.set(clientIndex, address);
    this.sessionsAt.set(address, (this.sessionsAt.get(address) ?? 0) + 1);
    // listening to the account before it is admitted: a newer session may end it the moment it counts
    this.unwatch.set(clientIndex, this.accounts.watch(user.accountId));
    this.openChannel(session, address);
    this.log.debug({ client: clientIndex, account: user.accountId }, "client connected");
  }

  /** Tells game logic of a client once it has said hello and has its channel. */
  private announce(session: ClientSession): void {
    if (session.state !== "active" || session.channel === undefined || this.announced.has(session)) return;
    this.announced.add(session);
    this.sessionPort.arrived({
      client: session.channel,
      accountId: session.accountId,
      username: session.username,
    });
  }

  /** A control message from game logic to one client. */
  private control(session: ClientSession, message: messages.ClientControl): void {
    switch (message.kind) {
      case "add-session-object":
        if (this.sessions.get(session.clientIndex) !== session) {
          void this.sessionPort.deleteObject(message.doId); // too late: the client went meanwhile
          return;
        }
        this.declareSessionObject(session, message.doId).catch(() => undefined); // logged by the chain
        return;
      case "remove-session-object":
        if (session.sessionObjects.delete(message.doId)) this.sessionPort.postRemoves.remove(message.doId);
        return;
      case "eject":
        session.eject(message.code, message.reason, Date.now());
        return;
      case "system-message":
        if (session.state !== "active") return; // said before its hello was answered: nothing to tell yet
        session.send({ type: AgentMessageType.SystemMessage, text: message.text });
        this.flushSession(session, Date.now());
        return;
      case "plugin-message":
        if (!session.deliverPlugin(PluginEdge.Server, message.plugin, message.encoding, message.data)) return;
        this.metrics.pluginDeliveries.inc({ from: "server" });
        this.flushSession(session, Date.now());
        return;
      case "reply": {
        const answer = session.requests.answer(message);
        if (answer === undefined || session.state !== "active") return;
        session.send(answer);
        this.flushSession(session, Date.now());
        return;
      }
    }
  }

  /** Gives the session its participant channel and subscribes to it, then has the session admitted. */
  private openChannel(session: ClientSession, address: string): void {
    this.sessionPort
      .openChannel((message) => {
        if (isControl(message)) {
          this.control(session, message);
          return;
        }
        const gone = session.receiveOwnerDelivery(message, Date.now());
        if (gone !== undefined) this.sessionPort.postRemoves.remove(gone);
      })
      .then(
        ({ channel, close }) => {
          if (this.sessions.get(session.clientIndex) !== session) {
            close(); // the client went meanwhile
            return;
          }
          session.channel = channel;
          this.channels.set(session.clientIndex, close);
          this.admit(session, { client: channel, accountId: session.accountId, address });
        },
        (error: unknown) => {
          this.log.error({ client: session.clientIndex, err: error }, "no participant channel for a client");
          session.eject(
            EjectCode.SessionRefused,
            "the cluster gave the session no channel; try again",
            Date.now(),
          );
        },
      );
  }

  /** Counts the session in the cluster's limits: its hello is answered, or it is refused (1). */
  private admit(session: ClientSession, identity: SessionIdentity): void {
    this.accounts.admit(identity).then(
      (admission: Admission) => {
        if (admission.admitted && admission.ended.length > 0) {
          // sent even if this session went meanwhile: the ended ones no longer count, so they must go
          this.accounts.endSessions({
            kind: "end-sessions",
            accountId: identity.accountId,
            clients: [...admission.ended],
            by: identity.client,
          });
        }
        if (this.sessions.get(session.clientIndex) !== session) return; // gone meanwhile, and released
        const now = Date.now();
        if (admission.admitted) {
          session.admit(now);
          // what the client said while it waited is taken now: its plugin messages go on
          if (session.pluginMessages.outgoing.length > 0) this.passPluginMessages(session);
        } else {
          session.eject(
            EjectCode.SessionRefused,
            `too many sessions from this address: it holds ${admission.held}, the most allowed (MAX_SESSIONS_PER_ADDRESS)`,
            now,
          );
        }
        this.flushSession(session, now);
      },
      (error: unknown) => {
        this.log.error({ client: session.clientIndex, err: error }, "session limits could not be checked");
        if (this.sessions.get(session.clientIndex) !== session) return;
        const now = Date.now();
        session.eject(
          EjectCode.SessionRefused,
          "the cluster could not check its session limits; try again",
          now,
        );
        this.flushSession(session, now);
      },
    );
  }

  /** The client is gone: its subscriptions close, its session objects are deleted. */
  private release(clientIndex: number): void {
    const session = this.sessions.get(clientIndex);
    this.sessions.delete(clientIndex);
    // the channel stays subscribed a while: an avatar whose add-session-object was on its way when the
    // client went is deleted when it arrives, instead of being left a ghost
    const close = this.channels.get(clientIndex);
    this.channels.delete(clientIndex);
    if (close) setTimeout(close, LATE_CONTROL_GRACE_MS).unref();
    this.unwatch.get(clientIndex)?.();
    this.unwatch.delete(clientIndex);
    const address = this.addresses.get(clientIndex);
    this.addresses.delete(clientIndex);
    if (address !== undefined) {
      const left = (this.sessionsAt.get(address) ?? 1) - 1;
      if (left > 0) this.sessionsAt.set(address, left);
      else this.sessionsAt.delete(address);
    }
    if (session === undefined) return;
    if (session.channel !== undefined) this.accounts.release(session.channel);
    session.close();
    if (this.announced.delete(session) && session.channel !== undefined) {
      this.sessionPort.left({
        client: session.channel,
        accountId: session.accountId,
        reason: session.ejection ? `ejected (${session.ejection.code}): ${session.ejection.reason}` : "gone",
      });
    }
    // each post-remove stays with the director until its deletion was answered: if this agent dies
    // meanwhile, the director deletes the object
    for (const doId of session.sessionObjects)
      void this.sessionPort.deleteObject(doId).then(() => this.sessionPort.postRemoves.remove(doId));
    session.sessionObjects.clear();
  }
}

/** The cluster-wide session limits, and the account subjects through which agents end sessions. */
interface AccountPort {
  /**
   * Listens to the account's subject (once per account, however many of its sessions are here); call
   * what it returns when that session goes.
   */
  watch(accountId: number): () => void;
  admit(session: SessionIdentity): Promise<Admission>;
  release(client: number): void;
  /** Publishes to the account's subject. */
  endSessions(message: messages.EndSessions): void;
}

/** Counts of the datagram and frame paths, added to the Prometheus counters in one go. */
class Tally {
  datagramsSent = 0;
  bytesSent = 0;
  bytesReceived = 0;
  framesIn = 0;
  framesOut = 0;
  frameBytesIn = 0;
  frameBytesOut = 0;
  private readonly outcomes = new Map<string, number>();
  private readonly sessionDrops = new Map<string, number>();

  outcome(name: string): void {
    this.outcomes.set(name, (this.outcomes.get(name) ?? 0) + 1);
  }

  sessionDrop(reason: string): void {
    this.sessionDrops.set(reason, (this.sessionDrops.get(reason) ?? 0) + 1);
  }

  flushTo(metrics: ReturnType<typeof createMetrics>): void {
    if (this.datagramsSent > 0) metrics.datagramsSent.inc(this.datagramsSent);
    if (this.bytesSent > 0) metrics.bytesSent.inc(this.bytesSent);
    if (this.bytesReceived > 0) metrics.bytesReceived.inc(this.bytesReceived);
    for (const [outcome, count] of this.outcomes) metrics.datagrams.inc({ outcome }, count);
    for (const [reason, count] of this.sessionDrops) metrics.sessionPacketsDropped.inc({ reason }, count);
    if (this.framesIn > 0) metrics.webSocketFrames.inc({ direction: "in" }, this.framesIn);
    if (this.framesOut > 0) metrics.webSocketFrames.inc({ direction: "out" }, this.framesOut);
    if (this.frameBytesIn > 0) metrics.webSocketBytes.inc({ direction: "in" }, this.frameBytesIn);
    if (this.frameBytesOut > 0) metrics.webSocketBytes.inc({ direction: "out" }, this.frameBytesOut);
    this.framesIn = 0;
    this.framesOut = 0;
    this.frameBytesIn = 0;
    this.frameBytesOut = 0;
    this.datagramsSent = 0;
    this.bytesSent = 0;
    this.bytesReceived = 0;
    this.outcomes.clear();
    this.sessionDrops.clear();
  }
}

/** What the agent tells game logic about clients. */
interface GamePort {
  arrived(notice: messages.ClientArrived): void;
  left(notice: messages.ClientLeft): void;
  /** Passes a client's call of a method on (`ss.request`); rejects with the state server's refusal. */
  call(client: number, call: OutgoingCall): Promise<void>;
  /**
   * Passes a client's plugin message on, under its channel and account: to the servers' plugin
   * (`game.plugin-message`) or to main's through the link end (`lk.plugin-message`); rejects with the refusal.
   */
  pluginMessage(client: number, accountId: number, message: OutgoingPluginMessage): Promise<void>;
}

const CONTROL_KINDS: ReadonlySet<string> = new Set(
  messages.clientControl.options.map((o) => o.shape.kind.value),
);

function isControl(message: messages.ClientChannelMessage): message is messages.ClientControl {
  return CONTROL_KINDS.has(message.kind);
}

/**
 * One link end's links, as logic over datagrams and time: it owns no socket (the caller sends what `send`
 * is given and feeds every datagram to `receive`) and asks main for link tokens through `requestToken`.
 *
 * It heartbeats to main's rendezvous (sealed, every `heartbeatMs`) and keeps the links main's answers
 * assign it; a link main stops assigning (policy changed, a key revoked, the pair moved to another
 * instance) comes down. Main being silent changes nothing: links are peer to peer.
 *
 * Each link is a netcode.io connection (connect token, challenge, ChaCha20-Poly1305 on every packet) with a
 * reliable endpoint on top (reliable-ordered and unreliable messages, RTT and loss). The cluster whose name
 * sorts first dials with a link token main minted; the other accepts on its netcode server, which opens
 * only tokens sealed with its own key, refuses expired ones (netcode) and any token id it has seen before
 * (replays), and any dialer main has not assigned it, each with a reason in the log.
 *
 * Paths: the dialer first tries the acceptor's observed address directly while the acceptor punches
 * towards the dialer's (both NATs then let the other's packets in, if they are cone-like); if no
 * connection comes up within `punchTimeoutMs` it dials again through the relay, where both sides bind
 * with main's tickets. The token names the acceptor's virtual address (link-token.ts), so the path never
 * matters to netcode.
 */
import { netcode, reliable } from "@overworld/protocol";
import type { PairKeys, SigningKey } from "./keys.ts";
import {
  clusterAddress,
  LINK_PROTOCOL_ID,
  pairId,
  pairKey,
  readLinkUserData,
  relayedPeerAddress,
} from "./link-token.ts";
import {
  type Assignment,
  type Instructions,
  isControlPacket,
  type LinkReport,
  openInstructions,
  PacketKind,
  relayPair,
  writeHeartbeat,
  writePunch,
  writeRelayBind,
  writeRelayData,
} from "./wire.ts";

export type LinkVia = "direct" | "relay";

export interface LinkLog {
  info(details: object, message: string): void;
  warn(details: object, message: string): void;
}

export interface LinkNodeOptions {
  readonly cluster: string;
  readonly instance: string;
  readonly key: SigningKey;
  /** The keys this cluster shares with main. */
  readonly keys: PairKeys;
  /** Main's rendezvous (UDP). */
  readonly rendezvous: netcode.NetcodeAddress;
  readonly send: (bytes: Uint8Array, to: netcode.NetcodeAddress) => void;
  /** A fresh link token to dial `peer` (from main, opened). */
  readonly requestToken: (peer: string) => Promise<Uint8Array>;
  readonly log: LinkLog;
  /** Messages from a peer, as it sent them. */
  readonly onMessage?: (peer: string, bytes: Uint8Array, channel: "reliable" | "unreliable") => void;
  readonly onLinkUp?: (peer: string, via: LinkVia) => void;
  readonly onLinkDown?: (peer: string, reason: string) => void;
  /** A link token refused, with netcode's or the link end's reason. */
  readonly onRefused?: (reason: string, from: string) => void;
  /** The cluster's load, 0 … 1, told to main. */
  readonly load?: () => number;
  readonly heartbeatMs?: number;
  readonly punchTimeoutMs?: number;
  readonly relayTimeoutMs?: number;
  /** Defer a flush to just after the current burst of sends (setImmediate by default). */
  readonly defer?: (fn: () => void) => void;
  readonly protocolId?: bigint;
  readonly reliableConfig?: Partial<reliable.ReliableConfig>;
  /**
   * The relay's address as this link end reaches it, from the one main states (main behind a load
   * balancer or in a container states 0.0.0.0:port: the link end puts in main's host).
   */
  readonly reachRelay?: (stated: netcode.NetcodeAddress) => netcode.NetcodeAddress;
}

export interface LinkStatus {
  readonly peer: string;
  readonly role: "dial" | "accept";
  readonly up: boolean;
  readonly via: LinkVia | "none";
  readonly rttMs: number;
  readonly loss: number;
  readonly upSince: number | null;
  readonly stats: reliable.ReliableStats | null;
}

/** Message kinds on a link: the first byte of every message. */
const MessageKind = { Ping: 0, App: 1 } as const;
const PING = new Uint8Array([MessageKind.Ping]);

const DEFAULT_HEARTBEAT_MS = 500;
const DEFAULT_PUNCH_TIMEOUT_MS = 2500;
const DEFAULT_RELAY_TIMEOUT_MS = 5000;
const PUNCH_INTERVAL_MS = 100;
const RELAY_BIND_INTERVAL_MS = 1000;
const TOKEN_RETRY_MS = 1000;
/** An idle link is pinged this often, so that its RTT and loss stay measured. */
const PING_INTERVAL_MS = 250;
/** Token ids remembered against replay, at most (each is forgotten when its token expires). */
const SEEN_TOKENS_LIMIT = 100_000;
const SEEN_TOKEN_MS = 120_000;
/** netcode drop reasons that mean a link token was refused (the rest is noise on an open port). */
const TOKEN_REFUSALS: ReadonlySet<string> = new Set([
  "token_expired",
  "token_decrypt_failed",
  "token_malformed",
  "token_reused",
  "wrong_protocol_id",
  "wrong_version",
  "server_address_not_in_token",
  "connection_request_wrong_size",
]);

interface PeerLink {
  readonly peer: string;
  readonly pair: Uint8Array;
  readonly pairKey: string;
  assignment: Assignment;
  /** The peer's observed address, parsed; null while main knows none. */
  address: netcode.NetcodeAddress | null;
  ticket: Uint8Array;
  /** The relay of this link when it has one of its own (a link across mains); else main's. */
  relay: netcode.NetcodeAddress | null;
  endpoint: reliable.ReliableEndpoint | null;
  up: boolean;
  via: LinkVia | null;
  upSince: number | null;
  // dialing
  client: netcode.NetcodeClient | null;
  attemptVia: LinkVia;
  /** The path the next attempt takes: direct first, the other after an attempt fails. */
  nextVia: LinkVia;
  attemptStartedAt: number;
  tokenPending: boolean;
  lastTokenAt: number;
  // accepting
  clientIndex: number | null;
  lastPunchAt: number;
  lastBindAt: number;
  lastPingAt: number;
  flushQueued: boolean;
}

export class LinkNode {
  private readonly server: netcode.NetcodeServer;
  private readonly links = new Map<string, PeerLink>();
  private readonly byPair = new Map<string, PeerLink>();
  private readonly byClientIndex = new Map<number, PeerLink>();
  private readonly seenTokens = new Map<string, number>();
  private readonly virtualSelf: netcode.NetcodeAddress;
  private relay: netcode.NetcodeAddress | null = null;
  private observedAddress = "";
  private lastHeartbeatAt = Number.NEGATIVE_INFINITY;
  private seq = 0;
  private revokedFlag = false;
  private closed = false;
  private lastInstructionsAt = 0;
  private readonly heartbeatMs: number;
  private readonly punchTimeoutMs: number;
  private readonly relayTimeoutMs: number;
  private readonly defer: (fn: () => void) => void;
  private readonly protocolId: bigint;
  private readonly unreliableLimit: number;

  constructor(private readonly options: LinkNodeOptions) {
    this.protocolId = options.protocolId ?? LINK_PROTOCOL_ID;
    this.virtualSelf = clusterAddress(options.cluster);
    this.server = new netcode.NetcodeServer({
      protocolId: this.protocolId,
      privateKey: options.keys.token,
      publicAddresses: [this.virtualSelf],
      maxClients: 256,
    });
    this.heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
    this.punchTimeoutMs = options.punchTimeoutMs ?? DEFAULT_PUNCH_TIMEOUT_MS;
    this.relayTimeoutMs = options.relayTimeoutMs ?? DEFAULT_RELAY_TIMEOUT_MS;
    this.defer = options.defer ?? ((fn) => setImmediate(fn));
    this.unreliableLimit = new reliable.ReliableEndpoint(options.reliableConfig).maxUnreliableSize - 1;
  }

  /** This link end's address as main last saw it ("" before main answered). */
  get observed(): string {
    return this.observedAddress;
  }

  /** True once main said this cluster's key is revoked: no link will be kept. */
  get revoked(): boolean {
    return this.revokedFlag;
  }

  /** When main last answered a heartbeat (ms), 0 if never. */
  get mainAnsweredAt(): number {
    return this.lastInstructionsAt;
  }

  status(): LinkStatus[] {
    return [...this.links.values()].map((link) => ({
      peer: link.peer,
      role: link.assignment.role,
      up: link.up,
      via: link.up && link.via ? link.via : "none",
      rttMs: link.endpoint?.rtt ?? 0,
      loss: link.endpoint?.packetLoss ?? 0,
      upSince: link.upSince,
      stats: link.endpoint?.stats ?? null,
    }));
  }

  /** Peers whose link is up. */
  upPeers(): string[] {
    return [...this.links.values()].filter((link) => link.up).map((link) => link.peer);
  }

  /**
   * Sends a message to a peer over its link; false when the link is not up. Sends in one burst leave
   * together, just after it.
   */
  sendTo(peer: string, bytes: Uint8Array, channel: "reliable" | "unreliable" = "reliable"): boolean {
    const link = this.links.get(peer);
    if (link === undefined || !link.up || link.endpoint === null) return false;
    const framed = new Uint8Array(bytes.length + 1);
    framed[0] = MessageKind.App;
    framed.set(bytes, 1);
    if (channel === "reliable") link.endpoint.sendReliable(framed);
    else link.endpoint.sendUnreliable(framed);
    this.flushSoon(link);
    return true;
  }

  /** The largest unreliable message `sendTo` takes. */
  get maxUnreliableSize(): number {
    return this.unreliableLimit;
  }

  // ---- datagrams in --------------------------------------------------------------------------------

  receive(bytes: Uint8Array, from: netcode.NetcodeAddress, now = Date.now()): void {
    if (this.closed || bytes.length === 0) return;
    if (isControlPacket(bytes)) {
      this.receiveControl(bytes, from, now);
      return;
    }
    const dialing = this.dialingFrom(from);
    if (dialing) {
      this.handleClient(dialing, dialing.client!.receive(bytes, clusterAddress(dialing.peer), now), now);
      return;
    }
    this.handleServer(this.server.receive(bytes, from, now), now);
  }

  private receiveControl(bytes: Uint8Array, from: netcode.NetcodeAddress, now: number): void {
    switch (bytes[0]) {
      case PacketKind.Instructions: {
        if (from.key !== this.options.rendezvous.key) return;
        const instructions = openInstructions(this.options.keys.heartbeat, this.options.cluster, bytes);
        if (instructions !== null) this.apply(instructions, now);
        return;
      }
      case PacketKind.RelayData: {
        const pair = relayPair(bytes);
        const link = pair && this.byPair.get(pairKey(pair));
        if (!link || from.key !== this.relayOf(link)?.key) return; // only from this link's relay
        const packet = bytes.subarray(9);
        if (link.assignment.role === "dial") {
          if (link.client && link.attemptVia === "relay") {
            this.handleClient(link, link.client.receive(packet, clusterAddress(link.peer), now), now);
          }
        } else {
          this.handleServer(this.server.receive(packet, relayedPeerAddress(link.pair), now), now);
        }
        return;
      }
      default:
        return; // punches only open NATs; relay-bound notices need no answer
    }
  }

  /** The dialing link whose peer sent this datagram directly, if any. */
  private dialingFrom(from: netcode.NetcodeAddress): PeerLink | undefined {
    for (const link of this.links.values()) {
      if (link.client !== null && link.attemptVia === "direct" && link.address?.key === from.key) return link;
    }
    return undefined;
  }

  // ---- main's instructions -----------------------------------------------------------------------------

  private apply(instructions: Instructions, now: number): void {
    this.lastInstructionsAt = now;
    this.observedAddress = instructions.observed;
    this.relay = this.reachable(instructions.relay);
    if (instructions.revoked) {
      if (!this.revokedFlag)
        this.options.log.warn({ reason: instructions.refused }, "main revoked this cluster's key");
      this.revokedFlag = true;
      for (const link of [...this.links.values()]) this.drop(link, "this cluster's key is revoked", now);
      return;
    }
    const assigned = new Set<string>();
    for (const assignment of instructions.links) {
      assigned.add(assignment.peer);
      this.assign(assignment, now);
    }
    for (const link of [...this.links.values()]) {
      if (!assigned.has(link.peer)) this.drop(link, "main no longer assigns this link", now);
    }
  }

  private assign(assignment: Assignment, now: number): void {
    const existing = this.links.get(assignment.peer);
    const address = assignment.address ? safeAddress(assignment.address) : null;
    const ticket = new Uint8Array(Buffer.from(assignment.ticket, "hex"));
    if (existing) {
      if (existing.assignment.key !== assignment.key || existing.assignment.role !== assignment.role) {
        this.drop(existing, "the peer's key or role changed", now);
      } else {
        if (existing.address === null && address !== null && existing.client === null)
          existing.nextVia = "direct";
        existing.assignment = assignment;
        existing.address = address;
        existing.ticket = ticket;
        existing.relay = this.reachable(assignment.relay);
        return;
      }
    }
    const pair = pairId(this.options.cluster, assignment.peer);
    const link: PeerLink = {
      peer: assignment.peer,
      pair,
      pairKey: pairKey(pair),
      assignment,
      address,
      ticket,
      relay: this.reachable(assignment.relay),
      endpoint: null,
      up: false,
      via: null,
      upSince: null,
      client: null,
      attemptVia: "direct",
      nextVia: address !== null ? "direct" : "relay",
      attemptStartedAt: 0,
      tokenPending: false,
      lastTokenAt: Number.NEGATIVE_INFINITY,
      clientIndex: null,
      lastPunchAt: Number.NEGATIVE_INFINITY,
      lastBindAt: Number.NEGATIVE_INFINITY,
      lastPingAt: now,
      flushQueued: false,
    };
    this.links.set(link.peer, link);
    this.byPair.set(link.pairKey, link);
    this.options.log.info(
      { peer: link.peer, role: assignment.role, address: assignment.address },
      "link assigned",
    );
  }

  /** Takes a link down and forgets it. */
  private drop(link: PeerLink, reason: string, now: number): void {
    this.disconnect(link, reason, now);
    this.links.delete(link.peer);
    this.byPair.delete(link.pairKey);
  }

  /** Ends the link's connection (telling the peer), keeping the assignment. */
  private disconnect(link: PeerLink, reason: string, now: number): void {
    if (link.client !== null) {
      const client = link.client;
      link.client = null;
      this.routeClientSends(link, client.disconnect(now));
    }
    if (link.clientIndex !== null) {
      const index = link.clientIndex;
      this.byClientIndex.delete(index);
      link.clientIndex = null;
      this.handleServer(this.server.disconnect(index, now), now);
    }
    this.markDown(link, reason);
  }

  private markDown(link: PeerLink, reason: string): void {
    link.endpoint = null;
    if (!link.up) return;
    link.up = false;
    link.upSince = null;
    this.options.log.warn({ peer: link.peer, via: link.via, reason }, "link down");
    this.options.onLinkDown?.(link.peer, reason);
  }

  private markUp(link: PeerLink, via: LinkVia, now: number): void {
    link.endpoint = new reliable.ReliableEndpoint(this.options.reliableConfig);
    link.up = true;
    link.via = via;
    link.upSince = now;
    link.lastPingAt = now;
    this.options.log.info({ peer: link.peer, via, role: link.assignment.role }, "link up");
    this.options.onLinkUp?.(link.peer, via);
  }

  // ---- time ---------------------------------------------------------------------------------------------

  /** Heartbeats, handshakes, keep-alives, punches, relay bindings and messages due now. Call every few ms. */
  update(now = Date.now()): void {
    if (this.closed) return;
    if (now - this.lastHeartbeatAt >= this.heartbeatMs) this.heartbeat(now);
    this.handleServer(this.server.update(now), now);
    for (const link of this.links.values()) {
      if (link.assignment.role === "dial") this.updateDialer(link, now);
      else this.updateAcceptor(link, now);
      if (link.up && link.endpoint) {
        if (now - link.lastPingAt >= PING_INTERVAL_MS) {
          link.lastPingAt = now;
          link.endpoint.sendUnreliable(PING);
        }
        this.flush(link);
      }
    }
  }

  private heartbeat(now: number): void {
    this.lastHeartbeatAt = now;
    this.seq = Math.max(this.seq + 1, now);
    const links: LinkReport[] = this.status()
      .slice(0, 32)
      .map((link) => ({
        peer: link.peer,
        up: link.up,
        via: link.via,
        rttMs: Math.round(link.rttMs * 100) / 100,
        loss: Math.round(link.loss * 1000) / 1000,
      }));
    const body = { instance: this.options.instance, seq: this.seq, load: this.options.load?.() ?? 0, links };
    this.options.send(
      writeHeartbeat(this.options.keys.heartbeat, this.options.cluster, body),
      this.options.rendezvous,
    );
  }

  private updateDialer(link: PeerLink, now: number): void {
    if (this.revokedFlag) return;
    if (link.client !== null) {
      const client = link.client;
      this.handleClient(link, client.update(now), now);
      if (link.up || link.client === null) return;
      const limit = link.attemptVia === "direct" ? this.punchTimeoutMs : this.relayTimeoutMs;
      if (now - link.attemptStartedAt >= limit) {
        this.options.log.info(
          { peer: link.peer, via: link.attemptVia, ms: now - link.attemptStartedAt },
          "link attempt gave up",
        );
        link.client = null; // abandoned without a word: the peer never had it
        this.attemptFailed(link);
        this.dial(link, now);
      } else if (link.attemptVia === "relay") {
        this.bindRelay(link, now);
      }
      return;
    }
    if (!link.tokenPending) this.dial(link, now);
  }

  /** The next attempt takes the other path (when there is one). */
  private attemptFailed(link: PeerLink): void {
    const other: LinkVia = link.attemptVia === "direct" ? "relay" : "direct";
    const possible = other === "relay" ? this.relayOf(link) !== null : link.address !== null;
    link.nextVia = possible ? other : link.attemptVia;
  }

  /** Asks main for a token, then starts a netcode connection over the link's next path. */
  private dial(link: PeerLink, now: number): void {
    if (link.tokenPending || now - link.lastTokenAt < TOKEN_RETRY_MS) return;
    if (link.nextVia === "direct" && link.address === null && this.relayOf(link) !== null)
      link.nextVia = "relay";
    const via = link.nextVia;
    if (via === "relay" && this.relayOf(link) === null) return;
    if (via === "direct" && link.address === null) return;
    link.tokenPending = true;
    link.lastTokenAt = now;
    this.options.requestToken(link.peer).then(
      (token) => {
        link.tokenPending = false;
        if (this.closed || this.links.get(link.peer) !== link || link.up || link.client !== null) return;
        const client = new netcode.NetcodeClient();
        link.client = client;
        link.attemptVia = via;
        const at = Date.now();
        link.attemptStartedAt = at;
        if (via === "relay") this.bindRelay(link, at, true);
        this.handleClient(link, client.connect(token, at), at);
        this.handleClient(link, client.update(at), at);
      },
      (error: unknown) => {
        link.tokenPending = false;
        this.options.log.warn({ peer: link.peer, err: (error as Error).message }, "no link token from main");
      },
    );
  }

  private updateAcceptor(link: PeerLink, now: number): void {
    if (this.revokedFlag) return;
    if (!link.up && link.address !== null && now - link.lastPunchAt >= PUNCH_INTERVAL_MS) {
      link.lastPunchAt = now;
      this.options.send(writePunch(link.pair), link.address);
    }
    this.bindRelay(link, now);
  }

  private bindRelay(link: PeerLink, now: number, force = false): void {
    const relay = this.relayOf(link);
    if (relay === null || (!force && now - link.lastBindAt < RELAY_BIND_INTERVAL_MS)) return;
    link.lastBindAt = now;
    this.options.send(writeRelayBind(link.ticket), relay);
  }

  // ---- netcode events -------------------------------------------------------------------------------------

  private handleClient(link: PeerLink, events: netcode.ClientEvent[], now: number): void {
    for (const event of events) {
      switch (event.type) {
        case "send":
          this.routeToPeer(link, event.bytes, link.attemptVia);
          break;
        case "state":
          if (event.to === netcode.ClientState.Connected) {
            this.markUp(link, link.attemptVia, now);
          } else if (link.up) {
            link.client = null;
            this.markDown(link, clientStateReason(event.to));
          } else if (event.to < 0) {
            this.options.log.info(
              { peer: link.peer, via: link.attemptVia, state: clientStateReason(event.to) },
              "link attempt failed",
            );
            link.client = null;
            this.attemptFailed(link); // netcode's own timeout can come before ours: switch paths either way
          }
          break;
        case "payload":
          this.receivePayload(link, event.payload);
          break;
        case "dropped":
          break;
      }
    }
  }

  private routeClientSends(link: PeerLink, events: netcode.ClientEvent[]): void {
    for (const event of events)
      if (event.type === "send") this.routeToPeer(link, event.bytes, link.attemptVia);
  }

  private routeToPeer(link: PeerLink, bytes: Uint8Array, via: LinkVia): void {
    if (via === "relay") {
      const relay = this.relayOf(link);
      if (relay !== null) this.options.send(writeRelayData(link.pair, bytes), relay);
    } else if (link.address !== null) {
      this.options.send(bytes, link.address);
    }
  }

  private handleServer(events: netcode.ServerEvent[], now: number): void {
    for (const event of events) {
      switch (event.type) {
        case "send":
          this.serverSend(event.to, event.bytes);
          break;
        case "connected":
          this.accepted(event.clientIndex, event.address, event.userData, now);
          break;
        case "disconnected": {
          const link = this.byClientIndex.get(event.clientIndex);
          if (link) {
            this.byClientIndex.delete(event.clientIndex);
            link.clientIndex = null;
            this.markDown(link, event.reason);
          }
          break;
        }
        case "payload": {
          const link = this.byClientIndex.get(event.clientIndex);
          if (link) this.receivePayload(link, event.payload);
          break;
        }
        case "dropped":
          if (TOKEN_REFUSALS.has(event.reason)) this.refuse(event.reason, event.from.key);
          break;
        case "denied":
          break;
      }
    }
  }

  private serverSend(to: netcode.NetcodeAddress, bytes: Uint8Array): void {
    if (to.family === "ipv6" && to.host[0] === 0xfd && to.host[1] === 0x6f && to.host[3] === 0x78) {
      const pair = to.host.subarray(4, 12);
      const link = this.byPair.get(pairKey(pair));
      const relay = link ? this.relayOf(link) : this.relay;
      if (relay !== null) this.options.send(writeRelayData(pair, bytes), relay);
      return;
    }
    this.options.send(bytes, to);
  }

  /** A dialer completed the handshake: keep it only if main assigned it and its token is new. */
  private accepted(
    clientIndex: number,
    address: netcode.NetcodeAddress,
    userData: Uint8Array,
    now: number,
  ): void {
    const link = this.admit(userData, now);
    if (typeof link === "string") {
      this.refuse(link, address.key);
      this.handleServer(this.server.disconnect(clientIndex, now), now);
      return;
    }
    if (link.clientIndex !== null) {
      const old = link.clientIndex;
      this.byClientIndex.delete(old);
      link.clientIndex = null;
      this.markDown(link, "the peer linked again");
      this.handleServer(this.server.disconnect(old, now), now);
    }
    link.clientIndex = clientIndex;
    this.byClientIndex.set(clientIndex, link);
    const relayed = address.family === "ipv6" && address.host[0] === 0xfd && address.host[3] === 0x78;
    this.markUp(link, relayed ? "relay" : "direct", now);
  }

  /** The link a connected dialer's token is for, or why it is refused. */
  private admit(userData: Uint8Array, now: number): PeerLink | string {
    const data = readLinkUserData(userData);
    if (data === null || data.acceptor !== this.options.cluster) return "link_token_not_for_this_cluster";
    const tokenKey = Buffer.from(data.tokenId).toString("hex");
    this.forgetOldTokens(now);
    if (this.seenTokens.has(tokenKey)) return "link_token_replayed";
    this.seenTokens.set(tokenKey, now);
    const link = this.links.get(data.dialer);
    if (link === undefined || link.assignment.role !== "accept") return "dialer_not_assigned_by_main";
    if (Buffer.from(data.dialerKey).toString("base64") !== link.assignment.key) return "dialer_key_mismatch";
    return link;
  }

  /** The relay a link goes through when relayed: its own, else main's. */
  private relayOf(link: PeerLink): netcode.NetcodeAddress | null {
    return link.relay ?? this.relay;
  }

  /** A relay address as this link end reaches it (see `reachRelay`); null for none. */
  private reachable(text: string | undefined): netcode.NetcodeAddress | null {
    const address = text ? safeAddress(text) : null;
    return address && this.options.reachRelay ? this.options.reachRelay(address) : address;
  }

  private refuse(reason: string, from: string): void {
    this.options.log.warn({ reason, from }, "link token refused");
    this.options.onRefused?.(reason, from);
  }

  private forgetOldTokens(now: number): void {
    if (this.seenTokens.size < SEEN_TOKENS_LIMIT) {
      for (const [key, at] of this.seenTokens) {
        if (now - at < SEEN_TOKEN_MS) break;
        this.seenTokens.delete(key);
      }
      return;
    }
    const first = this.seenTokens.keys().next().value;
    if (first !== undefined) this.seenTokens.delete(first);
  }

  // ---- messages -----------------------------------------------------------------------------------------

  private receivePayload(link: PeerLink, payload: Uint8Array): void {
    if (!link.endpoint) return;
    const result = link.endpoint.receivePacket(payload, performance.now());
    if (!result.accepted) return;
    if (result.messages.length > 0) this.flushSoon(link); // acks owed: send them promptly, for the RTT
    for (const message of result.messages) {
      if (message.bytes.length === 0 || message.bytes[0] !== MessageKind.App) continue;
      this.options.onMessage?.(link.peer, message.bytes.subarray(1), message.channel);
    }
  }

  private flushSoon(link: PeerLink): void {
    if (link.flushQueued) return;
    link.flushQueued = true;
    this.defer(() => {
      link.flushQueued = false;
      this.flush(link);
    });
  }

  private flush(link: PeerLink): void {
    if (!link.up || link.endpoint === null || this.closed) return;
    const now = Date.now();
    for (const payload of link.endpoint.update(performance.now())) {
      if (link.client !== null) this.routeClientSends(link, link.client.send(payload, now));
      else if (link.clientIndex !== null)
        this.handleServer(this.server.send(link.clientIndex, payload, now), now);
    }
  }

  /** Tells every peer goodbye (netcode disconnect packets) and stops. */
  close(now = Date.now()): void {
    if (this.closed) return;
    for (const link of [...this.links.values()]) this.drop(link, "link end stopping", now);
    this.closed = true;
  }
}

function safeAddress(text: string): netcode.NetcodeAddress | null {
  try {
    return netcode.parseAddress(text);
  } catch {
    return null;
  }
}

function clientStateReason(state: netcode.ClientState): string {
  switch (state) {
    case netcode.ClientState.ConnectionTimedOut:
      return "timed_out";
    case netcode.ClientState.ConnectionDenied:
      return "denied";
    case netcode.ClientState.ConnectTokenExpired:
      return "token_expired";
    case netcode.ClientState.InvalidConnectToken:
      return "invalid_token";
    case netcode.ClientState.ConnectionRequestTimedOut:
      return "request_timed_out";
    case netcode.ClientState.ConnectionResponseTimedOut:
      return "response_timed_out";
    case netcode.ClientState.Disconnected:
      return "peer_disconnected";
    default:
      return `state_${state}`;
  }
}

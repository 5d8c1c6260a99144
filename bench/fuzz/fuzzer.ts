/**
 * The datagram fuzzer: mutated datagrams at a client agent's UDP port from many source addresses and
 * ports, of three kinds, in proportions set by `mix`:
 *
 * - raw: datagrams made from nothing or mutated from real ones seen on the wire (packets of every netcode
 *   type, connection requests of the right shape with a random token), from addresses with no session;
 * - token: connection requests built from valid connect tokens that uberdog minted (`mint`, a login from
 *   the source's own address), bit-flipped, truncated, extended, or replayed unchanged from other ports;
 *   and, once the agent answered one with a challenge, connection responses with the challenge token or
 *   the packet mutated (never the valid one: a token source never connects);
 * - session: fuzz clients that complete the netcode handshake and say a valid hello, then send correctly
 *   encrypted packets whose payload is mutated: reliable-layer packets with bent headers, random payloads,
 *   client messages with bad types, lengths, field ids and oversize values; and replayed or bit-flipped
 *   copies of their own datagrams. An ejected session logs in again and goes on.
 *
 * What comes back is checked: every answer to a raw or token source (no session) must be no larger than
 * the largest datagram that source sent, and all it got no more bytes than it sent (netcode's rule:
 * nothing unauthenticated is amplified). The seed makes the datagrams of a run the same again (the
 * agent's answers and timing are not).
 */
import { createSocket, type Socket } from "node:dgram";
import { setTimeout as sleep, setImmediate as yieldToLoop } from "node:timers/promises";
import { type DcFile, netcode, reliable } from "@overworld/protocol";
import {
  AgentMessageType,
  ClientMessageType,
  decodeAgentMessage,
  EjectCode,
  encodeClientMessage,
} from "@overworld/protocol/client";
import { clientMessage, flipBits, mutate, Random, rawPacket } from "./mutate.ts";

export type FuzzKind = "raw" | "token" | "session";

export interface FuzzOptions {
  /** The client agent's UDP address. */
  readonly host: string;
  readonly port: number;
  readonly seed: number;
  /** Mutated datagrams to send (the valid ones of the fuzz sessions, hellos and keep-alives, come on top). */
  readonly count: number;
  /** Datagrams per second at most; the pace backs off while the agent receives less than is sent. */
  readonly maxRate: number;
  /** Raw sources: every address sends from `portsPerAddress` ports. */
  readonly rawAddresses: readonly string[];
  readonly portsPerAddress: number;
  /** Token sources: each logs in from its address for fresh tokens and sends from `portsPerAddress` ports. */
  readonly tokenAddresses: readonly string[];
  /** One fuzz session per address. */
  readonly sessionAddresses: readonly string[];
  /** A valid connect token, logged in from `localAddress` (as uberdog's own account of that source). */
  readonly mint: (localAddress: string) => Promise<Uint8Array>;
  readonly dc: DcFile;
  readonly version: string;
  readonly schemaHash: number;
  /** Shares of token and session datagrams (raw: the rest). */
  readonly mix?: { readonly token: number; readonly session: number };
  /** The agent's datagrams received so far (every source), for the pace; none: `maxRate` throughout. */
  readonly received?: () => Promise<number>;
  /** Called about once a second. */
  readonly onProgress?: (progress: FuzzProgress) => void;
}

export interface FuzzProgress {
  readonly seconds: number;
  readonly sent: number;
  /** Datagrams per second over the last second. */
  readonly rate: number;
  /** The pace aimed at now. */
  readonly pace: number;
  readonly sessionsActive: number;
  readonly violations: number;
}

export interface Violation {
  readonly kind: FuzzKind;
  readonly source: string;
  readonly answerBytes: number;
  /** The largest datagram that source had sent, and its totals. */
  readonly largestSent: number;
  readonly bytesSent: number;
  readonly bytesAnswered: number;
}

export interface FuzzReport {
  readonly seed: number;
  readonly seconds: number;
  /** Mutated datagrams sent, and their bytes, by kind. */
  readonly sent: Record<FuzzKind, { datagrams: number; bytes: number }>;
  /** Valid datagrams of the fuzz sessions (handshake, hello, heartbeats, keep-alives, acks). */
  readonly validSessionDatagrams: number;
  readonly ratePerSecond: number;
  /** Answers the agent sent to raw and token sources (a challenge or denial is a fair answer to a request). */
  readonly answers: Record<"raw" | "token", { datagrams: number; bytes: number; largest: number }>;
  /** Answers larger than their request, or more bytes answered than sent: must stay empty. */
  readonly violations: readonly Violation[];
  readonly sessions: {
    /** Handshakes completed, hellos answered. */
    readonly connected: number;
    readonly helloAnswered: number;
    /** EJECT codes the fuzz sessions got, and how often. */
    readonly ejections: Readonly<Record<string, number>>;
    /** How connections ended otherwise (netcode client states). */
    readonly ended: Readonly<Record<string, number>>;
  };
  readonly tokens: {
    readonly minted: number;
    readonly mintFailures: number;
    readonly lastMintError?: string;
  };
}

const BATCH = 64;
/** Sends whose callback has not come yet, past which the sender waits. */
const MAX_IN_FLIGHT = 4096;
const SESSION_TICK_MS = 20;
const TOKEN_REFRESH_MS = 5000;
/** Uberdog allows 60 logins a minute from an address: an ejected session waits this long before logging in again. */
const SESSION_RETRY_MS = 1500;
const HEARTBEAT_MS = 1000;
const CORPUS_SIZE = 64;
const MAX_PAYLOAD = 1200;
const PACE_FLOOR = 1000;
/** The share of a second's datagrams the agent must have read for the pace to go up (else it goes down). */
const MIN_KEPT = 0.8;
const MS_PER_SECOND = 1000;
const MAX_VIOLATIONS_KEPT = 20;

/** A socket the fuzzer sends from, and what it sent and got back. */
class Source {
  largestSent = 0;
  bytesSent = 0;
  bytesAnswered = 0;
  readonly name: string;

  constructor(
    readonly kind: FuzzKind,
    readonly socket: Socket,
  ) {
    const { address, port } = socket.address();
    this.name = `${address}:${port}`;
  }
}

export class DatagramFuzzer {
  private readonly random: Random;
  private readonly sources: Source[] = [];
  private readonly raw: Source[] = [];
  private readonly tokenSources: TokenSource[] = [];
  private readonly sessions: FuzzSession[] = [];
  private readonly corpus: Uint8Array[] = [];
  private readonly server: netcode.NetcodeAddress;
  private readonly report: {
    sent: FuzzReport["sent"];
    answers: FuzzReport["answers"];
    violations: Violation[];
    violationCount: number;
  };
  private inFlight = 0;
  private protocolId = 0n;

  private constructor(
    private readonly options: FuzzOptions,
    readonly stats = new SessionStats(),
  ) {
    this.random = new Random(options.seed);
    this.server = netcode.addressFromHostPort(options.host, options.port);
    this.report = {
      sent: { raw: empty(), token: empty(), session: empty() },
      answers: { raw: { ...empty(), largest: 0 }, token: { ...empty(), largest: 0 } },
      violations: [],
      violationCount: 0,
    };
  }

  /** Binds every source socket; sessions start logging in at once. */
  static async open(options: FuzzOptions): Promise<DatagramFuzzer> {
    const fuzzer = new DatagramFuzzer(options);
    try {
      await fuzzer.bind();
    } catch (error) {
      await fuzzer.close();
      throw error;
    }
    return fuzzer;
  }

  private async bind(): Promise<void> {
    const { options } = this;
    for (const address of options.rawAddresses) {
      for (let p = 0; p < options.portsPerAddress; p++) this.raw.push(await this.source("raw", address));
    }
    for (const address of options.tokenAddresses) {
      const sockets: Source[] = [];
      for (let p = 0; p < options.portsPerAddress; p++) sockets.push(await this.source("token", address));
      this.tokenSources.push(new TokenSource(address, sockets, this.stats));
    }
    for (const address of options.sessionAddresses) {
      const socket = await bound(address);
      this.sessions.push(new FuzzSession(address, socket, this.server, options, this.stats));
    }
    // a token first: its protocol id shapes the raw packets
    const first = this.tokenSources[0] ?? null;
    if (first !== null) {
      await first.refresh(options.mint, Date.now());
      this.protocolId = first.token?.protocolId ?? 0n;
    }
  }

  private async source(kind: FuzzKind, address: string): Promise<Source> {
    const source = new Source(kind, await bound(address));
    source.socket.on("message", (bytes) => this.answered(source, bytes));
    this.sources.push(source);
    return source;
  }

  /** Sends `count` mutated datagrams, paced; resolves with the report. */
  async run(): Promise<FuzzReport> {
    const { options } = this;
    const mix = options.mix ?? { token: 0.1, session: 0.05 };
    const started = performance.now();
    let sent = 0;
    let pace = options.received ? Math.max(PACE_FLOOR, options.maxRate / 4) : options.maxRate;
    let credit = 0;
    let last = started;
    let lastSecond = { at: started, sent: 0, received: options.received ? await options.received() : 0 };
    let pacing: Promise<void> | undefined;
    const tick = setInterval(() => {
      const now = Date.now();
      for (const session of this.sessions) session.drive(now);
      for (const token of this.tokenSources) token.refreshIfDue(options.mint, now);
    }, SESSION_TICK_MS);
    try {
      while (sent < options.count) {
        const now = performance.now();
        credit = Math.min(credit + ((now - last) * pace) / MS_PER_SECOND, BATCH * 4);
        last = now;
        if (now - lastSecond.at >= MS_PER_SECOND && pacing === undefined) {
          const second = lastSecond;
          const sentNow = sent;
          pacing = (async () => {
            const received = options.received ? await options.received().catch(() => second.received) : 0;
            const seconds = (performance.now() - second.at) / MS_PER_SECOND;
            if (options.received) {
              // the agent's socket drops what it cannot read in time: slow down until it keeps up
              const kept = (received - second.received) / Math.max(1, sentNow - second.sent);
              pace =
                kept < MIN_KEPT ? Math.max(PACE_FLOOR, pace * 0.8) : Math.min(options.maxRate, pace * 1.1);
            }
            options.onProgress?.({
              seconds: (performance.now() - started) / MS_PER_SECOND,
              sent: sentNow,
              rate: (sentNow - second.sent) / seconds,
              pace,
              sessionsActive: this.sessions.filter((session) => session.active).length,
              violations: this.report.violationCount,
            });
            lastSecond = { at: performance.now(), sent: sentNow, received };
          })().finally(() => {
            pacing = undefined;
          });
        }
        const n = Math.min(Math.floor(credit), BATCH, options.count - sent);
        if (n <= 0 || this.inFlight > MAX_IN_FLIGHT) {
          await sleep(1);
          continue;
        }
        credit -= n;
        for (let i = 0; i < n; i++) {
          const roll = this.random.int(0, 999) / 1000;
          if (roll < mix.session && this.sendSessionFuzz()) continue;
          if (roll < mix.session + mix.token && this.sendTokenFuzz()) continue;
          this.sendRaw();
        }
        sent += n;
        await yieldToLoop();
      }
      await pacing;
    } finally {
      clearInterval(tick);
    }
    const seconds = (performance.now() - started) / MS_PER_SECOND;
    return {
      seed: options.seed,
      seconds,
      sent: this.report.sent,
      validSessionDatagrams: this.stats.validDatagrams,
      ratePerSecond: sent / seconds,
      answers: this.report.answers,
      violations: this.report.violations,
      sessions: {
        connected: this.stats.connected,
        helloAnswered: this.stats.helloAnswered,
        ejections: this.stats.ejections,
        ended: this.stats.ended,
      },
      tokens: {
        minted: this.stats.minted,
        mintFailures: this.stats.mintFailures,
        ...(this.stats.lastMintError ? { lastMintError: this.stats.lastMintError } : {}),
      },
    };
  }

  /** Fuzz sessions say goodbye; every socket closes. */
  async close(): Promise<void> {
    const now = Date.now();
    for (const session of this.sessions) session.leave(now);
    await sleep(50); // the goodbyes leave before their sockets close
    await Promise.all(
      [...this.sources.map((source) => source.socket), ...this.sessions.map((s) => s.socket)].map(
        closeSocket,
      ),
    );
  }

  private sendRaw(): void {
    const source = this.raw[this.random.int(0, this.raw.length - 1)]!;
    const bytes =
      this.corpus.length > 0 && this.random.chance(0.25)
        ? mutate(this.random, this.random.pick(this.corpus))
        : rawPacket(this.random, this.protocolId, Math.floor(Date.now() / MS_PER_SECOND));
    this.send(source, bytes);
  }

  private sendTokenFuzz(): boolean {
    const ready = this.tokenSources.filter((source) => source.token !== null);
    if (ready.length === 0) return false;
    const tokenSource = this.random.pick(ready);
    const socket = this.random.pick(tokenSource.sockets);
    const bytes = tokenSource.fuzz(this.random, socket);
    if (this.corpus.length < CORPUS_SIZE) this.corpus.push(tokenSource.token!.request);
    this.send(socket, bytes);
    return true;
  }

  private sendSessionFuzz(): boolean {
    const active = this.sessions.filter((session) => session.active);
    if (active.length === 0) return false;
    const session = this.random.pick(active);
    const bytes = session.fuzz(this.random, Date.now());
    if (bytes === null) return false;
    if (this.corpus.length < CORPUS_SIZE) this.corpus.push(bytes);
    else this.corpus[this.random.int(0, CORPUS_SIZE - 1)] = bytes;
    this.inFlight += 1;
    session.socket.send(bytes, this.options.port, this.options.host, () => {
      this.inFlight -= 1;
    });
    this.count("session", bytes);
    return true;
  }

  private send(source: Source, bytes: Uint8Array): void {
    source.largestSent = Math.max(source.largestSent, bytes.length);
    source.bytesSent += bytes.length;
    this.inFlight += 1;
    source.socket.send(bytes, this.options.port, this.options.host, () => {
      this.inFlight -= 1;
    });
    this.count(source.kind, bytes);
  }

  private count(kind: FuzzKind, bytes: Uint8Array): void {
    const tally = this.report.sent[kind];
    tally.datagrams += 1;
    tally.bytes += bytes.length;
  }

  /** An answer to a source without a session: never larger than what it sent. */
  private answered(source: Source, bytes: Uint8Array): void {
    if (source.kind === "session") return;
    const answers = this.report.answers[source.kind];
    answers.datagrams += 1;
    answers.bytes += bytes.length;
    answers.largest = Math.max(answers.largest, bytes.length);
    source.bytesAnswered += bytes.length;
    if (bytes.length > source.largestSent || source.bytesAnswered > source.bytesSent) {
      this.report.violationCount += 1;
      if (this.report.violations.length < MAX_VIOLATIONS_KEPT) {
        this.report.violations.push({
          kind: source.kind,
          source: source.name,
          answerBytes: bytes.length,
          largestSent: source.largestSent,
          bytesSent: source.bytesSent,
          bytesAnswered: source.bytesAnswered,
        });
      }
    }
    if (source.kind === "token") {
      for (const tokenSource of this.tokenSources) {
        if (tokenSource.sockets.includes(source)) tokenSource.answered(source, bytes);
      }
    }
  }
}

/** What the fuzz sessions and token sources saw. */
class SessionStats {
  connected = 0;
  helloAnswered = 0;
  validDatagrams = 0;
  minted = 0;
  mintFailures = 0;
  lastMintError: string | undefined;
  readonly ejections: Record<string, number> = {};
  readonly ended: Record<string, number> = {};

  mintFailed(error: unknown): void {
    this.mintFailures += 1;
    this.lastMintError = error instanceof Error ? error.message : String(error);
  }
}

interface HeldToken {
  readonly protocolId: bigint;
  /** The valid connection request it makes. */
  readonly request: Uint8Array;
  readonly clientToServerKey: Uint8Array;
  readonly serverToClientKey: Uint8Array;
}

/** A source of connection requests and responses from valid tokens, bent. */
class TokenSource {
  token: HeldToken | null = null;
  private refreshing = false;
  private refreshedAt = 0;
  /** The challenge each socket got, to answer with a bent response. */
  private readonly challenges = new Map<Source, { sequence: bigint; token: Uint8Array }>();
  private responseSequence = 0n;

  constructor(
    readonly address: string,
    readonly sockets: readonly Source[],
    private readonly stats: SessionStats,
  ) {}

  refreshIfDue(mint: FuzzOptions["mint"], now: number): void {
    if (!this.refreshing && now - this.refreshedAt >= TOKEN_REFRESH_MS) void this.refresh(mint, now);
  }

  async refresh(mint: FuzzOptions["mint"], now: number): Promise<void> {
    this.refreshing = true;
    this.refreshedAt = now;
    try {
      const read = netcode.readConnectToken(await mint(this.address));
      if (!read.ok) throw new Error(`uberdog minted a connect token the client cannot read (${read.reason})`);
      const token = read.value;
      this.token = {
        protocolId: token.protocolId,
        request: netcode.writeConnectionRequest({
          protocolId: token.protocolId,
          expireTimestamp: token.expireTimestamp,
          nonce: token.nonce,
          sealedPrivate: token.sealedPrivate,
        }),
        clientToServerKey: token.clientToServerKey,
        serverToClientKey: token.serverToClientKey,
      };
      this.challenges.clear();
      this.stats.minted += 1;
    } catch (error) {
      this.stats.mintFailed(error);
    } finally {
      this.refreshing = false;
    }
  }

  fuzz(random: Random, socket: Source): Uint8Array {
    const token = this.token!;
    const challenge = this.challenges.get(socket);
    const roll = random.int(0, 99);
    if (challenge !== undefined && roll < 35) {
      // a response to the challenge this socket got: its challenge token bent, or the packet bent
      const bend = random.chance(0.5);
      const packet = netcode.writeEncryptedPacket(
        {
          type: netcode.PacketType.ConnectionResponse,
          challengeSequence: challenge.sequence,
          challengeToken: bend ? flipBits(random, challenge.token) : challenge.token,
        },
        this.responseSequence++,
        token.clientToServerKey,
        token.protocolId,
      );
      return bend ? packet : mutate(random, packet);
    }
    if (roll < 45) return token.request; // replayed as it is, from any port of the address
    return random.chance(0.7) ? flipBits(random, token.request) : mutate(random, token.request);
  }

  answered(socket: Source, bytes: Uint8Array): void {
    const token = this.token;
    if (token === null) return;
    const read = netcode.readEncryptedPacket(bytes, {
      key: token.serverToClientKey,
      protocolId: token.protocolId,
      allowed: netcode.CLIENT_ACCEPTED_PACKETS,
    });
    if (read.ok && read.value.packet.type === netcode.PacketType.ConnectionChallenge) {
      const { challengeSequence, challengeToken } = read.value.packet;
      this.challenges.set(socket, { sequence: challengeSequence, token: challengeToken });
    }
  }
}

type SessionState = "idle" | "minting" | "connecting" | "hello" | "active";

/** A client with a real session that sends correctly encrypted nonsense. */
class FuzzSession {
  state: SessionState = "idle";
  private client = new netcode.NetcodeClient();
  private endpoint = new reliable.ReliableEndpoint();
  private retryAt = 0;
  private lastHeartbeatAt = 0;
  /** Reliable-layer packets and datagrams it sent, to bend and replay. */
  private readonly payloads: Uint8Array[] = [];
  private readonly datagrams: Uint8Array[] = [];

  constructor(
    readonly address: string,
    readonly socket: Socket,
    private readonly server: netcode.NetcodeAddress,
    private readonly options: FuzzOptions,
    private readonly stats: SessionStats,
  ) {
    socket.on("message", (bytes, from) => this.receive(bytes, from, Date.now()));
  }

  get active(): boolean {
    return this.state === "active";
  }

  /** Every SESSION_TICK_MS: logs in when due, drives the handshake, heartbeats, acks. */
  drive(now: number): void {
    if (this.state === "idle" && now >= this.retryAt) this.login();
    if (this.state === "idle" || this.state === "minting") return;
    this.take(this.client.update(now));
    if (this.state !== "connecting" && now - this.lastHeartbeatAt >= HEARTBEAT_MS) {
      this.lastHeartbeatAt = now;
      this.endpoint.sendReliable(encodeClientMessage({ type: ClientMessageType.Heartbeat }));
    }
    this.flush(now);
    this.checkEnded(now);
  }

  leave(now: number): void {
    if (this.state !== "idle" && this.state !== "minting") this.take(this.client.disconnect(now));
    this.state = "idle";
  }

  /** One mutated datagram inside the session; null when it has nothing to bend yet. */
  fuzz(random: Random, now: number): Uint8Array | null {
    const roll = random.int(0, 99);
    let payload: Uint8Array | null = null;
    if (roll < 6) {
      // a bad client message, correctly carried by the reliable layer
      try {
        this.endpoint.sendReliable(clientMessage(random, this.options.version, this.options.schemaHash));
      } catch {
        return null; // larger than the reliable layer takes: nothing sent
      }
      const sends = this.endpoint.update(now);
      for (const each of sends.slice(1)) this.take(this.client.send(each, now));
      payload = sends[0] ?? null;
    } else if (roll < 60 && this.payloads.length > 0) {
      payload = mutate(random, random.pick(this.payloads)); // a bent reliable header or record
    } else if (roll < 80) {
      payload = random.bytes(random.int(1, MAX_PAYLOAD));
    } else if (this.datagrams.length > 0) {
      const datagram = random.pick(this.datagrams);
      return roll < 90 ? datagram : flipBits(random, datagram); // replayed, or failing its tag
    }
    if (payload === null) return null;
    if (payload.length === 0) payload = random.bytes(1);
    if (payload.length > MAX_PAYLOAD) payload = payload.subarray(0, MAX_PAYLOAD);
    const sent = this.client.send(payload, now).find((event) => event.type === "send");
    return sent?.type === "send" ? sent.bytes : null;
  }

  private login(): void {
    this.state = "minting";
    this.options.mint(this.address).then(
      (token) => {
        this.stats.minted += 1;
        if (this.state !== "minting") return;
        this.client = new netcode.NetcodeClient();
        this.endpoint = new reliable.ReliableEndpoint();
        this.payloads.length = 0;
        this.datagrams.length = 0;
        this.state = "connecting";
        this.take(this.client.connect(token, Date.now()));
      },
      (error: unknown) => {
        this.stats.mintFailed(error);
        this.state = "idle";
        this.retryAt = Date.now() + SESSION_RETRY_MS;
      },
    );
  }

  private receive(bytes: Uint8Array, from: { address: string; port: number }, now: number): void {
    if (this.state === "idle" || this.state === "minting") return;
    const events = this.client.receive(bytes, netcode.addressFromHostPort(from.address, from.port), now);
    for (const event of events) {
      if (event.type !== "payload") continue;
      const result = this.endpoint.receivePacket(event.payload, now);
      if (!result.accepted) continue;
      for (const message of result.messages) this.agentMessage(message.bytes);
    }
    this.take(events);
    if (this.state === "connecting" && this.client.state === netcode.ClientState.Connected) {
      this.stats.connected += 1;
      this.state = "hello";
      this.lastHeartbeatAt = now;
      this.endpoint.sendReliable(
        encodeClientMessage({
          type: ClientMessageType.Hello,
          version: this.options.version,
          schemaHash: this.options.schemaHash,
        }),
      );
      this.flush(now);
    }
    this.checkEnded(now);
  }

  private agentMessage(bytes: Uint8Array): void {
    // only HELLO_RESP and EJECT matter here: no object's class is needed
    const decoded = decodeAgentMessage(bytes, { dc: this.options.dc, classOf: () => undefined });
    if (!decoded.ok) return;
    const message = decoded.message;
    if (message.type === AgentMessageType.HelloResp && this.state === "hello") {
      this.stats.helloAnswered += 1;
      this.state = "active";
    } else if (message.type === AgentMessageType.Eject) {
      const name = ejectName(message.code);
      this.stats.ejections[name] = (this.stats.ejections[name] ?? 0) + 1;
    }
  }

  /** Sends what the reliable layer has (acks, hello, heartbeats) while connected. */
  private flush(now: number): void {
    if (this.client.state !== netcode.ClientState.Connected) return;
    for (const payload of this.endpoint.update(now)) {
      this.payloads.push(payload);
      if (this.payloads.length > CORPUS_SIZE) this.payloads.shift();
      this.take(this.client.send(payload, now));
    }
  }

  /** Sends the valid datagrams the netcode client made (handshake, hello, heartbeats, keep-alives, acks). */
  private take(events: readonly netcode.ClientEvent[]): void {
    for (const event of events) {
      if (event.type !== "send") continue;
      this.socket.send(event.bytes, this.server.port, this.options.host);
      this.stats.validDatagrams += 1;
      this.datagrams.push(event.bytes);
      if (this.datagrams.length > CORPUS_SIZE) this.datagrams.shift();
    }
  }

  private checkEnded(now: number): void {
    const state = this.client.state;
    if (this.state === "connecting" && state > netcode.ClientState.Disconnected) return;
    if (state === netcode.ClientState.Connected || this.state === "idle" || this.state === "minting") return;
    const name = clientStateName(state);
    this.stats.ended[name] = (this.stats.ended[name] ?? 0) + 1;
    this.state = "idle";
    this.retryAt = now + SESSION_RETRY_MS;
  }
}

function ejectName(code: number): string {
  const name = Object.entries(EjectCode).find(([, value]) => value === code)?.[0];
  return name === undefined ? String(code) : `${code} ${name}`;
}

function clientStateName(state: number): string {
  return Object.entries(netcode.ClientState).find(([, value]) => value === state)?.[0] ?? String(state);
}

function empty(): { datagrams: number; bytes: number } {
  return { datagrams: 0, bytes: 0 };
}

function bound(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket("udp4");
    socket.once("error", reject);
    socket.bind(0, address, () => {
      socket.off("error", reject);
      socket.on("error", () => {}); // a refused send (the agent gone) shows in the checks, not as a crash
      resolve(socket);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => {
    try {
      socket.close(() => resolve());
    } catch {
      resolve();
    }
  });
}

/** Sources on loopback: `count` addresses from `first` (127.0.3.1, 127.0.3.2, ...). */
export function loopbackAddresses(first: string, count: number): string[] {
  const [a, b, c, d] = first.split(".").map(Number) as [number, number, number, number];
  const base = ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
  return Array.from({ length: count }, (_, i) => {
    const n = base + i;
    return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
  });
}

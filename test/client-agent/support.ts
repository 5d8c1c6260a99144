/**
 * What the client-agent tests share: an isolated cluster namespace (subject root, Redis prefix, Postgres
 * schema, event stream) with a real message director in-process, a client agent in-process on 127.0.0.1,
 * and a test client built from the real transport (NetcodeClient + ReliableEndpoint over a UDP socket).
 */
import { randomBytes } from "node:crypto";
import {
  type DClass,
  type DcFile,
  legacyHash,
  loadDcFiles,
  netcode,
  reliable,
  subjects,
} from "@overworld/protocol";
import {
  type AgentMessage,
  type AgentMessageOf,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  dcFieldSizer,
  decodeAgentMessage,
  encodeClientMessage,
  type WireClasses,
} from "@overworld/protocol/client";
import {
  DEFAULT_NETCODE_PROTOCOL_ID,
  encodeLoginUserData,
  type NatsConnection,
  request,
} from "@overworld/service";
import {
  type ClientAgentHandle,
  loadClientAgentConfig,
  startClientAgent,
} from "../../services/client-agent/src/main.ts";
import {
  loadDirectorConfig,
  type MessageDirector,
  startMessageDirector,
} from "../../services/message-director/src/director.ts";
import {
  loadStateServerConfig,
  type StateServerHandle,
  startStateServer,
} from "../../services/state-server/src/main.ts";
import { deleteStreams, dropRedisKeys, dropSchema } from "../support/cleanup.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { connectOperator, natsEnv } from "../support/nats.ts";
import { DATABASE_URL, NATS_URL, REDIS_URL } from "../support/services.ts";

export const CLUSTER_VERSION = "test-ca-1";
export const dc = loadDcFiles([DC_FIXTURES.astronTest]);
export const SCHEMA_HASH = legacyHash(dc);
export const sizer = dcFieldSizer(dc);
export const PRIVATE_KEY = new Uint8Array(randomBytes(netcode.KEY_BYTES));

/** The channel the tests send state-server requests as. */
export const TEST_SENDER = 4_000_000_000;

export interface Cluster {
  /** The cluster's NATS subject root (SUBJECT_ROOT). */
  readonly root: string;
  /** The cluster's Redis key prefix (REDIS_PREFIX of its state server). */
  readonly prefix: string;
  /** The cluster event log's stream (EVENT_STREAM of its director). */
  readonly eventStream: string;
  /** What every participant of the cluster runs with: DC_FILES, CLUSTER_VERSION, SUBJECT_ROOT, ... */
  readonly env: Readonly<Record<string, string>>;
  readonly director: MessageDirector;
  readonly agent: ClientAgentHandle;
  /** Present when started with `{ stateServer: true }`. */
  readonly stateServer: StateServerHandle | undefined;
  /** Stops the state server (none answers meanwhile), runs `whileDown`, and starts a new one. */
  restartStateServer(whileDown: () => Promise<void>): Promise<void>;
  /** The test's own NATS connection. */
  readonly bus: NatsConnection;
  /** A state-server operation, as the test (sender TEST_SENDER); needs the state server. */
  ss<T = Record<string, unknown>>(op: string, body: object): Promise<T>;
  /** Another client agent in the same cluster (its own UDP port); `stop` stops it too. */
  startAgent(agentEnv?: Record<string, string>): Promise<ClientAgentHandle>;
  stop(): Promise<void>;
}

/**
 * A director and a client agent (and, if asked, a state server) in a namespace of their own; `stop`
 * removes every trace of it.
 */
export async function startCluster(
  name: string,
  agentEnv: Record<string, string> = {},
  options: {
    stateServer?: boolean;
    dcFiles?: readonly string[];
    /** Message-director environment beyond the cluster's (e.g. DEAD_AFTER_MS). */
    directorEnv?: Record<string, string>;
  } = {},
): Promise<Cluster> {
  const tag = `${name}${process.pid}${Date.now().toString(36)}`.replace(/[^a-z0-9]/gi, "").toLowerCase();
  const root = `owt${tag}`;
  const prefix = `owt:${tag}:`;
  const schema = `ca_${tag}`;
  const stream = `OWT_${tag.toUpperCase()}`;
  const shared = {
    REDIS_URL,
    DATABASE_URL,
    DC_FILES: (options.dcFiles ?? [DC_FIXTURES.astronTest]).join(","),
    CLUSTER_VERSION,
    SUBJECT_ROOT: root,
    LOG_LEVEL: "silent",
    HTTP_PORT: "0",
  };
  const director = await startMessageDirector(
    loadDirectorConfig({
      ...shared,
      ...natsEnv("message-director"),
      DB_SCHEMA: schema,
      REDIS_PREFIX: `${prefix}md:`,
      EVENT_STREAM: stream,
      ...options.directorEnv,
    }),
  );
  const newStateServer = () =>
    startStateServer(
      loadStateServerConfig({
        ...shared,
        ...natsEnv("state-server"),
        DB_SCHEMA: schema,
        REDIS_PREFIX: prefix,
      }),
    );
  let stateServer = options.stateServer ? await newStateServer() : undefined;
  const bus: NatsConnection = await connectOperator(`client-agent test ${tag}`);
  const startAgent = (env: Record<string, string>) =>
    startClientAgent(
      loadClientAgentConfig({
        ...shared,
        ...natsEnv("client-agent"),
        REDIS_PREFIX: prefix,
        UDP_PORT: "0",
        PUBLIC_ADDRESS: "127.0.0.1:0",
        NETCODE_PRIVATE_KEY: Buffer.from(PRIVATE_KEY).toString("hex"),
        ...env,
      }),
    );
  const agent = await startAgent(agentEnv);
  const others: ClientAgentHandle[] = [];
  return {
    root,
    prefix,
    eventStream: stream,
    env: shared,
    director,
    agent,
    get stateServer() {
      return stateServer;
    },
    async restartStateServer(whileDown) {
      await stateServer?.stop();
      stateServer = undefined;
      await whileDown();
      stateServer = await newStateServer();
    },
    bus,
    ss: <T>(op: string, body: object) =>
      request<T>(bus, subjects(root).service("ss", op, { role: "tool", channel: TEST_SENDER }), body, 5000),
    async startAgent(env = agentEnv) {
      const other = await startAgent(env);
      others.push(other);
      return other;
    },
    async stop() {
      for (const other of others) await other.stop();
      await agent.stop();
      await stateServer?.stop();
      await director.stop();
      await bus.drain();
      await dropRedisKeys(prefix);
      await dropSchema(schema);
      await deleteStreams([stream]);
    },
  };
}

let nextClientId = BigInt(Date.now()) * 1000n;
let nextAccountId = 1;

/** A connect token for the agent, as uberdog would issue it. */
export function connectToken(
  agent: ClientAgentHandle,
  timeoutSeconds = 10,
  accountId = nextAccountId++,
): Uint8Array {
  return netcode.generateConnectToken({
    protocolId: DEFAULT_NETCODE_PROTOCOL_ID,
    privateKey: PRIVATE_KEY,
    clientId: nextClientId++,
    serverAddresses: [agent.publicAddress],
    expireSeconds: 30,
    timeoutSeconds,
    userData: encodeLoginUserData({ accountId, username: `player_${accountId}` }),
  });
}

const PUMP_MS = 10;

export interface TestClientOptions {
  /** The netcode timeout written in the token (default 10 s). */
  readonly timeoutSeconds?: number;
  /** The account in the token (default: a fresh one). */
  readonly accountId?: number;
  /** The local address the client's socket binds (default 127.0.0.1; all of 127.0.0.0/8 is loopback). */
  readonly host?: string;
  /** The cluster's model (default: Astron's test .dc, as `dc`). */
  readonly file?: DcFile;
}

/** A game client over the real transport: netcode + reliable + the client message catalogue. */
export class TestClient {
  readonly netcode = new netcode.NetcodeClient();
  readonly endpoint = new reliable.ReliableEndpoint();
  readonly received: AgentMessage[] = [];
  /** Every agent message as it came, before decoding: what went over the wire. */
  readonly raw: Uint8Array[] = [];
  /** The classes of the objects that entered (updates name fields by keys local to them). */
  private readonly classes = new Map<number, number>();
  private readonly wire: WireClasses;

  private constructor(file: DcFile) {
    this.wire = {
      dc: file,
      classOf: (doId) => {
        const classId = this.classes.get(doId);
        return classId === undefined ? undefined : (file.typeById(classId) as DClass);
      },
    };
  }
  readonly undecodable: string[] = [];
  private udp: netcode.UdpEndpoint | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeats: NodeJS.Timeout | undefined;
  private waiters: (() => void)[] = [];
  /** The account in the client's connect token. */
  accountId = 0;

  static async connect(agent: ClientAgentHandle, options: TestClientOptions = {}): Promise<TestClient> {
    const client = new TestClient(options.file ?? dc);
    client.udp = await netcode.openUdpEndpoint({
      host: options.host ?? "127.0.0.1",
      onDatagram: (bytes, from) => client.handle(client.netcode.receive(bytes, from, Date.now())),
    });
    client.accountId = options.accountId ?? nextAccountId++;
    const token = connectToken(agent, options.timeoutSeconds ?? 10, client.accountId);
    client.handle(client.netcode.connect(token, Date.now()));
    client.timer = setInterval(() => client.pump(), PUMP_MS);
    await client.until(() => client.netcode.state === netcode.ClientState.Connected, "netcode connected");
    return client;
  }

  /** Connects and says hello; resolves once the agent answered it. */
  static async helloed(agent: ClientAgentHandle, options: TestClientOptions = {}): Promise<TestClient> {
    const client = await TestClient.connect(agent, options);
    client.hello();
    await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
    return client;
  }

  get connected(): boolean {
    return this.netcode.state === netcode.ClientState.Connected;
  }

  hello(version = CLUSTER_VERSION, schemaHash = SCHEMA_HASH): void {
    this.send({ type: ClientMessageType.Hello, version, schemaHash });
  }

  /** Sends a heartbeat every `ms` while connected, until closed. */
  heartbeatEvery(ms: number): void {
    clearInterval(this.heartbeats);
    this.heartbeats = setInterval(() => {
      if (this.connected) this.send({ type: ClientMessageType.Heartbeat });
    }, ms);
  }

  /** Waits for the EJECT and for the agent to close the connection, closes, and returns the ejection. */
  async ejection(): Promise<Of<typeof AgentMessageType.Eject>> {
    const eject = await this.next(is(AgentMessageType.Eject), "EJECT");
    await this.until(() => !this.connected, "the agent to disconnect the ejected client");
    await this.close();
    return eject;
  }

  /** The socket's address (to send raw datagrams from elsewhere). */
  get address(): netcode.NetcodeAddress {
    return this.udp!.address;
  }

  /** Every message sent, in order. */
  readonly sent: ClientMessage[] = [];

  send(message: ClientMessage): void {
    this.sent.push(message);
    this.sendBytes(encodeClientMessage(message));
  }

  sendBytes(bytes: Uint8Array): void {
    this.endpoint.sendReliable(bytes);
  }

  /** Waits for an agent message matching `test`, already received or to come. */
  async next<T extends AgentMessage>(test: (message: AgentMessage) => message is T, what: string): Promise<T>;
  async next(test: (message: AgentMessage) => boolean, what: string): Promise<AgentMessage>;
  async next(test: (message: AgentMessage) => boolean, what: string): Promise<AgentMessage> {
    let found: AgentMessage | undefined;
    await this.until(() => {
      found = this.received.find(test);
      return found !== undefined;
    }, what);
    return found!;
  }

  async until(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, PUMP_MS * 2);
      });
    }
  }

  /** Says goodbye if connected and closes the socket; closing again does nothing. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    clearInterval(this.heartbeats);
    if (this.connected) this.handle(this.netcode.disconnect(Date.now()));
    const udp = this.udp;
    this.udp = undefined;
    await udp?.close();
  }

  private pump(): void {
    const now = Date.now();
    this.handle(this.netcode.update(now));
    if (this.connected)
      for (const payload of this.endpoint.update(now)) this.handle(this.netcode.send(payload, now));
  }

  private handle(events: netcode.ClientEvent[]): void {
    for (const event of events) {
      if (event.type === "send") this.udp?.send(event.bytes, event.to);
      else if (event.type === "payload") this.receivePayload(event.payload);
    }
    for (const wake of this.waiters.splice(0)) wake();
  }

  private receivePayload(payload: Uint8Array): void {
    const result = this.endpoint.receivePacket(payload, Date.now());
    if (!result.accepted) return;
    for (const message of result.messages) {
      this.raw.push(message.bytes.slice());
      const decoded = decodeAgentMessage(message.bytes, this.wire);
      if (!decoded.ok) {
        this.undecodable.push(decoded.detail);
        continue;
      }
      const entered = decoded.message;
      if (entered.type === AgentMessageType.EnterObject || entered.type === AgentMessageType.EnterOwnedObject)
        this.classes.set(entered.doId, entered.classId);
      this.received.push(entered);
    }
  }
}

export { DATABASE_URL, NATS_URL, REDIS_URL };

/** The agent message of one type. */
export type Of<T extends AgentMessage["type"]> = AgentMessageOf<T>;

/** A predicate picking agent messages of one type, typed as that message. */
export const is =
  <T extends AgentMessage["type"]>(type: T) =>
  (m: AgentMessage): m is Of<T> =>
    m.type === type;

/** What a test closes when it ends: its clients, and their heartbeat timers. */
export interface OwnedClients {
  readonly clients: TestClient[];
  readonly timers: NodeJS.Timeout[];
}

/** A client of `agent` past its hello, heartbeating every `heartbeatMs`; `owned` takes it and its timer. */
export async function helloedClient(
  agent: ClientAgentHandle,
  owned: OwnedClients,
  heartbeatMs: number,
): Promise<TestClient> {
  const client = await TestClient.connect(agent);
  owned.clients.push(client);
  client.send({ type: ClientMessageType.Hello, version: CLUSTER_VERSION, schemaHash: SCHEMA_HASH });
  await client.next(is(AgentMessageType.HelloResp), "HELLO_RESP");
  owned.timers.push(
    setInterval(() => {
      if (client.connected) client.send({ type: ClientMessageType.Heartbeat });
    }, heartbeatMs),
  );
  return client;
}

/** The participant channel `agent` gave the client (waits for it: a few ms after the hello). */
export async function participantChannel(agent: ClientAgentHandle, client: TestClient): Promise<number> {
  await client.until(
    () => agent.clientChannel(client.accountId) !== undefined,
    "the client's participant channel",
  );
  return agent.clientChannel(client.accountId)!;
}

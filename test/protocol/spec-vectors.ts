/**
 * The test vectors of docs/protocol.md, made by the implementation: each vector is a name, the bytes the
 * TypeScript code produces for fixed inputs (keys, nonces, sequences, values), and a check that decoding
 * those bytes gives the inputs back. spec-vectors.test.ts holds the document's blocks to them.
 *
 * `pnpm exec tsx test/protocol/spec-vectors.ts` prints every vector as a block for the document.
 */
import { fileURLToPath } from "node:url";
import {
  type DClass,
  encodeFieldDelta,
  type FieldValue,
  legacyHash,
  loadDcFiles,
  netcode,
  packField,
  type StoredField,
} from "@overworld/protocol";
import {
  type AgentMessage,
  AgentMessageType,
  type ClientMessage,
  ClientMessageType,
  dcFieldSizer,
  decodeAgentMessage,
  decodeClientMessage,
  EjectCode,
  encodeAgentMessage,
  encodeClientMessage,
  HELLO_FEATURE_PLUGIN_MESSAGES,
  HELLO_FEATURE_PLUGINS,
  PluginEdge,
  PluginEncoding,
  type WireClasses,
} from "@overworld/protocol/client";
import { DatagramReader } from "../../libs/protocol/src/pack/reader.ts";
import { DatagramWriter } from "../../libs/protocol/src/pack/writer.ts";
import {
  NO_PREVIOUS_ID,
  readMessageRecords,
  writeReliableRecord,
  writeUnreliableRecord,
} from "../../libs/protocol/src/transport/reliable/message-records.ts";
import {
  type PacketHeader,
  readPacketHeader,
  writePacketHeader,
} from "../../libs/protocol/src/transport/reliable/packet-header.ts";
import { DEFAULT_NETCODE_PROTOCOL_ID } from "../../libs/service/src/login-user-data.ts";
import { DEMO_DC } from "../support/avatars.ts";

const dc = loadDcFiles([DEMO_DC]);
const cls = (name: string): DClass => dc.class(name)!;
const fieldId = (className: string, field: string): number => cls(className).field(field)!.id;

/** Bytes 0..n-1 offset by `start`: the fixed keys and nonces of the vectors. */
function counting(start: number, length: number): Uint8Array {
  return Uint8Array.from({ length }, (_, i) => (start + i) & 0xff);
}

// ---- the fixed inputs ---------------------------------------------------------------------------------

const PROTOCOL_ID = DEFAULT_NETCODE_PROTOCOL_ID;
const PRIVATE_KEY = counting(0x00, 32);
const CLIENT_TO_SERVER_KEY = counting(0x20, 32);
const SERVER_TO_CLIENT_KEY = counting(0x40, 32);
const TOKEN_NONCE = counting(0x60, 24);
const CHALLENGE_KEY = counting(0x80, 32);
const CLIENT_ID = 42n;
const CREATE_TIMESTAMP = 1_800_000_000n;
const EXPIRE_TIMESTAMP = CREATE_TIMESTAMP + 30n;
const TIMEOUT_SECONDS = 10;
const SERVER = netcode.parseAddress("127.0.0.1:40000");
/** The user data uberdog would seal (opaque to a client): here "user data" and zeros. */
const USER_DATA = (() => {
  const data = new Uint8Array(256);
  data.set(new TextEncoder().encode("user data"));
  return data;
})();
const VERSION = "demo-1";
const SCHEMA_HASH = legacyHash(dc);

const AVATAR = 100_000_001;
const NPC = 100_000_002;
const BOSS = 100_000_003;
const WORLD = 1000;
const SHOP = 1001;

const classes: WireClasses = {
  dc,
  classOf(doId) {
    if (doId === AVATAR) return cls("DistributedAvatar");
    if (doId === NPC) return cls("DistributedNpc");
    if (doId === BOSS) return cls("DistributedBoss");
    return undefined;
  },
};

export interface Vector {
  readonly name: string;
  /** What the vector is, for the printed block. */
  readonly title: string;
  /** The bytes, as the implementation makes them. */
  readonly bytes: () => Uint8Array;
  /** Throws unless `bytes` (the document's) decode to the vector's inputs. */
  readonly decodes: (bytes: Uint8Array) => void;
}

function same(actual: unknown, expected: unknown, what: string): void {
  const show = (value: unknown) =>
    JSON.stringify(value, (_, v) =>
      typeof v === "bigint" ? `${v}n` : v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v,
    );
  if (show(actual) !== show(expected)) {
    throw new Error(`${what}: decoded ${show(actual)}, expected ${show(expected)}`);
  }
}

// ---- netcode ------------------------------------------------------------------------------------------

const privateToken: netcode.PrivateConnectToken = {
  clientId: CLIENT_ID,
  timeoutSeconds: TIMEOUT_SECONDS,
  serverAddresses: [SERVER],
  clientToServerKey: CLIENT_TO_SERVER_KEY,
  serverToClientKey: SERVER_TO_CLIENT_KEY,
  userData: USER_DATA,
};

function sealedPrivate(): Uint8Array {
  return netcode.sealPrivateToken(netcode.writePrivateToken(privateToken), {
    protocolId: PROTOCOL_ID,
    expireTimestamp: EXPIRE_TIMESTAMP,
    nonce: TOKEN_NONCE,
    privateKey: PRIVATE_KEY,
  });
}

function connectToken(): Uint8Array {
  return netcode.writeConnectToken({
    protocolId: PROTOCOL_ID,
    createTimestamp: CREATE_TIMESTAMP,
    expireTimestamp: EXPIRE_TIMESTAMP,
    nonce: TOKEN_NONCE,
    sealedPrivate: sealedPrivate(),
    timeoutSeconds: TIMEOUT_SECONDS,
    serverAddresses: [SERVER],
    clientToServerKey: CLIENT_TO_SERVER_KEY,
    serverToClientKey: SERVER_TO_CLIENT_KEY,
  });
}

const CHALLENGE_SEQUENCE = 7n;

function sealedChallengeToken(): Uint8Array {
  const plaintext = netcode.writeChallengeToken({ clientId: CLIENT_ID, userData: USER_DATA });
  return netcode.sealChallengeToken(plaintext, CHALLENGE_SEQUENCE, CHALLENGE_KEY);
}

function packetVector(
  name: string,
  title: string,
  packet: () => netcode.EncryptedPacket,
  sequence: bigint,
  fromServer: boolean,
): Vector {
  const key = fromServer ? SERVER_TO_CLIENT_KEY : CLIENT_TO_SERVER_KEY;
  return {
    name,
    title,
    bytes: () => netcode.writeEncryptedPacket(packet(), sequence, key, PROTOCOL_ID),
    decodes(bytes) {
      const read = netcode.readEncryptedPacket(bytes, {
        key,
        protocolId: PROTOCOL_ID,
        allowed: fromServer ? netcode.CLIENT_ACCEPTED_PACKETS : netcode.SERVER_ACCEPTED_PACKETS,
      });
      if (!read.ok) throw new Error(`${name}: dropped (${read.reason})`);
      same(read.value, { packet: packet(), sequence }, name);
    },
  };
}

// ---- the reliable layer -------------------------------------------------------------------------------

interface DatagramContent {
  readonly header: PacketHeader;
  readonly reliable?: readonly { readonly id: number; readonly bytes: Uint8Array }[];
  readonly unreliable?: readonly Uint8Array[];
}

function writeDatagram(content: DatagramContent): Uint8Array {
  const writer = new DatagramWriter(64);
  writePacketHeader(writer, content.header);
  let previous = NO_PREVIOUS_ID;
  for (const message of content.reliable ?? []) {
    writeReliableRecord(writer, message.id, previous, message.bytes);
    previous = message.id;
  }
  for (const message of content.unreliable ?? []) writeUnreliableRecord(writer, message);
  return writer.toBytes();
}

function datagramVector(name: string, title: string, content: () => DatagramContent): Vector {
  return {
    name,
    title,
    bytes: () => writeDatagram(content()),
    decodes(bytes) {
      const reader = new DatagramReader(bytes);
      const header = readPacketHeader(reader);
      if (!header.ok) throw new Error(`${name}: header refused (${header.reason})`);
      const records = readMessageRecords(reader);
      if (!records.ok) throw new Error(`${name}: records refused (${records.reason})`);
      const expected = content();
      same(header.header, expected.header, `${name} header`);
      same(
        records.records,
        [
          ...(expected.reliable ?? []).map((m) => ({ kind: "reliable", id: m.id, bytes: m.bytes })),
          ...(expected.unreliable ?? []).map((m) => ({ kind: "unreliable", bytes: m })),
        ],
        `${name} records`,
      );
    },
  };
}

// ---- client messages ----------------------------------------------------------------------------------

function clientVector(name: string, title: string, message: () => ClientMessage): Vector {
  return {
    name,
    title,
    bytes: () => encodeClientMessage(message()),
    decodes(bytes) {
      const decoded = decodeClientMessage(bytes, dcFieldSizer(dc));
      if (!decoded.ok) throw new Error(`${name}: ${decoded.code} (${decoded.detail})`);
      same(decoded.message, message(), name);
    },
  };
}

function agentVector(name: string, title: string, message: () => AgentMessage): Vector {
  return {
    name,
    title,
    bytes: () => encodeAgentMessage(message(), dc),
    decodes(bytes) {
      const decoded = decodeAgentMessage(bytes, classes);
      if (!decoded.ok) throw new Error(`${name}: ${decoded.code} (${decoded.detail})`);
      same(decoded.message, message(), name);
    },
  };
}

function packed(className: string, field: string, value: FieldValue): { fieldId: number; value: Uint8Array } {
  const id = fieldId(className, field);
  return { fieldId: id, value: packField(dc.fieldById(id)!, value) };
}

const hello = (): ClientMessage => ({
  type: ClientMessageType.Hello,
  version: VERSION,
  schemaHash: SCHEMA_HASH,
});

/** One entry of the boss's damage table changed: argument 2 (`entries`), element 0, set whole. */
function damageChange(): Uint8Array {
  const field = cls("DistributedBoss").field("setClusterDamage") as StoredField;
  return encodeFieldDelta(field, {
    kind: "struct",
    entries: [
      { key: 2, delta: { kind: "array", entries: [{ key: 0, value: { attacker: AVATAR, total: 30 } }] } },
    ],
  });
}

// ---- the vectors, in the document's order -------------------------------------------------------------

export const VECTORS: readonly Vector[] = [
  {
    name: "connect-token",
    title: "the 2048-byte connect token uberdog returns (base64 in its JSON)",
    bytes: connectToken,
    decodes(bytes) {
      const read = netcode.readConnectToken(bytes);
      if (!read.ok) throw new Error(`connect-token: ${read.reason}`);
      same(
        { ...read.value, serverAddresses: read.value.serverAddresses.map((a) => a.key) },
        {
          protocolId: PROTOCOL_ID,
          createTimestamp: CREATE_TIMESTAMP,
          expireTimestamp: EXPIRE_TIMESTAMP,
          nonce: TOKEN_NONCE,
          sealedPrivate: sealedPrivate(),
          timeoutSeconds: TIMEOUT_SECONDS,
          serverAddresses: [SERVER.key],
          clientToServerKey: CLIENT_TO_SERVER_KEY,
          serverToClientKey: SERVER_TO_CLIENT_KEY,
        },
        "connect-token",
      );
      const opened = netcode.openPrivateToken({
        sealedPrivate: read.value.sealedPrivate,
        protocolId: PROTOCOL_ID,
        expireTimestamp: EXPIRE_TIMESTAMP,
        nonce: TOKEN_NONCE,
        privateKey: PRIVATE_KEY,
      });
      if (!opened.ok) throw new Error(`connect-token private part: ${opened.reason}`);
      same(
        { ...opened.value, serverAddresses: opened.value.serverAddresses.map((a) => a.key) },
        { ...privateToken, serverAddresses: [SERVER.key] },
        "connect-token private part",
      );
    },
  },
  {
    name: "connection-request",
    title: "client -> server: the connection request (plaintext, 1078 bytes)",
    bytes: () =>
      netcode.writeConnectionRequest({
        protocolId: PROTOCOL_ID,
        expireTimestamp: EXPIRE_TIMESTAMP,
        nonce: TOKEN_NONCE,
        sealedPrivate: sealedPrivate(),
      }),
    decodes(bytes) {
      const read = netcode.readConnectionRequest(bytes, {
        protocolId: PROTOCOL_ID,
        nowSeconds: CREATE_TIMESTAMP,
      });
      if (!read.ok) throw new Error(`connection-request: ${read.reason}`);
      same(
        read.value,
        {
          type: 0,
          protocolId: PROTOCOL_ID,
          expireTimestamp: EXPIRE_TIMESTAMP,
          nonce: TOKEN_NONCE,
          sealedPrivate: sealedPrivate(),
        },
        "connection-request",
      );
    },
  },
  packetVector(
    "connection-challenge",
    "server -> client: challenge, packet sequence 0, challenge sequence 7",
    () => ({
      type: netcode.PacketType.ConnectionChallenge,
      challengeSequence: CHALLENGE_SEQUENCE,
      challengeToken: sealedChallengeToken(),
    }),
    0n,
    true,
  ),
  packetVector(
    "connection-response",
    "client -> server: response, packet sequence 0, echoing the challenge",
    () => ({
      type: netcode.PacketType.ConnectionResponse,
      challengeSequence: CHALLENGE_SEQUENCE,
      challengeToken: sealedChallengeToken(),
    }),
    0n,
    false,
  ),
  packetVector(
    "keep-alive",
    "server -> client: keep-alive, packet sequence 1, client index 0 of 256",
    () => ({ type: netcode.PacketType.KeepAlive, clientIndex: 0, maxClients: 256 }),
    1n,
    true,
  ),
  datagramVector(
    "reliable-hello",
    "reliable layer: the client's first datagram, carrying HELLO as message 0",
    () => ({
      header: { sequence: 0, ack: null },
      reliable: [{ id: 0, bytes: encodeClientMessage(hello()) }],
    }),
  ),
  packetVector(
    "payload-hello",
    "client -> server: payload packet, packet sequence 1, carrying the reliable-hello datagram",
    () => ({
      type: netcode.PacketType.Payload,
      payload: writeDatagram({
        header: { sequence: 0, ack: null },
        reliable: [{ id: 0, bytes: encodeClientMessage(hello()) }],
      }),
    }),
    1n,
    false,
  ),
  datagramVector(
    "reliable-acks",
    "reliable layer: sequence 300 acking 298 and the 32 before it but 290, with messages 5 and 6",
    () => ({
      header: { sequence: 300, ack: { latest: 298, bits: (0xffffffff & ~(1 << 7)) >>> 0 } },
      reliable: [
        { id: 5, bytes: encodeClientMessage({ type: ClientMessageType.Heartbeat }) },
        { id: 6, bytes: encodeClientMessage({ type: ClientMessageType.Heartbeat }) },
      ],
    }),
  ),
  datagramVector(
    "unreliable-state",
    "reliable layer: sequence 9 acking 4 (and 3 of the 32 before), one unreliable message",
    () => ({
      header: { sequence: 9, ack: { latest: 4, bits: 0b111 } },
      unreliable: [counting(0xa0, 3)],
    }),
  ),
  clientVector("hello", `HELLO version "${VERSION}", the demo schema's hash`, hello),
  clientVector(
    "hello-plugins",
    `HELLO version "${VERSION}", the demo schema's hash, features: PLUGINS (revision 1)`,
    () => ({ ...hello(), features: HELLO_FEATURE_PLUGINS }),
  ),
  clientVector(
    "hello-plugin-messages",
    `HELLO version "${VERSION}", the demo schema's hash, features: PLUGINS and PLUGIN_MESSAGES (revision 2), optional plugin "emotes"`,
    () => ({
      ...hello(),
      features: HELLO_FEATURE_PLUGINS | HELLO_FEATURE_PLUGIN_MESSAGES,
      optionalPlugins: ["emotes"],
    }),
  ),
  clientVector(
    "plugin-message",
    'PLUGIN_MESSAGE to the servers\' "emotes": the MessagePack value {"wave": 1}',
    () => ({
      type: ClientMessageType.PluginMessage,
      edge: PluginEdge.Server,
      plugin: "emotes",
      encoding: PluginEncoding.MessagePack,
      data: Uint8Array.from([0x81, 0xa4, 0x77, 0x61, 0x76, 0x65, 0x01]),
    }),
  ),
  clientVector("heartbeat", "HEARTBEAT", () => ({ type: ClientMessageType.Heartbeat })),
  clientVector("add-interest", "ADD_INTEREST id 1, context 1, parent 1000, zones 1 and 2", () => ({
    type: ClientMessageType.AddInterest,
    interestId: 1,
    context: 1,
    parent: WORLD,
    zones: [1, 2],
  })),
  clientVector("remove-interest", "REMOVE_INTEREST id 1, context 2", () => ({
    type: ClientMessageType.RemoveInterest,
    interestId: 1,
    context: 2,
  })),
  clientVector(
    "follow-interest",
    "FOLLOW_INTEREST id 2, context 3, the avatar on an 8x8 grid, radius 1",
    () => ({
      type: ClientMessageType.FollowInterest,
      interestId: 2,
      context: 3,
      doId: AVATAR,
      width: 8,
      height: 8,
      radius: 1,
    }),
  ),
  clientVector("set-field-say", 'SET_FIELD the avatar\'s say("hi")', () => ({
    type: ClientMessageType.SetField,
    doId: AVATAR,
    ...packed("DistributedAvatar", "say", ["hi"]),
  })),
  clientVector("set-field-move", "SET_FIELD the avatar's setSmXYH(12.5, -3, 90, 1234)", () => ({
    type: ClientMessageType.SetField,
    doId: AVATAR,
    ...packed("DistributedAvatar", "setSmXYH", [12.5, -3, 90, 1234]),
  })),
  agentVector("hello-resp", "HELLO_RESP cluster time 1800000000000.5", () => ({
    type: AgentMessageType.HelloResp,
    clusterTime: 1_800_000_000_000.5,
  })),
  agentVector("clock", "CLOCK server time 1800000001000, error bound 2.5 ms", () => ({
    type: AgentMessageType.Clock,
    serverTime: 1_800_000_001_000,
    errorBound: 2.5,
  })),
  agentVector(
    "enter-owned",
    "ENTER_OWNED the avatar, in world 1000 zone 3, tick 5, its owner-visible fields",
    () => ({
      type: AgentMessageType.EnterOwnedObject,
      doId: AVATAR,
      parent: WORLD,
      zone: 3,
      classId: cls("DistributedAvatar").id,
      tick: 5,
      fields: [
        packed("DistributedAvatar", "setXY", [60, 10]),
        packed("DistributedAvatar", "setH", [0]),
        packed("DistributedAvatar", "setName", ["ada"]),
        packed("DistributedAvatar", "hp", 100),
        packed("DistributedAvatar", "setSmXYH", [60, 10, 0, 0]),
      ],
    }),
  ),
  agentVector("enter-object", "ENTER_OBJECT an NPC, in world 1000 zone 3, tick 200", () => ({
    type: AgentMessageType.EnterObject,
    doId: NPC,
    parent: WORLD,
    zone: 3,
    classId: cls("DistributedNpc").id,
    tick: 200,
    fields: [
      packed("DistributedNpc", "setXY", [70.25, 20]),
      packed("DistributedNpc", "setH", [45.5]),
      packed("DistributedNpc", "setKind", [2]),
    ],
  })),
  agentVector("done-interest", "DONE_INTEREST id 2, context 3", () => ({
    type: AgentMessageType.DoneInterest,
    interestId: 2,
    context: 3,
  })),
  agentVector("field-updates", "FIELD_UPDATES the NPC's setSmXYH, then the avatar's chat", () => ({
    type: AgentMessageType.FieldUpdates,
    updates: [
      {
        doId: NPC,
        classId: cls("DistributedNpc").id,
        ...packed("DistributedNpc", "setSmXYH", [74.25, 20, 0, 9000]),
      },
      {
        doId: AVATAR,
        classId: cls("DistributedAvatar").id,
        ...packed("DistributedAvatar", "chat", [AVATAR, "hi"]),
      },
    ],
  })),
  agentVector(
    "field-updates-nested",
    "FIELD_UPDATES a nested change: the boss's setClusterDamage, entries[0] set",
    () => ({
      type: AgentMessageType.FieldUpdates,
      updates: [
        {
          doId: BOSS,
          classId: cls("DistributedBoss").id,
          fieldId: fieldId("DistributedBoss", "setClusterDamage"),
          value: damageChange(),
          nested: true,
        },
      ],
    }),
  ),
  agentVector("state-updates", "STATE_UPDATES tick 201: the NPC's setXY and setH", () => ({
    type: AgentMessageType.StateUpdates,
    tick: 201,
    updates: [
      { doId: NPC, classId: cls("DistributedNpc").id, ...packed("DistributedNpc", "setXY", [74.25, 20]) },
      { doId: NPC, classId: cls("DistributedNpc").id, ...packed("DistributedNpc", "setH", [90]) },
    ],
  })),
  agentVector("object-location", "OBJECT_LOCATION the NPC moved to zone 4", () => ({
    type: AgentMessageType.ObjectLocation,
    doId: NPC,
    parent: WORLD,
    zone: 4,
  })),
  agentVector("leave-object", "LEAVE_OBJECT the NPC", () => ({
    type: AgentMessageType.LeaveObject,
    doId: NPC,
  })),
  agentVector("eject", "EJECT 125 (schema hash)", () => ({
    type: AgentMessageType.Eject,
    code: EjectCode.BadSchemaHash,
    reason: "bad hash",
  })),
  clientVector("request-buy", "REQUEST 1: the shop's buy(0)", () => ({
    type: ClientMessageType.Request,
    requestId: 1,
    doId: SHOP,
    ...packed("DistributedShop", "buy", [0]),
  })),
  agentVector("reply-buy", "REPLY to request 1: buyReply(19)", () => ({
    type: AgentMessageType.Reply,
    requestId: 1,
    value: packed("DistributedShop", "buyReply", [19]).value,
  })),
  agentVector("request-error", 'REQUEST_ERROR to request 2: sold_out, "no map left"', () => ({
    type: AgentMessageType.RequestError,
    requestId: 2,
    code: "sold_out",
    message: "no map left",
  })),
  agentVector("plugin-message-from-main", 'PLUGIN_MESSAGE from main\'s "hud": the bytes 01 02 03', () => ({
    type: AgentMessageType.PluginMessage,
    from: PluginEdge.Main,
    plugin: "hud",
    encoding: PluginEncoding.Bytes,
    data: Uint8Array.from([1, 2, 3]),
  })),
  agentVector("plugin-error", 'PLUGIN_ERROR for "emotes" to the servers: not_in_set, "not yours"', () => ({
    type: AgentMessageType.PluginError,
    edge: PluginEdge.Server,
    plugin: "emotes",
    code: "not_in_set",
    message: "not yours",
  })),
  clientVector("asset-join", "ASSET_JOIN asset a0 a1 .. bf, relay only", () => ({
    type: ClientMessageType.AssetJoin,
    asset: Buffer.from(counting(0xa0, 32)).toString("hex"),
    relayOnly: true,
  })),
  clientVector("asset-banned", 'ASSET_BANNED asset a0 a1 .. bf: peer "s7"', () => ({
    type: ClientMessageType.AssetBanned,
    asset: Buffer.from(counting(0xa0, 32)).toString("hex"),
    peer: "s7",
  })),
  agentVector(
    "asset-peer",
    'ASSET_PEER asset a0 .. bf, pair 10 .. 1f, peer "s7", side 1, key 40 .. 5f, expiry 1800000001000, at 192.0.2.7:40000',
    () => ({
      type: AgentMessageType.AssetPeer,
      asset: Buffer.from(counting(0xa0, 32)).toString("hex"),
      pair: Uint8Array.from(counting(0x10, 16)),
      peer: "s7",
      side: 1,
      key: Uint8Array.from(counting(0x40, 32)),
      expiresAt: 1800000001000,
      server: false,
      address: { host: "192.0.2.7", port: 40000 },
    }),
  ),
  agentVector("asset-error", 'ASSET_ERROR asset a0 .. bf: unknown_asset, "no such asset"', () => ({
    type: AgentMessageType.AssetError,
    asset: Buffer.from(counting(0xa0, 32)).toString("hex"),
    code: "unknown_asset",
    message: "no such asset",
  })),
  agentVector("plugins", "PLUGINS of push 3: hud 2.1.0 (package id 00 01 .. 1f)", () => ({
    type: AgentMessageType.Plugins,
    push: 3,
    plugins: [{ name: "hud", version: "2.1.0", id: Buffer.from(counting(0x00, 32)).toString("hex") }],
  })),
];

/** One vector as a document block: 16 bytes a line, runs of 16 or more equal bytes as `xx*N`. */
function vectorBlock(vector: Vector): string {
  const bytes = vector.bytes();
  const lines: string[] = [];
  let line: string[] = [];
  const flush = () => {
    if (line.length > 0) lines.push(line.join(" "));
    line = [];
  };
  for (let i = 0; i < bytes.length; ) {
    let run = 1;
    while (i + run < bytes.length && bytes[i + run] === bytes[i]) run++;
    if (run >= 16) {
      flush();
      lines.push(`${hex(bytes[i]!)}*${run}`);
      i += run;
      continue;
    }
    line.push(hex(bytes[i]!));
    i++;
    if (line.length === 16) flush();
  }
  flush();
  return [
    `\`\`\`vector ${vector.name}`,
    `# ${vector.title} (${bytes.length} byte${bytes.length === 1 ? "" : "s"})`,
    ...lines,
    "```",
  ].join("\n");
}

function hex(byte: number): string {
  return byte.toString(16).padStart(2, "0");
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const vector of VECTORS) console.log(`${vectorBlock(vector)}\n`);
}

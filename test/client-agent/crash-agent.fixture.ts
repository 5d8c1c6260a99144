/**
 * Run as a child process by crash.test.ts: a client agent in-process (joined to the cluster at
 * SUBJECT_ROOT), a test client connected to it, and one session object of that client (created through the
 * state server, owned by the client's participant channel, its post-remove held by the director). Prints
 * one line `SESSION {"doId":…,"channel":…,"parentId":…,"zoneId":…}` once all that holds, then idles
 * (heartbeating) until it is killed.
 */

import { subjects } from "@overworld/protocol";
import { AgentMessageType, ClientMessageType } from "@overworld/protocol/client";
import { request } from "@overworld/service";
import { loadClientAgentConfig, startClientAgent } from "../../services/client-agent/src/main.ts";
import { DC_FIXTURES } from "../support/fixtures.ts";
import { connectOperator, natsEnv } from "../support/nats.ts";
import { CLUSTER_VERSION, dc, PRIVATE_KEY, SCHEMA_HASH, TestClient } from "./support.ts";

const SESSION_LINE_PREFIX = "SESSION ";
const SESSION_PARENT = 6100;
const SESSION_ZONE = 2;
const HEARTBEAT_EVERY_MS = 200;
const FIXTURE_SENDER = 4_000_000_001;

const root = process.env.SUBJECT_ROOT;
if (root === undefined) throw new Error("crash-agent fixture: SUBJECT_ROOT must be set");

const agent = await startClientAgent(
  loadClientAgentConfig({
    ...process.env,
    ...natsEnv("client-agent"),
    DC_FILES: DC_FIXTURES.astronTest,
    CLUSTER_VERSION,
    UDP_PORT: "0",
    PUBLIC_ADDRESS: "127.0.0.1:0",
    NETCODE_PRIVATE_KEY: Buffer.from(PRIVATE_KEY).toString("hex"),
  }),
);
const client = await TestClient.connect(agent);
client.send({ type: ClientMessageType.Hello, version: CLUSTER_VERSION, schemaHash: SCHEMA_HASH });
await client.next((m) => m.type === AgentMessageType.HelloResp, "HELLO_RESP");
setInterval(() => {
  if (client.connected) client.send({ type: ClientMessageType.Heartbeat });
}, HEARTBEAT_EVERY_MS);
await client.until(() => agent.clientChannel(client.accountId) !== undefined, "the client's channel");
const channel = agent.clientChannel(client.accountId)!;

const avatarClass = dc.class("DistributedClientTestObject");
if (avatarClass === undefined) throw new Error("crash-agent fixture: no DistributedClientTestObject");
const bus = await connectOperator("crash-agent fixture");
const { doId } = await request<{ doId: number }>(
  bus,
  subjects(root).service("ss", "create", { role: "tool", channel: FIXTURE_SENDER }),
  {
    classId: avatarClass.id,
    parentId: SESSION_PARENT,
    zoneId: SESSION_ZONE,
    owner: channel,
    fields: [
      [avatarClass.field("setName")!.id, Uint8Array.from([5, 0, ...new TextEncoder().encode("ghost")])],
      [avatarClass.field("setColor")!.id, Uint8Array.from([1, 2, 3])],
    ],
  },
  5000,
);
await agent.addSessionObject(channel, doId);
await client.next(
  (m) => m.type === AgentMessageType.EnterOwnedObject && m.doId === doId,
  "ENTER_OWNED of the session object",
);
process.stdout.write(
  `${SESSION_LINE_PREFIX}${JSON.stringify({ doId, channel, parentId: SESSION_PARENT, zoneId: SESSION_ZONE })}\n`,
);

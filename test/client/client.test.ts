/**
 * @overworld/client against real services in-process (message director, state server, client agent,
 * uberdog): register and log in over REST, connect, hello with the cluster time, interest in a zone whose
 * objects arrive as `generate` events, updates as decoded `update` events, an object moved away as
 * `disable`/`delete`, sendField packing by the dclass, and a wrong schema hash rejected with 125.
 */

import {
  ConnectError,
  LoginError,
  login,
  type ObjectMirror,
  OverworldClient,
  register,
  type UpdateEvent,
} from "@overworld/client";
import { DcPackError } from "@overworld/protocol";
import { EjectCode } from "@overworld/protocol/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLUSTER_VERSION, type Cluster, dc } from "../client-agent/support.ts";
import { PASSWORD, type PlayerCluster, signUp, startPlayerCluster } from "../support/players.ts";
import { eventually } from "../support/wait.ts";

const PARENT = 7000;
const ZONE = 3;
const OTHER_ZONE = 4;
/** HELLO_RESP's cluster time must be within this of the local clock (same machine). */
const SANE_CLOCK_WINDOW_MS = 1000;

const object1 = dc.class("DistributedTestObject1")!;
const setRequired1 = object1.field("setRequired1")!;
const setB1 = object1.field("setB1")!;

const u32 = (value: number) => {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, value, true);
  return bytes;
};

let services: PlayerCluster;
let cluster: Cluster;
let baseUrl: string;

async function create(zone: number, required: number): Promise<number> {
  const reply = await cluster.ss<{ doId: number }>("create", {
    classId: object1.id,
    parentId: PARENT,
    zoneId: zone,
    fields: [[setRequired1.id, u32(required)]],
  });
  return reply.doId;
}

async function connect(token: Uint8Array, schemaHash?: number): Promise<OverworldClient> {
  const client = await OverworldClient.connect({
    token,
    file: dc,
    version: CLUSTER_VERSION,
    heartbeatMs: 100,
    ...(schemaHash === undefined ? {} : { schemaHash }),
  });
  services.clients.push(client);
  return client;
}

beforeAll(async () => {
  services = await startPlayerCluster("client", { agentEnv: { TICK_HZ: "50" } });
  ({ cluster, baseUrl } = services);
});

afterAll(async () => {
  await services?.stop();
});

describe("@overworld/client", () => {
  it("logs in over REST, and reports the server's reason when it is refused", async () => {
    const name = `alice${process.pid}`;
    const { accountId } = await register(baseUrl, name, PASSWORD);
    const result = await login(baseUrl, name, PASSWORD);
    expect(result.accountId).toBe(accountId);
    expect(result.connectToken.length).toBe(2048);
    expect(result.servers).toEqual([cluster.agent.publicAddress.key]);

    const refused = await login(baseUrl, name, "wrong password!").catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(LoginError);
    expect(refused).toMatchObject({ status: 401, code: "bad_credentials" });
    expect((refused as LoginError).reason.length).toBeGreaterThan(0);
    const taken = await register(baseUrl, name, PASSWORD).catch((error: unknown) => error);
    expect(taken).toMatchObject({ status: 409, code: "username_taken" });
  });

  it("logs in from the local address it is given, which uberdog limits as that client's", async () => {
    const name = `erin${process.pid}`;
    await register(baseUrl, name, PASSWORD);
    const guess = (localAddress: string) =>
      login(baseUrl, name, "a wrong guess", { localAddress }).catch((error: unknown) => error);
    // three failures are free for one (address, username) pair; the next one from that address waits
    for (let i = 0; i < 3; i++) expect(await guess("127.0.6.1")).toMatchObject({ status: 401 });
    const refused = await guess("127.0.6.1");
    expect(refused).toMatchObject({ status: 429, code: "rate_limited", retryAfterSeconds: 1 });
    expect(await guess("127.0.6.2")).toMatchObject({ status: 401 });
    const owner = await login(baseUrl, name, PASSWORD, { localAddress: "127.0.6.3" });
    expect(owner.connectToken.length).toBe(2048);
  });

  it("connects, learns the cluster time, mirrors a zone's objects and follows their updates and departures", async () => {
    const first = await create(ZONE, 11);
    const second = await create(ZONE, 12);
    const client = await connect(await signUp(baseUrl, `bob${process.pid}`));

    expect(Math.abs(client.clusterTime() - Date.now())).toBeLessThan(SANE_CLOCK_WINDOW_MS);
    expect(client.clockEstimate!.errorBound).toBeLessThan(SANE_CLOCK_WINDOW_MS);

    const generated: ObjectMirror[] = [];
    const updates: UpdateEvent[] = [];
    const disabled: number[] = [];
    const deleted: number[] = [];
    client.on("generate", (object) => generated.push(object));
    client.on("update", (event) => updates.push(event));
    client.on("disable", (object) => disabled.push(object.doId));
    client.on("delete", (object) => deleted.push(object.doId));

    const interest = await client.addInterest(PARENT, [ZONE]);
    expect(generated.map((object) => object.doId).sort()).toEqual([first, second].sort());
    const mirror = client.objects.get(first)!;
    expect(mirror).toMatchObject({ doId: first, parent: PARENT, zone: ZONE });
    expect(mirror.dclass).toBe(object1);
    expect(mirror.fields.get("setRequired1")).toEqual([11]);

    await cluster.ss("updates", { groups: [[0, [[first, setB1.id, new Uint8Array([42])]]]] });
    await eventually(() => updates.length > 0, "an update event");
    expect(updates[0]).toMatchObject({ field: "setB1", value: [42] });
    expect(updates[0]!.object.doId).toBe(first);
    expect(mirror.fields.get("setB1")).toEqual([42]);

    await cluster.ss("set-location", { doId: second, parentId: PARENT, zoneId: OTHER_ZONE });
    await eventually(() => deleted.includes(second), "the moved object to be deleted");
    expect(disabled).toEqual([second]);
    expect(client.objects.has(second)).toBe(false);

    // heartbeats keep the clock: samples keep coming and the error stays bounded
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(Math.abs(client.clusterTime() - Date.now())).toBeLessThan(SANE_CLOCK_WINDOW_MS);

    // a value the dclass cannot pack throws before anything is sent
    expect(() => client.sendField(first, "setB1", [1000])).toThrow(DcPackError);
    expect(() => client.sendField(first, "noSuchField", [1])).toThrow(/no field noSuchField/);
    expect(client.connected).toBe(true);

    await client.removeInterest(interest);
    await eventually(() => client.objects.size === 0, "every object to leave");
    expect(deleted.sort()).toEqual([first, second].sort());
  });

  it("is ejected by the agent for a field it may not send, with the code and reason", async () => {
    const doId = await create(ZONE, 21);
    const client = await connect(await signUp(baseUrl, `carol${process.pid}`));
    await client.addInterest(PARENT, [ZONE]);
    const ejected: { code: number; reason: string }[] = [];
    const disconnected: string[] = [];
    client.on("eject", (event) => ejected.push(event));
    client.on("disconnect", (event) => disconnected.push(event.reason));
    client.sendField(doId, "setB1", [1]); // broadcast, not clsend
    await eventually(() => disconnected.length > 0, "the disconnect after the ejection");
    expect(ejected).toHaveLength(1);
    expect(ejected[0]!.code).toBe(EjectCode.ForbiddenField);
    expect(ejected[0]!.reason).toMatch(/field/);
    expect(disconnected).toEqual(["ejected"]);
    expect(client.connected).toBe(false);
  });

  it("is refused with 125 and the reason when its schema hash is wrong", async () => {
    const token = await signUp(baseUrl, `dave${process.pid}`);
    const refused = await connect(token, 0x1234).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ConnectError);
    expect(refused).toMatchObject({ code: EjectCode.BadSchemaHash });
    expect((refused as ConnectError).reason).toMatch(/schema hash/);
  });
});

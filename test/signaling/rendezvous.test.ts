/**
 * Main's UDP rendezvous: a heartbeat sealed with the key main and the cluster share is answered with
 * sealed instructions naming the address main saw it come from; one sealed with another key, one for an
 * unknown cluster and a replayed one get no answer at all.
 */
import { createSocket, type Socket } from "node:dgram";
import { openInstructions, pairKeys, randomBytes, writeHeartbeat } from "@overworld/federation";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, sleep } from "../support/wait.ts";
import { clusterOf, dropMain, schemaFor, startMain, type TestMain } from "./support.ts";

let main: TestMain;
let socket: Socket;
const received: Buffer[] = [];

beforeAll(async () => {
  main = await startMain(schemaFor("rendezvous"));
  socket = createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", () => resolve()));
  socket.on("message", (message) => received.push(message));
});

afterAll(async () => {
  socket?.close();
  await dropMain(main);
});

const send = (bytes: Uint8Array) => socket.send(bytes, main.handle.rendezvous.address.port, "127.0.0.1");

describe("heartbeats", () => {
  it("are answered, sealed, only when sealed with the cluster's key and new", async () => {
    const cluster = clusterOf(main, "hb-a");
    await cluster.client.register({ plugins: [] });
    const key = pairKeys(cluster.key, main.key.publicKey).heartbeat;
    const body = { instance: "hb-a-1", seq: 1, load: 0.5, links: [] };

    send(writeHeartbeat(randomBytes(32), "hb-a", body)); // sealed with another key
    send(writeHeartbeat(key, "hb-nobody", body)); // a cluster main does not know
    await sleep(300);
    expect(received).toHaveLength(0);

    const heartbeat = writeHeartbeat(key, "hb-a", body);
    send(heartbeat);
    await eventually(() => received.length === 1, "the answer");
    const instructions = openInstructions(key, "hb-a", new Uint8Array(received[0]!));
    expect(instructions).toMatchObject({ seq: 1, observed: `127.0.0.1:${socket.address().port}`, links: [] });
    // nobody else can read it
    expect(openInstructions(randomBytes(32), "hb-a", new Uint8Array(received[0]!))).toBeNull();

    send(heartbeat); // the same heartbeat again: a replay
    send(writeHeartbeat(key, "hb-a", { ...body, seq: 1 })); // a new box, but an old sequence
    await sleep(300);
    expect(received).toHaveLength(1);
    const listed = (await main.operator("GET", "/v1/clusters/hb-a")).body;
    expect(listed.instances[0]).toMatchObject({ instance: "hb-a-1", load: 0.5, live: true });
  });
});

/**
 * A crashed client agent leaves no ghost avatars: a client agent runs in a child process (with a
 * connected client and one session object of it, whose post-remove the director holds); the process is
 * killed with SIGKILL. Within the director's death timeout the session object is gone (`ss.get` answers
 * unknown_object), and it was deleted exactly once: one delete notice on its location and one on its
 * owner's channel.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { fileURLToPath } from "node:url";
import { decodeEnvelope, subjects } from "@overworld/protocol";
import type { NatsConnection } from "@overworld/service";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { countOn, sleep, waitFor } from "../message-director/support.ts";
import { connectOperator } from "../support/nats.ts";
import { type Cluster, startCluster } from "./support.ts";

const REPO = fileURLToPath(new URL("../..", import.meta.url));
const FIXTURE = fileURLToPath(new URL("./crash-agent.fixture.ts", import.meta.url));
const SESSION_LINE = /^SESSION (\{.*\})$/m;
const FIXTURE_READY_MS = 15_000;
/** The director's default DEAD_AFTER_MS (2000) plus its sweep, with room for a loaded machine. */
const DEATH_WITHIN_MS = 6000;
/** How long to keep listening after the deletion, for a second one that must not come. */
const QUIET_MS = 1000;

interface SessionObject {
  doId: number;
  channel: number;
  parentId: number;
  zoneId: number;
}

let cluster: Cluster;
let bus: NatsConnection;
let agentProcess: ChildProcess | undefined;

/** Starts the fixture (agent + client + session object) and resolves with its session object. */
async function startAgentProcess(): Promise<SessionObject> {
  const child = spawn(process.execPath, ["--import", "tsx", FIXTURE], {
    cwd: REPO,
    env: {
      ...process.env,
      SUBJECT_ROOT: cluster.root,
      REDIS_PREFIX: cluster.prefix,
      LOG_LEVEL: "silent",
      HTTP_PORT: "0",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  agentProcess = child;
  let output = "";
  return await new Promise<SessionObject>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`the agent process did not report its session object:\n${output}`)),
      FIXTURE_READY_MS,
    );
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      const found = SESSION_LINE.exec(output);
      if (found?.[1] === undefined) return;
      clearTimeout(timer);
      resolve(JSON.parse(found[1]) as SessionObject);
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the agent process exited (${code ?? signal}) early:\n${output}`));
    });
  });
}

async function kill9(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGKILL");
  await exited;
}

/** How many delete notices of `doId` arrived among these messages. */
function deletesOf(doId: number, received: readonly { data: Uint8Array }[]): number {
  return received.filter(({ data }) => {
    const notice = decodeEnvelope(data) as { kind?: unknown; doId?: unknown };
    return notice.kind === "delete" && notice.doId === doId;
  }).length;
}

beforeAll(async () => {
  cluster = await startCluster("crash", {}, { stateServer: true });
  bus = await connectOperator("client-agent crash test");
});

afterAll(async () => {
  if (agentProcess !== undefined) await kill9(agentProcess);
  await bus?.drain();
  await cluster?.stop();
});

describe("client agent crash", () => {
  it("deletes the session objects of a SIGKILLed agent's clients, each once", async () => {
    const session = await startAgentProcess();
    expect(await cluster.ss("get", { doId: session.doId })).toMatchObject({ doId: session.doId });

    const names = subjects(cluster.root);
    const atLocation = countOn(bus, names.location(session.parentId, session.zoneId));
    const atOwner = countOn(bus, names.participant(session.channel));
    await bus.flush();

    await kill9(agentProcess!);
    const killedAt = Date.now();
    await waitFor(
      "the session object to be deleted",
      async () =>
        await cluster.ss("get", { doId: session.doId }).then(
          () => false,
          (error: { code?: unknown }) => error.code === "unknown_object",
        ),
      DEATH_WITHIN_MS,
    );
    expect(Date.now() - killedAt).toBeLessThan(DEATH_WITHIN_MS);

    await sleep(QUIET_MS);
    atLocation.stop();
    atOwner.stop();
    expect(deletesOf(session.doId, atLocation.received)).toBe(1);
    expect(deletesOf(session.doId, atOwner.received)).toBe(1);
  });
});

/**
 * The bots' receive path (issue 10 item 8): the CPU a bot process spends per delivered update once a
 * datagram's messages are out of the reliable layer, through the real code: the client library's
 * OverworldClient reading STATE_UPDATES messages into its mirrors (the dclass checks, the state ticks,
 * the `update` events) and a real Bot of @overworld/bots timing each walk step into its run's stats.
 *
 *   node --import tsx bench/client-receive.bench.ts            # 9 rounds of 200 messages to 200 clients
 *   node --import tsx bench/client-receive.bench.ts --quick    # 3 rounds of 50
 *
 * As at N = 200 in the players bench: 200 clients (each with its bot) in one thread, 200 avatars in view
 * of each, and every message, one tick's STATE_UPDATES of 35 different avatars' `setSmXYH` (about one
 * agent datagram's worth), read by every client in turn, as the agent's tick sends the zone's updates to
 * every session. The messages are encoded before the measured spans (as the agent encodes them, with
 * `encodeAgentMessage`). The figure is the median over
 * rounds of process CPU µs (user + system) per delivered update, and the garbage collector's share of it
 * (the pauses V8 reports, mostly scavenges of what the receive path allocated).
 *
 * The client and the bot are driven through members that are private to their classes (the client's
 * message entry point and the bot's `attach`), as no socket is used: this is a bench of their insides.
 */
import { resolve } from "node:path";
import { PerformanceObserver } from "node:perf_hooks";
import { type DcFile, loadDcFiles, packField } from "@overworld/protocol";
import { AgentMessageType, encodeAgentMessage, type FieldUpdate } from "@overworld/protocol/client";
import { Bot, type BotConfig } from "../libs/bots/src/bot.ts";
import { processClockMs } from "../libs/bots/src/clock.ts";
import { SendTimes } from "../libs/bots/src/send-times.ts";
import { RunStats } from "../libs/bots/src/stats.ts";
import { OverworldClient } from "../libs/client/src/client.ts";

const QUICK = process.argv.includes("--quick");
const ROUNDS = QUICK ? 3 : 9;
const MESSAGES = QUICK ? 50 : 200;
const CLIENTS = 200;
const AVATARS = 200;
const UPDATES_PER_MESSAGE = 35;
const FIRST_DO_ID = 100_000;
const DEMO_DC = resolve(import.meta.dirname, "../examples/demo/demo.dc");

interface ClientInsides {
  receiveMessage(bytes: Uint8Array): void;
  clock: { sample(sentAt: number, receivedAt: number, serverTime: number, errorBound?: number): void };
}
interface BotInsides {
  attach(client: OverworldClient): void;
}

function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

async function main(): Promise<void> {
  const dc: DcFile = loadDcFiles([DEMO_DC]);
  const avatarClass = dc.class("DistributedAvatar");
  if (avatarClass === undefined) throw new Error("demo.dc has no dclass DistributedAvatar");
  const walk = avatarClass.field("setSmXYH");
  if (walk === undefined) throw new Error("DistributedAvatar has no field setSmXYH");

  // clients as OverworldClient.connect makes them, without a transport, each with its bot
  const Client = OverworldClient as unknown as new (dc: DcFile, now: () => number) => OverworldClient;
  const now = processClockMs();
  const stats = new RunStats(SendTimes.create(CLIENTS));
  stats.setMeasuring(true);
  const entries = Array.from({ length: AVATARS }, (_, i) =>
    encodeAgentMessage(
      {
        type: AgentMessageType.EnterObject,
        doId: FIRST_DO_ID + i,
        parent: 1,
        zone: 1,
        classId: avatarClass.id,
        tick: 0,
        fields: [],
      },
      dc,
    ),
  );
  const clients: ClientInsides[] = [];
  for (let c = 0; c < CLIENTS; c++) {
    const client = new Client(dc, processClockMs); // as the bots connect
    const insides = client as unknown as ClientInsides;
    insides.clock.sample(now, now, now, 0);
    const config = { index: c, rate: 10 } as unknown as BotConfig;
    (new Bot(config, stats) as unknown as BotInsides).attach(client);
    for (const entry of entries) insides.receiveMessage(entry);
    if (client.objects.size !== AVATARS)
      throw new Error(`${client.objects.size} avatars entered, not ${AVATARS}`);
    clients.push(insides);
  }

  const rounds: Uint8Array[][] = [];
  let tick = 1;
  for (let round = 0; round < ROUNDS + 1; round++) {
    const messages: Uint8Array[] = [];
    for (let m = 0; m < MESSAGES; m++, tick++) {
      const first = (m * UPDATES_PER_MESSAGE) % AVATARS;
      const updates: FieldUpdate[] = [];
      for (let u = 0; u < UPDATES_PER_MESSAGE; u++) {
        const doId = FIRST_DO_ID + ((first + u) % AVATARS);
        const x = Math.fround(Math.random() * 400);
        const y = Math.fround(Math.random() * 400);
        const value = packField(walk, [x, y, 90, (now + tick) >>> 0]);
        updates.push({ doId, classId: avatarClass.id, fieldId: walk.id, value });
      }
      messages.push(encodeAgentMessage({ type: AgentMessageType.StateUpdates, tick, updates }, dc));
    }
    rounds.push(messages);
  }

  let gcMs = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gcMs += entry.duration;
  });
  observer.observe({ entryTypes: ["gc"] });
  const perUpdate: number[] = [];
  const gcPerUpdate: number[] = [];
  for (let round = 0; round < rounds.length; round++) {
    const messages = rounds[round]!;
    const deliveredBefore = stats.delivered;
    const gcBefore = gcMs;
    const cpuBefore = cpuMicros();
    for (const message of messages) for (const client of clients) client.receiveMessage(message);
    const cpu = cpuMicros() - cpuBefore;
    await new Promise((resolve) => setImmediate(resolve)); // the gc entries of the round are delivered
    const gc = (gcMs - gcBefore) * 1000;
    const delivered = stats.delivered - deliveredBefore;
    const expected = MESSAGES * UPDATES_PER_MESSAGE * CLIENTS;
    if (delivered !== expected)
      throw new Error(`round ${round}: ${delivered} updates delivered, not ${expected}`);
    if (round === 0) continue; // warm-up: the JIT
    perUpdate.push(cpu / delivered);
    gcPerUpdate.push(gc / delivered);
  }
  const format = (values: readonly number[], digits: number) =>
    `${median(values).toFixed(digits)} (${values.map((value) => value.toFixed(digits)).join(", ")})`;
  process.stdout.write(
    `client receive: ${CLIENTS} clients, ${AVATARS} avatars in view of each, ${UPDATES_PER_MESSAGE} ` +
      `updates a message, ${MESSAGES} messages a round to every client, ${ROUNDS} rounds\n` +
      `  CPU µs per delivered update: ${format(perUpdate, 3)}\n` +
      `  of which garbage collection: ${format(gcPerUpdate, 3)}\n`,
  );
  observer.disconnect();
}

await main();

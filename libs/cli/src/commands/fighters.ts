/**
 * `pnpm overworld fighters --uberdog URL [--count N] [--name LABEL]`: players of the demo world who walk
 * up to the boss and hit it now and then, printing every two seconds what the boss shows them (its hp and
 * the player it targets: a cluster and a doId). Run on two linked clusters (`start --federation-demo`),
 * both print the same hp and target while the link is up.
 */
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import { login, type ObjectMirror, OverworldClient, register } from "@overworld/client";
import { extent, zoneAt } from "../../../../examples/demo/grid.ts";
import { demoOptionsFromEnv } from "../../../../examples/demo/plugin.ts";
import { demo } from "../../../../examples/demo/schema.ts";

const PASSWORD = "fighter of the shared boss";
const HIT_EVERY_MS = 1000;
const REPORT_EVERY_MS = 2000;

const USAGE = `usage: pnpm overworld fighters --uberdog URL [--count N] [--name LABEL]
  --uberdog URL   the cluster's login API (e.g. http://127.0.0.1:8000)
  --count N       players (default 2)
  --name LABEL    a prefix for their usernames (default fighter)
`;

export async function runFightersCommand(argv: readonly string[]): Promise<number> {
  let values: { uberdog?: string; count?: string; name?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...argv],
      options: {
        uberdog: { type: "string" },
        count: { type: "string" },
        name: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (values.help || !values.uberdog) {
    process.stdout.write(USAGE);
    return values.help ? 0 : 2;
  }
  const { grid, worldId } = demoOptionsFromEnv();
  const size = extent(grid);
  const arena = zoneAt(grid, size.x / 2, size.y / 2);
  const version = process.env.CLUSTER_VERSION ?? "dev";
  const tag = randomBytes(3).toString("hex");
  const clients: OverworldClient[] = [];
  let boss: ObjectMirror | undefined;
  for (let i = 0; i < Number(values.count ?? 2); i++) {
    const username = `${values.name ?? "fighter"}-${tag}-${i}`.slice(0, 32);
    await register(values.uberdog, username, PASSWORD);
    const { connectToken } = await login(values.uberdog, username, PASSWORD);
    const client = await OverworldClient.connect({ token: connectToken, file: demo.file, version });
    clients.push(client);
    const avatar = await until(() => [...client.objects.values()].find((object) => object.owned));
    client.sendField(avatar.doId, "setSmXYH", [size.x / 2 + i, size.y / 2 - 5, 0, 0]);
    await client.addInterest(worldId, [arena]);
    const mirror = await until(() =>
      [...client.objects.values()].find((object) => object.dclass.name === demo.DistributedBoss.dclass.name),
    );
    boss ??= mirror;
    const hit = () => {
      client.sendField(avatar.doId, "attack", [mirror.doId]);
      client.flush();
    };
    setInterval(hit, HIT_EVERY_MS + Math.floor(Math.random() * HIT_EVERY_MS)).unref();
    console.log(`${username} (avatar ${avatar.doId}) hits the boss ${mirror.doId}`);
  }
  const report = setInterval(() => {
    if (!boss) return;
    const [cluster, target] = (boss.fields.get("setTargetOf") as [string, number] | undefined) ?? ["", 0];
    console.log(`boss: hp ${boss.fields.get("hp")}, target ${cluster ? `${cluster}#${target}` : "none"}`);
  }, REPORT_EVERY_MS);
  await new Promise<void>((done) => {
    const stop = () => {
      clearInterval(report);
      void Promise.all(clients.map((client) => client.close().catch(() => undefined))).then(() => done());
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  return 0;
}

async function until<T>(probe: () => T | undefined, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("timed out waiting for the game");
    await new Promise((wake) => setTimeout(wake, 50));
  }
}

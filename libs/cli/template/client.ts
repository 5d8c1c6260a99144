/**
 * A player of the game: registers (or logs in), connects over UDP, gets its avatar, watches the zone, and
 * walks onto the nearest coin until it has picked up as many as asked.
 *
 *   node --import tsx client.ts --uberdog http://127.0.0.1:8000 --username alice --coins 3
 *
 * The test (test/game.test.ts) plays through `joinGame` and `walkOnto`.
 */
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { LoginError, login, type ObjectMirror, OverworldClient, register } from "@overworld/client";
import { schema, WORLD_ID, ZONE } from "./schema.ts";

export interface Joined {
  readonly client: OverworldClient;
  /** The player's avatar: the object it owns. */
  readonly avatar: ObjectMirror;
}

/** Registers `username` (unless it exists), logs in, connects and waits for the avatar the game gives it. */
export async function joinGame(
  uberdog: string,
  username: string,
  password: string,
  version = "dev",
): Promise<Joined> {
  await register(uberdog, username, password).catch((error: unknown) => {
    if (!(error instanceof LoginError && error.code === "username_taken")) throw error;
  });
  const { connectToken } = await login(uberdog, username, password);
  const client = await OverworldClient.connect({ token: connectToken, file: schema.file, version });
  await client.addInterest(WORLD_ID, [ZONE]); // every object of the game's zone
  const avatar = await until(client, () => [...client.objects.values()].find((object) => object.owned));
  return { client, avatar };
}

/** The coins the client sees. */
export function coins(client: OverworldClient): ObjectMirror[] {
  return [...client.objects.values()].filter((object) => object.dclass.name === "Coin");
}

/** Moves the avatar onto `coin`; resolves with the score once it has gone up. */
export async function walkOnto(
  client: OverworldClient,
  avatar: ObjectMirror,
  coin: ObjectMirror,
): Promise<number> {
  const [score] = avatar.fields.get("setScore") as [number];
  const [x, y] = coin.fields.get("setXY") as [number, number];
  client.sendField(avatar.doId, "setXY", [x, y]);
  client.flush();
  await until(client, () => (avatar.fields.get("setScore") as [number])[0] > score || undefined);
  return (avatar.fields.get("setScore") as [number])[0];
}

/** Resolves with `check()` once it is defined, checking after every object or update the client gets. */
export function until<T>(
  client: OverworldClient,
  check: () => T | undefined,
  timeoutMs = 15_000,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const stop = () => {
      clearTimeout(timer);
      for (const off of offs) off();
    };
    const done = (value: T) => {
      stop();
      resolve(value);
    };
    const test = () => {
      const value = check();
      if (value !== undefined) done(value);
    };
    const offs = (["generate", "own", "update", "delete"] as const).map((event) => client.on(event, test));
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`nothing came within ${timeoutMs} ms`));
    }, timeoutMs);
    test();
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      uberdog: { type: "string", default: "http://127.0.0.1:8000" },
      username: { type: "string", default: "player" },
      password: { type: "string", default: "correct horse battery" },
      version: { type: "string", default: "dev" },
      coins: { type: "string", default: "3" },
    },
  });
  const { client, avatar } = await joinGame(values.uberdog, values.username, values.password, values.version);
  console.log(`playing as ${avatar.doId}`);
  for (let picked = 0; picked < Number(values.coins); picked++) {
    const [x, y] = avatar.fields.get("setXY") as [number, number];
    const distance = (coin: ObjectMirror) => {
      const [cx, cy] = coin.fields.get("setXY") as [number, number];
      return Math.hypot(cx - x, cy - y);
    };
    const nearest = coins(client).sort((a, b) => distance(a) - distance(b))[0];
    if (nearest === undefined) throw new Error("no coin in sight");
    console.log(`score ${await walkOnto(client, avatar, nearest)}`);
  }
  await client.close();
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) await main();

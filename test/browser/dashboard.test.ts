/**
 * The operators' dashboard in headless Chromium (Debian's `chromium`, driven by playwright-core), against
 * real services in-process: message director, state server, a client agent, uberdog (serving /dashboard/
 * and its live feed, reading the state server's /metrics) and a zone-AI replica running the demo world on
 * a 3x3 grid (an NPC in each zone, the boss), with bots walking it (@overworld/bots, over UDP).
 *
 * - An admin logs in with a game account; in two screenshots of the map a second apart, the pixels at the
 *   projected positions of the objects the admin API reports are markers, and the bots have moved; the
 *   charts and lists fill from the live feed; a click on the boss shows its fields. The second screenshot
 *   is the README's (docs/dashboard.png).
 * - The admin kicks a bot from the players list: the bot reports the eject code.
 * - A plain player cannot log in, and the feed refuses a caller without an admin session; a moderator
 *   sees the map but not the admins' maintenance action.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { Bot, FIRST_LOOPBACK_SOURCE, RunStats, SendTimes, sourceAddress } from "@overworld/bots";
import { connectPostgres, type Pool } from "@overworld/service";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGrid } from "../../examples/demo/grid.ts";
import { demoWorld } from "../../examples/demo/plugin.ts";
import { loadDcFiles } from "../../libs/protocol/src/index.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { PASSWORD, type PlayerCluster, signUp, startPlayerCluster } from "../support/players.ts";
import { DATABASE_URL } from "../support/services.ts";
import { waitFor } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

const REPO = resolve(import.meta.dirname, "../..");
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const SCREENSHOT = resolve(REPO, "docs/dashboard.png");
const WORLD = 1000;
const GRID = parseGrid("3x3@50");
const BOTS = 4;
const WAIT_MS = 20_000;
/** The dashboard's marker colours (dashboard.ts): players, NPCs, the boss, anything else. */
const MARKERS = [
  [0x3b, 0x82, 0xf6],
  [0xf5, 0x9e, 0x0b],
  [0xef, 0x44, 0x44],
  [0xa1, 0xa1, 0xaa],
];
const KICK_CODE = 155;

let services: PlayerCluster;
let zoneAi: ZoneAiHandle;
let browser: Browser;
let pool: Pool;
let adminToken: string;
const pid = process.pid;
const admin = `admin${pid}`;
const moderator = `mod${pid}`;
const stats = new RunStats(SendTimes.create(BOTS));
const bots: Bot[] = [];

async function setRole(username: string, role: string): Promise<void> {
  await pool.query(`UPDATE "${services.schema}".accounts SET role = $2 WHERE username = $1`, [
    username,
    role,
  ]);
}

async function adminCall<T>(path: string): Promise<T> {
  const response = await fetch(`${services.baseUrl}${path}`, {
    headers: { authorization: `Bearer ${adminToken}` },
  });
  if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

beforeAll(async () => {
  execFileSync("pnpm", ["-s", "build:web"], { cwd: REPO, stdio: "ignore" });
  services = await startPlayerCluster("dashboard", {
    dcFiles: [DEMO_DC],
    agentEnv: { TICK_HZ: "20" },
    uberdogEnv: (cluster) => ({
      CLUSTER_VERSION,
      MAP_PARENT_ID: String(WORLD),
      STATS_SECONDS: "1",
      METRICS_URLS: `${cluster.stateServer!.instanceId}=http://127.0.0.1:${cluster.stateServer!.port}/metrics`,
    }),
  });
  const { cluster } = services;
  zoneAi = await startTestZoneAi(cluster, demoWorld({ grid: GRID, worldId: WORLD, npcsPerZone: 1 }));
  pool = await connectPostgres(DATABASE_URL, "test:dashboard", 2);
  // the admin and the moderator are players whose role the operator set; the admin logs in first, so
  // the temp-admin rule has no one to choose
  await signUp(services.baseUrl, admin);
  await signUp(services.baseUrl, moderator);
  await setRole(admin, "admin");
  await setRole(moderator, "moderator");
  const login = await fetch(`${services.baseUrl}/v1/admin/login`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: admin, password: PASSWORD }),
  });
  adminToken = ((await login.json()) as { token: string }).token;

  const dc = loadDcFiles([DEMO_DC]);
  for (let index = 0; index < BOTS; index++) {
    bots.push(
      new Bot(
        {
          index,
          username: `bot${pid}x${index}`,
          password: PASSWORD,
          uberdog: services.baseUrl,
          dc,
          version: CLUSTER_VERSION,
          grid: GRID,
          rate: 10,
          speed: 4,
          updateHz: 30,
          startTimeoutMs: WAIT_MS,
          localAddress: sourceAddress(FIRST_LOOPBACK_SOURCE, 10 + index),
        },
        stats,
      ),
    );
  }
  await Promise.all(bots.map((bot) => bot.start()));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(bots.map((bot) => bot.stop()));
  await pool?.end();
  await zoneAi?.stop();
  await services?.stop();
});

/** Opens the dashboard in a context of its own and logs in (the error line, if refused). */
async function logIn(username: string): Promise<Page> {
  const page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
  await page.goto(`${services.baseUrl}/dashboard/`);
  await page.fill("#username", username);
  await page.fill("#password", PASSWORD);
  await page.click("#login button[type=submit]");
  return page;
}

async function waitLive(page: Page): Promise<void> {
  await page.waitForFunction(
    () => document.getElementById("feed")?.textContent?.startsWith("live:"),
    undefined,
    { timeout: WAIT_MS },
  );
}

interface Placed {
  readonly doId: number;
  readonly className: string;
  readonly x: number;
  readonly y: number;
}

/** Where the admin API says the world's objects are: a walking avatar's last step, else its setXY. */
async function placedObjects(): Promise<Placed[]> {
  const { objects } = await adminCall<{
    objects: { doId: number; className: string; fields: Record<string, unknown> }[];
  }>(`/v1/admin/objects?parentId=${WORLD}&limit=1000`);
  return objects.flatMap((object) => {
    const at = (object.fields.setSmXYH ?? object.fields.setXY) as number[] | undefined;
    return at ? [{ doId: object.doId, className: object.className, x: at[0]!, y: at[1]! }] : [];
  });
}

/** The map's projection now: world units to canvas pixels, as the page draws (its `data-view`). */
async function projection(page: Page): Promise<(x: number, y: number) => [number, number]> {
  const { width, height, view } = await page.$eval("#map", (canvas) => ({
    width: (canvas as HTMLCanvasElement).width,
    height: (canvas as HTMLCanvasElement).height,
    view: JSON.parse((canvas as HTMLCanvasElement).dataset.view!) as {
      cx: number;
      cy: number;
      scale: number;
    },
  }));
  return (x, y) => [width / 2 + (x - view.cx) * view.scale, height / 2 + (y - view.cy) * view.scale];
}

interface Shot {
  readonly objects: Placed[];
  /** The objects whose way shows no marker, and how far the nearest marker is. */
  readonly misses: string[];
  readonly png: Buffer;
}

/**
 * A screenshot of the map, with the objects the admin API reports asked just before and just after it:
 * the picture shows each object somewhere on its way between the two (an NPC steps 4 units at once). The
 * screenshot is decoded in the page (createImageBitmap) and the pixels along each object's way read from
 * it: a marker colour within 2 px of a point of the way marks it. `misses` says, for each object not
 * marked, how far from its first place the nearest marker pixel is (for the failure message).
 */
async function shot(page: Page): Promise<Shot> {
  const objects = await placedObjects();
  const png = await page.locator("#map").screenshot();
  const later = new Map((await placedObjects()).map((object) => [object.doId, object]));
  const project = await projection(page);
  const found = await page.evaluate(
    async ({ base64, ways, markers }) => {
      const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0));
      const bitmap = await createImageBitmap(new Blob([bytes], { type: "image/png" }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const context = canvas.getContext("2d")!;
      context.drawImage(bitmap, 0, 0);
      const near = (a: number, b: number) => Math.abs(a - b) <= 2;
      /** The distance of the nearest marker pixel to (px, py), within `reach` px; Infinity if none. */
      const nearest = (px: number, py: number, reach: number) => {
        const [x0, y0] = [Math.round(px) - reach, Math.round(py) - reach];
        const side = 2 * reach + 1;
        const pixels = context.getImageData(x0, y0, side, side).data;
        let best = Number.POSITIVE_INFINITY;
        for (let at = 0; at < pixels.length; at += 4) {
          const rgb = [pixels[at]!, pixels[at + 1]!, pixels[at + 2]!];
          if (!markers.some((marker) => marker.every((value, index) => near(value, rgb[index]!)))) continue;
          const pixel = at / 4;
          const distance = Math.hypot(x0 + (pixel % side) - px, y0 + Math.floor(pixel / side) - py);
          best = Math.min(best, distance);
        }
        return best;
      };
      return ways.map(([from, to]) => {
        const [ax, ay] = from!;
        const [bx, by] = to!;
        const steps = Math.max(1, Math.ceil(Math.hypot(bx - ax, by - ay)));
        for (let step = 0; step <= steps; step++) {
          const x = ax + ((bx - ax) * step) / steps;
          const y = ay + ((by - ay) * step) / steps;
          if (nearest(x, y, 2) <= 2.9) return 0;
        }
        return nearest(ax, ay, 40);
      });
    },
    {
      base64: png.toString("base64"),
      ways: objects.map((object) => {
        const then = later.get(object.doId) ?? object;
        return [project(object.x, object.y), project(then.x, then.y)];
      }),
      markers: MARKERS,
    },
  );
  return {
    objects,
    misses: objects.flatMap((object, index) =>
      found[index] === 0
        ? []
        : [`${object.className} ${object.doId}: nearest marker ${found[index]} px away`],
    ),
    png,
  };
}

describe("the dashboard", () => {
  it("refuses a plain player, and the feed anyone without an admin session", async () => {
    const plain = `plain${pid}`;
    await signUp(services.baseUrl, plain);
    const page = await logIn(plain);
    await expect
      .poll(() => page.textContent("#error"), { timeout: WAIT_MS })
      .toContain(`${plain} has no admin role`);
    expect(await page.isHidden("#app")).toBe(true);
    await page.context().close();

    const anonymous = await fetch(`${services.baseUrl}/v1/admin/live?parentId=${WORLD}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("content-type")).toContain("application/json");
    const forged = await fetch(`${services.baseUrl}/v1/admin/live?parentId=${WORLD}`, {
      headers: { authorization: "Bearer ows_notasession" },
    });
    expect(forged.status).toBe(401);

    // a moderator sees the map, but not the admins' maintenance action
    const moderatorPage = await logIn(moderator);
    await waitLive(moderatorPage);
    expect(await moderatorPage.textContent("#who")).toBe(`${moderator} (moderator)`);
    expect(await moderatorPage.isHidden("#administration")).toBe(true);
    await moderatorPage.context().close();
    // opening the feed is audited, once
    const { entries } = await adminCall<{ entries: { actor: string; route: string; target: string }[] }>(
      "/v1/admin/audit?limit=1000",
    );
    const opened = entries.filter(
      (entry) => entry.route === "/v1/admin/live" && entry.actor.endsWith(`:${moderator}`),
    );
    expect(opened.map((entry) => entry.target)).toEqual([`parent:${WORLD}`]);
  }, 60_000);

  it("shows the bots moving on the map, the charts, participants and events, an object's fields, pan and zoom", async () => {
    const page = await logIn(admin);
    await waitLive(page);
    // every bot's avatar, the NPCs and the boss are on the map
    await page.waitForFunction(
      (count) =>
        Number(/live: (\d+) objects/.exec(document.getElementById("feed")!.textContent!)?.[1]) >= count,
      BOTS + GRID.width * GRID.height + 1,
      { timeout: WAIT_MS },
    );

    const first = await shot(page);
    await page.waitForTimeout(1000);
    const second = await shot(page);
    for (const each of [first, second]) {
      expect(each.objects.length).toBeGreaterThanOrEqual(BOTS + GRID.width * GRID.height + 1);
      expect(each.misses).toEqual([]);
    }
    // the bots walked: their avatars are elsewhere a second later
    const avatars = (shot: Shot) =>
      new Map(shot.objects.filter((o) => o.className === "DistributedAvatar").map((o) => [o.doId, o]));
    const before = avatars(first);
    const after = avatars(second);
    expect(before.size).toBe(BOTS);
    // every bot's position changed (a walker may turn back within the second, so not by a set distance)
    const moved = [...before].map(([doId, then]) => {
      const now = after.get(doId)!;
      return Math.hypot(now.x - then.x, now.y - then.y);
    });
    for (const distance of moved) expect(distance).toBeGreaterThan(0);
    expect(Math.max(...moved)).toBeGreaterThan(1);
    expect(second.png.equals(first.png)).toBe(false);

    // the charts, players and participants come from the live feed's stats
    await expect.poll(() => page.textContent("#ccu-now"), { timeout: WAIT_MS }).toBe(String(BOTS));
    await expect
      .poll(async () => Number(await page.textContent("#ups-now")), { timeout: WAIT_MS })
      .toBeGreaterThan(0);
    await expect.poll(() => page.textContent("#latency-now"), { timeout: WAIT_MS }).toMatch(/^\d+\/\d+$/);
    expect(await page.locator("#players li[data-username]").count()).toBe(BOTS);
    const participants = await page.locator("#participants").textContent();
    for (const role of ["state-server", "client-agent", "zone-ai", "admin"])
      expect(participants).toContain(role);
    await expect.poll(() => page.locator("#events li").count(), { timeout: WAIT_MS }).toBeGreaterThan(0);

    // a click on the boss shows its fields
    const boss = second.objects.find((object) => object.className === "DistributedBoss")!;
    const [x, y] = (await projection(page))(boss.x, boss.y);
    await page.locator("#map").click({ position: { x, y } });
    await expect.poll(() => page.textContent("#selected"), { timeout: WAIT_MS }).toContain("DistributedBoss");

    // the README's picture
    mkdirSync(resolve(REPO, "docs"), { recursive: true });
    await page.screenshot({ path: SCREENSHOT });

    // the wheel zooms in, a drag pans
    const viewOf = async () =>
      JSON.parse((await page.getAttribute("#map", "data-view"))!) as {
        cx: number;
        cy: number;
        scale: number;
      };
    const fitted = await viewOf();
    const box = (await page.locator("#map").boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, -100);
    await expect.poll(async () => (await viewOf()).scale).toBeGreaterThan(fitted.scale);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 - 100, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    await expect.poll(async () => (await viewOf()).cx).toBeGreaterThan(fitted.cx);
    await page.context().close();
  }, 90_000);

  it("lets an admin kick a bot, which reports the eject code", async () => {
    const page = await logIn(admin);
    await waitLive(page);
    const victim = `bot${pid}x0`;
    const kick = page.locator(`#players li[data-username="${victim}"] button[data-action=kick]`);
    await kick.waitFor({ timeout: WAIT_MS });
    await kick.click();
    await expect.poll(() => page.textContent("#notice"), { timeout: WAIT_MS }).toBe(`kicked ${victim}`);
    await waitFor(() => stats.ejections.get(KICK_CODE), "the bot to report its ejection", WAIT_MS);
    expect(stats.ejections.get(KICK_CODE)?.examples).toEqual(["kicked from the dashboard"]);
    // and it leaves the players list
    await expect
      .poll(() => page.locator(`#players li[data-username="${victim}"]`).count(), { timeout: WAIT_MS })
      .toBe(0);
    await page.context().close();
  }, 60_000);
});

/**
 * Two browser players in the demo world: headless Chromium (Debian's `chromium`, driven by playwright-core)
 * opens the canvas client uberdog serves at /play/, against real services in-process (message director,
 * state server, a client agent with its WebSocket listener and an Origin allow-list, uberdog, a zone-AI
 * replica running the demo world on a 2x2 grid, so that both players see the whole map). Each registers
 * and logs in through the page; each sees the other in the list and on the canvas (the pixel at the
 * other's projected place is the other-player colour), sees the other move when the other holds an arrow
 * key, and reads the other's chat line; one walks to the boss and hits it, and both see its hp drop.
 */
import { execFileSync } from "node:child_process";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { demoWorld } from "../../examples/demo/plugin.ts";
import type { ZoneAiHandle } from "../../services/zone-ai/src/main.ts";
import { CLUSTER_VERSION } from "../client-agent/support.ts";
import { DEMO_DC } from "../support/avatars.ts";
import { PASSWORD, type PlayerCluster, startPlayerCluster } from "../support/players.ts";
import { waitFor } from "../support/wait.ts";
import { startTestZoneAi } from "../support/zone-ai.ts";

const REPO = resolve(import.meta.dirname, "../..");
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
const GRID = "2x2@50";
/** The page's colour of other players' markers: #3b82f6. */
const OTHER_PLAYER = [0x3b, 0x82, 0xf6];
const WAIT_MS = 15_000;
const BOSS_HP = 10_000;

let services: PlayerCluster;
let zoneAi: ZoneAiHandle;
let browser: Browser;

/** A port free now, for uberdog: the client agent's Origin allow-list names it before uberdog starts. */
function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => done(typeof address === "object" && address ? address.port : 0));
    });
  });
}

beforeAll(async () => {
  // the page as it is now: the bundle is built from the sources under test
  execFileSync("pnpm", ["-s", "build:web"], { cwd: REPO, stdio: "ignore" });
  const uberdogPort = await freePort();
  services = await startPlayerCluster("browser", {
    dcFiles: [DEMO_DC],
    agentEnv: { TICK_HZ: "20", WS_PORT: "0", WS_ORIGINS: `http://127.0.0.1:${uberdogPort}` },
    uberdogEnv: {
      HTTP_PORT: String(uberdogPort),
      PLAY_DIR: resolve(REPO, "examples/demo/web/dist"),
      CLUSTER_VERSION,
    },
  });
  const { cluster } = services;
  const [width, height, cellSize] = GRID.split(/[x@]/).map(Number) as [number, number, number];
  zoneAi = await startTestZoneAi(
    cluster,
    demoWorld({ grid: { width, height, cellSize }, worldId: 1000, npcsPerZone: 1 }),
  );
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--headless", "--no-sandbox", "--disable-gpu"],
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await zoneAi?.stop();
  await services?.stop();
});

/** Opens the demo client in a browser context of its own and plays as `name`. */
async function player(name: string): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  await page.goto(`${services.baseUrl}/play/?grid=${GRID}`);
  await page.fill("#username", name);
  await page.fill("#password", PASSWORD);
  await page.click("button[type=submit]");
  await page.waitForFunction(
    () => document.getElementById("status")?.textContent?.startsWith("playing as"),
    undefined,
    { timeout: WAIT_MS },
  );
  return page;
}

interface Seen {
  readonly x: number;
  readonly y: number;
  /** The canvas pixel at the projected place. */
  readonly rgb: readonly number[];
}

/** Where `page` shows `name`: the list's coordinates and the canvas pixel there, read in one frame. */
function seen(page: Page, name: string): Promise<Seen | null> {
  return page.evaluate((who) => {
    const item = document.querySelector<HTMLLIElement>(`#players li[data-name="${who}"]`);
    const canvas = document.getElementById("view") as HTMLCanvasElement;
    if (item === null || canvas.dataset.view === undefined) return null;
    const view = JSON.parse(canvas.dataset.view) as { cx: number; cy: number; scale: number };
    const x = Number(item.dataset.x);
    const y = Number(item.dataset.y);
    const px = Math.round(canvas.width / 2 + (x - view.cx) * view.scale);
    const py = Math.round(canvas.height / 2 + (y - view.cy) * view.scale);
    const rgb = [...canvas.getContext("2d")!.getImageData(px, py, 1, 1).data].slice(0, 3);
    return { x, y, rgb };
  }, name);
}

async function hold(page: Page, key: string, ms: number): Promise<void> {
  await page.keyboard.down(key);
  await page.waitForTimeout(ms);
  await page.keyboard.up(key);
}

const bossHp = async (page: Page) => Number((await page.textContent("#boss"))?.match(/boss hp (\d+)/)?.[1]);

describe("browser players", () => {
  it("see each other move, chat, and hit the boss", async () => {
    const alice = `alice${process.pid}`;
    const bob = `bob${process.pid}`;
    const alicePage = await player(alice);
    const bobPage = await player(bob);

    // bob sees alice, in the list and on the canvas
    const before = await waitFor(
      async () => (await seen(bobPage, alice)) ?? undefined,
      "bob to see alice",
      WAIT_MS,
    );
    await waitFor(async () => (await seen(alicePage, bob)) ?? undefined, "alice to see bob", WAIT_MS);
    expect(before.rgb).toEqual(OTHER_PLAYER);
    const canvasBefore = await bobPage.locator("#view").screenshot();

    // alice walks right (or left, from the right edge): bob sees her go
    const key = before.x < 50 ? "ArrowRight" : "ArrowLeft";
    await hold(alicePage, key, 600);
    await waitFor(
      async () => Math.abs(((await seen(bobPage, alice))?.x ?? before.x) - before.x) > 15,
      "bob to see alice walk",
      WAIT_MS,
    );
    await bobPage.waitForTimeout(300); // her last step has come
    const after = (await seen(bobPage, alice))!;
    expect(Math.abs(after.x - before.x)).toBeGreaterThan(15);
    expect(after.y).toBeCloseTo(before.y, 0);
    expect(after.rgb).toEqual(OTHER_PLAYER);
    expect((await bobPage.locator("#view").screenshot()).equals(canvasBefore)).toBe(false);
    // and alice's own view agrees with bob's
    const own = await alicePage.locator(`#players li[data-name="${alice}"]`).getAttribute("data-x");
    expect(Number(own)).toBeCloseTo(after.x, 0);

    // chat, both ways
    await alicePage.fill("#text", "hello from alice");
    await alicePage.press("#text", "Enter");
    await expect
      .poll(() => bobPage.locator("#chat li").allTextContents(), { timeout: WAIT_MS })
      .toContain(`${alice}: hello from alice`);
    await bobPage.fill("#text", "hi alice");
    await bobPage.press("#text", "Enter");
    await expect
      .poll(() => alicePage.locator("#chat li").allTextContents(), { timeout: WAIT_MS })
      .toContain(`${bob}: hi alice`);

    // alice walks to the middle of the map, within reach of the boss, and hits it: both see its hp drop
    await alicePage.focus("#view");
    const at = (await seen(bobPage, alice))!;
    const [dx, dy] = [50 - at.x, 50 - at.y];
    if (Math.abs(dx) > 5)
      await hold(alicePage, dx > 0 ? "ArrowRight" : "ArrowLeft", (Math.abs(dx) / 60) * 1000);
    if (Math.abs(dy) > 5) await hold(alicePage, dy > 0 ? "ArrowDown" : "ArrowUp", (Math.abs(dy) / 60) * 1000);
    await alicePage.waitForTimeout(300);
    expect(await bossHp(alicePage)).toBe(BOSS_HP);
    await alicePage.keyboard.press("Space");
    await expect.poll(() => bossHp(alicePage), { timeout: WAIT_MS }).toBeLessThan(BOSS_HP);
    await expect.poll(() => bossHp(bobPage), { timeout: WAIT_MS }).toBeLessThan(BOSS_HP);
  }, 90_000);
});

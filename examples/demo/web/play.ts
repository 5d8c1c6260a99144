/**
 * The demo world in a browser: log in (registering a new name), connect to the client agent over
 * WebSocket, walk with the arrow keys, see the other players and the NPCs move, push crates, chat, hit
 * the boss.
 * Bundled with the client library by `pnpm build:web` into dist/play.js; uberdog serves it at /play/
 * (PLAY_DIR). `?grid=8x8@50` names the world's grid if it is not the demo's default (DEMO_GRID).
 */
import { LoginError, login, type ObjectMirror, OverworldClient, register } from "@overworld/client";
import { DEFAULT_GRID, extent, type Grid, parseGrid } from "../grid.ts";
import { demo } from "../schema.ts";

/** World units a second. */
const WALK_SPEED = 60;
/** Walk steps sent a second while a key is held. */
const STEPS_PER_SECOND = 10;
/** Canvas pixels per world unit. */
const SCALE = 2;
const U32 = 0x1_0000_0000;
const CHAT_LINES_KEPT = 100;
const COLOURS = {
  grid: "#2a5a3a",
  edge: "#7fbf8f",
  npc: "#a3a3a3",
  crate: "#b45309",
  boss: "#ef4444",
  other: "#3b82f6",
  self: "#facc15",
  label: "#e5e5e5",
};

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const loginForm = $<HTMLFormElement>("login");
const game = $<HTMLDivElement>("game");
const canvas = $<HTMLCanvasElement>("view");
const status = $<HTMLParagraphElement>("status");
const bossLine = $<HTMLParagraphElement>("boss");
const players = $<HTMLUListElement>("players");
const chat = $<HTMLOListElement>("chat");
const sayForm = $<HTMLFormElement>("say");
const sayText = $<HTMLInputElement>("text");
const errorLine = $<HTMLParagraphElement>("error");

const grid: Grid = parseGrid(new URLSearchParams(location.search).get("grid") ?? gridText(DEFAULT_GRID));

loginForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const username = $<HTMLInputElement>("username").value.trim();
  const password = $<HTMLInputElement>("password").value;
  errorLine.textContent = "";
  play(username, password).catch((error: unknown) => {
    errorLine.textContent = (error as Error).message;
    loginForm.hidden = false;
  });
});

async function play(username: string, password: string): Promise<void> {
  loginForm.hidden = true;
  await register(location.origin, username, password).catch((error: unknown) => {
    if (!(error instanceof LoginError && error.code === "username_taken")) throw error;
  });
  const { connectToken, webSockets } = await login(location.origin, username, password);
  const url = webSockets[0];
  if (url === undefined)
    throw new Error("uberdog names no WebSocket of a client agent (CLIENT_AGENT_WEBSOCKETS)");
  const { version } = (await (await fetch("config.json")).json()) as { version: string };
  const client = await OverworldClient.connect({ token: connectToken, url, file: demo.file, version });
  game.hidden = false;
  status.textContent = `connected as ${username}; waiting for your avatar`;
  new Session(client, username).start();
}

/** One player's game: the mirror of what is around, the walk, chat and the boss. */
class Session {
  private avatar: ObjectMirror | undefined;
  private pose = { x: 0, y: 0, h: 0 };
  private readonly keys = new Set<string>();
  private lastFrame = performance.now();
  private lastStep = 0;
  private moved = false;

  constructor(
    private readonly client: OverworldClient,
    private readonly username: string,
  ) {}

  start(): void {
    const { client } = this;
    client.on("generate", (object) => {
      if (object.owned && this.avatar === undefined) this.adopt(object);
    });
    client.on("update", ({ object, field, value }) => {
      if (field === "chat") this.heard(object, value as [number, string]);
    });
    client.on("eject", ({ code, reason }) => {
      status.textContent = `ejected (${code}): ${reason}`;
    });
    client.on("disconnect", ({ reason }) => {
      if (!status.textContent?.startsWith("ejected")) status.textContent = `disconnected: ${reason}`;
    });
    for (const object of client.objects.values()) if (object.owned) this.adopt(object);
    addEventListener("keydown", (event) => this.key(event, true));
    addEventListener("keyup", (event) => this.key(event, false));
    sayForm.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = sayText.value.trim();
      if (text.length === 0 || this.avatar === undefined) return;
      client.sendField(this.avatar.doId, "say", [text]);
      client.flush();
      sayText.value = "";
      canvas.focus();
    });
    requestAnimationFrame((now) => this.frame(now));
  }

  private adopt(avatar: ObjectMirror): void {
    this.avatar = avatar;
    const [x, y, h] = positionOf(avatar);
    this.pose = { x, y, h };
    status.textContent = `playing as ${this.username} (avatar ${avatar.doId})`;
    this.client.followInterest(avatar, grid, 1).catch((error: unknown) => {
      errorLine.textContent = `no interest: ${(error as Error).message}`;
    });
    canvas.focus();
  }

  private key(event: KeyboardEvent, down: boolean): void {
    if (event.target === sayText) return;
    if (event.key.startsWith("Arrow")) {
      event.preventDefault();
      if (down) this.keys.add(event.key);
      else this.keys.delete(event.key);
      return;
    }
    if (event.key === " " && down) {
      event.preventDefault();
      this.attack();
    }
  }

  private attack(): void {
    const boss = this.boss();
    if (boss === undefined || this.avatar === undefined) return;
    this.client.sendField(this.avatar.doId, "attack", [boss.doId]);
    this.client.flush();
  }

  private boss(): ObjectMirror | undefined {
    for (const object of this.client.objects.values())
      if (object.dclass === demo.DistributedBoss.dclass) return object;
    return undefined;
  }

  private heard(avatar: ObjectMirror, [from, text]: [number, string]): void {
    const speaker = this.client.objects.get(from) ?? avatar;
    const line = document.createElement("li");
    line.textContent = `${nameOf(speaker)}: ${text}`;
    chat.append(line);
    while (chat.children.length > CHAT_LINES_KEPT) chat.firstElementChild?.remove();
    chat.scrollTop = chat.scrollHeight;
  }

  private frame(now: number): void {
    const dt = Math.min(0.1, (now - this.lastFrame) / 1000);
    this.lastFrame = now;
    this.walk(dt, now);
    this.draw();
    this.list();
    requestAnimationFrame((next) => this.frame(next));
  }

  /** Moves the avatar by the keys held; a step goes out STEPS_PER_SECOND times a second, and one at the stop. */
  private walk(dt: number, now: number): void {
    const avatar = this.avatar;
    if (avatar === undefined || !this.client.connected) return;
    const dx = (this.keys.has("ArrowRight") ? 1 : 0) - (this.keys.has("ArrowLeft") ? 1 : 0);
    const dy = (this.keys.has("ArrowDown") ? 1 : 0) - (this.keys.has("ArrowUp") ? 1 : 0);
    const walking = dx !== 0 || dy !== 0;
    if (walking) {
      const size = extent(grid);
      const length = Math.hypot(dx, dy);
      this.pose.x = clamp(this.pose.x + (dx / length) * WALK_SPEED * dt, 0, size.x - 0.01);
      this.pose.y = clamp(this.pose.y + (dy / length) * WALK_SPEED * dt, 0, size.y - 0.01);
      this.pose.h = ((Math.round((Math.atan2(dy, dx) * 180) / Math.PI) % 360) + 360) % 360;
      this.moved = true;
    }
    const due = now - this.lastStep >= 1000 / STEPS_PER_SECOND;
    if (!this.moved || (walking && !due)) return;
    const stamp = Math.floor(this.client.clusterTime()) % U32;
    this.client.sendField(avatar.doId, "setSmXYH", [this.pose.x, this.pose.y, this.pose.h, stamp]);
    this.client.flush();
    this.lastStep = now;
    this.moved = walking;
  }

  private draw(): void {
    const context = canvas.getContext("2d");
    if (context === null) return;
    const cx = this.pose.x;
    const cy = this.pose.y;
    const toScreen = (x: number, y: number): [number, number] => [
      canvas.width / 2 + (x - cx) * SCALE,
      canvas.height / 2 + (y - cy) * SCALE,
    ];
    canvas.dataset.view = JSON.stringify({ cx, cy, scale: SCALE });
    context.clearRect(0, 0, canvas.width, canvas.height);
    const size = extent(grid);
    context.strokeStyle = COLOURS.grid;
    context.lineWidth = 1;
    for (let column = 1; column < grid.width; column++)
      line(context, toScreen(column * grid.cellSize, 0), toScreen(column * grid.cellSize, size.y));
    for (let row = 1; row < grid.height; row++)
      line(context, toScreen(0, row * grid.cellSize), toScreen(size.x, row * grid.cellSize));
    context.strokeStyle = COLOURS.edge;
    const [left, top] = toScreen(0, 0);
    context.strokeRect(left, top, size.x * SCALE, size.y * SCALE);
    // bottom to top: the boss, the NPCs and crates, you, the other players (whom nothing hides)
    const boss = this.boss();
    if (boss !== undefined) dot(context, toScreen(...xy(boss)), 10 * SCALE, COLOURS.boss);
    for (const object of this.client.objects.values()) {
      if (object.dclass === demo.DistributedNpc.dclass)
        dot(context, toScreen(...xy(object)), 3 * SCALE, COLOURS.npc);
      if (object.dclass === demo.DistributedMover.dclass) {
        // the dungeon's entrance (step on it, or say /dungeon NAME to go in with party NAME)
        dot(context, toScreen(...xy(object)), 3 * SCALE, COLOURS.boss);
        label(context, toScreen(...xy(object)), "dungeon");
      }
      if (object.dclass === demo.DistributedCrate.dclass) crate(context, object, toScreen);
    }
    if (this.avatar !== undefined) {
      const at = toScreen(cx, cy);
      dot(context, at, 5 * SCALE, COLOURS.self);
      label(context, at, `${nameOf(this.avatar)} (you)`);
    }
    for (const object of this.client.objects.values()) {
      if (object === this.avatar || object.dclass !== demo.DistributedAvatar.dclass) continue;
      const at = toScreen(...xy(object));
      dot(context, at, 5 * SCALE, COLOURS.other);
      label(context, at, nameOf(object));
    }
    const bossHp = boss?.fields.get("hp") as number | undefined;
    bossLine.textContent = bossHp === undefined ? "the boss is not in sight" : `boss hp ${bossHp}`;
  }

  /** The avatars in view and where they are, as text. */
  private list(): void {
    const lines: HTMLLIElement[] = [];
    for (const object of this.client.objects.values()) {
      if (object.dclass !== demo.DistributedAvatar.dclass) continue;
      const [x, y] = object === this.avatar ? [this.pose.x, this.pose.y] : positionOf(object);
      const item = document.createElement("li");
      item.dataset.name = nameOf(object);
      item.dataset.x = x.toFixed(1);
      item.dataset.y = y.toFixed(1);
      item.textContent = `${nameOf(object)}${object === this.avatar ? " (you)" : ""} at ${x.toFixed(0)}, ${y.toFixed(0)}`;
      lines.push(item);
    }
    players.replaceChildren(...lines);
  }
}

function xy(object: ObjectMirror): [number, number] {
  const [x, y] = positionOf(object);
  return [x, y];
}

/** Where an object is: its last walk step, else its place. */
function positionOf(object: ObjectMirror): [number, number, number] {
  const step = object.fields.get("setSmXYH") as [number, number, number, number] | undefined;
  if (step !== undefined) return [step[0], step[1], step[2]];
  const [x, y] = (object.fields.get("setXY") as [number, number] | undefined) ?? [0, 0];
  return [x, y, 0];
}

/** A crate (a ball or a box, turned by its angle) where its physics put it. */
function crate(
  context: CanvasRenderingContext2D,
  object: ObjectMirror,
  toScreen: (x: number, y: number) => [number, number],
): void {
  const [kind, size] = (object.fields.get("setShape") as [number, number] | undefined) ?? [0, 1];
  const [x, y, angle] = (object.fields.get("setMotion") as number[] | undefined) ?? [0, 0, 0];
  const [sx, sy] = toScreen(x ?? 0, y ?? 0);
  const half = size * SCALE;
  context.save();
  context.translate(sx, sy);
  context.rotate(angle ?? 0);
  context.fillStyle = COLOURS.crate;
  context.strokeStyle = COLOURS.label;
  context.beginPath();
  if (kind === 1) context.rect(-half, -half, 2 * half, 2 * half);
  else context.arc(0, 0, half, 0, 2 * Math.PI);
  context.fill();
  context.beginPath();
  context.moveTo(0, 0);
  context.lineTo(half, 0); // shows it turning
  context.stroke();
  context.restore();
}

function nameOf(object: ObjectMirror): string {
  const name = object.fields.get("setName") as [string] | undefined;
  return name?.[0] ?? `#${object.doId}`;
}

function dot(
  context: CanvasRenderingContext2D,
  [x, y]: [number, number],
  radius: number,
  colour: string,
): void {
  context.fillStyle = colour;
  context.beginPath();
  context.arc(x, y, radius, 0, 2 * Math.PI);
  context.fill();
}

function label(context: CanvasRenderingContext2D, [x, y]: [number, number], text: string): void {
  context.fillStyle = COLOURS.label;
  context.font = "12px system-ui, sans-serif";
  context.textAlign = "center";
  context.fillText(text, x, y - 14);
}

function line(
  context: CanvasRenderingContext2D,
  [x0, y0]: [number, number],
  [x1, y1]: [number, number],
): void {
  context.beginPath();
  context.moveTo(x0, y0);
  context.lineTo(x1, y1);
  context.stroke();
}

function clamp(value: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, value));
}

function gridText(of: Grid): string {
  return `${of.width}x${of.height}@${of.cellSize}`;
}

/**
 * The operators' dashboard, served by uberdog at /dashboard/ (bundled by `pnpm build:web`). Admins,
 * moderators and the temp admin log in with their game account (POST /v1/admin/login: a bearer token and
 * the role); everything live comes over one server-sent-event stream, GET /v1/admin/live, read with fetch
 * (which sends the token): map frames of the world's objects (from the cluster's own location feed, at
 * most 10 a second), stats (CCU, updates/s, latency, participants) and the event log. Only a click (an
 * object's fields) and the actions (kick, ban, broadcast, maintenance) call the REST API.
 *
 * The map projects world units to canvas pixels as `px = width/2 + (x - cx) * scale` (likewise y); the
 * canvas's `data-view` holds {cx, cy, scale} and `data-frames` counts the frames drawn, for the tests.
 */

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type MapObject = [
  doId: number,
  className: string,
  zoneId: number,
  x: number | null,
  y: number | null,
  owner: number,
];

interface MapFrame {
  parentId: number;
  parent: Record<string, Json> | null;
  objects: MapObject[];
  updatesPerSecond: number;
}

interface StatsSample {
  at: number;
  ccu: number;
  clientAgents: {
    instanceId: string;
    ccu: number;
    players: { accountId: number; username: string; client: number }[];
  }[];
  updatesAppliedPerSecond: number | null;
  deliveriesPerSecond: number | null;
  latencyMs: { p50: number; p95: number; max: number } | null;
  participants: Record<string, { channel: number; instanceId: string; joinedAt?: number }[]>;
  metrics: { name: string; up: boolean }[];
}

interface LoggedEvent {
  seq: number;
  kind: string;
  at: string;
  source: string;
  data: Json;
}

interface Session {
  token: string;
  role: "admin" | "temp-admin" | "moderator";
  username: string;
}

/** Marker colours by class; the tests read them back from the canvas. */
const COLOURS: Record<string, string> = {
  DistributedAvatar: "#3b82f6",
  DistributedNpc: "#f59e0b",
  DistributedBoss: "#ef4444",
};
const OTHER = "#a1a1aa";
const RADIUS = 5;
const BOSS_RADIUS = 8;
/** How many stats samples the charts keep (at 2 s each: the last 4 minutes). */
const HISTORY = 120;
const EVENTS_SHOWN = 200;
/** The eject code a kick from the dashboard uses (in Astron's range of server reasons, as 152 to 154). */
const KICK_CODE = 155;
const SESSION_KEY = "overworld-dashboard";

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const canvas = $<HTMLCanvasElement>("map");
const context = canvas.getContext("2d")!;

let session: Session | null = null;
let frame: MapFrame | null = null;
let feed: AbortController | null = null;
const view = { cx: 0, cy: 0, scale: 1, fitted: false };
let drawn = 0;
let redraw = true;
const history: StatsSample[] = [];

// ---- REST calls (login, a click, actions) -----------------------------------------------------------

class ApiError extends Error {}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (session) headers.authorization = `Bearer ${session.token}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(path, {
    method,
    headers,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await response.text();
  const answer = text ? (JSON.parse(text) as T & { reason?: string }) : ({} as T & { reason?: string });
  if (!response.ok) {
    if (response.status === 401 && session) logOut("your session ended: log in again");
    throw new ApiError(answer.reason ?? `${method} ${path}: ${response.status}`);
  }
  return answer;
}

function showError(error: unknown): void {
  $("error").textContent = error instanceof Error ? error.message : String(error);
}

function notice(text: string): void {
  $("notice").textContent = text;
  $("error").textContent = "";
}

// ---- logging in and out -----------------------------------------------------------------------------

$<HTMLFormElement>("login").addEventListener("submit", (event) => {
  event.preventDefault();
  const username = $<HTMLInputElement>("username").value.trim();
  const password = $<HTMLInputElement>("password").value;
  api<{ token: string; role: Session["role"] }>("POST", "/v1/admin/login", { username, password })
    .then((answer) => {
      session = { token: answer.token, role: answer.role, username };
      sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
      return start();
    })
    .catch(showError);
});

$("logout").addEventListener("click", () => {
  api("POST", "/v1/admin/logout").catch(() => undefined);
  logOut("");
});

function logOut(why: string): void {
  feed?.abort();
  feed = null;
  session = null;
  sessionStorage.removeItem(SESSION_KEY);
  $("app").hidden = true;
  $("login").hidden = false;
  $("error").textContent = why;
}

async function start(): Promise<void> {
  if (!session) return;
  $("login").hidden = true;
  $("app").hidden = false;
  $("error").textContent = "";
  $("who").textContent = `${session.username} (${session.role})`;
  const mayAdminister = session.role !== "moderator";
  $("administration").hidden = !mayAdminister;
  if (mayAdminister) refreshMaintenance().catch(showError);
  const parent = $<HTMLInputElement>("parent");
  if (!parent.value) {
    const config = (await (await fetch("/dashboard/config.json")).json()) as { parentId: number };
    const asked = Number(new URLSearchParams(location.search).get("world"));
    parent.value = String(asked > 0 ? asked : config.parentId);
  }
  connect();
}

$("parent").addEventListener("change", () => {
  frame = null;
  view.fitted = false;
  connect();
});

// ---- the live feed ----------------------------------------------------------------------------------

function connect(): void {
  feed?.abort();
  if (!session) return;
  const controller = new AbortController();
  feed = controller;
  const parentId = Number($<HTMLInputElement>("parent").value);
  $("feed").textContent = "connecting...";
  read(`/v1/admin/live?parentId=${parentId}`, controller.signal).catch((error: unknown) => {
    if (controller.signal.aborted) return;
    $("feed").textContent = `feed lost (${(error as Error).message}); reconnecting`;
    setTimeout(() => feed === controller && connect(), 2000);
  });
}

async function read(path: string, signal: AbortSignal): Promise<void> {
  const response = await fetch(path, { headers: { authorization: `Bearer ${session?.token}` }, signal });
  if (!response.ok || !response.body) {
    const answer = (await response.json().catch(() => ({}))) as { reason?: string };
    if (response.status === 401 || response.status === 403) {
      logOut(answer.reason ?? "not allowed");
      return;
    }
    throw new Error(answer.reason ?? `status ${response.status}`);
  }
  $("feed").textContent = "live";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error("the stream ended");
    buffer += value;
    let end = buffer.indexOf("\n\n");
    while (end >= 0) {
      dispatch(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      end = buffer.indexOf("\n\n");
    }
  }
}

function dispatch(block: string): void {
  let event = "message";
  const data: string[] = [];
  for (const line of block.split("\n")) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) data.push(line.slice(6));
  }
  if (data.length === 0) return;
  const payload = JSON.parse(data.join("\n")) as unknown;
  if (event === "map") onMap(payload as MapFrame);
  else if (event === "stats") onStats(payload as StatsSample);
  else if (event === "events") onEvents(payload as LoggedEvent[]);
}

// ---- the map ----------------------------------------------------------------------------------------

interface Grid {
  width: number;
  height: number;
  cellSize: number;
}

function gridOf(parent: Record<string, Json> | null): Grid | null {
  const grid = parent?.setGrid;
  if (!Array.isArray(grid) || grid.length < 3 || !grid.every((each) => typeof each === "number")) return null;
  const [width, height, cellSize] = grid as number[];
  return { width: width!, height: height!, cellSize: cellSize! };
}

/** The world's extent: the grid's, or the objects' bounds. */
function extentOf(current: MapFrame): { x0: number; y0: number; x1: number; y1: number } {
  const grid = gridOf(current.parent);
  if (grid) return { x0: 0, y0: 0, x1: grid.width * grid.cellSize, y1: grid.height * grid.cellSize };
  const placed = current.objects.filter(([, , , x, y]) => x !== null && y !== null);
  if (placed.length === 0) return { x0: 0, y0: 0, x1: 100, y1: 100 };
  const xs = placed.map((object) => object[3]!);
  const ys = placed.map((object) => object[4]!);
  return { x0: Math.min(...xs), y0: Math.min(...ys), x1: Math.max(...xs) + 1, y1: Math.max(...ys) + 1 };
}

function fit(current: MapFrame): void {
  const { x0, y0, x1, y1 } = extentOf(current);
  view.cx = (x0 + x1) / 2;
  view.cy = (y0 + y1) / 2;
  view.scale = Math.min((canvas.width - 20) / (x1 - x0), (canvas.height - 20) / (y1 - y0));
  view.fitted = true;
}

function onMap(next: MapFrame): void {
  frame = next;
  if (!view.fitted && (gridOf(next.parent) || next.objects.length > 0)) fit(next);
  redraw = true;
  $("feed").textContent = `live: ${next.objects.length} objects, ${next.updatesPerSecond} updates/s seen`;
}

const toScreen = (x: number, y: number): [number, number] => [
  canvas.width / 2 + (x - view.cx) * view.scale,
  canvas.height / 2 + (y - view.cy) * view.scale,
];
const toWorld = (px: number, py: number): [number, number] => [
  view.cx + (px - canvas.width / 2) / view.scale,
  view.cy + (py - canvas.height / 2) / view.scale,
];

function draw(): void {
  requestAnimationFrame(draw);
  if (!redraw) return;
  redraw = false;
  context.fillStyle = "#10261a";
  context.fillRect(0, 0, canvas.width, canvas.height);
  canvas.dataset.view = JSON.stringify({ cx: view.cx, cy: view.cy, scale: view.scale });
  if (!frame) return;
  const grid = gridOf(frame.parent);
  if (grid) {
    context.strokeStyle = "#24523a";
    context.fillStyle = "#3f6f55";
    context.lineWidth = 1;
    context.font = "10px system-ui";
    for (let row = 0; row < grid.height; row++) {
      for (let column = 0; column < grid.width; column++) {
        const [left, top] = toScreen(column * grid.cellSize, row * grid.cellSize);
        const side = grid.cellSize * view.scale;
        context.strokeRect(Math.round(left) + 0.5, Math.round(top) + 0.5, Math.round(side), Math.round(side));
        if (side > 30) context.fillText(String(1 + row * grid.width + column), left + 3, top + 11);
      }
    }
  }
  // the boss last, on top
  const ordered = [...frame.objects].sort(
    (a, b) => Number(a[1] === "DistributedBoss") - Number(b[1] === "DistributedBoss"),
  );
  for (const [, className, , x, y] of ordered) {
    if (x === null || y === null) continue;
    const [px, py] = toScreen(x, y);
    context.fillStyle = COLOURS[className] ?? OTHER;
    context.beginPath();
    context.arc(px, py, className === "DistributedBoss" ? BOSS_RADIUS : RADIUS, 0, 2 * Math.PI);
    context.fill();
  }
  drawn++;
  canvas.dataset.frames = String(drawn);
}
requestAnimationFrame(draw);

let dragging: { x: number; y: number; moved: boolean } | null = null;
canvas.addEventListener("mousedown", (event) => {
  dragging = { x: event.offsetX, y: event.offsetY, moved: false };
});
canvas.addEventListener("mousemove", (event) => {
  if (!dragging) return;
  const dx = event.offsetX - dragging.x;
  const dy = event.offsetY - dragging.y;
  if (Math.abs(dx) + Math.abs(dy) > 2) dragging.moved = true;
  if (!dragging.moved) return;
  view.cx -= dx / view.scale;
  view.cy -= dy / view.scale;
  dragging.x = event.offsetX;
  dragging.y = event.offsetY;
  redraw = true;
});
canvas.addEventListener("mouseup", (event) => {
  const click = dragging && !dragging.moved;
  dragging = null;
  if (click) select(event.offsetX, event.offsetY);
});
canvas.addEventListener("mouseleave", () => {
  dragging = null;
});
canvas.addEventListener(
  "wheel",
  (event) => {
    event.preventDefault();
    const [wx, wy] = toWorld(event.offsetX, event.offsetY);
    view.scale *= event.deltaY < 0 ? 1.2 : 1 / 1.2;
    // the point under the cursor stays there
    view.cx = wx - (event.offsetX - canvas.width / 2) / view.scale;
    view.cy = wy - (event.offsetY - canvas.height / 2) / view.scale;
    redraw = true;
  },
  { passive: false },
);

/** The object nearest the click (within a few pixels): its fields, read once from the admin API. */
function select(px: number, py: number): void {
  if (!frame) return;
  let best: MapObject | undefined;
  let bestDistance = 12;
  for (const object of frame.objects) {
    if (object[3] === null || object[4] === null) continue;
    const [ox, oy] = toScreen(object[3], object[4]);
    const distance = Math.hypot(ox - px, oy - py);
    if (distance < bestDistance) {
      best = object;
      bestDistance = distance;
    }
  }
  if (!best) return;
  const doId = best[0];
  api<Record<string, Json>>("GET", `/v1/admin/objects/${doId}`)
    .then((object) => {
      $("selected").textContent = JSON.stringify(object, null, 1);
    })
    .catch(showError);
}

// ---- stats, participants, players, events --------------------------------------------------------------

function onStats(sample: StatsSample): void {
  history.push(sample);
  if (history.length > HISTORY) history.shift();
  $("ccu-now").textContent = String(sample.ccu);
  $("ups-now").textContent = sample.deliveriesPerSecond === null ? "-" : String(sample.deliveriesPerSecond);
  $("latency-now").textContent = sample.latencyMs ? `${sample.latencyMs.p50}/${sample.latencyMs.p95}` : "-";
  chart("ccu", [history.map((each) => each.ccu)], ["#3b82f6"]);
  chart(
    "ups",
    [history.map((each) => each.deliveriesPerSecond), history.map((each) => each.updatesAppliedPerSecond)],
    ["#22c55e", "#a3e635"],
  );
  chart(
    "latency",
    [history.map((each) => each.latencyMs?.p50 ?? null), history.map((each) => each.latencyMs?.p95 ?? null)],
    ["#f59e0b", "#ef4444"],
  );
  participants(sample);
  players(sample);
}

function chart(id: string, series: (number | null)[][], colours: string[]): void {
  const target = $<HTMLCanvasElement>(id);
  const draw2d = target.getContext("2d")!;
  draw2d.clearRect(0, 0, target.width, target.height);
  const values = series.flat().filter((value): value is number => value !== null);
  const top = Math.max(1, ...values) * 1.1;
  draw2d.fillStyle = "#71717a";
  draw2d.font = "10px system-ui";
  draw2d.fillText(String(Math.round(top)), 2, 10);
  series.forEach((points, index) => {
    draw2d.strokeStyle = colours[index]!;
    draw2d.beginPath();
    let started = false;
    points.forEach((value, at) => {
      if (value === null) {
        started = false;
        return;
      }
      // the samples so far span the width; once HISTORY are kept, the chart scrolls
      const x = (at / Math.max(1, points.length - 1)) * target.width;
      const y = target.height - (value / top) * (target.height - 4);
      if (started) draw2d.lineTo(x, y);
      else draw2d.moveTo(x, y);
      started = true;
    });
    draw2d.stroke();
  });
}

function participants(sample: StatsSample): void {
  const list = $("participants");
  list.replaceChildren();
  for (const [role, members] of Object.entries(sample.participants)) {
    for (const member of members) {
      const item = document.createElement("li");
      const metrics = sample.metrics.find((each) => each.name === member.instanceId);
      const ccu = sample.clientAgents.find((each) => each.instanceId === member.instanceId);
      item.innerHTML = `<span class="ok">●</span> `;
      item.append(
        `${role} ${member.instanceId} (#${member.channel})${ccu ? `, ${ccu.ccu} players` : ""}`,
        metrics ? (metrics.up ? ", /metrics up" : ", /metrics down") : "",
      );
      if (metrics && !metrics.up) item.firstElementChild!.className = "bad";
      list.append(item);
    }
  }
  const answered = new Set(
    Object.values(sample.participants)
      .flat()
      .map((member) => member.instanceId),
  );
  for (const metrics of sample.metrics) {
    if (answered.has(metrics.name)) continue;
    const item = document.createElement("li");
    item.innerHTML = `<span class="${metrics.up ? "ok" : "bad"}">●</span> `;
    item.append(`${metrics.name}: /metrics ${metrics.up ? "up" : "down"}`);
    list.append(item);
  }
}

function players(sample: StatsSample): void {
  const list = $("players");
  list.replaceChildren();
  const online = sample.clientAgents.flatMap((agent) => agent.players);
  online.sort((a, b) => a.username.localeCompare(b.username));
  for (const player of online) {
    const item = document.createElement("li");
    item.dataset.username = player.username;
    item.append(`${player.username} `);
    const kick = document.createElement("button");
    kick.type = "button";
    kick.textContent = "kick";
    kick.dataset.action = "kick";
    kick.addEventListener("click", () => {
      api("POST", `/v1/admin/players/${player.accountId}/kick`, {
        code: KICK_CODE,
        reason: "kicked from the dashboard",
      })
        .then(() => notice(`kicked ${player.username}`))
        .catch(showError);
    });
    const ban = document.createElement("button");
    ban.type = "button";
    ban.className = "danger";
    ban.textContent = "ban";
    ban.dataset.action = "ban";
    ban.addEventListener("click", () => {
      const reason = prompt(`Ban ${player.username}: why?`);
      if (!reason) return;
      api("POST", `/v1/admin/players/${player.accountId}/ban`, { reason })
        .then(() => notice(`banned ${player.username}`))
        .catch(showError);
    });
    item.append(kick, " ", ban);
    list.append(item);
  }
  if (online.length === 0) list.innerHTML = `<li class="help">nobody</li>`;
}

function onEvents(events: LoggedEvent[]): void {
  const list = $("events");
  for (const event of events) {
    const item = document.createElement("li");
    item.textContent = `#${event.seq} ${event.at.slice(11, 19)} ${event.kind} ${event.source} ${JSON.stringify(event.data)}`;
    list.prepend(item);
    if (event.kind === "admin.maintenance") void refreshMaintenance();
  }
  while (list.children.length > EVENTS_SHOWN) list.lastElementChild!.remove();
}

// ---- broadcast, maintenance ---------------------------------------------------------------------------

$<HTMLFormElement>("broadcast").addEventListener("submit", (event) => {
  event.preventDefault();
  const input = $<HTMLInputElement>("broadcast-text");
  api<{ delivered: number }>("POST", "/v1/admin/broadcast", { text: input.value })
    .then((answer) => {
      notice(`broadcast to ${answer.delivered} players`);
      input.value = "";
    })
    .catch(showError);
});

async function refreshMaintenance(): Promise<void> {
  const state = await api<{ on: boolean; reason?: string }>("GET", "/v1/admin/maintenance");
  $("maintenance-state").textContent = state.on ? `ON: ${state.reason}` : "off";
}

$<HTMLFormElement>("maintenance").addEventListener("submit", (event) => {
  event.preventDefault();
  const reason = $<HTMLInputElement>("maintenance-reason").value.trim() || "maintenance";
  if (!confirm(`Start maintenance (${reason})? Logins are refused and players ejected after a warning.`))
    return;
  api("PUT", "/v1/admin/maintenance", { reason }).then(refreshMaintenance).catch(showError);
});

$("maintenance-off").addEventListener("click", () => {
  api("DELETE", "/v1/admin/maintenance").then(refreshMaintenance).catch(showError);
});

// a reload keeps the session (this tab only)
const kept = sessionStorage.getItem(SESSION_KEY);
if (kept) {
  session = JSON.parse(kept) as Session;
  start().catch(showError);
}

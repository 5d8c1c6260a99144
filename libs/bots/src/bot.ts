/**
 * One bot: registers (an existing account is fine) and logs in, connects, waits for the avatar the game
 * logic gives it, looks at the avatar's zone and the zones bordering it, then walks: a random walk
 * step (`setSmXYH`, stamped with its cluster time) at a fixed rate. When its avatar changes zone, by its
 * own walk or because the game logic moved it, its client agent moves the interest along (a follow
 * interest: no round trip through the bot). Every walk step of another avatar
 * it receives is a delivered update and a latency sample. With `resumeMs`, a bot whose connection is
 * lost comes back (`resume` of @overworld/client: a fresh login, a live agent, its avatar back where it
 * was) and walks on from where it was.
 */
import {
  ConnectError,
  type DisconnectEvent,
  type EjectEvent,
  LoginError,
  login,
  type MoveEvent,
  type ObjectMirror,
  OverworldClient,
  ResumeError,
  register,
  resume,
  type UpdateEvent,
} from "@overworld/client";
import type { DcFile, FieldValue, reliable } from "@overworld/protocol";
import { type Grid, onMap, zoneAt } from "../../../examples/demo/grid.ts";
import { processClockMs } from "./clock.ts";
import { latencyMs, timeStamp } from "./latency.ts";
import type { RunStats } from "./stats.ts";
import { RandomWalk } from "./walk.ts";

/** The walk step the bots send and time: `setSmXYH(x, y, h, t)`, t the sender's cluster time. */
export const WALK_FIELD = "setSmXYH";
/** The avatar's position field, where the walk starts. */
const POSITION_FIELD = "setXY";
const STAMP_INDEX = 3;
const MS_PER_SECOND = 1000;
/** When uberdog says 429 without Retry-After, wait this long before asking again. */
const DEFAULT_RETRY_AFTER_MS = 1000;
/**
 * Ejections a resuming bot does not come back from: logged in elsewhere (100), banned (152), maintenance
 * (154). Any other (190: its updates were held too long while no state server answered) it resumes from.
 */
const FINAL_EJECT_CODES = new Set([100, 152, 154]);

export interface BotConfig {
  /** The bot's index in its run (0 for the first): where the run keeps its send times. */
  readonly index: number;
  readonly username: string;
  readonly password: string;
  readonly uberdog: string;
  readonly dc: DcFile;
  readonly version: string;
  readonly grid: Grid;
  /** Walk steps per second. */
  readonly rate: number;
  /** World units per second. */
  readonly speed: number;
  readonly updateHz: number;
  readonly startTimeoutMs: number;
  /** The local address the bot logs in and plays from; unbound when absent. */
  readonly localAddress?: string;
  /** Come back within this long after a lost connection (0: stay disconnected). */
  readonly resumeMs?: number;
}

/** Why a bot did not start walking: `reason` groups failures in the report, `message` says more. */
export class BotStartError extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = "BotStartError";
  }
}

/** The run stopped the bot before it was walking: not a failure. */
export class BotStopped extends Error {
  constructor() {
    super("the bot was stopped before it started walking");
    this.name = "BotStopped";
  }
}

export class Bot {
  private client: OverworldClient | undefined;
  private avatar: ObjectMirror | undefined;
  private walk: RandomWalk | undefined;
  private walkTimer: ReturnType<typeof setInterval> | undefined;
  private phaseTimer: ReturnType<typeof setTimeout> | undefined;
  private stopping = false;
  private isWalking = false;
  private isConnected = false;
  private cancelWait: (() => void) | undefined;
  /** Set while the bot is coming back after a lost connection; aborted by stop(). */
  private resuming: AbortController | undefined;
  private finalEject = false;

  constructor(
    private readonly config: BotConfig,
    private readonly stats: RunStats,
  ) {}

  /** Transport counters of the bot's connection; undefined if it never connected. */
  get transport(): reliable.ReliableStats | undefined {
    return this.client?.stats;
  }

  /** The bot's cluster clock error bound (ms); undefined before hello. */
  get clockErrorBoundMs(): number | undefined {
    return this.client?.clockEstimate?.errorBound;
  }

  /**
   * Logs in, connects, waits for the avatar and takes interest; resolves once the bot walks. Rejects
   * with a BotStartError (a failure, counted by the caller) or BotStopped (stop() came first).
   */
  async start(): Promise<void> {
    const deadline = Date.now() + this.config.startTimeoutMs;
    const token = await this.logIn(deadline);
    this.throwIfStopping();
    const client = await this.connect(token, deadline);
    this.attach(client);
    this.stats.everConnected++;
    if (this.stopping) {
      await client.close();
      throw new BotStopped();
    }
    const avatar = await this.awaitAvatar(client, deadline);
    this.avatar = avatar;
    const start = this.startingPoint(avatar);
    try {
      // the avatar's zone and the eight around it, moved by the client agent as the avatar crosses zones
      await client.followInterest(avatar, this.config.grid, 1);
    } catch (error) {
      this.throwIfStopping();
      throw new BotStartError(
        "interest refused",
        `interest in zone ${start.zone}: ${(error as Error).message}`,
      );
    }
    this.throwIfStopping();
    this.walk = new RandomWalk(this.config.grid, start, this.config.speed);
    this.beginWalking();
  }

  /** Stops walking and says goodbye; safe to call at any point, more than once. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.cancelWait?.();
    this.resuming?.abort();
    this.stopWalking();
    await this.client?.close();
  }

  private attach(client: OverworldClient): void {
    this.client = client;
    this.isConnected = true;
    this.stats.connected++;
    client.on("eject", (event) => this.ejected(event));
    client.on("disconnect", (event) => this.disconnected(event));
    client.on("update", (event) => this.updated(event));
    client.on("move", (event) => this.moved(event));
  }

  // ---- starting ----------------------------------------------------------------------------------------

  private async logIn(deadline: number): Promise<Uint8Array> {
    const { uberdog, username, password, localAddress } = this.config;
    const from = localAddress === undefined ? {} : { localAddress };
    await this.askUberdog(deadline, "register", async () => {
      try {
        await register(uberdog, username, password, from);
      } catch (error) {
        if (!(error instanceof LoginError && error.code === "username_taken")) throw error;
      }
    });
    let token: Uint8Array | undefined;
    await this.askUberdog(deadline, "login", async () => {
      token = (await login(uberdog, username, password, from)).connectToken;
    });
    return token!;
  }

  /** Runs a request to uberdog, waiting out rate limits (429) until the deadline. */
  private async askUberdog(deadline: number, what: string, ask: () => Promise<void>): Promise<void> {
    for (;;) {
      this.throwIfStopping();
      try {
        return await ask();
      } catch (error) {
        if (!(error instanceof LoginError)) throw error;
        const waitMs = (error.retryAfterSeconds ?? 0) * MS_PER_SECOND || DEFAULT_RETRY_AFTER_MS;
        if (error.status !== 429 || Date.now() + waitMs > deadline) {
          throw new BotStartError(`${what}: ${error.code} (HTTP ${error.status})`, loginAdvice(what, error));
        }
        await this.sleep(waitMs);
      }
    }
  }

  private async connect(token: Uint8Array, deadline: number): Promise<OverworldClient> {
    try {
      return await OverworldClient.connect({
        token,
        file: this.config.dc,
        version: this.config.version,
        updateHz: this.config.updateHz,
        // the run's one clock: an update's arrival (the client's receivedAt) times it on both clocks
        now: processClockMs,
        connectTimeoutMs: Math.max(1, deadline - Date.now()),
        ...(this.config.localAddress === undefined ? {} : { host: this.config.localAddress }),
      });
    } catch (error) {
      this.throwIfStopping();
      if (error instanceof ConnectError && error.code !== undefined) {
        throw new BotStartError(`hello refused (${error.code})`, `${error.code}: ${error.reason}`);
      }
      throw new BotStartError("connect failed", (error as Error).message);
    }
  }

  /** The avatar the game logic gives this client: the object it owns (already here or still to come). */
  private awaitAvatar(client: OverworldClient, deadline: number): Promise<ObjectMirror> {
    const owned = [...client.objects.values()].find((object) => object.owned);
    if (owned !== undefined) return Promise.resolve(owned);
    return new Promise((resolve, reject) => {
      const done = () => {
        clearTimeout(timer);
        client.off("generate", seen);
        client.off("own", seen);
        client.off("disconnect", gone);
        this.cancelWait = undefined;
      };
      const seen = (object: ObjectMirror) => {
        if (!object.owned) return;
        done();
        resolve(object);
      };
      const gone = (event: DisconnectEvent) => {
        done();
        reject(new BotStartError("disconnected before its avatar came", event.reason));
      };
      const timer = setTimeout(
        () => {
          done();
          const seconds = this.config.startTimeoutMs / MS_PER_SECOND;
          reject(
            new BotStartError(
              "no avatar",
              `no owned avatar within ${seconds} s of logging in: is the game logic (zone AI) running?`,
            ),
          );
        },
        Math.max(0, deadline - Date.now()),
      );
      this.cancelWait = () => {
        done();
        reject(new BotStopped());
      };
      client.on("generate", seen);
      client.on("own", seen);
      client.on("disconnect", gone);
    });
  }

  /** Where the walk begins: the avatar's position when it lies in the avatar's zone, else that zone's middle. */
  private startingPoint(avatar: ObjectMirror): { x: number; y: number; zone: number } {
    const { grid } = this.config;
    const position = avatar.fields.get(POSITION_FIELD);
    const [x, y] = Array.isArray(position) ? position : [];
    const known = typeof x === "number" && typeof y === "number";
    if (!onMap(grid, avatar.zone)) {
      const point = known
        ? { x, y }
        : { x: (grid.width * grid.cellSize) / 2, y: (grid.height * grid.cellSize) / 2 };
      return { ...point, zone: zoneAt(grid, point.x, point.y) };
    }
    if (known && zoneAt(grid, x, y) === avatar.zone) return { x, y, zone: avatar.zone };
    return { ...zoneMiddle(grid, avatar.zone), zone: avatar.zone };
  }

  // ---- walking -----------------------------------------------------------------------------------------

  private beginWalking(): void {
    this.isWalking = true;
    this.stats.walking++;
    this.stats.everWalked++;
    const periodMs = MS_PER_SECOND / this.config.rate;
    // a random phase, so that the bots' steps spread over the period instead of leaving together
    this.phaseTimer = setTimeout(() => {
      this.phaseTimer = undefined;
      this.step();
      this.walkTimer = setInterval(() => this.step(), periodMs);
    }, Math.random() * periodMs);
  }

  private stopWalking(): void {
    clearTimeout(this.phaseTimer);
    clearInterval(this.walkTimer);
    if (!this.isWalking) return;
    this.isWalking = false;
    this.stats.walking--;
  }

  private step(): void {
    const client = this.client;
    const avatar = this.avatar;
    const walk = this.walk;
    if (client === undefined || avatar === undefined || walk === undefined || !client.connected) return;
    const pose = walk.step(1 / this.config.rate);
    const stamp = timeStamp(client.clusterTime());
    client.sendField(avatar.doId, WALK_FIELD, [pose.x, pose.y, pose.h, stamp]);
    client.flush();
    this.stats.recordSent(this.config.index, avatar.doId, stamp, processClockMs());
  }

  // ---- what the client hears ---------------------------------------------------------------------------

  /**
   * A walk step heard: timed from when its message arrived (the client's `receivedAt`, on the run's
   * process clock, read once per message rather than twice per update), by the cluster clock and by the
   * process clock its sender stamped it on.
   */
  private updated({ object, field, value }: UpdateEvent): void {
    if (field !== WALK_FIELD || object.owned) return;
    const stamp = (value as readonly FieldValue[])[STAMP_INDEX];
    const client = this.client;
    if (typeof stamp !== "number" || client === undefined) return;
    const at = client.receivedAt;
    this.stats.recordDelivered(object.doId, stamp, latencyMs(client.clusterTimeAt(at), stamp), at);
  }

  /** The avatar crossed into another zone: its client agent moved the interest along. */
  private moved({ object }: MoveEvent): void {
    if (object === this.avatar) this.stats.interestChanges++;
  }

  private ejected({ code, reason }: EjectEvent): void {
    if (FINAL_EJECT_CODES.has(code)) this.finalEject = true;
    this.stats.eject(code, reason);
  }

  private disconnected({ reason }: DisconnectEvent): void {
    this.stopWalking();
    if (this.isConnected) {
      this.isConnected = false;
      this.stats.connected--;
    }
    if (!this.stopping && reason !== "ejected") this.stats.disconnect(reason);
    // a bot that was walking comes back (one that was still starting counts as a failed start instead)
    if ((this.config.resumeMs ?? 0) > 0 && !this.stopping && !this.finalEject && this.walk !== undefined)
      void this.comeBack();
  }

  /**
   * Logs in again, reconnects and gets the avatar back where it was, then walks on. A try that does not
   * come back within resumeMs is counted (a disconnect, "did not come back") and the bot tries again,
   * until it is stopped or the cluster refuses it for good.
   */
  private async comeBack(): Promise<void> {
    if (this.resuming !== undefined) return;
    const abort = new AbortController();
    this.resuming = abort;
    const { uberdog, username, password, localAddress, dc, version, updateHz, grid } = this.config;
    const options = {
      uberdog,
      username,
      password,
      ...(localAddress === undefined ? {} : { localAddress }),
      connect: { file: dc, version, updateHz, now: processClockMs },
      withinMs: this.config.resumeMs ?? 0,
      signal: abort.signal,
    };
    try {
      while (!this.stopping) {
        let back: Awaited<ReturnType<typeof resume>>;
        try {
          back = await resume(options, this.avatar);
        } catch (error) {
          if (error instanceof ResumeError && error.code !== "gave-up") throw error;
          this.stats.disconnect(`did not come back: ${(error as Error).message}`);
          continue;
        }
        if (this.stopping) {
          await back.client.close();
          return;
        }
        this.attach(back.client);
        this.avatar = back.avatar;
        try {
          await withTimeout(back.client.followInterest(back.avatar, grid, 1), this.config.startTimeoutMs);
        } catch {
          await back.client.close(); // lost again, or no answer, while taking interest: once more
          continue;
        }
        this.beginWalking();
        return;
      }
    } catch (error) {
      if (!(error instanceof ResumeError && error.code === "aborted"))
        this.stats.disconnect(`did not come back: ${(error as Error).message}`);
    } finally {
      this.resuming = undefined;
    }
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private throwIfStopping(): void {
    if (this.stopping) throw new BotStopped();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
}

/** The promise's outcome, or a rejection once `ms` passed. */
function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function zoneMiddle(grid: Grid, zone: number): { x: number; y: number } {
  const index = zone - 1;
  return {
    x: ((index % grid.width) + 0.5) * grid.cellSize,
    y: (Math.floor(index / grid.width) + 0.5) * grid.cellSize,
  };
}

function loginAdvice(what: string, error: LoginError): string {
  if (error.status === 429) {
    return (
      `${error.reason}: uberdog limits ${what === "register" ? "registrations" : "logins"} per address ` +
      "(REGISTER_IP_PER_MINUTE, LOGIN_IP_PER_MINUTE); give each bot an address of its own (--source-address)"
    );
  }
  if (error.code === "bad_credentials") {
    return `${error.reason}: the account exists with another password; pass --password or another --prefix`;
  }
  return error.message;
}

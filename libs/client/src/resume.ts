/**
 * Coming back after a lost connection, with the avatar: `resume` logs in again (a fresh connect token from
 * uberdog; the old one may have expired or named a dead agent), connects to a live client agent, waits for
 * the avatar the game logic gives the new session, and gives it back the state the player had: every
 * stored field the owner may set (`ownsend` and `ram`, atomic), as the old avatar's mirror last held it
 * (the demo's position and heading). The account is the avatar's identity: its name and whatever the game
 * keys on the account come back with it; the doId is the new session's (the old avatar went with the
 * old session: its agent deleted it, or the director's post-removes did when the agent died).
 *
 * Each step is tried again, every `retryMs`, until `withinMs` has passed: uberdog or the agent may be down,
 * and the game logic may be failing over when the hello arrives (no avatar within `avatarTimeoutMs`: the
 * session is closed and a new one started). Resolves with the new client and avatar; rejects with a
 * ResumeError naming the last failure when the time is up, or at once when the cluster says no for good
 * (a refused login, a version or schema the agent refuses).
 */
import { hasKeyword } from "@overworld/protocol";
import { ConnectError, type ConnectOptions, type ObjectMirror, OverworldClient } from "./client.ts";
import { LoginError, login } from "./login.ts";

export interface ResumeOptions {
  readonly uberdog: string;
  readonly username: string;
  readonly password: string;
  /** The local address logins and the connection come from (as at the first login). */
  readonly localAddress?: string;
  /** How to connect (everything but the token, which each attempt gets fresh). */
  readonly connect: Omit<ConnectOptions, "token">;
  /** How long to keep trying, in ms (default 60 s). */
  readonly withinMs?: number;
  /** The wait between attempts, in ms (default 250). */
  readonly retryMs?: number;
  /** How long a connected session may wait for its avatar before it is given up and another made (default 10 s). */
  readonly avatarTimeoutMs?: number;
  /** Stops trying (the caller is closing): rejects with a ResumeError `aborted`. */
  readonly signal?: AbortSignal;
}

export interface Resumed {
  readonly client: OverworldClient;
  readonly avatar: ObjectMirror;
  /** Attempts it took (1: the first login and connection came through). */
  readonly attempts: number;
  /** The fields given back to the avatar, by name. */
  readonly restored: readonly string[];
}

export class ResumeError extends Error {
  constructor(
    /** `gave-up` (time is up), `refused` (the cluster said no for good) or `aborted`. */
    readonly code: "gave-up" | "refused" | "aborted",
    message: string,
  ) {
    super(message);
    this.name = "ResumeError";
  }
}

const DEFAULT_WITHIN_MS = 60_000;
const DEFAULT_RETRY_MS = 250;
const DEFAULT_AVATAR_TIMEOUT_MS = 10_000;
/** How long one attempt's login, and its connection and hello, may take (a loaded cluster, every player back at once). */
const LOGIN_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
/** Ejection codes of a hello that another attempt would not change: version (124), schema hash (125). */
const FINAL_HELLO_CODES = new Set([124, 125]);
/** Login answers that another attempt would not change (a wrong password, a ban). */
const FINAL_LOGIN_STATUSES = new Set([400, 401, 403]);
const MS_PER_SECOND = 1000;

/** Logs in, connects and waits for the avatar again; gives it `previous`'s owner-set state. */
export async function resume(options: ResumeOptions, previous?: ObjectMirror): Promise<Resumed> {
  const withinMs = options.withinMs ?? DEFAULT_WITHIN_MS;
  const deadline = Date.now() + withinMs;
  const from = options.localAddress === undefined ? {} : { localAddress: options.localAddress };
  let last = "no attempt made";
  for (let attempt = 1; ; attempt++) {
    if (options.signal?.aborted) throw new ResumeError("aborted", "resuming was stopped");
    if (Date.now() > deadline) {
      throw new ResumeError(
        "gave-up",
        `could not come back within ${withinMs / MS_PER_SECOND} s (${attempt - 1} attempts); last: ${last}`,
      );
    }
    let waitMs = options.retryMs ?? DEFAULT_RETRY_MS;
    try {
      const { connectToken } = await login(options.uberdog, options.username, options.password, {
        ...from,
        timeoutMs: Math.max(1, Math.min(deadline - Date.now(), LOGIN_TIMEOUT_MS)),
      });
      const client = await OverworldClient.connect({
        ...options.connect,
        ...(options.localAddress === undefined ? {} : { host: options.localAddress }),
        token: connectToken,
        connectTimeoutMs: Math.max(
          1,
          Math.min(deadline - Date.now(), options.connect.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS),
        ),
      });
      const avatar = await ownedObject(client, options.avatarTimeoutMs ?? DEFAULT_AVATAR_TIMEOUT_MS);
      if (avatar === undefined) {
        last = "connected, but no avatar came (is the game logic failing over?)";
        await client.close();
        continue;
      }
      const restored = previous === undefined ? [] : restoreOwnedState(client, previous, avatar);
      return { client, avatar, attempts: attempt, restored };
    } catch (error) {
      if (error instanceof LoginError) {
        if (FINAL_LOGIN_STATUSES.has(error.status)) throw new ResumeError("refused", error.message);
        if (error.status === 429 && error.retryAfterSeconds !== undefined)
          waitMs = Math.max(waitMs, error.retryAfterSeconds * MS_PER_SECOND);
      }
      if (error instanceof ConnectError && error.code !== undefined && FINAL_HELLO_CODES.has(error.code)) {
        throw new ResumeError("refused", error.message);
      }
      last = (error as Error).message;
    }
    await new Promise((wake) => setTimeout(wake, Math.max(0, Math.min(waitMs, deadline - Date.now()))));
  }
}

/** The object the client owns, when it comes within `timeoutMs`; undefined otherwise or if the client goes. */
function ownedObject(client: OverworldClient, timeoutMs: number): Promise<ObjectMirror | undefined> {
  const owned = [...client.objects.values()].find((object) => object.owned);
  if (owned !== undefined) return Promise.resolve(owned);
  return new Promise((done) => {
    const finish = (object: ObjectMirror | undefined) => {
      clearTimeout(timer);
      offGenerate();
      offOwn();
      offDisconnect();
      done(object);
    };
    const seen = (object: ObjectMirror) => {
      if (object.owned) finish(object);
    };
    const timer = setTimeout(() => finish(undefined), timeoutMs);
    const offGenerate = client.on("generate", seen);
    const offOwn = client.on("own", seen);
    const offDisconnect = client.on("disconnect", () => finish(undefined));
  });
}

/**
 * Sends the new avatar the values the old one held of every atomic field its owner may set and the
 * cluster keeps (`ownsend` and `ram`), in the class's field order; returns their names.
 */
function restoreOwnedState(client: OverworldClient, previous: ObjectMirror, avatar: ObjectMirror): string[] {
  if (previous.dclass !== avatar.dclass) return [];
  const restored: string[] = [];
  for (const field of avatar.dclass.fields) {
    if (field.kind === "molecular" || !hasKeyword(field, "ownsend") || !hasKeyword(field, "ram")) continue;
    const value = previous.fields.get(field.name);
    if (value === undefined) continue;
    client.sendField(avatar.doId, field.name, value);
    restored.push(field.name);
  }
  client.flush();
  return restored;
}

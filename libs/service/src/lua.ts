/**
 * Redis Lua scripts: each runs atomically, which is what makes a check-and-set safe when several
 * replicas act at once (a director's registrations and post-remove claims, a zone's lease). Scripts are
 * run by their SHA1 and sent in full only when Redis does not know them yet (after a restart or a flush).
 * Every script may call `now_ms()`, Redis's own clock.
 */
import { createHash } from "node:crypto";
import type { Redis } from "./stores.ts";

/** Redis's own clock, in milliseconds: every replica and every restart judges deadlines by it. */
const NOW_MS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
`;

type Argument = string | number | Buffer;

export class LuaScript {
  private readonly source: string;
  private readonly sha: string;

  constructor(
    readonly name: string,
    body: string,
  ) {
    this.source = NOW_MS + body;
    this.sha = createHash("sha1").update(this.source).digest("hex");
  }

  /** Runs the script; bulk strings come back as JavaScript strings. */
  run(redis: Redis, keys: readonly string[], args: readonly Argument[]): Promise<unknown> {
    return this.call(redis, keys, args, false);
  }

  /** Runs the script; bulk strings come back as Buffers (for binary payloads). */
  runBuffer(redis: Redis, keys: readonly string[], args: readonly Argument[]): Promise<unknown> {
    return this.call(redis, keys, args, true);
  }

  private async call(
    redis: Redis,
    keys: readonly string[],
    args: readonly Argument[],
    buffers: boolean,
  ): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args];
    const send = (command: "EVALSHA" | "EVAL", script: string) =>
      buffers ? redis.callBuffer(command, [script, ...rest]) : redis.call(command, [script, ...rest]);
    try {
      return await send("EVALSHA", this.sha);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await send("EVAL", this.source);
    }
  }
}

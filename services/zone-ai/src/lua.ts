/**
 * Redis Lua scripts: each runs atomically, which is what makes a zone lease's check-and-set safe when
 * several replicas contend for it. A script is run by its SHA1 and sent in full only when Redis does not
 * know it yet (after a restart or a SCRIPT FLUSH).
 *
 * (The message director has the same helper with its clock function; the two could move to
 * libs/service together.)
 */
import { createHash } from "node:crypto";
import type { Redis } from "@overworld/service";

type Argument = string | number | Buffer;

export class LuaScript {
  private readonly sha: string;

  constructor(
    readonly name: string,
    private readonly source: string,
  ) {
    this.sha = createHash("sha1").update(source).digest("hex");
  }

  async run(redis: Redis, keys: readonly string[], args: readonly Argument[]): Promise<unknown> {
    const rest = [keys.length, ...keys, ...args];
    try {
      return await redis.call("EVALSHA", [this.sha, ...rest]);
    } catch (error) {
      if (!(error instanceof Error) || !error.message.startsWith("NOSCRIPT")) throw error;
      return await redis.call("EVAL", [this.source, ...rest]);
    }
  }
}
